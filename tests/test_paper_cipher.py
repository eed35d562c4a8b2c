"""The paper's published cipher, kept in benchmarks/, and why it is not used."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import paper_cipher
from cipher.engine import metrics
from tests.images import photo_array


def test_the_paper_cipher_round_trips() -> None:
    image = photo_array(16, 24, 3)
    assert np.array_equal(paper_cipher.decrypt(paper_cipher.encrypt(image, "pw"), "pw"), image)


def test_one_known_image_reveals_every_other_image_under_the_same_password() -> None:
    p1, p2 = photo_array(32, 32, 3, seed=1), photo_array(32, 32, 3, seed=2)
    c1, c2 = paper_cipher.encrypt(p1, "hospital password"), paper_cipher.encrypt(p2, "hospital password")
    assert np.array_equal(c2 ^ c1 ^ p1, p2)


def test_one_changed_pixel_changes_one_ciphertext_pixel() -> None:
    p1 = photo_array(32, 32, 3, seed=1)
    p2 = p1.copy()
    p2[5, 5, 0] ^= 1
    npcr, _ = metrics.npcr_uaci(paper_cipher.encrypt(p1, "pw"), paper_cipher.encrypt(p2, "pw"))
    assert npcr == pytest.approx(100 / p1.size)

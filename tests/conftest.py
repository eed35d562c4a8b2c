from __future__ import annotations

import pytest

from cipher.engine.imagefile import DecodedImage
from tests.images import photo_array

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def photo512() -> DecodedImage:
    return DecodedImage(photo_array(512, 512, 3, seed=7), "RGB", "PNG")

"""The maps follow their formulas, stay in range, and use only exact arithmetic."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np

from cipher.engine import maps
from cipher.engine.keystream import ChaoticKeystream

ENGINE = Path(__file__).resolve().parent.parent / "cipher" / "engine"


def _lanes(n: int = 64, seed: int = 0) -> maps.ChaoticLanes:
    rng = np.random.default_rng(seed)
    return maps.ChaoticLanes(rng.random(n), rng.random(n), rng.random(n), rng.random(n) - 0.5, rng.random(n) - 0.5)


def test_one_step_matches_the_textbook_formulas() -> None:
    lanes = _lanes()
    before = {k: getattr(lanes, k).copy() for k in ("logistic", "theta", "omega", "ikeda_x", "ikeda_y")}
    lanes.step()
    for i in range(before["logistic"].size):
        x = before["logistic"][i]
        assert lanes.logistic[i] == x * (1 - x) * maps.LOGISTIC_R  # the same operations, in order
        theta, omega = before["theta"][i], before["omega"][i]
        expected = (theta + omega - maps.CIRCLE_K * math.sin(2 * math.pi * theta)) % 1.0
        assert min(abs(lanes.theta[i] - expected), 1 - abs(lanes.theta[i] - expected)) < 1e-5
        ix, iy = before["ikeda_x"][i], before["ikeda_y"][i]
        t = 0.4 - 6 / (1 + ix * ix + iy * iy)
        assert abs(lanes.ikeda_x[i] - (1 + maps.IKEDA_U * (ix * math.cos(t) - iy * math.sin(t)))) < 1e-5
        assert abs(lanes.ikeda_y[i] - maps.IKEDA_U * (ix * math.sin(t) + iy * math.cos(t))) < 1e-5


def test_the_maps_stay_in_their_ranges_over_many_steps() -> None:
    lanes = _lanes(4096, seed=1)
    for _ in range(2000):
        lanes.step()
    assert np.all((lanes.logistic > 0) & (lanes.logistic < 1))
    assert np.all((lanes.theta >= 0) & (lanes.theta < 1))
    assert np.all(np.isfinite(lanes.ikeda_x)) and np.all(np.abs(lanes.ikeda_x) < 10)
    assert np.unique(lanes.logistic).size > 4000  # no lane collapsed onto a fixed point or a shared cycle


def test_nearby_seeds_diverge() -> None:
    a, b = _lanes(8, seed=2), _lanes(8, seed=2)
    b.logistic += 1e-12
    b.theta += 1e-12
    b.ikeda_x += 1e-12
    for _ in range(80):
        a.step()
        b.step()
    assert np.all(np.abs(a.logistic - b.logistic) > 1e-6)
    assert np.all(np.abs(a.ikeda_x - b.ikeda_x) > 1e-6)


def test_the_keystream_path_calls_no_transcendental_function() -> None:
    """numpy's sin/cos/exp/log differ between CPUs; only + - * / and exact
    operations may feed the maps."""
    forbidden = {"sin", "cos", "tan", "exp", "log", "log2", "sqrt", "power", "arcsin", "arctan2", "tanh"}
    for module in ("maps.py", "keystream.py", "diffusion.py", "mixing.py"):
        tree = ast.parse((ENGINE / module).read_text())
        names = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
        names |= {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
        assert not names & forbidden, (module, names & forbidden)


def test_distinct_keys_give_unrelated_streams() -> None:
    a = ChaoticKeystream(b"a" * 32, expected_words=1 << 16).words(1 << 16)
    b = ChaoticKeystream(b"b" * 32, expected_words=1 << 16).words(1 << 16)
    bytes_a, bytes_b = a.view(np.uint8), b.view(np.uint8)
    assert np.mean(bytes_a == bytes_b) < 0.006  # 1/256 expected
    counts = np.bincount(bytes_a, minlength=256)
    expected = bytes_a.size / 256
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 330  # 255 degrees of freedom; p ~ 0.001


def test_a_stream_read_in_pieces_equals_one_read() -> None:
    whole = ChaoticKeystream(b"k" * 32, expected_words=5000).words(5000)
    stream = ChaoticKeystream(b"k" * 32, expected_words=5000)
    pieces = np.concatenate([stream.words(n) for n in (1, 7, 992, 3000, 1000)])
    assert np.array_equal(whole, pieces)

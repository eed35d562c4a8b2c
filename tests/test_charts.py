"""What the encrypt page shows: histograms, entropy and correlation."""

from __future__ import annotations

import re

import numpy as np

from cipher.charts import histogram_path, profile


def test_noise_is_flat_and_uncorrelated_and_a_photo_is_not() -> None:
    noise = np.random.default_rng(1).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    flat = profile(noise)
    assert [name for name, _ in flat.histograms] == ["red", "green", "blue"]
    assert flat.bits == 8 and flat.entropy > 7.99
    assert all(abs(v) < 0.02 for v in flat.correlation.values())
    ramp = np.tile(np.arange(256, dtype=np.uint8), (64, 1))
    smooth = profile(ramp)
    assert [name for name, _ in smooth.histograms] == ["grey"] and smooth.correlation["horizontal"] > 0.99


def test_a_histogram_path_has_one_point_per_level_inside_the_box() -> None:
    path = histogram_path(np.array([[0, 0, 255, 128]], dtype=np.uint8))
    points = [(float(x), float(y)) for x, y in re.findall(r"L([\d.]+),([\d.]+)", path)]
    assert len(points) == 256 + 1 and path.startswith("M0,100") and path.endswith("Z")
    assert points[0] == (0.0, 0.0) and all(0 <= y <= 100 for _, y in points)
    assert points[255] == (255.0, round(100 * (1 - 1 / np.sqrt(2)), 1))


def test_sixteen_bit_samples_are_binned_by_their_high_byte() -> None:
    wide = np.array([[0x0100, 0x01FF, 0xFF00]], dtype=np.uint16)
    result = profile(wide)
    assert result.bits == 16
    points = re.findall(r"L(\d+),([\d.]+)", result.histograms[0][1])
    assert points[1] == ("1", "0.0")  # 0x0100 and 0x01FF both fall in bin 1, the tallest

"""Statistics of the paper's section 6.2: entropy, adjacent correlation, NPCR, UACI."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
from numpy.typing import NDArray

Samples = NDArray[np.integer]  # uint8, uint16 or int16


def _channels(samples: Samples) -> list[NDArray[np.generic]]:
    return [samples] if samples.ndim == 2 else [samples[..., c] for c in range(samples.shape[2])]


def entropy(samples: Samples) -> list[float]:
    """Shannon entropy per channel, in bits per sample (8 or 16 at most)."""
    levels = 1 << (8 * samples.itemsize)
    unsigned = samples.view(f"u{samples.itemsize}")  # relabelling levels leaves entropy unchanged
    result = []
    for channel in _channels(unsigned):
        counts = np.bincount(channel.reshape(-1), minlength=levels)
        p = counts[counts > 0] / channel.size
        result.append(float(-(p * np.log2(p)).sum()))
    return result


def adjacent_correlation(samples: Samples) -> dict[str, float]:
    """Pearson correlation of neighbouring samples, horizontally, vertically and
    diagonally, over all channels (0.0 where a direction has no pairs or no variance)."""
    pairs = {
        "horizontal": (np.s_[:, :-1], np.s_[:, 1:]),
        "vertical": (np.s_[:-1, :], np.s_[1:, :]),
        "diagonal": (np.s_[:-1, :-1], np.s_[1:, 1:]),
    }
    result = {}
    for direction, (a_index, b_index) in pairs.items():
        a = np.concatenate([c[a_index].reshape(-1) for c in _channels(samples)]).astype(np.float64)
        b = np.concatenate([c[b_index].reshape(-1) for c in _channels(samples)]).astype(np.float64)
        if a.size < 2 or a.std() == 0 or b.std() == 0:
            result[direction] = 0.0
        else:
            result[direction] = float(np.corrcoef(a, b)[0, 1])
    return result


def npcr_uaci(first: Samples, second: Samples) -> tuple[float, float]:
    """NPCR and UACI in percent between two cipher images of one shape."""
    if first.shape != second.shape or first.dtype != second.dtype:
        raise ValueError("NPCR/UACI compare two images of the same shape and type")
    top = float((1 << (8 * first.itemsize)) - 1)
    npcr = float(np.mean(first != second)) * 100
    uaci = float(np.mean(np.abs(first.astype(np.int64) - second.astype(np.int64)))) / top * 100
    return npcr, uaci


def npcr_critical(samples: int, levels: int = 256, alpha: float = 0.05) -> float:
    """Wu, Noonan and Agaian (2011): the NPCR, in percent, that two unrelated
    random images of `samples` samples exceed with probability 1 - alpha."""
    z = NormalDist().inv_cdf(1 - alpha)
    mean = (levels - 1) / levels
    return (mean - z * math.sqrt(mean / (levels * samples))) * 100


def uaci_interval(samples: int, levels: int = 256, alpha: float = 0.05) -> tuple[float, float]:
    """Wu, Noonan and Agaian (2011): the two-sided acceptance interval of UACI, in percent."""
    z = NormalDist().inv_cdf(1 - alpha / 2)
    # |X - Y| for independent uniform X, Y on {0..L-1}: E = (L^2-1)/3L, E[.^2] = (L^2-1)/6
    mean = (levels * levels - 1) / (3 * levels)
    variance = (levels * levels - 1) / 6 - mean * mean
    top = levels - 1
    half = z * math.sqrt(variance / samples) / top
    return (mean / top - half) * 100, (mean / top + half) * 100

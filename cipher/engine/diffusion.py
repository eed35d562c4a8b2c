"""The chaotic cipher proper: keyed permutation, then nonlinear diffusion.

Fridrich-style (permutation, then diffusion chained through every sample),
with each stage vectorised so that a 4096x4096 RGB image takes well under a
second:

  1. permutation: rows and sample columns reordered by permutations drawn from
     a chaotic keystream;
  2. the permuted samples, as little-endian bytes padded with zeros to whole
     64-bit words w_i;
  3. a_i = w_i + k_i                          (k: the chaotic keystream)
  4. c_i = c_{i-1} + a_i,   c_{-1} = iv1      (forward chain: a cumulative sum)
  5. e_i = F(c_i)                             (F: a nonlinear bijection of words)
  6. d_i = d_{i+1} + e_i,   d_n = iv2         (backward chain)
  7. out_i = F(d_i)

with arithmetic modulo 2^64.  A change in one sample changes every c after it
by one constant; F turns that into unrelated differences, and the backward
chain sums them into every position before it.  The sum is zero, so that the
change fails to spread, with probability 2^-64 rather than the 1/256 of a chain
over bytes.  F is the splitmix64 finaliser: xor-shifts and odd multipliers,
invertible and with full avalanche (see mixing.py).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .keystream import ChaoticKeystream
from .mixing import CHUNK_WORDS, Words, mix, unmix

Samples = NDArray[np.uint8] | NDArray[np.uint16]
# The permutation gathers this many rows at a time (a few MB, no second full
# copy of the image), the blocks spread over the cores: numpy lets go of the GIL.
_GATHER_BYTES = 1 << 20
_THREADS = min(4, os.cpu_count() or 1)


@dataclass(frozen=True)
class _Schedule:
    row_order: NDArray[np.intp]
    column_order: NDArray[np.intp]
    iv1: np.uint64
    iv2: np.uint64

    @classmethod
    def derive(cls, key: bytes, rows: int, columns: int) -> _Schedule:
        stream = ChaoticKeystream(key, expected_words=rows + columns + 2)
        row_order = np.argsort(stream.words(rows), kind="stable")
        column_order = np.argsort(stream.words(columns), kind="stable")
        iv1, iv2 = stream.words(2)
        return cls(row_order, column_order, iv1, iv2)


def padded_length(samples_bytes: int) -> int:
    return -(-samples_bytes // 8) * 8


def _matrix_shape(shape: tuple[int, ...]) -> tuple[int, int]:
    """Rows of samples: an HxW or HxWxC image as H rows of W*C samples."""
    return (shape[0], math.prod(shape[1:])) if len(shape) > 1 else (1, math.prod(shape))


def _as_matrix(samples: Samples) -> Samples:
    if samples.dtype not in (np.uint8, np.uint16):
        raise TypeError(f"samples must be uint8 or uint16, not {samples.dtype}")
    return samples.reshape(_matrix_shape(samples.shape))


def _undo_backward_chain(d: Words) -> None:
    """d_i = d_{i+1} + e_i  ->  e_i = d_i - d_{i+1}, in place.  Going forward,
    d_{i+1} is still unchanged when d_i needs it; slices keep numpy's overlap
    copies small."""
    for start in range(0, d.size - 1, CHUNK_WORDS):
        stop = min(start + CHUNK_WORDS, d.size - 1)
        d[start:stop] -= d[start + 1 : stop + 1]


def _undo_forward_chain(c: Words) -> None:
    """c_i = c_{i-1} + a_i  ->  a_i = c_i - c_{i-1}, in place, going backward."""
    for stop in range(c.size, 1, -CHUNK_WORDS):
        start = max(stop - CHUNK_WORDS, 1)
        c[start:stop] -= c[start - 1 : stop - 1]


def _in_row_blocks(matrix: NDArray[Any], work: Callable[[slice], None]) -> None:
    """work(rows) on blocks of rows of about _GATHER_BYTES each, spread over the cores."""
    rows = max(1, _GATHER_BYTES // max(1, matrix.shape[1] * matrix.itemsize))
    blocks = [slice(start, start + rows) for start in range(0, matrix.shape[0], rows)]
    if len(blocks) == 1:
        work(blocks[0])
        return
    with ThreadPoolExecutor(_THREADS) as pool:
        list(pool.map(work, blocks))


def _gather(
    source: NDArray[Any], row_order: NDArray[np.intp], column_order: NDArray[np.intp], out: NDArray[Any]
) -> None:
    """out[i, j] = source[row_order[i], column_order[j]], a block of rows at a time."""

    def block(rows: slice) -> None:
        picked = np.take(source, row_order[rows], axis=0)
        # mode="clip": the orders are permutations, and numpy would otherwise buffer `out`.
        np.take(picked, column_order, axis=1, out=out[rows], mode="clip")

    _in_row_blocks(source, block)


# Up to this many rows, the rows are permuted in place one at a time (a Python
# step each); taller images are permuted into a copy.
_IN_PLACE_MAX_ROWS = 1 << 14


def _permute_in_place(matrix: NDArray[Any], row_order: NDArray[np.intp], column_order: NDArray[np.intp]) -> None:
    """_gather(matrix, row_order, column_order, out=matrix) without a second
    copy: the columns of a block of rows at a time, then whole rows along the
    cycles of the row permutation, with one row of scratch."""

    def block(rows: slice) -> None:
        matrix[rows] = np.take(matrix[rows], column_order, axis=1, mode="clip")

    _in_row_blocks(matrix, block)
    order = row_order.tolist()
    placed = [False] * len(order)
    for first in range(len(order)):
        if placed[first]:
            continue
        saved, row = matrix[first].copy(), first
        while True:
            placed[row] = True
            source = order[row]
            if source == first:
                matrix[row] = saved
                break
            matrix[row] = matrix[source]
            row = source


def encrypt(
    samples: Samples, stream_key: bytes, permutation_key: bytes, *, in_place: bool = False
) -> NDArray[np.uint8]:
    """Encrypt uint8/uint16 samples; returns the ciphertext bytes as a uint8 array.

    The ciphertext has `padded_length(samples.nbytes)` bytes: the samples'
    bytes rounded up to whole 64-bit words.  `in_place`: the samples' own
    memory becomes the ciphertext where it can (whole words, contiguous,
    writable, little-endian, not too many rows), so that no second copy of the
    image is made; the samples are then lost.
    """
    matrix = _as_matrix(samples).astype(samples.dtype.newbyteorder("<"), copy=False)
    plan = _Schedule.derive(permutation_key, *matrix.shape)
    if in_place and _can_encrypt_in_place(samples, matrix):
        _permute_in_place(matrix, plan.row_order, plan.column_order)
        buffer = matrix.reshape(-1).view(np.uint8)
    else:
        buffer = np.zeros(padded_length(matrix.nbytes), dtype=np.uint8)
        permuted = buffer[: matrix.nbytes].view(matrix.dtype).reshape(matrix.shape)
        _gather(matrix, plan.row_order, plan.column_order, permuted)
    words = buffer.view("<u8")
    ChaoticKeystream(stream_key, expected_words=words.size).add_to(words)
    np.cumsum(words, out=words)
    words += plan.iv1
    mix(words)
    backward = words[::-1]
    np.cumsum(backward, out=backward)
    words += plan.iv2
    mix(words)
    return buffer


def _can_encrypt_in_place(samples: Samples, matrix: NDArray[Any]) -> bool:
    return (
        matrix.nbytes % 8 == 0
        and np.may_share_memory(samples, matrix)
        and matrix.flags.c_contiguous
        and matrix.flags.writeable
        and matrix.shape[0] <= _IN_PLACE_MAX_ROWS
    )


def decrypt(
    cipher: NDArray[np.uint8],
    shape: tuple[int, ...],
    dtype: np.dtype[np.unsignedinteger],
    stream_key: bytes,
    permutation_key: bytes,
) -> Samples:
    """Inverse of `encrypt`: ciphertext bytes back to an array of `shape` and `dtype`.

    Works in place: `cipher` (a writable, contiguous uint8 array) is
    overwritten, and becomes the returned samples where it can (little-endian
    samples, not too many rows).
    """
    nbytes = math.prod(shape) * dtype.itemsize
    if cipher.size != padded_length(nbytes):
        raise ValueError(f"ciphertext of {cipher.size} bytes does not fit {shape} {dtype}")
    matrix_shape = _matrix_shape(shape)
    plan = _Schedule.derive(permutation_key, *matrix_shape)
    words = cipher.view("<u8")
    unmix(words)
    words -= plan.iv2
    _undo_backward_chain(words)
    unmix(words)
    words -= plan.iv1
    _undo_forward_chain(words)
    ChaoticKeystream(stream_key, expected_words=words.size).add_to(words, sign=-1)
    permuted = cipher[:nbytes].view(dtype.newbyteorder("<")).reshape(matrix_shape)
    row_order, column_order = np.argsort(plan.row_order), np.argsort(plan.column_order)
    if permuted.dtype == dtype and matrix_shape[0] <= _IN_PLACE_MAX_ROWS:
        # The ciphertext's memory becomes the image: no second copy of it (a
        # few milliseconds slower than gathering into a new array).
        _permute_in_place(permuted, row_order, column_order)
        return permuted.reshape(shape)
    unpermuted = np.empty(matrix_shape, dtype=dtype)
    _gather(permuted, row_order, column_order, unpermuted)
    return unpermuted.reshape(shape)

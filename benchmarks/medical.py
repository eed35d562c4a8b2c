"""How long medical images take: a 512x512 CT slice and a multi-frame series.

    python -m benchmarks.medical [--runs N]

Both are made from the CT slice in pydicom's test files (CT_small.dcm, resized
to 512x512); the series is 40 such frames, uncompressed.  Encryption and
decryption are timed as a user meets them: whole files in, whole files out,
the Argon2id key derivation included.
"""

from __future__ import annotations

import argparse
import io
import json
import warnings
from functools import partial
from pathlib import Path

import numpy as np
import pydicom
from pydicom.data import get_testdata_file

from cipher.engine import envelope
from imaging import imagefile

from .timing import median_ms

PASSWORD = "benchmark password"


def ct_file(frames: int, size: int = 512) -> bytes:
    path = get_testdata_file("CT_small.dcm")
    if not isinstance(path, str):
        raise FileNotFoundError("pydicom's test file CT_small.dcm is not installed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = pydicom.dcmread(Path(path))
        base = dataset.pixel_array
    slice_ = np.kron(base, np.ones((size // base.shape[0], size // base.shape[1]), dtype=base.dtype))
    stack = np.stack([slice_ + 3 * k for k in range(frames)]).astype("<i2")
    dataset.Rows, dataset.Columns = size, size
    if frames > 1:
        dataset.NumberOfFrames = frames
    dataset.PixelData = stack.tobytes()
    out = io.BytesIO()
    pydicom.dcmwrite(out, dataset, enforce_file_format=True)
    return out.getvalue()


def _decrypt_to_file(encrypted: bytes) -> bytes:
    return imagefile.encode(envelope.decrypt_file(encrypted, PASSWORD))[0]


def measure(runs: int) -> dict[str, object]:
    result: dict[str, object] = {"runs": runs}
    for name, frames in (("ct_512", 1), ("ct_512x40_frames", 40)):
        data = ct_file(frames)
        encrypted = envelope.encrypt_file(data, PASSWORD).data
        result[f"{name}_bytes"] = len(data)
        result[f"{name}_encrypt_ms"] = median_ms(partial(envelope.encrypt_file, data, PASSWORD), runs)
        result[f"{name}_decrypt_ms"] = median_ms(partial(_decrypt_to_file, encrypted), runs)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    print(json.dumps(measure(parser.parse_args().runs)))

"""`securepix bench`: the chaotic cipher against the paper's cipher and AES-256-GCM.

Times, on an NxNx3 image of random pixels (the ciphers' speed does not depend
on content): encryption and decryption without the KDF (cipher, MAC and PNG
container included), the KDF alone, the paper's published cipher, and
AES-256-GCM in the same container.  Medians over several runs.
"""

from __future__ import annotations

import argparse
import json
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np

from cipher.engine import envelope
from cipher.engine.kdf import KdfParams, derive_keys, new_salt
from imaging.imagefile import DecodedImage

from . import paper_cipher
from .timing import median_ms


def register(commands: Any) -> None:
    bench = commands.add_parser("bench", help="time the ciphers side by side", description=__doc__)
    bench.add_argument("--size", type=int, default=512, help="image side N of the NxNx3 test image (default 512)")
    bench.add_argument("--runs", type=int, default=5, help="runs per measurement (default 5)")
    bench.add_argument("--no-paper", action="store_true", help="skip the paper's cipher (slow on large images)")
    bench.add_argument("--memory", action="store_true", help="also measure peak memory of encrypt and decrypt")
    bench.add_argument("--json", action="store_true", help="print the results as one JSON object")
    bench.set_defaults(handler=run_bench, uses_apps=False)


def _peak_ratio(action: Callable[[], object], image_bytes: int) -> float:
    tracemalloc.start()
    try:
        action()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return round(peak / image_bytes, 2)


def measure(size: int, runs: int, paper: bool, memory: bool) -> dict[str, Any]:
    if size < 1 or runs < 1:
        raise ValueError("size and runs must be positive")
    pixels = np.random.default_rng(2026).integers(0, 256, (size, size, 3), dtype=np.uint8)
    image = DecodedImage(pixels, "RGB", "PNG")
    kdf, salt = KdfParams(), new_salt()
    keys = derive_keys("benchmark password", salt, kdf)

    def encrypt(cipher: str) -> Callable[[], bytes]:
        return lambda: envelope.seal(image, keys, cipher=cipher, kdf=kdf, salt=salt)

    sealed = encrypt("chaotic")()

    def decrypt() -> DecodedImage:
        return envelope.unseal(sealed, keys, max_pixels=size * size)

    result: dict[str, Any] = {
        "size": [size, size, 3],
        "runs": runs,
        "chaotic_encrypt_ms": median_ms(encrypt("chaotic"), runs, digits=2),
        "chaotic_decrypt_ms": median_ms(decrypt, runs, digits=2),
        "kdf_ms": median_ms(lambda: derive_keys("benchmark password", salt, kdf), runs, digits=2),
        "aes_gcm_ms": median_ms(encrypt("aes-gcm"), runs, digits=2),
    }
    result["slowdown_vs_aes_gcm"] = round(result["chaotic_encrypt_ms"] / result["aes_gcm_ms"], 2)
    if paper:
        result["paper_ms"] = median_ms(
            lambda: paper_cipher.encrypt(pixels, "benchmark password"), min(runs, 3), digits=2
        )
        result["speedup_vs_paper"] = round(result["paper_ms"] / result["chaotic_encrypt_ms"], 1)
    if memory:
        result["encrypt_peak_memory_x_image"] = _peak_ratio(encrypt("chaotic"), pixels.nbytes)
        result["decrypt_peak_memory_x_image"] = _peak_ratio(decrypt, pixels.nbytes)
    return result


def run_bench(args: argparse.Namespace) -> int:
    try:
        result = measure(args.size, args.runs, paper=not args.no_paper, memory=args.memory)
    except ValueError as exc:
        print(f"securepix: {exc}")
        return 2
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:30} {value}")
    return 0

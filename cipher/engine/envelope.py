"""Encrypt and decrypt whole images: KDF, cipher, MAC and container together.

This is the engine's public face: bytes of an image file and a password in,
bytes of a SecurePix PNG out, and back.  Encrypt-then-MAC: the HMAC-SHA256
covers the header and the ciphertext, and is checked before any decryption.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.errors import TamperedFile, WrongPassword
from imaging import imagefile
from imaging.imagefile import DecodedImage
from imaging.limits import DEFAULT_MAX_PIXELS

from . import container, diffusion
from .kdf import FORMAT_LIMITS, FileKeys, KdfLimits, KdfParams, derive_keys, new_salt
from .keystream import ChaoticKeystream

CIPHERS = tuple(container.CIPHER_IDS)
# Each file has its own key (fresh salt), so fixed, distinct nonces are safe.
_AES_BODY_NONCE = bytes(11) + b"\x01"
_AES_METADATA_NONCE = bytes(11) + b"\x02"


@dataclass(frozen=True)
class EncryptedImage:
    source: DecodedImage  # what was encrypted (kept in memory only)
    header: container.Header
    body: np.ndarray  # the ciphertext as the PNG's rows hold it (see analysis.body_samples)

    @property
    def data(self) -> bytes:
        """The SecurePix PNG, made when first asked for (cached on the instance:
        functools.cached_property would hold one lock for every instance)."""
        made: bytes | None = self.__dict__.get("_data")
        if made is None:
            made = container.write(self.header, self.body)
            object.__setattr__(self, "_data", made)
        return made

    def write_to(self, out: BinaryIO) -> None:
        """The SecurePix PNG, streamed to a file without a copy in memory."""
        container.write_to(out, self.header, self.body)

    @property
    def size(self) -> int:
        """The SecurePix PNG's length, without making it."""
        return container.file_size(self.header)

    def pieces(self) -> Iterator[bytes | memoryview]:
        """The SecurePix PNG a piece at a time (container.pieces), never whole
        in memory unless `data` has already made it."""
        made: bytes | None = self.__dict__.get("_data")
        return iter((made,)) if made is not None else container.pieces(self.header, self.body)

    def sha256(self) -> str:
        """The SHA-256 of the SecurePix PNG, hashed a piece at a time: the
        file is not made for it."""
        digest = hashlib.sha256()
        for piece in self.pieces():
            digest.update(piece)
        return digest.hexdigest()


def _describe(image: DecodedImage) -> bytes:
    description = {
        "mode": image.mode,
        "shape": list(image.samples.shape),
        "dtype": image.samples.dtype.name,
        "format": image.source_format,
        "metadata": image.metadata,
    }
    return json.dumps(description, sort_keys=True, separators=(",", ":")).encode()


def _unsigned(samples: np.ndarray) -> np.ndarray:
    """The cipher sees samples as unsigned words; signed ones are viewed, not converted."""
    if samples.dtype.kind == "i":
        return samples.view(f"u{samples.itemsize}")
    return samples


def _xor_metadata(data: bytes, keys: FileKeys) -> bytes:
    stream = ChaoticKeystream(keys.metadata, expected_words=len(data) // 8 + 1).bytes(len(data))
    return (np.frombuffer(data, dtype=np.uint8) ^ stream).tobytes()


def _mac(keys: FileKeys, header: container.Header, body: np.ndarray) -> bytes:
    """HMAC-SHA256 over the header (all but the tag) and the image's ciphertext."""
    mac = hmac.new(keys.mac, header.authenticated_bytes(), hashlib.sha256)
    mac.update(np.ascontiguousarray(body).data)
    return mac.digest()


def seal(image: DecodedImage, keys: FileKeys, *, cipher: str, kdf: KdfParams, salt: bytes) -> bytes:
    """Encrypt decoded samples under already-derived keys."""
    return seal_image(image, keys, cipher=cipher, kdf=kdf, salt=salt).data


def seal_image(
    image: DecodedImage, keys: FileKeys, *, cipher: str, kdf: KdfParams, salt: bytes, consume: bool = False
) -> EncryptedImage:
    """seal(), keeping the header and the ciphertext for whoever shows them.
    `consume`: the chaotic cipher may encrypt in the image's own memory (no
    second copy of the image); its samples are then lost (the command line,
    which keeps nothing of the image)."""
    if cipher not in CIPHERS:
        raise ValueError(f"unknown cipher {cipher!r}; choose one of {', '.join(CIPHERS)}")
    description = _describe(image)
    samples = _unsigned(image.samples)
    nbytes = samples.nbytes
    if cipher == "chaotic":
        ciphertext = diffusion.encrypt(samples, keys.keystream, keys.permutation, in_place=consume)
        sealed = _xor_metadata(description, keys)
    else:
        aes = AESGCM(keys.aes)
        plain = samples.astype(samples.dtype.newbyteorder("<"), copy=False).tobytes()
        ciphertext = np.frombuffer(aes.encrypt(_AES_BODY_NONCE, plain, None), dtype=np.uint8)
        sealed = aes.encrypt(_AES_METADATA_NONCE, description, None)
    header = container.Header(
        cipher=cipher,
        kdf=kdf,
        salt=salt,
        password_check=keys.password_check[: container.PASSWORD_CHECK_BYTES],
        height=image.height,
        width=image.width,
        channels=image.channels,
        bit_depth=8 * samples.itemsize,
        extra=ciphertext[nbytes:].tobytes(),
        sealed_metadata=sealed,
    )
    body = ciphertext[:nbytes]
    header = container.Header(**{**header.__dict__, "tag": _mac(keys, header, body)})
    return EncryptedImage(image, header, body)


def unseal(data: container.Source, keys: FileKeys, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> DecodedImage:
    """Authenticate, then decrypt, a SecurePix PNG under already-derived keys."""
    return _unseal_read(*container.read_ciphertext(data, max_pixels), keys)


def _unseal_read(header: container.Header, ciphertext: np.ndarray, keys: FileKeys) -> DecodedImage:
    """unseal() of a file already read."""
    if not hmac.compare_digest(keys.password_check[: container.PASSWORD_CHECK_BYTES], header.password_check):
        raise WrongPassword("wrong password (or the file's key parameters were altered)")
    if not hmac.compare_digest(_mac(keys, header, ciphertext[: header.body_bytes]), header.tag):
        raise TamperedFile("the encrypted file was modified or damaged: its authentication tag does not match")
    if header.cipher == "chaotic":
        description = json.loads(_xor_metadata(header.sealed_metadata, keys))
    else:
        aes = AESGCM(keys.aes)
        description = json.loads(aes.decrypt(_AES_METADATA_NONCE, header.sealed_metadata, None))
    shape = tuple(int(n) for n in description["shape"])
    dtype = np.dtype(description["dtype"])
    unsigned = np.dtype(f"u{dtype.itemsize}")
    if header.cipher == "chaotic":
        samples = diffusion.decrypt(ciphertext, shape, unsigned, keys.keystream, keys.permutation)
    else:
        plain = AESGCM(keys.aes).decrypt(_AES_BODY_NONCE, ciphertext.tobytes(), None)
        samples = np.frombuffer(plain, dtype=unsigned.newbyteorder("<")).astype(unsigned).reshape(shape)
    return DecodedImage(samples.view(dtype), description["mode"], description["format"], description["metadata"])


def encrypt_image(
    image: DecodedImage,
    password: str,
    *,
    cipher: str = "chaotic",
    kdf: KdfParams | None = None,
    salt: bytes | None = None,
) -> bytes:
    """Encrypt decoded samples.  `salt` is for known-answer vectors only: a
    real file always gets a fresh random salt."""
    return encrypt_decoded(image, password, cipher=cipher, kdf=kdf, salt=salt).data


def encrypt_decoded(
    image: DecodedImage,
    password: str,
    *,
    cipher: str = "chaotic",
    kdf: KdfParams | None = None,
    salt: bytes | None = None,
    consume: bool = False,
) -> EncryptedImage:
    """encrypt_image(), keeping the header and the ciphertext (`consume`: see seal_image)."""
    kdf = kdf or KdfParams()
    salt = salt if salt is not None else new_salt()
    return seal_image(image, derive_keys(password, salt, kdf), cipher=cipher, kdf=kdf, salt=salt, consume=consume)


def _derive_within(gate: AbstractContextManager[object] | None, password: str, salt: bytes, kdf: KdfParams) -> FileKeys:
    """derive_keys(), holding `gate` (if any) around it."""
    with gate or nullcontext():
        return derive_keys(password, salt, kdf)


def encrypt_decoding(
    decode: Callable[[], DecodedImage],
    password: str,
    *,
    cipher: str = "chaotic",
    kdf: KdfParams | None = None,
    consume: bool = False,
    gate: AbstractContextManager[object] | None = None,
    pool: Executor | None = None,
) -> EncryptedImage:
    """encrypt_decoded(decode(), ...), with the key derived on another thread
    while `decode` runs: a fresh salt owes nothing to the image, so the two
    can overlap (a large PNG spends a tenth of a second in each).  `gate`:
    as for decrypt_file, held around the derivation.  `pool`: where the key
    is derived (by default a thread of its own; core.executors.Inline
    derives it first, then decodes)."""
    kdf = kdf or KdfParams()
    salt = new_salt()
    with nullcontext(pool) if pool else ThreadPoolExecutor(1) as deriving:  # a pool given stays its owner's
        keys = deriving.submit(_derive_within, gate, password, salt, kdf)
        image = decode()
        return seal_image(image, keys.result(), cipher=cipher, kdf=kdf, salt=salt, consume=consume)


def encrypt_file(
    data: bytes,
    password: str,
    *,
    cipher: str = "chaotic",
    kdf: KdfParams | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> EncryptedImage:
    """Encrypt an image file (PNG, JPEG, BMP, TIFF, WebP) into a SecurePix PNG."""
    return encrypt_decoded(imagefile.decode(data, max_pixels), password, cipher=cipher, kdf=kdf)


def decrypt_file(
    data: container.Source,
    password: str,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    kdf_limits: KdfLimits = FORMAT_LIMITS,
    gate: AbstractContextManager[object] | None = None,
    overlap: bool = False,
) -> DecodedImage:
    """Decrypt a SecurePix PNG back to the exact decoded samples of the
    original.  The header's size and KDF parameters are checked against
    `max_pixels` and `kdf_limits` before any work; `gate` (e.g. a semaphore
    bounding how many derivations run at once) is held around the derivation.
    `overlap`: read the pixel data while the key is derived on another thread
    (a large file spends tens of milliseconds in each) instead of after it;
    either way the password is checked once the file is read."""
    header = container.read_header(data, max_pixels)
    header.kdf.check(kdf_limits)
    if not overlap:
        return unseal(data, _derive_within(gate, password, header.salt, header.kdf), max_pixels=max_pixels)
    with ThreadPoolExecutor(1) as pool:
        keys = pool.submit(_derive_within, gate, password, header.salt, header.kdf)
        read = container.read_ciphertext(data, max_pixels)
        return _unseal_read(*read, keys.result())

"""Large images end to end: the fast PNG reader agrees with Pillow sample for
sample, the container is read and written without a second copy of the
image, and its pixel data is refused as soon as it runs past the header's
size.  (Times are measured by benchmarks/large_images.py, not here.)"""

from __future__ import annotations

import base64
import dataclasses
import io
import struct
import threading
import zlib
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any
from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageOps, PngImagePlugin

from cipher.engine import container, envelope
from cipher.engine.kdf import KdfParams, derive_keys, new_salt
from core.errors import DamagedImage, TamperedFile, WrongPassword
from core.executors import Inline
from imaging import imagefile
from imaging.imagefile import DecodedImage
from imaging.png import IN_FLIGHT, PIECE_BYTES, PNG_SIGNATURE, adler32_combine, chunk, chunk_kinds, read_pixels
from tests.images import encode, image_in_mode, photo_array
from tests.memory import traced
from tests.mutations import with_pixel_data

MODES = ["1", "L", "LA", "P", "RGB", "RGBA", "I;16"]


def _png(image: Image.Image, text: bool, icc: bool, transparency: bool, exif_orientation: int | None) -> bytes:
    options: dict[str, object] = {}
    if text:
        info = PngImagePlugin.PngInfo()
        info.add_text("Software", "SecurePix tests")
        options["pnginfo"] = info
    if icc:
        options["icc_profile"] = b"not a real profile, kept as bytes"
    if transparency and image.mode in ("L", "RGB", "I;16"):
        options["transparency"] = (1, 2, 3) if image.mode == "RGB" else 7
    if exif_orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        options["exif"] = exif.tobytes()
    return encode(image, "PNG", **options)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    mode=st.sampled_from(MODES),
    size=st.tuples(st.integers(1, 40), st.integers(1, 40)),
    seed=st.integers(0, 1000),
    text=st.booleans(),
    icc=st.booleans(),
    transparency=st.booleans(),
    exif_orientation=st.one_of(st.none(), st.integers(1, 8)),
)
def test_every_png_decodes_to_the_samples_pillow_reads(
    mode: str, size: tuple[int, int], seed: int, text: bool, icc: bool, transparency: bool, exif_orientation: int | None
) -> None:
    """Whichever reader takes the file (libpng for plain PNGs, Pillow for the
    rest), the samples, mode and metadata are Pillow's, turned upright."""
    data = _png(image_in_mode(mode, *size, seed=seed), text, icc, transparency, exif_orientation)
    decoded = imagefile.decode(data, 1 << 20)
    with Image.open(io.BytesIO(data)) as reference:
        reference.load()
        info = dict(reference.info)
        expected = np.asarray(ImageOps.exif_transpose(reference))
    assert decoded.mode == ("I;16" if reference.mode.startswith("I;16") else reference.mode)
    assert np.array_equal(decoded.samples, expected.astype(decoded.samples.dtype))
    assert ("icc_profile" in decoded.metadata) == bool(info.get("icc_profile"))
    assert ("transparency" in decoded.metadata) == ("transparency" in info)


def test_a_text_chunk_after_the_pixels_sends_the_file_to_pillow() -> None:
    """XMP may sit after the pixel data, where only Pillow's full read sees it
    (and may turn the image): such a file is not read by the fast path."""
    data = encode(image_in_mode("RGB", 20, 30))
    iend = data.rindex(b"IEND") - 4
    late_text = chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00<x/>")
    moved = data[:iend] + late_text + data[iend:]
    assert chunk_kinds(moved)[-2:] == [b"iTXt", b"IEND"]
    assert np.array_equal(imagefile.decode(moved, 1 << 20).samples, np.asarray(Image.open(io.BytesIO(moved))))


@pytest.mark.parametrize("shape", [(1, 1_000_001), (1_000_001, 1)])
def test_a_png_longer_than_libpng_allows_is_read_by_pillow(shape: tuple[int, int]) -> None:
    data = encode(Image.fromarray(np.arange(shape[0] * shape[1], dtype=np.uint32).astype(np.uint8).reshape(shape)))
    assert np.array_equal(imagefile.decode(data, 1 << 24).samples, np.asarray(Image.open(io.BytesIO(data))))


def test_a_png_libpng_refuses_but_pillow_reads_is_read_by_pillow() -> None:
    """A pixel stream without its zlib checksum: libpng stops, Pillow reads it."""
    data = encode(image_in_mode("RGB", 30, 40))
    start = data.index(b"IDAT") - 4
    (length,) = struct.unpack_from(">I", data, start)
    unchecked = data[:start] + chunk(b"IDAT", data[start + 8 : start + 8 + length - 4]) + data[start + 12 + length :]
    with Image.open(io.BytesIO(unchecked)) as reference:
        expected = np.asarray(reference)
    assert np.array_equal(imagefile.decode(unchecked, 1 << 20).samples, expected)


def test_a_cut_plain_png_is_a_damaged_image_whichever_reader() -> None:
    data = encode(image_in_mode("RGB", 64, 64))
    with pytest.raises(DamagedImage):
        imagefile.decode(data[: len(data) // 2], 1 << 20)


@pytest.fixture(scope="module")
def sealed() -> tuple[bytes, DecodedImage, envelope.FileKeys]:
    image = DecodedImage(photo_array(1536, 2048), "RGB", "PNG")
    kdf, salt = KdfParams(), new_salt()
    keys = derive_keys("a large image password", salt, kdf)
    return envelope.seal(image, keys, cipher="chaotic", kdf=kdf, salt=salt), image, keys


# Scratch space of a fixed size, whatever the image: pieces being inflated or
# deflated, blocks of rows being permuted, the keystream's lanes.
SCRATCH = 6 << 20


def test_decrypting_holds_the_ciphertext_which_becomes_the_image_and_little_more(
    sealed: tuple[bytes, DecodedImage, envelope.FileKeys],
) -> None:
    """The pixel data is inflated into one array, decrypted and unpermuted in
    it: no second copy of the image (the API's decryption holds the upload
    and the image, the command line's the image alone)."""
    data, image, keys = sealed
    decrypted, peak = traced(lambda: envelope.unseal(data, keys, max_pixels=1 << 24))
    assert peak < image.samples.nbytes + SCRATCH
    assert np.array_equal(decrypted.samples, image.samples)


def test_encrypting_to_a_file_holds_one_ciphertext_beside_the_image(
    sealed: tuple[bytes, DecodedImage, envelope.FileKeys], tmp_path: Path
) -> None:
    data, image, keys = sealed
    header = container.read_header(data, 1 << 24)

    def encrypt_to_file() -> None:
        result = envelope.seal_image(image, keys, cipher="chaotic", kdf=header.kdf, salt=header.salt)
        with (tmp_path / "out.png").open("wb") as out:
            result.write_to(out)

    assert traced(encrypt_to_file)[1] < image.samples.nbytes + SCRATCH
    assert (tmp_path / "out.png").read_bytes() == data  # the same salt and keys: the same file, streamed


@pytest.mark.parametrize(
    ("shape", "dtype"),
    [
        ((64, 96, 3), np.uint8),
        ((1, 8), np.uint8),
        ((40, 1), np.uint16),
        ((33, 17, 4), np.uint16),
        ((7, 5, 3), np.uint8),
    ],
)
def test_encrypting_in_place_gives_the_same_file(shape: tuple[int, ...], dtype: type) -> None:
    """The command line's in-place encryption writes the very bytes of the
    copying one (and falls back to copying where it cannot: 7x5x3 bytes are
    not whole words); the samples are then the ciphertext."""
    samples = np.random.default_rng(sum(shape)).integers(0, np.iinfo(dtype).max, shape, dtype=dtype)
    mode = {(3, np.uint8): "RGB", (4, np.uint16): "RGBA;16"}.get(
        (shape[-1], dtype), "L" if dtype == np.uint8 else "I;16"
    )
    kdf, salt = KdfParams(), new_salt()
    keys = derive_keys("an in-place password", salt, kdf)
    copied = envelope.seal(DecodedImage(samples.copy(), mode, "PNG"), keys, cipher="chaotic", kdf=kdf, salt=salt)
    own = DecodedImage(samples.copy(), mode, "PNG")
    consumed = envelope.seal_image(own, keys, cipher="chaotic", kdf=kdf, salt=salt, consume=True)
    assert consumed.data == copied
    whole_words = samples.nbytes % 8 == 0
    assert np.shares_memory(own.samples, consumed.body) == whole_words
    assert np.array_equal(envelope.unseal(copied, keys).samples, samples)


def test_the_key_derived_while_the_image_decodes_opens_the_file() -> None:
    samples = photo_array(30, 40)
    decoded = threading.Event()

    def decode() -> DecodedImage:
        decoded.set()
        return DecodedImage(samples.copy(), "RGB", "PNG")

    result = envelope.encrypt_decoding(decode, "an overlapping password", consume=True)
    assert decoded.is_set()
    assert np.array_equal(envelope.decrypt_file(result.data, "an overlapping password").samples, samples)


def test_an_image_that_fails_to_decode_while_the_key_is_derived_leaves_no_thread() -> None:
    threads = threading.active_count()

    def decode() -> DecodedImage:
        raise DamagedImage("the PNG file is damaged or truncated")

    with pytest.raises(DamagedImage):
        envelope.encrypt_decoding(decode, "an overlapping password")
    assert threading.active_count() == threads


@pytest.mark.parametrize("pool", [Inline, partial(ThreadPoolExecutor, 1)], ids=["inline", "thread"])
def test_a_pool_given_for_the_derivation_stays_its_owners(pool: Callable[[], Executor]) -> None:
    """The services hand their own pool (the classification follows the key on
    it): it is neither shut down nor waited for; inline, the key comes first."""
    samples = photo_array(30, 40)
    order: list[str] = []

    def decode() -> DecodedImage:
        order.append("decode")
        return DecodedImage(samples.copy(), "RGB", "PNG")

    with pool() as given:
        real_derive = envelope.derive_keys

        def derive(*args: Any) -> envelope.FileKeys:
            order.append("derive")
            return real_derive(*args)

        with patch.object(envelope, "derive_keys", derive):
            result = envelope.encrypt_decoding(decode, "an overlapping password", pool=given)
        assert given.submit(lambda: "still open").result() == "still open"
    if pool is Inline:
        assert order == ["derive", "decode"]
    assert np.array_equal(envelope.decrypt_file(result.data, "an overlapping password").samples, samples)


def test_an_inline_executor_hands_over_results_and_errors_as_a_pool_does() -> None:
    with Inline() as inline:
        assert inline.submit(pow, 2, 10).result() == 1024
        failed = inline.submit(int, "not a number")
    assert failed.done() and isinstance(failed.exception(), ValueError)

    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # not held in a future: it goes on at once
        Inline().submit(interrupted)


def test_reading_while_the_key_is_derived_decrypts_and_refuses_as_in_turn(
    sealed: tuple[bytes, DecodedImage, envelope.FileKeys],
) -> None:
    data, image, _ = sealed
    threads = threading.active_count()
    assert np.array_equal(envelope.decrypt_file(data, "a large image password", overlap=True).samples, image.samples)
    with pytest.raises(WrongPassword):
        envelope.decrypt_file(data, "not the password at all", overlap=True)
    altered = bytearray(data)
    altered[-100] ^= 1  # in the pixel data, before the end chunk
    with pytest.raises(TamperedFile):
        envelope.decrypt_file(bytes(altered), "a large image password", overlap=True)
    assert threading.active_count() == threads


def test_encrypting_in_place_holds_no_second_copy(
    sealed: tuple[bytes, DecodedImage, envelope.FileKeys], tmp_path: Path
) -> None:
    data, image, keys = sealed
    header = container.read_header(data, 1 << 24)
    own = DecodedImage(image.samples.copy(), image.mode, image.source_format)

    def encrypt_to_file() -> None:
        result = envelope.seal_image(own, keys, cipher="chaotic", kdf=header.kdf, salt=header.salt, consume=True)
        with (tmp_path / "out.png").open("wb") as out:
            result.write_to(out)

    assert traced(encrypt_to_file)[1] < SCRATCH
    assert (tmp_path / "out.png").read_bytes() == data


def test_writing_the_decrypted_png_streams_it(
    sealed: tuple[bytes, DecodedImage, envelope.FileKeys], tmp_path: Path
) -> None:
    """A few pieces of rows are filtered and deflated at a time (on every core), straight to the file."""
    _, image, _ = sealed
    path = tmp_path / "decrypted.png"
    with path.open("wb") as out:
        peak = traced(lambda: imagefile.write(out, image))[1]
    assert peak < 2 * PIECE_BYTES * IN_FLIGHT
    assert np.array_equal(np.asarray(Image.open(path)), image.samples)
    written = path.read_bytes()
    assert chunk_kinds(written).count(b"IDAT") > 1  # a chunk a deflated piece: no length to patch
    assert read_pixels(written) is not None  # the fast reader reads them as one stream
    assert np.array_equal(imagefile.decode(written, 1 << 24).samples, image.samples)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=70_000), st.binary(max_size=70_000), st.binary(max_size=300))
def test_the_checksums_of_pieces_combine_into_the_whole_streams(first: bytes, second: bytes, start: bytes) -> None:
    before = zlib.adler32(start)  # the running checksum the pieces extend
    combined = adler32_combine(zlib.adler32(first, before), zlib.adler32(second), len(second))
    assert combined == zlib.adler32(first + second, before)


def test_pixel_data_longer_than_the_header_says_is_refused_before_it_is_inflated(
    sealed: tuple[bytes, DecodedImage, envelope.FileKeys],
) -> None:
    """A few kilobytes that would inflate to a gigabyte: refused once the
    declared size is passed, with no more memory than the image."""
    data, image, _ = sealed
    bomb = zlib.compress(bytes(1 << 30), 9)
    bombed = with_pixel_data(data, bomb)

    def read() -> None:
        with pytest.raises(TamperedFile, match="wrong length"):
            container.read_ciphertext(bombed, 1 << 24)

    assert traced(read)[1] < 2 * image.samples.nbytes


@pytest.mark.parametrize("cut", [1, 1000])
def test_pixel_data_shorter_than_the_header_says_is_refused(
    sealed: tuple[bytes, DecodedImage, envelope.FileKeys], cut: int
) -> None:
    data = sealed[0]
    raw = zlib.decompress(_idat_of(data))
    with pytest.raises(TamperedFile, match="wrong length"):
        container.read_ciphertext(with_pixel_data(data, zlib.compress(raw[:-cut], 0)), 1 << 24)


def _idat_of(data: bytes) -> bytes:
    header = container.read_header(data, 1 << 24)
    assert header.height == 1536
    start = data.index(b"IDAT") - 4
    (length,) = struct.unpack_from(">I", data, start)
    return data[start + 8 : start + 8 + length]


def test_an_open_file_decrypts_as_its_bytes_do(
    sealed: tuple[bytes, DecodedImage, envelope.FileKeys], tmp_path: Path
) -> None:
    """The command line hands the container over as an open file, read a piece at a time."""
    data, image, keys = sealed
    (tmp_path / "sealed.png").write_bytes(data)
    with (tmp_path / "sealed.png").open("rb") as handle:
        assert container.read_header(handle, 1 << 24) == container.read_header(data, 1 << 24)
        _, peak = traced(
            lambda: np.array_equal(envelope.unseal(handle, keys, max_pixels=1 << 24).samples, image.samples)
        )
    assert peak < 2 * image.samples.nbytes + SCRATCH
    assert np.array_equal(envelope.unseal(io.BytesIO(data), keys, max_pixels=1 << 24).samples, image.samples)


def test_a_header_chunk_of_many_megabytes_reads_back() -> None:
    """A DICOM file's elements around its pixels travel in the sealed header:
    a header chunk larger than any fixed cap must decrypt as it encrypted."""
    metadata = {"icc_profile": base64.b64encode(np.random.default_rng(5).bytes(13 << 20)).decode()}
    image = DecodedImage(photo_array(16, 16), "RGB", "PNG", metadata)
    kdf, salt = KdfParams(), new_salt()
    keys = derive_keys("a large header password", salt, kdf)
    data = envelope.seal(image, keys, cipher="chaotic", kdf=kdf, salt=salt)
    assert envelope.unseal(data, keys).metadata == metadata


def test_a_chunk_claiming_more_than_the_file_holds_is_refused(
    sealed: tuple[bytes, DecodedImage, envelope.FileKeys],
) -> None:
    data = sealed[0]
    iend = data.rindex(b"IEND") - 4
    claimed = struct.pack(">I", 1 << 30) + b"prVt"  # says a gigabyte follows; nothing does
    with pytest.raises(TamperedFile, match="runs past the end of the file"):
        container.read_ciphertext(data[:iend] + claimed + data[iend:], 1 << 24)


def test_bytes_after_the_pixel_stream_are_refused_without_being_kept(
    sealed: tuple[bytes, DecodedImage, envelope.FileKeys],
) -> None:
    data, image, _ = sealed
    extended = with_pixel_data(data, _idat_of(data) + bytes(32 << 20))

    def read() -> None:
        with pytest.raises(TamperedFile, match="wrong length"):
            container.read_ciphertext(extended, 1 << 24)

    assert traced(read)[1] < image.samples.nbytes + SCRATCH


def test_an_image_of_no_pixels_is_tampering_not_an_allocation(
    sealed: tuple[bytes, DecodedImage, envelope.FileKeys],
) -> None:
    """Width 0 passes any pixel limit, yet height x (row + 1) bytes would be allocated."""
    data = sealed[0]
    zero = dataclasses.replace(container.read_header(data, 1 << 24), width=0, height=1 << 30)
    ihdr = struct.pack(">IIBBBBB", 0, 1 << 30, 8, 2, 0, 0, 0)
    forged = PNG_SIGNATURE + chunk(b"IHDR", ihdr) + chunk(b"spXH", zero.to_bytes()) + data[data.index(b"IDAT") - 4 :]
    with pytest.raises(TamperedFile, match="no pixels"):
        container.read_ciphertext(forged, 1 << 24)


def test_many_empty_pixel_chunks_cost_no_memory_each(sealed: tuple[bytes, DecodedImage, envelope.FileKeys]) -> None:
    data, image, keys = sealed
    start = data.index(b"IDAT") - 4
    padded = data[:start] + chunk(b"IDAT", b"") * 50_000 + data[start:]
    assert traced(lambda: envelope.unseal(padded, keys, max_pixels=1 << 24))[1] < 2 * image.samples.nbytes + SCRATCH


def test_an_image_header_of_the_wrong_length_is_tampering(
    sealed: tuple[bytes, DecodedImage, envelope.FileKeys],
) -> None:
    data = sealed[0]
    start = len(PNG_SIGNATURE)
    (length,) = struct.unpack_from(">I", data, start)
    longer = chunk(b"IHDR", data[start + 8 : start + 8 + length] + b"\0")
    with pytest.raises(TamperedFile, match="image header has the wrong length"):
        container.read_header(data[:start] + longer + data[start + 12 + length :], 1 << 24)

"""Every limit is checked before the work it bounds: declared image sizes
before decoding, decompression by the bytes it may produce, key-derivation
cost before deriving, and how many derivations run at once.  Each test here
failed before the fix it pins (a 200 after unpacking, a 500, or the work done)."""

from __future__ import annotations

import gzip
import struct
import zlib
from typing import Any

import numpy as np
import pytest
from django.test import override_settings

from audit.models import AuditEvent
from cipher import services
from cipher.engine import container, envelope
from cipher.engine.kdf import KdfLimits, KdfParams
from core.errors import DamagedImage, ImageTooLarge, KdfParametersRefused
from imaging import imagefile
from tests import dicom_files
from tests.images import encode, image_in_mode

IMAGE_PASSWORD = "long enough passphrase for files"


def _nifti_gz(shape: tuple[int, ...], data_bytes: int) -> bytes:
    """A gzipped NIfTI-1 file whose header declares `shape` (int16), followed by `data_bytes` zero bytes."""
    import nibabel

    header = nibabel.Nifti1Header()
    header.set_data_shape(shape)
    header.set_data_dtype(np.int16)
    header["vox_offset"] = 352
    return gzip.compress(header.binaryblock + b"\0" * 4 + bytes(data_bytes), compresslevel=9)


def _post(client: Any, path: str, field: str, data: bytes, name: str, **extra: str) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(path, {field: SimpleUploadedFile(name, data), **extra}, format="multipart")


@override_settings(SECUREPIX_MAX_PIXELS=1_000_000)
def test_a_nifti_volume_over_the_limit_is_refused_from_its_header(operator_api: Any) -> None:
    bomb = _nifti_gz((2000, 2000, 4), 2000 * 2000 * 4 * 2)  # 32 MB of zeros, a few kB on the wire
    assert len(bomb) < 100_000
    refused = _post(operator_api, "/api/v1/classify", "image", bomb, "head.nii.gz")
    assert refused.status_code == 413 and refused.json()["error"]["code"] == "image_too_large"
    assert AuditEvent.objects.get().reason == "image_too_large"


def test_a_gzip_stream_longer_than_its_header_declares_is_refused_in_bounded_memory() -> None:
    import tracemalloc

    small_header_big_stream = _nifti_gz((64, 64, 4), 64 * 1024 * 1024)  # 64 MB behind a 32 kB volume
    honest = _nifti_gz((64, 64, 4), 64 * 64 * 4 * 2)
    tracemalloc.start()
    try:
        with pytest.raises(ImageTooLarge, match="unpacks to more"):
            imagefile.parse(small_header_big_stream, 10**8)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024  # only the middle slice is kept; the rest is inflated and dropped
    assert imagefile.parse(honest, 10**8).rendering().shape == (64, 64)


@override_settings(SECUREPIX_MAX_PIXELS=1_000_000)
def test_a_compressed_dicom_over_the_limit_is_refused_before_decompression(operator_api: Any) -> None:
    large = dicom_files.with_attribute(dicom_files.packaged("mr_rle"), Rows=4000, Columns=4000)
    refused = _post(operator_api, "/api/v1/classify", "image", large, "big.dcm")
    assert refused.status_code == 413 and refused.json()["error"]["code"] == "image_too_large"


def test_a_dicom_window_width_of_zero_is_shown_in_full_not_a_server_error(operator_api: Any) -> None:
    broken = dicom_files.with_attribute(dicom_files.packaged("ct_signed"), WindowWidth=0, WindowCenter=40)
    shown = _post(operator_api, "/api/v1/classify", "image", broken, "ct.dcm")
    assert shown.status_code == 200 and shown.json()["domain"] == "medical"
    rendered = imagefile.parse(broken, 10**7).rendering()
    assert rendered.shape == (128, 128) and rendered.min() == 0 and rendered.max() == 255  # its full range


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def test_a_png_text_chunk_bomb_is_a_damaged_image(operator_api: Any) -> None:
    png = encode(image_in_mode("RGB", 16, 16))
    bomb = _png_chunk(b"zTXt", b"Comment\0\0" + zlib.compress(bytes(64 * 1024 * 1024), 9))
    at = png.index(b"IDAT") - 4
    refused = _post(operator_api, "/api/v1/classify", "image", png[:at] + bomb + png[at:], "bomb.png")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "damaged_image"


def _with_kdf(encrypted: bytes, kdf: KdfParams) -> bytes:
    header, body = container.read(encrypted, 10**8)
    return container.write(container.Header(**{**header.__dict__, "kdf": kdf}), np.ascontiguousarray(body))


def test_decryption_refuses_a_costly_header_before_deriving(
    operator_api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    encrypted = envelope.encrypt_file(encode(image_in_mode("RGB")), IMAGE_PASSWORD).data
    costly = _with_kdf(encrypted, KdfParams(memory_kib=1024 * 1024, iterations=16, parallelism=16))

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the key was derived")

    monkeypatch.setattr(envelope, "derive_keys", never)
    refused = _post(operator_api, "/api/v1/decrypt", "file", costly, "x.securepix.png", password=IMAGE_PASSWORD)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "kdf_parameters_refused"
    assert AuditEvent.objects.get().reason == "kdf_parameters_refused"


def test_the_server_policy_is_narrower_than_the_format_and_configurable() -> None:
    twice_the_memory = KdfParams(memory_kib=128 * 1024)
    twice_the_memory.check()  # the format (and so the command line) accepts it
    with pytest.raises(KdfParametersRefused):
        twice_the_memory.check(services.kdf_limits())
    with override_settings(SECUREPIX_KDF_MAX_MEMORY_KIB=256 * 1024):
        twice_the_memory.check(services.kdf_limits())
    with pytest.raises(ValueError):
        KdfLimits(max_memory_kib=4 * 1024 * 1024)


@override_settings(SECUREPIX_KDF_CONCURRENCY=1, SECUREPIX_KDF_WAIT_SECONDS=0.05)
def test_derivations_beyond_the_concurrency_bound_wait_then_are_told_to_come_back(operator_api: Any) -> None:
    encrypted = envelope.encrypt_file(encode(image_in_mode("RGB")), IMAGE_PASSWORD).data
    gate = services.derivation_gate(1, 0.05)
    with gate:  # another request holds the only slot
        busy = _post(operator_api, "/api/v1/decrypt", "file", encrypted, "x.securepix.png", password=IMAGE_PASSWORD)
    assert busy.status_code == 503 and busy.json()["error"]["code"] == "busy"
    done = _post(operator_api, "/api/v1/decrypt", "file", encrypted, "x.securepix.png", password=IMAGE_PASSWORD)
    assert done.status_code == 200


def test_a_nifti_header_cannot_make_the_server_inflate_more_than_its_volume() -> None:
    import nibabel

    header = nibabel.Nifti1Header()
    header.set_data_shape((64, 64, 4))
    header.set_data_dtype(np.int16)
    header["vox_offset"] = 1e30  # "the data starts a quintillion terabytes in"
    bomb = gzip.compress(header.binaryblock + b"\0" * 4 + bytes(64 * 1024 * 1024), compresslevel=9)
    with pytest.raises(DamagedImage, match="puts its data"):
        imagefile.parse(bomb, 10**8)


def test_an_upload_held_in_memory_is_handed_on_without_a_copy(rf: Any, settings: Any) -> None:
    """The multipart handler's bytes are the bytes the services read (a
    4096x4096 photo's PNG is 23.5 MB: no second copy of it per request); a
    file spooled to disk is read as ever."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from web.uploads import uploads

    png = encode(image_in_mode("RGB", 300, 200))
    request = rf.post("/", {"image": SimpleUploadedFile("a.png", png)})
    held = request.FILES["image"].file.getvalue()
    [(name, data)] = uploads(request, "image")
    assert (name, data) == ("a.png", png) and data is held
    assert request.FILES["image"].closed  # the bytes are the caller's alone, to let go of (Upload.release)
    settings.FILE_UPLOAD_HANDLERS = ["django.core.files.uploadhandler.TemporaryFileUploadHandler"]
    spooled = rf.post("/", {"image": SimpleUploadedFile("a.png", png)})
    assert uploads(spooled, "image") == [("a.png", png)]

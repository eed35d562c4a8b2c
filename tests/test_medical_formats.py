"""DICOM, 16-bit and multi-frame images: bit for bit, and no PHI in clear."""

from __future__ import annotations

import base64
import io
import json
import tracemalloc
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from cipher.engine import analysis, container, envelope, metrics
from core.errors import ImageTooLarge, NotAnImage, SecurePixError, UnsupportedImage
from imaging import dicom, imagefile, png
from tests import dicom_files
from tests.conftest import PASSWORD
from tests.images import encode as encode_image
from tests.images import image_in_mode, photo_array

FILES: dict[str, Callable[[], bytes]] = {
    **{name: (lambda n=name: dicom_files.packaged(n)) for name in dicom_files.PACKAGED},
    "ct_unsigned": dicom_files.ct_unsigned,
    "ct_without_file_meta": dicom_files.ct_without_file_meta,
    "ct_multiframe": dicom_files.ct_multiframe,
}


def _round_trip(data: bytes, cipher: str = "chaotic") -> tuple[bytes, bytes, str]:
    encrypted = envelope.encrypt_file(data, PASSWORD, cipher=cipher).data
    output, suffix = imagefile.encode(envelope.decrypt_file(encrypted, PASSWORD))
    return encrypted, output, suffix


@pytest.mark.parametrize("name", sorted(FILES))
def test_dicom_comes_back_with_every_element_and_the_same_pixels(name: str) -> None:
    original = FILES[name]()
    _, output, suffix = _round_trip(original)
    assert suffix == ".dcm"
    if name not in dicom_files.COMPRESSED:
        assert output == original  # uncompressed: byte for byte
        return
    before, after = dicom_files.read(original), dicom_files.read(output)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.array_equal(before.pixel_array, after.pixel_array)
    assert after.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"  # stored decoded, as documented
    converted = {0x00280004} if str(before.PhotometricInterpretation).startswith("YBR") else set()
    for element in before:
        if element.tag == dicom.PIXEL_DATA or element.tag in converted:
            continue
        assert after[element.tag].value == element.value, element.keyword
    assert after.SOPInstanceUID == before.SOPInstanceUID


@pytest.mark.parametrize("name", sorted(FILES))
def test_no_patient_data_appears_in_clear(name: str) -> None:
    original = FILES[name]()
    values = dicom_files.phi_values(original)
    assert values, "the test file should carry identifying values"
    encrypted = envelope.encrypt_file(original, PASSWORD).data
    for value in values:
        raw = value.encode()
        assert raw in original
        assert raw not in encrypted, value
        assert base64.b64encode(raw) not in encrypted, value
    assert b"DICM" not in encrypted


def test_aes_gcm_carries_dicom_too() -> None:
    original = dicom_files.packaged("ct_signed")
    _, output, _ = _round_trip(original, cipher="aes-gcm")
    assert output == original


def test_multiframe_data_is_stacked_into_one_image() -> None:
    original = dicom_files.ct_multiframe(frames=4, size=128)
    encrypted = envelope.encrypt_file(original, PASSWORD).data
    header = container.read_header(encrypted, max_pixels=10**7)
    assert (header.height, header.width, header.channels, header.bit_depth) == (4 * 128, 128, 1, 16)


def test_the_encrypted_dicom_image_is_uniform_over_sixteen_bits() -> None:
    original = dicom_files.ct_multiframe(frames=16, size=256)
    cipher = analysis.cipher_samples(envelope.encrypt_file(original, PASSWORD).data)
    assert cipher.dtype == np.uint16
    reference = np.random.default_rng(3).integers(0, 65536, cipher.shape, dtype=np.uint16)
    assert metrics.entropy(cipher)[0] >= metrics.entropy(reference)[0] - 0.01
    counts = np.bincount(cipher.reshape(-1) >> 8, minlength=256)  # coarse histogram: 256 bins
    expected = cipher.size / 256
    assert float(((counts - expected) ** 2 / expected).sum()) < 330


@pytest.mark.parametrize(
    ("shape", "dtype", "fmt"),
    [
        ((31, 47, 3), np.uint16, "PNG"),
        ((31, 47, 4), np.uint16, "PNG"),
        ((31, 47, 2), np.uint16, "PNG"),
        ((31, 47, 3), np.uint16, "TIFF"),
        ((31, 47, 4), np.uint16, "TIFF"),
        ((31, 47), np.int16, "TIFF"),
        ((31, 47), np.uint16, "TIFF"),
        ((31, 47), np.uint16, "PNG"),
    ],
)
def test_sixteen_bit_images_round_trip_bit_for_bit(shape: tuple[int, ...], dtype: type, fmt: str) -> None:
    rng = np.random.default_rng(11)
    info = np.iinfo(dtype)
    samples = rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
    samples.flat[:4] = [info.min, info.max, 0, 1]
    if fmt == "PNG":
        import cv2

        bgr = samples[..., [2, 1, 0, 3][: shape[2]]] if len(shape) == 3 and shape[2] >= 3 else samples
        if len(shape) == 3 and shape[2] == 2:  # OpenCV writes no grey+alpha: use the product's own PNG writer
            data = _png16(samples)
        else:
            data = cv2.imencode(".png", np.ascontiguousarray(bgr))[1].tobytes()
    else:
        out = io.BytesIO()
        tifffile.imwrite(out, samples, photometric="rgb" if len(shape) == 3 and shape[2] >= 3 else None)
        data = out.getvalue()
    decoded = imagefile.decode(data, max_pixels=10**7)
    assert decoded.samples.dtype == dtype and np.array_equal(decoded.samples, samples)
    _, output, suffix = _round_trip(data)
    restored = imagefile.decode(output, max_pixels=10**7)
    assert suffix == (".tiff" if dtype == np.int16 else ".png")
    assert restored.samples.dtype == dtype and np.array_equal(restored.samples, samples)


def test_a_sixteen_bit_png_is_read_with_all_its_bits_where_pillow_would_drop_half() -> None:
    samples = photo_array(20, 30, 3, bits=16)
    data = _png16(samples)
    assert np.asarray(Image.open(io.BytesIO(data))).dtype == np.uint8  # Pillow alone loses the low byte
    assert np.array_equal(imagefile.decode(data, max_pixels=10**6).samples, samples)


def test_exif_orientation_matches_pillow_for_all_eight_values() -> None:
    from PIL import ImageOps

    base = Image.fromarray(photo_array(12, 20, 3))
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        out = io.BytesIO()
        base.save(out, "PNG", exif=exif.tobytes())
        expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(out.getvalue()))))
        assert np.array_equal(imagefile.decode(out.getvalue(), 10**6).samples, expected), orientation


def test_the_display_path_windows_a_ct_to_eight_bits() -> None:
    data = dicom_files.packaged("ct_signed")
    rendered = dicom.render(dicom.read_dataset(data))
    assert rendered.dtype == np.uint8 and rendered.shape == (128, 128)
    assert rendered.min() == 0 and rendered.max() == 255
    assert len(np.unique(rendered)) > 50


def test_monochrome1_renders_inverted() -> None:
    plain = dicom.render(dicom.read_dataset(dicom_files.packaged("mr")))
    inverted = dicom.render(dicom.read_dataset(dicom_files.mr_monochrome1()))
    assert np.array_equal(inverted, 255 - plain)


def test_palette_and_ybr_render_as_rgb_once() -> None:
    palette = dicom.render(dicom.read_dataset(dicom_files.packaged("us_palette")))
    assert palette.shape == (350, 800, 3)
    ybr_data = dicom_files.packaged("us_ybr_multiframe")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first_frame_rgb = dicom_files.read(ybr_data).pixel_array[0]  # pydicom converts YBR to RGB
    assert np.array_equal(dicom.render(dicom.read_dataset(ybr_data)), first_frame_rgb)


def test_a_series_is_shown_by_its_first_frame_without_decoding_the_others() -> None:
    """The rendering of a series (for the page and the classifier) is its
    first frame, and only that frame is decoded for it: the 30 JPEG frames
    of an ultrasound clip, or a CT series' slices, are not all decoded and
    held to show one."""
    data = dicom_files.packaged("us_ybr_multiframe")  # 30 frames of 240 x 320, JPEG baseline

    def peak(work: Callable[[], np.ndarray]) -> tuple[np.ndarray, int]:
        tracemalloc.start()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                made = work()
            return made, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    every_frame, decoding_all = peak(lambda: dicom_files.read(data).pixel_array)
    dataset = dicom.read_dataset(data)
    rendered, showing_one = peak(lambda: dicom.render(dataset))
    assert np.array_equal(rendered, every_frame[0])
    assert showing_one < decoding_all / 4, f"{showing_one} bytes to show one frame, {decoding_all} to decode all"


def test_the_display_path_never_touches_the_archival_samples() -> None:
    original = dicom_files.packaged("ct_signed")
    before = imagefile.decode(original, 10**6).samples.copy()
    dicom.render(dicom.read_dataset(original))
    assert np.array_equal(imagefile.decode(original, 10**6).samples, before)
    assert before.dtype == np.int16


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (lambda: dicom_files.packaged("mr")[:-500], NotAnImage, "truncated"),
        (lambda: dicom_files.testdata("MR_truncated.dcm"), NotAnImage, "truncated"),
        (lambda: dicom_files.with_attribute(dicom_files.packaged("mr"), Rows=128), NotAnImage, "inconsistent"),
        (lambda: dicom_files.with_attribute(dicom_files.packaged("mr"), BitsAllocated=12), UnsupportedImage, "12 bits"),
        (lambda: dicom_files.testdata("rtdose.dcm"), UnsupportedImage, "32 bits"),  # RT dose: 32-bit
        (lambda: dicom_files.testdata("JPEG-lossy.dcm"), UnsupportedImage, "cannot decode"),  # no codec decodes it
    ],
)  # fmt: skip
def test_bad_dicom_gets_a_clear_error(make: Callable[[], bytes], error: type, words: str) -> None:
    with pytest.raises(error, match=words) as caught:
        envelope.encrypt_file(make(), PASSWORD)
    assert caught.value.exit_code == 2


def test_the_pixel_limit_applies_to_all_frames() -> None:
    with pytest.raises(ImageTooLarge):
        envelope.encrypt_file(dicom_files.ct_multiframe(frames=4, size=128), PASSWORD, max_pixels=4 * 128 * 128 - 1)


def test_a_dicom_without_pixels_is_refused() -> None:
    with pytest.raises(SecurePixError, match="no image"):
        envelope.encrypt_file(dicom_files.testdata("rtplan.dcm"), PASSWORD)


def test_analysis_works_on_dicom_and_sixteen_bit_images() -> None:
    report = analysis.analyze(imagefile.decode(dicom_files.ct_multiframe(frames=2, size=256), 10**7))
    assert report["npcr_pixel"] > 99.99 and report["npcr_password"] > 99.99  # 16-bit: expected 99.998
    assert min(report["correlation_plain"].values()) > 0.5
    assert max(abs(v) for v in report["correlation_cipher"].values()) < 0.02


def test_the_command_line_encrypts_scan_dcm_and_gives_back_scan_dcm(tmp_path: Path) -> None:
    from tests.test_cli import run

    scan = tmp_path / "scan.dcm"
    scan.write_bytes(dicom_files.packaged("ct_signed"))
    assert run("encrypt", scan, "-o", f"{tmp_path / 'enc'}/").returncode == 0
    assert (tmp_path / "enc" / "scan.securepix.png").exists()
    result = run("decrypt", tmp_path / "enc" / "scan.securepix.png", "-o", f"{tmp_path / 'dec'}/", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["mode"] == "DICOM"
    assert (tmp_path / "dec" / "scan.dcm").read_bytes() == scan.read_bytes()
    report = json.loads(run("analyze", scan, "--json", password=None).stdout)
    assert report["format"] == "DICOM" and report["npcr_pixel"] > 99.9


def test_bad_dicom_on_the_command_line_exits_2_with_no_output(tmp_path: Path) -> None:
    from tests.test_cli import run

    broken = tmp_path / "broken.dcm"
    broken.write_bytes(dicom_files.packaged("mr")[:-500])
    result = run("encrypt", broken, "-o", tmp_path / "enc")
    assert result.returncode == 2 and "truncated" in result.stderr
    assert not (tmp_path / "enc").exists() or not any((tmp_path / "enc").iterdir())


@pytest.mark.parametrize(
    ("make", "shape"),
    [
        (lambda: dicom_files.packaged("ct_signed"), (128, 128)),
        (lambda: dicom_files.ct_without_file_meta(), (128, 128)),
        (lambda: _png16(photo_array(8, 9, 3, bits=16)), (8, 9, 3)),
        (lambda: _tiff(np.arange(-40, 32, dtype=np.int16).reshape(8, 9)), (8, 9)),
        (lambda: encode_image(image_in_mode("P", 8, 9)), (8, 9, 3)),
        (lambda: encode_image(image_in_mode("RGBA", 8, 9)), (8, 9, 3)),
        (lambda: encode_image(image_in_mode("LA", 8, 9)), (8, 9)),
    ],
)  # fmt: skip
def test_every_image_has_an_eight_bit_rendering(make: Callable[[], bytes], shape: tuple[int, ...]) -> None:
    data = make()
    upload = imagefile.parse(data, max_pixels=10**6)
    rendered = upload.rendering()
    assert rendered.dtype == np.uint8 and rendered.shape == shape
    assert rendered.max() > rendered.min()
    # the rendering is made once, and a decoded image renders the same on its own
    assert upload.rendering() is rendered
    assert np.array_equal(imagefile.render(upload.decoded, data), rendered)


def _png16(samples: np.ndarray) -> bytes:
    rows = samples.astype(">u2").view(np.uint8).reshape(samples.shape[0], -1)
    return png.png_bytes(rows, samples.shape[1], samples.shape[2], 16, level=1)


def _tiff(samples: np.ndarray) -> bytes:
    out = io.BytesIO()
    tifffile.imwrite(out, samples)
    return out.getvalue()

"""Fuzzing the engines with mutated real files: the decoders, the classifier
and the cipher raise nothing but SecurePix's own errors, and an image they
refuse is refused with an image error (400 damaged_image, 413 or 415).

Inputs: tests/mutations.py (seeds in every format, truncation, bit flips,
header fields at extremes, inserted chunks and bombs).  Each target also tries
every known crasher as it is.  Examples per target: SECUREPIX_FUZZ_EXAMPLES
(default 200) times the target's weight; `--hypothesis-show-statistics` prints
how many ran, and every distinct failure is saved under /tmp/fuzz-crashers
(see tests/mutations.py for the other knobs).
"""

from __future__ import annotations

import tracemalloc
from typing import Any

import pytest
from hypothesis import given

from cipher.engine import envelope
from classification.engine.classifier import DomainClassifier
from core.errors import ErrorCode, SecurePixError
from imaging import imagefile
from imaging.limits import DEFAULT_MAX_PIXELS
from tests import mutations
from tests.mutations import PASSWORD, Failures, FuzzInput, event, fuzz_inputs, fuzz_settings, unexpected

# What a malformed image may be refused with: 400 damaged_image, 413, 415.
IMAGE_REFUSALS = {
    ErrorCode.NOT_AN_IMAGE,
    ErrorCode.DAMAGED_IMAGE,
    ErrorCode.UNSUPPORTED_IMAGE,
    ErrorCode.IMAGE_TOO_LARGE,
    ErrorCode.UPLOAD_TOO_LARGE,
}
# A SecurePix file that is not one, or was altered: 400 not_securepix_file or authentication_failed too.
FILE_REFUSALS = IMAGE_REFUSALS | {
    ErrorCode.NOT_SECUREPIX_FILE,
    ErrorCode.AUTHENTICATION_FAILED,
    ErrorCode.KDF_PARAMETERS_REFUSED,
}
MAX_PIXELS = DEFAULT_MAX_PIXELS
CRASHERS = {c.name: c for c in mutations.known_crashers()}

failures = {
    name: Failures(name)
    for name in ("decoders", "classifier", "cipher-encrypt", "cipher-decrypt", "known-crashers-engines")
}


def refused(error: SecurePixError, allowed: set[ErrorCode]) -> None:
    event(f"refused: {error.code}")
    assert error.error_code in allowed, f"refusal code: {error.code} ({error.message})"


def decode_everything(data: bytes) -> None:
    """What the platform does with an upload before encrypting it: parse, render, the samples, re-encode."""
    upload = imagefile.parse(data, MAX_PIXELS)
    rendered = upload.rendering()
    assert rendered.dtype.name == "uint8" and rendered.ndim in (2, 3), "rendering: not 8-bit grey or RGB"
    if upload.is_nifti:
        event("decoded: NIfTI volume (rendered only)")
        return
    image = upload.decoded
    imagefile.encode(image)
    event(f"decoded: {image.source_format} {image.mode}")


@pytest.fixture(scope="module")
def classifier() -> DomainClassifier:
    """Loaded once for the module (the backbone is shared by the whole process)."""
    from django.conf import settings

    from classification.config import resnet50_weights

    return DomainClassifier(
        settings.SECUREPIX_CLASSIFIER,
        resnet50_weights=resnet50_weights(),
        use_ocr=False,
        min_confidence=settings.SECUREPIX_MISMATCH_THRESHOLD,
    )


# the fuzz report and collected failures (tests/mutations.py)
_summary, _collected = mutations.summary_fixture, mutations.collected_fixture


# The decoders -------------------------------------------------------------------


@fuzz_settings(weight=10)
@given(case=fuzz_inputs(mutations.all_image_seeds()))
def test_decoders_raise_only_securepix_errors(case: FuzzInput) -> None:
    with failures["decoders"].watch(case, unexpected):
        try:
            decode_everything(case.data)
        except SecurePixError as error:
            refused(error, IMAGE_REFUSALS)


# The classifier -----------------------------------------------------------------


@fuzz_settings(weight=2.5)
@given(case=fuzz_inputs(mutations.all_image_seeds()))
def test_classifier_raises_only_securepix_errors(classifier: DomainClassifier, case: FuzzInput) -> None:
    with failures["classifier"].watch(case, unexpected):
        try:
            result = classifier.classify(case.data, MAX_PIXELS)
        except SecurePixError as error:
            refused(error, IMAGE_REFUSALS)
        else:
            event(f"classified: {result.domain}")


# The cipher ---------------------------------------------------------------------


@fuzz_settings(weight=2.5)
@given(case=fuzz_inputs(mutations.image_seeds() + mutations.dicom_seeds() + mutations.crasher_seeds()))
def test_encrypting_a_mutated_image_raises_only_securepix_errors(case: FuzzInput) -> None:
    with failures["cipher-encrypt"].watch(case, unexpected):
        try:
            encrypted = envelope.encrypt_file(case.data, PASSWORD, max_pixels=MAX_PIXELS)
        except SecurePixError as error:
            refused(error, IMAGE_REFUSALS)
        else:
            event("encrypted")
            assert encrypted.data.startswith(b"\x89PNG"), "encrypted: not a PNG"


@fuzz_settings(weight=3)
@given(case=fuzz_inputs(mutations.securepix_seeds()))
def test_decrypting_a_mutated_securepix_file_raises_only_securepix_errors(case: FuzzInput) -> None:
    with failures["cipher-decrypt"].watch(case, unexpected):
        try:
            image = envelope.decrypt_file(case.data, PASSWORD, max_pixels=MAX_PIXELS)
            imagefile.encode(image)  # what the decrypt service hands back
        except SecurePixError as error:
            refused(error, FILE_REFUSALS)
        else:
            event("decrypted")


# The known crashers, each as it is, through every engine ------------------------


def _engines(classifier: DomainClassifier) -> dict[str, Any]:
    return {
        "decoders": decode_everything,
        "classifier": lambda data: classifier.classify(data, MAX_PIXELS),
        "cipher-encrypt": lambda data: envelope.encrypt_file(data, PASSWORD, max_pixels=MAX_PIXELS),
        "cipher-decrypt": lambda data: envelope.decrypt_file(data, PASSWORD, max_pixels=MAX_PIXELS),
    }


@pytest.mark.parametrize("engine", ["decoders", "classifier", "cipher-encrypt", "cipher-decrypt"])
@pytest.mark.parametrize("name", sorted(CRASHERS))
def test_a_known_crasher_is_refused_with_a_securepix_error(
    classifier: DomainClassifier, name: str, engine: str
) -> None:
    crasher = CRASHERS[name]
    case = FuzzInput(f"crasher-{name}", "crasher", (), crasher.data)
    allowed = FILE_REFUSALS if engine == "cipher-decrypt" else IMAGE_REFUSALS
    with failures["known-crashers-engines"].watch(case, lambda exc: f"{engine}-{name}-{unexpected(exc)}"):
        try:
            _engines(classifier)[engine](crasher.data)
        except SecurePixError as error:
            assert error.error_code in allowed, f"refusal code: {error.code} ({error.message})"
        else:
            assert not crasher.must_refuse, f"accepted: {crasher.what} was not refused"


# The NIfTI bomb: refused from its header, never inflated ------------------------

NIFTI_BOMB = CRASHERS["nifti-gz-bomb"]
MEMORY_BUDGET = 64 << 20  # the bomb's stream inflates to 68 MiB


def _peak_while_parsing(max_pixels: int) -> tuple[SecurePixError | None, int]:
    tracemalloc.start()
    try:
        imagefile.parse(NIFTI_BOMB.data, max_pixels)
        error = None
    except SecurePixError as exc:
        error = exc
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return error, peak


def test_a_nifti_bomb_is_refused_without_inflating_its_stream() -> None:
    """A header declaring 2000x2000x4 voxels over a gzip stream that inflates
    past 64 MiB: refused, and the refusal never holds the stream's 64 MiB."""
    error, peak = _peak_while_parsing(MAX_PIXELS)
    assert error is not None, "accepted: the NIfTI bomb was parsed"
    assert error.error_code in IMAGE_REFUSALS, f"refusal code: {error.code}"
    assert peak < MEMORY_BUDGET, f"memory: parsing the NIfTI bomb peaked at {peak / 2**20:.1f} MiB"


def test_a_nifti_volume_over_the_pixel_limit_is_refused_from_its_header() -> None:
    """With a pixel limit under the declared 2000x2000x4, nothing is inflated at all."""
    error, peak = _peak_while_parsing(2000 * 2000 * 4 - 1)
    assert error is not None and error.error_code == ErrorCode.IMAGE_TOO_LARGE, error
    assert peak < 4 << 20, f"memory: refusing from the header took {peak / 2**20:.1f} MiB"

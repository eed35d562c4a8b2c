"""The classifier's signals on real pictures: BlazeFace faces, DICOM modality
as evidence, multilingual page words, reasons in words, grouped evaluation."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from classification.engine import evaluation, faces, signals
from classification.engine.classifier import MODEL_SIDE, DomainClassifier, renderings
from imaging import imagefile
from tests import dicom_files
from tests.images import encode


def _hopper() -> np.ndarray:
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    return np.asarray(Image.open(path).convert("RGB"))


def _astronaut() -> np.ndarray:
    from skimage import data

    return np.asarray(data.astronaut())


@pytest.fixture(scope="module")
def classifier() -> DomainClassifier:
    return DomainClassifier("efficientnet-lite0")


def test_the_face_detector_weights_come_from_the_installed_package() -> None:
    assert faces.model_path().name == "face_detection_full_range.tflite"


def test_it_counts_the_people_of_a_group_photo() -> None:
    height = 400
    people = [np.asarray(Image.fromarray(p).resize((round(p.shape[1] * height / p.shape[0]), height))) for p in
              (_hopper(), _astronaut(), _hopper())]  # fmt: skip
    group = np.concatenate(people, axis=1)
    found = faces.detector()(group)
    assert len(found) == 3
    assert signals.faces(found).reasons == ["3 faces"]


def test_it_finds_a_face_cropped_to_fill_the_picture() -> None:
    crop = _astronaut()[30:230, 150:330]  # the astronaut's face, edge to edge
    assert len(faces.detector()(crop)) == 1


def test_a_landscape_has_no_faces() -> None:
    from skimage import data

    assert faces.detector()(np.asarray(data.coffee())) == []


def test_a_group_photo_is_personal_with_its_face_count(classifier: DomainClassifier) -> None:
    group = np.concatenate([_astronaut(), _astronaut()], axis=1)
    result = classifier.classify(encode(Image.fromarray(group)))
    assert result.domain == "personal", result.reasons
    assert "2 faces" in result.reasons


def test_a_dicom_file_without_a_modality_is_weak_evidence_only() -> None:
    data = dicom_files.with_attribute(dicom_files.packaged("ct_signed"), Modality="")
    evidence = signals.container(imagefile.parse(data, 10**7))
    assert evidence.reasons == ["DICOM file without a modality (weak evidence)"]
    assert 0 < evidence.scores["medical"] < signals.CLINICAL_MODALITY_WEIGHT


@pytest.mark.parametrize(
    ("text", "domain", "words"),
    [
        ("Rechnung Nr. 2024-17  Gesamtbetrag 1.190,00 EUR inkl. MwSt", "finance", "rechnung"),
        ("FACTURE n° 88 — Montant TTC, TVA 20 %", "finance", "facture"),
        ("Annual Report 2023: revenue, dividends and ESG", "finance", "revenue"),
        ("IN THE CIRCUIT COURT OF KANAWHA COUNTY. Petitioner v. Respondent", "legal", "court"),
        ("Clinical guideline: treatment of patients with diabetes; dosage", "medical", "patients"),
    ],
)
def test_page_words_in_several_languages_point_to_their_domain(text: str, domain: str, words: str) -> None:
    evidence = signals.text_evidence(signals.normalised_words(text))
    assert max(evidence.scores, key=evidence.scores.__getitem__) == domain
    assert any(reason.startswith("words: ") and words in reason for reason in evidence.reasons)


def test_reasons_are_words_not_imagenet_labels(classifier: DomainClassifier) -> None:
    from skimage import data

    result = classifier.classify(encode(Image.fromarray(data.coffee())))
    labels = {label for label, _ in result.top5}
    assert not any(label in reason for reason in result.reasons for label in labels)


def test_cross_validation_groups_by_the_manifest_package(tmp_path: Path, classifier: DomainClassifier) -> None:
    from skimage import data

    for domain, picture in (("none", data.coffee()), ("personal", _astronaut())):
        (tmp_path / domain).mkdir()
        for i in range(2):
            (tmp_path / domain / f"{i}.png").write_bytes(encode(Image.fromarray(np.asarray(picture)[i:])))
    (tmp_path / "manifest.csv").write_text(
        "file,domain,also,package\nnone/0.png,none,,a\nnone/1.png,none,personal,b\n"
        "personal/0.png,personal,,a\npersonal/1.png,personal,,b\n"
    )
    examples = evaluation.read_examples(classifier, tmp_path)
    assert sorted((e.path.parent.name, e.path.name, e.group, e.also) for e in examples) == [
        ("none", "0.png", "a", ""),
        ("none", "1.png", "b", "personal"),
        ("personal", "0.png", "a", ""),
        ("personal", "1.png", "b", ""),
    ]
    report = evaluation.report(examples, evaluation.predictions(classifier, examples, folds=5))
    assert report["examples"] == 4 and 0 <= report["ece"] <= 1


def _text_page_as_first_written(grey: np.ndarray) -> bool:
    """looks_like_text_page before it counted instead of averaging floats."""
    if min(grey.shape) < 64:
        return False
    light = float(np.mean(grey > 160))
    dark = grey < 110
    dark = dark[:, dark.mean(axis=0) <= 0.3]
    if light < 0.55 or dark.shape[1] < 64:
        return False
    if not 0.0005 < float(np.mean(dark)) < 0.35:
        return False
    text_rows = dark.mean(axis=1) > 0.002
    return int(np.count_nonzero(np.diff(text_rows.astype(np.int8)))) >= 6


@settings(max_examples=60, deadline=None)
@given(
    height=st.integers(60, 200),
    width=st.integers(60, 200),
    lines=st.integers(0, 12),
    ink=st.integers(0, 255),
    paper=st.integers(100, 255),
    seed=st.integers(0, 2**16),
)
def test_the_text_page_test_counts_exactly_as_it_averaged(
    height: int, width: int, lines: int, ink: int, paper: int, seed: int
) -> None:
    """Pages of dark strokes on light paper (and noise), either side of every
    threshold; counted whole or a band of rows at a time, and inverted
    (light on dark) without a copy."""
    rng = np.random.default_rng(seed)
    page = np.clip(rng.normal(paper, 20, (height, width)), 0, 255).astype(np.uint8)
    for line in range(lines):
        top = 8 + line * max(1, (height - 16) // max(lines, 1))
        page[top : top + 2, rng.integers(0, width // 3) : width - rng.integers(0, width // 3)] = ink
    page[:, : rng.integers(0, 12)] = ink  # a dark margin, sometimes
    for grey in (page, 255 - page):
        assert signals.looks_like_text_page(grey) == _text_page_as_first_written(grey)
        with mock.patch.object(signals, "_COUNTED_ROWS_BYTES", width * 7):  # bands of 7 rows
            assert signals.looks_like_text_page(grey) == _text_page_as_first_written(grey)
            assert signals.looks_like_text_page(grey, inverted=True) == _text_page_as_first_written(255 - grey)
        assert signals.share(grey > 160) == float(np.mean(grey > 160))
        assert np.array_equal(signals.share(grey < 110, axis=0), (grey < 110).mean(axis=0))


def _rendered_whole(rendering: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The renderings as first made, from one Pillow copy of the whole image."""
    picture = Image.fromarray(rendering)
    grey = np.asarray(picture if picture.mode == "L" else picture.convert("L"))
    factor = max(picture.size) // MODEL_SIDE
    small = np.asarray(picture.reduce(factor) if factor >= 2 else picture)
    return (np.repeat(small[..., None], 3, axis=2) if small.ndim == 2 else small), grey


@settings(max_examples=25, deadline=None)
@given(
    height=st.integers(1, 70),
    width=st.sampled_from([1, 37, 2047, 2048, 2049, 3071, 3072, 4100]),
    grey=st.booleans(),
    tall=st.booleans(),
    band_pixels=st.sampled_from([1, 5000, 1 << 20]),
    on_a_pool=st.booleans(),
)
def test_renderings_band_by_band_are_those_of_the_whole_picture(
    height: int, width: int, grey: bool, tall: bool, band_pixels: int, on_a_pool: bool
) -> None:
    """Made a band of rows at a time (no 67 MB Pillow copy of a 4096x4096
    photo), on one thread or two, the renderings are the same bytes, in
    memory of their own, whatever the size against the factor's blocks."""
    shape = (width, height) if tall else (height, width)
    rng = np.random.default_rng(height * width)
    rendering = rng.integers(0, 256, (*shape, 3) if not grey else shape, dtype=np.uint8)
    with ThreadPoolExecutor(1) if on_a_pool else nullcontext() as pool:
        rgb, grey_rendering = renderings(rendering, pool, band_pixels=band_pixels)
    expected_rgb, expected_grey = _rendered_whole(rendering)
    assert np.array_equal(rgb, expected_rgb) and np.array_equal(grey_rendering, expected_grey)
    assert rgb.flags.c_contiguous and not np.shares_memory(grey_rendering, rendering)

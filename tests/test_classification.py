"""Domain classification with the real EfficientNet-Lite0 weights, OCR and faces."""

from __future__ import annotations

import json
import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from classification.engine import backbones, domains, signals
from classification.engine.classifier import DomainClassifier
from classification.engine.data.lexicons import LEXICONS
from classification.engine.head import DomainHead, train
from classification.engine.torch_weights import UnsafeWeightsFile, load_state_dict
from core.domains import DOMAINS
from imaging import imagefile
from tests import dicom_files, documents
from tests.images import encode


@pytest.fixture(scope="module")
def classifier() -> DomainClassifier:
    return DomainClassifier("efficientnet-lite0")


def test_the_cat_photo_is_a_cat(classifier: DomainClassifier) -> None:
    from skimage import data

    probabilities = classifier.look(data.chelsea()).probabilities
    top = int(np.argmax(probabilities))
    assert 281 <= top <= 285, domains.class_name(top)  # tabby, tiger, Persian, Siamese, Egyptian cat
    assert "cat" in domains.class_name(top)


def test_a_ct_dicom_is_medical_because_of_its_modality(classifier: DomainClassifier) -> None:
    result = classifier.classify(dicom_files.packaged("ct_signed"))
    assert result.domain == "medical"
    assert "DICOM modality CT" in result.reasons


def test_a_photo_stored_as_dicom_is_not_medical_by_its_container_alone() -> None:
    data = dicom_files.with_attribute(dicom_files.packaged("ct_signed"), Modality="OT")
    evidence = signals.container(imagefile.parse(data, 10**7))
    assert evidence.scores == {}
    assert any("not evidence" in reason for reason in evidence.reasons)


def test_a_rendered_invoice_is_finance_through_ocr(classifier: DomainClassifier) -> None:
    result = classifier.classify(documents.page("finance"))
    assert result.ocr == "used"
    assert result.domain == "finance", result.reasons
    words = next(reason for reason in result.reasons if reason.startswith("words: "))
    assert set(words.removeprefix("words: ").split(", ")) <= set(LEXICONS["finance"])


def test_a_rendered_court_form_is_legal_through_ocr(classifier: DomainClassifier) -> None:
    result = classifier.classify(documents.page("legal", seed=3))
    assert result.ocr == "used"
    assert result.domain == "legal", result.reasons


def test_a_portrait_is_personal(classifier: DomainClassifier) -> None:
    import matplotlib

    portrait = (Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg").read_bytes()
    result = classifier.classify(portrait)
    assert result.domain == "personal", result.reasons
    assert "1 face" in result.reasons


def test_every_result_has_the_documented_keys(classifier: DomainClassifier) -> None:
    from skimage import data

    result = classifier.classify(encode(Image.fromarray(data.coffee()))).as_dict()
    assert set(result) >= {"domain", "confidence", "scores", "top5", "model", "reasons"}
    assert set(result["scores"]) == set(DOMAINS)
    assert abs(sum(result["scores"].values()) - 1) < 1e-3
    assert len(result["top5"]) == 5 and result["model"] == "efficientnet-lite0"


def test_all_1000_imagenet_classes_are_mapped() -> None:
    classes = domains.imagenet_classes()
    assert [c["index"] for c in classes] == list(range(1000))
    assert len({c["wnid"] for c in classes}) == 1000
    assert all(c["domain"] in DOMAINS for c in classes)
    assert domains.class_domain(823) == "medical" and domains.class_name(823) == "stethoscope"
    assert domains.class_domain(771) == "finance" and domains.class_name(771) == "safe"


def test_bad_inputs_get_clear_errors(classifier: DomainClassifier) -> None:
    from core.errors import NotAnImage

    with pytest.raises(NotAnImage):
        classifier.classify(b"this is not an image")
    with pytest.raises(NotAnImage):
        noise = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
        classifier.classify(encode(Image.fromarray(noise))[:2000])


def test_the_weights_reader_refuses_a_pickle_that_runs_code(tmp_path: Path) -> None:
    class Exploit:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (print, ("owned",))

    path = tmp_path / "evil.pth"
    path.write_bytes(b"".join(pickle.dumps(x, protocol=2) for x in (0x1950A86A20F9469CFC6C, 1001, {}, Exploit())))
    import hashlib

    with pytest.raises(UnsafeWeightsFile, match="print"):
        load_state_dict(path, hashlib.sha256(path.read_bytes()).hexdigest())
    with pytest.raises(UnsafeWeightsFile, match="SHA-256"):
        load_state_dict(path, "0" * 64)


def test_resnet50_loads_from_a_configured_weights_file(tmp_path: Path) -> None:
    import keras

    weights = tmp_path / "resnet50.weights.h5"
    keras.applications.ResNet50(weights=None).save_weights(str(weights))
    found = backbones.find_resnet50_weights(str(weights), tmp_path)
    assert found == weights and backbones.resolve("auto", found) == "resnet50"
    backbone = backbones.load("resnet50", found)
    embedding, probabilities = backbone.run(backbone.preprocess(np.zeros((300, 200, 3), np.uint8))[None])
    assert embedding.shape == (1, 2048) and probabilities.shape == (1, 1000)
    with pytest.raises(backbones.BackboneUnavailable):
        backbones.find_resnet50_weights(str(tmp_path / "missing.h5"), tmp_path)


def test_auto_falls_back_to_efficientnet_without_resnet_weights(tmp_path: Path) -> None:
    assert backbones.find_resnet50_weights("", tmp_path) is None
    assert backbones.resolve("auto", None) == "efficientnet-lite0"
    cached = tmp_path / "models" / backbones.KERAS_CACHE_FILE
    cached.parent.mkdir()
    cached.write_bytes(b"weights")
    assert backbones.find_resnet50_weights("", tmp_path) == cached
    with pytest.raises(backbones.BackboneUnavailable):
        backbones.resolve("vgg16")


def test_a_head_learns_and_survives_json() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 16)) * 4
    labels = ["medical", "legal", "none"] * 30
    x = np.stack([centres[i % 3] + rng.normal(size=16) for i in range(90)])
    head = train(x, labels, "efficientnet-lite0", {"note": "synthetic"})
    again = DomainHead.from_json(head.to_json())
    p = again.probabilities(centres)
    assert [DOMAINS[i] for i in p.argmax(axis=1)] == ["medical", "legal", "none"]
    assert again.digest == head.digest


def test_the_shipped_head_matches_its_backbone() -> None:
    from classification.engine.head import load_default

    head = load_default("efficientnet-lite0")
    assert head is not None and head.backbone == "efficientnet-lite0"
    assert set(head.classes) == set(DOMAINS)
    assert head.manifest["dataset_sha256"]
    assert head.coef.shape == (6, 1280)


def test_the_classify_command_prints_one_json_object_per_file(tmp_path: Path) -> None:
    from tests.test_cli import run

    ct = tmp_path / "ct.dcm"
    ct.write_bytes(dicom_files.packaged("ct_signed"))
    junk = tmp_path / "junk.png"
    junk.write_text("junk")
    result = run("classify", ct, junk, "--json", "--no-ocr", password=None)
    assert result.returncode == 2
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first["domain"] == "medical" and first["model"] in backbones.NAMES
    assert second["status"] == "error"


def test_evaluate_reports_accuracy_recall_and_confusion(tmp_path: Path) -> None:
    from tests.test_cli import run

    (tmp_path / "medical").mkdir()
    (tmp_path / "finance").mkdir()
    (tmp_path / "medical" / "ct.dcm").write_bytes(dicom_files.packaged("ct_signed"))
    (tmp_path / "medical" / "mr.dcm").write_bytes(dicom_files.packaged("mr"))
    (tmp_path / "finance" / "invoice.png").write_bytes(documents.page("finance"))
    result = run("evaluate", tmp_path, "--json", password=None)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["per_domain"]["medical"] == 1.0
    assert set(report) >= {"overall", "per_domain", "macro_recall", "confusion", "ece"}
    assert report["confusion"]["medical"]["medical"] == 2
    policy = report["policy"]  # what the configured mismatch policy makes of these predictions
    right = report["overall"] == 1.0
    assert (policy["correct_declaration_acknowledged"] == 0.0) or not right
    assert policy["medical_declared_none_passing"] == 0.0  # both scans are confidently medical
    assert policy["medical_declared_personal_passing_files"] == []
    table = run("evaluate", tmp_path, password=None)
    assert "medical declared none, passing without an acknowledgment 0.0%" in table.stdout
    bad = run("evaluate", tmp_path / "medical", password=None)
    assert bad.returncode == 2 and "one folder per domain" in bad.stderr


def test_a_nifti_volume_is_medical(classifier: DomainClassifier) -> None:
    import nibabel

    path = Path(nibabel.__file__).parent / "tests" / "data" / "example4d.nii.gz"
    result = classifier.classify(path.read_bytes())
    assert result.domain == "medical" and "NIfTI volume" in result.reasons


def test_a_cctv_frame_is_surveillance_through_its_overlay(classifier: DomainClassifier) -> None:
    import random

    from skimage import data

    from classification import devset

    frame = devset._cctv(data.stereo_motorcycle()[0], random.Random(5), devset._fonts())
    result = classifier.classify(encode(frame))
    assert result.domain == "surveillance", result.reasons
    assert result.ocr == "used"  # the caption band was read


def test_overlay_captions_give_date_time_and_camera_evidence() -> None:
    from PIL import ImageDraw, ImageFont

    from classification import devset

    frame = Image.fromarray(np.full((480, 640), 60, np.uint8))
    font = ImageFont.truetype(str(next(f for f in devset._fonts() if "Mono" in f.name)), 22)
    ImageDraw.Draw(frame).text((10, 10), "CAM 07  2025-06-14 23:41:05", fill=255, font=font)
    grey = np.asarray(frame)
    bands = signals.overlay_bands(grey)
    assert len(bands) == 1
    evidence = signals.overlay_text(bands)
    assert evidence.reasons == ["overlay: date and time", "overlay: camera number"]
    assert evidence.scores["surveillance"] > 0


def test_photo_highlights_do_not_look_like_overlay_text() -> None:
    from skimage import data

    for picture in (data.coffee(), data.chelsea(), data.astronaut()):
        grey = np.asarray(Image.fromarray(picture).convert("L").resize((512, 512)))
        assert signals.overlay_bands(grey) == []


def test_without_tesseract_it_still_classifies_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(signals.shutil, "which", lambda name: None)  # as on a machine without tesseract
    with caplog.at_level("WARNING"):
        degraded = DomainClassifier("efficientnet-lite0")
    assert "Tesseract is not installed" in caplog.text
    result = degraded.classify(documents.page("finance"))
    assert result.ocr == "unavailable"
    assert "has text to read, but OCR (Tesseract) is not installed" in result.reasons
    assert result.domain in DOMAINS


def test_below_the_confidence_floor_the_answer_is_none_with_the_leaning(classifier: DomainClassifier) -> None:
    unsure = signals.Evidence()
    unsure.add("medical", 0.5)  # a little more than the uniform prior for medical
    head_free = replace(classifier)
    head_free.head = None  # a uniform prior, so that the evidence alone decides
    result = head_free.combine(np.zeros(1280, np.float32), [unsure], [("moon", 0.1)], "not needed")
    assert result.scores["medical"] == max(result.scores.values()) and result.scores["medical"] < 0.6
    assert result.domain == "none"
    assert any(reason.startswith("no domain reaches 60% (leaning medical") for reason in result.reasons)
    sure = signals.Evidence()
    sure.add("medical", 8.0, "DICOM modality CT")
    assert head_free.combine(np.zeros(1280, np.float32), [sure], [], "not needed").domain == "medical"

"""classification.services and its contract, called directly."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from audit.models import AuditEvent
from classification import services
from classification.contracts import ClassifyRequest
from core.context import Context
from core.errors import InvalidInput
from core.forms import Upload
from tests import dicom_files


def test_classify_records_the_prediction_and_the_decision(operator: Any) -> None:
    request = ClassifyRequest(Upload("ct.dcm", dicom_files.packaged("ct_signed")), "personal")
    done = services.do_classify(context=Context(actor=operator), request=request)
    result, decision = done.result, done.decision
    assert done.event.sequence == 1
    assert result.domain == "medical" and decision is not None and decision.action == "acknowledge"
    event = AuditEvent.objects.get()
    assert (event.action, event.predicted_domain, event.mismatch, event.decision) == (
        "classify",
        "medical",
        True,
        "acknowledgment_required",
    )


def test_an_unknown_declared_domain_is_a_field_error_and_recorded(operator: Any) -> None:
    request = ClassifyRequest(Upload("ct.dcm", dicom_files.packaged("ct_signed")), "pets")
    with pytest.raises(InvalidInput, match="declared_domain"):
        services.do_classify(context=Context(actor=operator), request=request)
    assert AuditEvent.objects.get().reason == "invalid_declared_domain"


@pytest.mark.parametrize(
    ("setting", "value", "check_id"),
    [
        ("SECUREPIX_CLASSIFIER", "vgg16", "securepix.E101"),
        ("SECUREPIX_RESNET50_WEIGHTS", "/nowhere/resnet50.h5", "securepix.E102"),
        ("SECUREPIX_MISMATCH_RULES", "personal:medical=shred", "securepix.E104"),
        ("SECUREPIX_MISMATCH_THRESHOLD", 1.5, "securepix.E104"),
        ("SECUREPIX_AUDIT_KEY", "too short", "securepix.E001"),
    ],
)
def test_a_bad_setting_fails_the_system_checks(setting: str, value: object, check_id: str) -> None:
    with override_settings(**{setting: value}), pytest.raises(SystemCheckError, match=check_id):
        call_command("check")

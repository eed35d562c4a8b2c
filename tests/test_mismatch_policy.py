"""The mismatch policy and the acknowledgments it asks for."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from audit.models import AuditEvent
from classification import services
from classification.engine.classifier import Classification
from classification.models import MismatchAcknowledgment
from classification.policy import MismatchPolicy
from core.context import Context
from core.domains import ACKNOWLEDGE, ALLOW, BLOCK
from core.errors import InvalidInput, SecurePixError


def _result(domain: str, confidence: float) -> Classification:
    scores = dict.fromkeys(("medical", "legal", "surveillance", "finance", "personal", "none"), 0.0)
    scores[domain] = confidence
    return Classification(
        domain, confidence, scores, [("stethoscope", 0.4)], "efficientnet-lite0", ["DICOM modality CT"]
    )


def test_by_default_a_confident_mismatch_needs_an_acknowledgment() -> None:
    policy = MismatchPolicy()
    assert policy.decide("personal", "medical", 0.9).action == ACKNOWLEDGE
    assert policy.decide("medical", "medical", 0.9).action == ALLOW
    assert policy.decide("personal", "medical", 0.3).action == ALLOW  # not confident
    assert all(policy.decide(d, "legal", 0.99).action != BLOCK for d in ("personal", "none", "finance"))


def test_declaring_a_stricter_domain_passes_and_a_laxer_one_asks() -> None:
    policy = MismatchPolicy()
    over = policy.decide("personal", "none", 0.95)  # a cat photo declared personal
    assert over.action == ALLOW and "at least as carefully" in over.reason
    assert policy.decide("medical", "legal", 0.95).action == ALLOW
    assert policy.decide("none", "personal", 0.95).action == ACKNOWLEDGE
    assert policy.decide("legal", "medical", 0.95).action == ACKNOWLEDGE
    custom = MismatchPolicy(sensitivity=("none", "surveillance", "personal", "finance", "legal", "medical"))
    assert custom.decide("personal", "none", 0.95).action == ACKNOWLEDGE
    with pytest.raises(ValueError, match="sensitivity"):
        MismatchPolicy(sensitivity=("medical", "legal"))


def test_rules_can_block_or_allow_pairs() -> None:
    policy = MismatchPolicy.parse(0.5, "acknowledge", "personal:medical=block, none:*=allow")
    assert policy.decide("personal", "medical", 0.8).action == BLOCK
    assert policy.decide("none", "finance", 0.8).action == ALLOW
    assert policy.decide("finance", "legal", 0.8).action == ACKNOWLEDGE


@pytest.mark.parametrize("rules", ["personal:medical", "personal:medical=shred", "pets:medical=block"])
def test_a_bad_policy_is_refused(rules: str) -> None:
    with pytest.raises(ValueError):
        MismatchPolicy.parse(0.5, "acknowledge", rules)


def test_an_unknown_declared_domain_is_refused() -> None:
    with pytest.raises(ValueError, match="declared domain"):
        MismatchPolicy().decide("pets", "medical", 0.9)


@pytest.mark.django_db
def test_an_acknowledgment_is_stored_with_what_was_predicted() -> None:
    user = get_user_model().objects.create_user("ward-clerk", password="correct horse battery")
    stored = services.do_acknowledge(
        context=Context(actor=user),
        declared="personal",
        result=_result("medical", 0.93),
        reason="  consented research photo ",
    )
    again = MismatchAcknowledgment.objects.get(pk=stored.pk)
    assert (again.declared_domain, again.predicted_domain, again.top_label) == ("personal", "medical", "stethoscope")
    assert again.reason == "consented research photo" and again.reasons == ["DICOM modality CT"]
    assert again.model_name == "efficientnet-lite0" and again.confidence == pytest.approx(0.93)
    event = AuditEvent.objects.get(action="acknowledge")
    assert (event.username, event.declared_domain, event.predicted_domain) == ("ward-clerk", "personal", "medical")
    assert event.extra["acknowledgment"] == stored.pk


@pytest.mark.django_db
def test_an_acknowledgment_needs_a_reason_and_a_mismatch() -> None:
    context = Context(actor=get_user_model().objects.create_user("paralegal", password="correct horse battery"))
    with pytest.raises(InvalidInput, match="reason"):
        services.do_acknowledge(context=context, declared="personal", result=_result("medical", 0.93), reason="   ")
    with pytest.raises(SecurePixError, match="no acknowledgment"):
        services.do_acknowledge(context=context, declared="medical", result=_result("medical", 0.93), reason="why")
    assert MismatchAcknowledgment.objects.count() == 0 and not AuditEvent.objects.exists()


def test_an_unsure_none_leaning_to_a_stricter_domain_asks() -> None:
    """A CT dose screen the classifier calls `none` because medical reached only
    52 % must not pass when declared none or personal; over-declaring passes."""
    policy = MismatchPolicy()
    leaning = ("medical", 0.52)
    for declared in ("none", "personal", "finance"):
        decision = policy.decide(declared, "none", 0.05, leaning)
        assert decision.action == ACKNOWLEDGE
        assert "may be medical (52%)" in decision.reason
    assert policy.decide("medical", "none", 0.05, leaning).action == ALLOW
    assert policy.decide("none", "none", 0.05, ("medical", 0.45)).action == ALLOW  # below the leaning threshold
    assert policy.decide("none", "none", 0.05, ("personal", 0.55)).action == ACKNOWLEDGE
    assert policy.decide("personal", "none", 0.05, ("surveillance", 0.55)).action == ALLOW  # less strict
    assert MismatchPolicy(leaning_threshold=1.0).decide("none", "none", 0.05, leaning).action == ALLOW
    with pytest.raises(ValueError, match="leaning threshold"):
        MismatchPolicy(leaning_threshold=float("nan"))


def test_an_unsure_leaning_goes_by_the_configured_rules_too() -> None:
    lenient = MismatchPolicy.parse(0.6, "acknowledge", "none:*=allow,personal:medical=block")
    assert lenient.decide("none", "none", 0.05, ("medical", 0.55)).action == ALLOW
    blocked = lenient.decide("personal", "none", 0.05, ("medical", 0.55))
    assert blocked.action == BLOCK and blocked.leaning == ("medical", 0.55)


def test_the_leaning_is_that_of_an_unsure_none_only() -> None:
    def result(domain: str, **scores: float) -> Classification:
        return Classification(domain, max(scores.values()), scores, [], "m", [])

    assert result("none", medical=0.52, finance=0.39, none=0.09).leaning == ("medical", 0.52)
    assert result("none", medical=0.2, none=0.8).leaning is None
    assert result("medical", medical=0.9, none=0.1).leaning is None

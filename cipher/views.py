"""The encrypt and decrypt pages."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_POST

from audit.receipts import sequenced
from classification import services as classification
from classification.contracts import ClassifyRequest
from core import naming, permissions
from core.domains import LABELS
from core.errors import InvalidInput, SecurePixError
from core.forms import Upload, text
from imaging import imagefile
from web.context import context_from
from web.pages import data_url, no_store, page, problem, refusal
from web.throttles import decrypt_wait
from web.uploads import uploads

from . import charts, services
from .contracts import DecryptRequest
from .engine.envelope import CIPHERS
from .passwords import password_problems

# "None" alone reads as if nothing were declared ("declared None"): the page says what it means.
_LABELS = {**LABELS, "none": "None (not sensitive)"}


@require_GET
@page(permissions.ENCRYPT)
def encrypt_page(request: HttpRequest) -> HttpResponse:
    return render(request, "cipher/encrypt.html", {"ciphers": CIPHERS, **_password_policy_context()})


def _password_policy_context() -> dict[str, Any]:
    return {"password_min_length": settings.SECUREPIX_FILE_PASSWORD_MIN_LENGTH}


@require_POST
@sensitive_post_parameters("password")
@sensitive_variables("password")
@page(permissions.ENCRYPT)
def encrypt_password(request: HttpRequest) -> HttpResponse:
    """What the file-password policy says of the password typed so far (as it is typed)."""
    password = request.POST.get("password", "")
    context = {"problems": password_problems(password) if password else [], "checked": bool(password)}
    return no_store(render(request, "cipher/_password_policy.html", {**context, **_password_policy_context()}))


@require_POST
@page(permissions.CLASSIFY)
def encrypt_classify(request: HttpRequest) -> HttpResponse:
    """The prediction for each chosen file, in file order, each with its own
    declared-domain field (the policy's decision comes per file, from encrypt_decide)."""
    try:
        files = uploads(request, "images")
    except SecurePixError as error:
        return refusal(request, error)
    who = context_from(request)
    rows: list[dict[str, Any]] = []
    for index, (name, data) in enumerate(files):
        row: dict[str, Any] = {"index": index, "name": name}
        try:
            result = classification.do_classify(context=who, request=ClassifyRequest(Upload(name, data))).result
        except SecurePixError as error:
            rows.append({**row, "error": error.message})
            continue
        facts = {"predicted": result.domain, "confidence": str(result.confidence), "index": str(index), "name": name}
        if result.leaning is not None:
            facts.update(leaning=result.leaning[0], leaning_confidence=str(result.leaning[1]))
        rows.append(
            {
                **row,
                "result": result,
                "label": _LABELS[result.domain],
                "sure": _sure(result.confidence),
                "reasons": result.reasons,
                "top5": [(label, _percent(p)) for label, p in result.top5],
                "decide_values": json.dumps(facts),
            }
        )
    return render(request, "cipher/_predictions.html", {"rows": rows, "domains": _LABELS.items()})


@require_POST
@page(permissions.ENCRYPT)
def encrypt_decide(request: HttpRequest) -> HttpResponse:
    """What the policy says of one file declared as chosen in the page, from its
    prediction (never the image: do_encrypt classifies and decides again)."""
    fields = request.POST
    try:
        index = _file_index(fields.get("index", ""))
        declared = text(fields, f"declared_{index}", max_length=32)
        predicted = text(fields, "predicted", max_length=32)
        confidence = _confidence(text(fields, "confidence", max_length=32))
        name = text(fields, "name", max_length=255)
        leaning = None
        if towards := fields.get("leaning", ""):
            probability = _confidence(text(fields, "leaning_confidence", max_length=32), "leaning_confidence")
            leaning = (towards[:32], probability)
        decision = classification.preview_decision(
            declared=declared, predicted=predicted, confidence=confidence, leaning=leaning
        )
    except SecurePixError as error:
        return problem(request, "Not checked", f"{error.message}.", error.status)
    context = {
        "index": index,
        "name": name,
        "declared": declared,
        "declared_label": _LABELS.get(declared, ""),
        "predicted_label": _LABELS.get(predicted, ""),
        "sure": _sure(confidence),
        "decision": decision,
        "unsure": False,
    }
    if decision is not None and decision.leaning is not None:
        # decided by the unsure answer's leaning: name that domain
        towards, probability = decision.leaning
        context.update(predicted_label=_LABELS[towards], sure=_sure(probability), unsure=True)
    return render(request, "cipher/_decision.html", context)


def _file_index(value: str) -> int:
    if not (value.isascii() and value.isdigit()) or len(value) > 4:
        raise InvalidInput({"index": ["must be a file's number in the page"]})
    return int(value)


def _confidence(value: str, field: str = "confidence") -> float:
    try:
        return float(value)
    except ValueError:
        raise InvalidInput({field: ["must be a number from 0 to 1"]}) from None


def _percent(probability: float) -> str:
    return f"{round(probability * 100)}%" if probability >= 0.005 else "<1%"


def _sure(confidence: float) -> str:
    """A confidence in words: "93% sure" (never a rounded-up "100% sure")."""
    if confidence > 0.99:
        return "more than 99% sure"
    if confidence < 0.005:
        return "less than 1% sure"
    return f"{round(confidence * 100)}% sure"


@require_GET
@page(permissions.DECRYPT)
def decrypt_page(request: HttpRequest) -> HttpResponse:
    return render(request, "cipher/decrypt.html")


@require_POST
@sensitive_post_parameters("password")
@sensitive_variables("contract")
@page(permissions.DECRYPT)
def decrypt_run(request: HttpRequest) -> HttpResponse:
    wait = decrypt_wait(request)
    if wait is not None:
        return problem(request, "Slow down", f"Too many decryption attempts: try again in {round(wait)} s.", 429)
    try:
        contract = DecryptRequest.from_form(request.POST, uploads(request, "file"))
        done = services.do_decrypt(context=context_from(request), request=contract)
    except SecurePixError as error:
        return no_store(refusal(request, error))
    sequenced(done.event)  # for the receipt on the page
    rendered = imagefile.render(done.image, done.data)
    context = {
        "name": naming.decrypted_name(contract.upload.name, done.suffix),
        "done": done,
        "preview": data_url(charts.thumbnail_png(rendered, 512), "image/png"),
        "download": data_url(done.data, done.content_type),
    }
    return no_store(render(request, "cipher/_decrypted.html", context))

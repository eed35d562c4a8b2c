"""The encrypt and decrypt pages."""

from __future__ import annotations

import io
import zipfile
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_POST

from classification import services as classification
from classification.contracts import ClassifyRequest
from core import naming, permissions
from core.domains import ACKNOWLEDGE, DOMAIN_CHOICES
from core.errors import InvalidInput, SecurePixError
from core.forms import Upload
from imaging import imagefile
from web.context import context_from
from web.pages import data_url, no_store, page, problem, refusal
from web.throttles import decrypt_wait
from web.uploads import uploads

from . import charts, services
from .contracts import DecryptRequest, EncryptRequest
from .engine import analysis, container
from .engine.envelope import CIPHERS
from .passwords import password_problems


@require_GET
@page(permissions.ENCRYPT)
def encrypt_page(request: HttpRequest) -> HttpResponse:
    context = {"domains": DOMAIN_CHOICES, "ciphers": CIPHERS, **_password_policy_context()}
    return render(request, "cipher/encrypt.html", context)


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
    """The prediction for each chosen file, with the policy's decision for the declared domain."""
    declared = request.POST.get("declared_domain", "")
    rows: list[dict[str, Any]] = []
    try:
        files = uploads(request, "images")
    except SecurePixError as error:
        return refusal(request, error)
    who = context_from(request)
    for name, data in files:
        try:
            contract = ClassifyRequest(Upload(name, data), declared)
            result, decision = classification.do_classify(context=who, request=contract)
            rows.append({"name": name, "result": result, "decision": decision})
        except SecurePixError as error:
            rows.append({"name": name, "error": error.message})
    actions = {row["decision"].action for row in rows if row.get("decision")}
    context = {"rows": rows, "needs_acknowledgment": ACKNOWLEDGE in actions}
    return render(request, "cipher/_predictions.html", context)


@require_POST
@sensitive_post_parameters("password", "password2")
@sensitive_variables("contract")
@page(permissions.ENCRYPT)
def encrypt_run(request: HttpRequest) -> HttpResponse:
    """Encrypt one file; the page calls this once per chosen file."""
    try:
        contract = EncryptRequest.from_form(request.POST, uploads(request, "image"))
        if contract.password != request.POST.get("password2", ""):
            raise InvalidInput({"password2": ["the two passwords differ"]})
        done = services.do_encrypt(context=context_from(request), request=contract)
    except SecurePixError as error:
        return refusal(request, error)
    encrypted_samples = analysis.body_samples(done.encrypted.header, done.encrypted.body)
    before, after = charts.profile(done.image.samples), charts.profile(encrypted_samples)
    context = {
        "name": contract.upload.name,
        "download_name": naming.encrypted_name(contract.upload.name),
        "done": done,
        "before": before,
        "after": after,
        "correlations": [(d, before.correlation[d], after.correlation[d]) for d in before.correlation],
        "preview": data_url(charts.thumbnail_png(encrypted_samples), "image/png"),
        "download": data_url(done.data, "image/png"),
    }
    return no_store(render(request, "cipher/_encrypted.html", context))


@require_POST
@page(permissions.ENCRYPT)
def encrypt_zip(request: HttpRequest) -> HttpResponse:
    """Several encrypted files (already made by this page) as one ZIP."""
    out = io.BytesIO()
    try:
        files = uploads(request, "encrypted")
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:  # noise does not compress
            for name, data in files:
                container.read_header(data, settings.SECUREPIX_MAX_PIXELS)  # only SecurePix files
                archive.writestr(naming.encrypted_name(name), data)
    except SecurePixError as error:
        return refusal(request, error)
    response = HttpResponse(out.getvalue(), content_type="application/zip")
    response["Content-Disposition"] = 'attachment; filename="securepix-encrypted.zip"'
    return no_store(response)


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
    rendered = imagefile.render(done.image, done.data)
    context = {
        "name": naming.decrypted_name(contract.upload.name, done.suffix),
        "done": done,
        "preview": data_url(charts.thumbnail_png(rendered, 512), "image/png"),
        "download": data_url(done.data, done.content_type),
    }
    return no_store(render(request, "cipher/_decrypted.html", context))

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

from accounts import roles
from audit.errors import ServiceError
from audit.services import context_from
from classification import services as classification
from classification.models import DOMAIN_CHOICES
from classification.policy import ACKNOWLEDGE
from securepix_site.api_errors import ENGINE_STATUS
from securepix_site.api_support import check_content_length, decrypt_wait, download_name, upload_bytes
from securepix_site.web import data_url, no_store, page, problem

from . import charts, services
from .engine import analysis, container, imagefile
from .engine.envelope import CIPHERS
from .engine.errors import SecurePixError


def _uploads(request: HttpRequest, field: str) -> list[tuple[str, bytes]]:
    check_content_length(request)
    return [(upload.name or "image", upload_bytes(upload)) for upload in request.FILES.getlist(field)]


def _one_upload(request: HttpRequest, field: str, ask: str) -> tuple[str, bytes]:
    uploads = _uploads(request, field)
    if len(uploads) != 1:
        raise ServiceError("invalid", ask, 400)
    return uploads[0]


def _refusal(request: HttpRequest, error: ServiceError | SecurePixError) -> HttpResponse:
    if isinstance(error, ServiceError):
        return problem(request, "Not done", error.message, error.status)
    return problem(request, "Not done", str(error), ENGINE_STATUS.get(type(error), 400))


@require_GET
@page(roles.ENCRYPT)
def encrypt_page(request: HttpRequest) -> HttpResponse:
    return render(request, "cipher/encrypt.html", {"domains": DOMAIN_CHOICES, "ciphers": CIPHERS})


@require_POST
@page(roles.CLASSIFY)
def encrypt_classify(request: HttpRequest) -> HttpResponse:
    """The prediction for each chosen file, with the policy's decision for the declared domain."""
    declared = request.POST.get("declared_domain", "")
    rows: list[dict[str, Any]] = []
    try:
        uploads = _uploads(request, "images")
    except ServiceError as error:
        return _refusal(request, error)
    who = context_from(request)
    for name, data in uploads:
        try:
            result, decision = classification.classify(who, data, declared)
            rows.append({"name": name, "result": result, "decision": decision})
        except (ServiceError, SecurePixError) as error:
            rows.append({"name": name, "error": getattr(error, "message", str(error))})
    actions = {row["decision"].action for row in rows if row.get("decision")}
    context = {"rows": rows, "needs_acknowledgment": ACKNOWLEDGE in actions}
    return render(request, "cipher/_predictions.html", context)


@require_POST
@sensitive_post_parameters("password", "password2")
@sensitive_variables("password")
@page(roles.ENCRYPT)
def encrypt_run(request: HttpRequest) -> HttpResponse:
    """Encrypt one file; the page calls this once per chosen file."""
    password = request.POST.get("password", "")
    if password != request.POST.get("password2", ""):
        return problem(request, "Not done", "The two passwords differ.", 400)
    try:
        name, data = _one_upload(request, "image", "choose one image")
        acknowledgment = request.POST.get("acknowledgment_reason", "") if request.POST.get("acknowledge") else ""
        done = services.encrypt(
            context_from(request),
            data,
            password,
            request.POST.get("declared_domain", ""),
            cipher=request.POST.get("cipher", "chaotic"),
            acknowledgment=acknowledgment,
        )
    except (ServiceError, SecurePixError) as error:
        return _refusal(request, error)
    encrypted_samples = analysis.cipher_samples(done.data)
    before, after = charts.profile(done.image.samples), charts.profile(encrypted_samples)
    context = {
        "name": name,
        "download_name": download_name(name, ".securepix.png"),
        "done": done,
        "before": before,
        "after": after,
        "correlations": [(d, before.correlation[d], after.correlation[d]) for d in before.correlation],
        "preview": data_url(charts.thumbnail_png(encrypted_samples), "image/png"),
        "download": data_url(done.data, "image/png"),
    }
    return no_store(render(request, "cipher/_encrypted.html", context))


@require_POST
@page(roles.ENCRYPT)
def encrypt_zip(request: HttpRequest) -> HttpResponse:
    """Several encrypted files (already made by this page) as one ZIP."""
    out = io.BytesIO()
    try:
        uploads = _uploads(request, "encrypted")
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:  # noise does not compress
            for name, data in uploads:
                container.read_header(data, settings.SECUREPIX_MAX_PIXELS)  # only SecurePix files
                archive.writestr(download_name(name, ".securepix.png"), data)
    except (ServiceError, SecurePixError) as error:
        return _refusal(request, error)
    response = HttpResponse(out.getvalue(), content_type="application/zip")
    response["Content-Disposition"] = 'attachment; filename="securepix-encrypted.zip"'
    return no_store(response)


@require_GET
@page(roles.DECRYPT)
def decrypt_page(request: HttpRequest) -> HttpResponse:
    return render(request, "cipher/decrypt.html")


@require_POST
@sensitive_post_parameters("password")
@sensitive_variables("password")
@page(roles.DECRYPT)
def decrypt_run(request: HttpRequest) -> HttpResponse:
    wait = decrypt_wait(request)
    if wait is not None:
        return problem(request, "Slow down", f"Too many decryption attempts: try again in {round(wait)} s.", 429)
    try:
        name, data = _one_upload(request, "file", "choose one SecurePix file")
        done = services.decrypt(context_from(request), data, request.POST.get("password", ""))
    except (ServiceError, SecurePixError) as error:
        return no_store(_refusal(request, error))
    rendered = imagefile.render(done.data, settings.SECUREPIX_MAX_PIXELS, decoded=done.image)
    context = {
        "name": download_name(name, done.suffix),
        "done": done,
        "preview": data_url(charts.thumbnail_png(rendered, 512), "image/png"),
        "download": data_url(done.data, done.content_type),
    }
    return no_store(render(request, "cipher/_decrypted.html", context))

"""The pages' side of jobs: the encrypt page's files, kept as stored results of
the page's batch, and the downloads of those results (session login)."""

from __future__ import annotations

from typing import Any, cast
from uuid import UUID

from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_POST

from audit.receipts import sequenced
from cipher import charts
from cipher import services as cipher
from cipher.contracts import EncryptRequest
from cipher.engine import analysis
from core import naming, permissions
from core.domains import LABELS
from core.errors import InvalidInput, SecurePixError
from core.forms import text
from web.context import context_from
from web.pages import data_url, no_store, page, refusal
from web.uploads import uploads

from . import services
from .models import Job

PREVIEW_PIXELS = 128


@require_POST
@sensitive_post_parameters("password", "password2")
@sensitive_variables("contract")
@page(permissions.ENCRYPT)
def encrypt_file(request: HttpRequest) -> HttpResponse:
    """Encrypt one file; the page calls this once per chosen file, in order,
    with the batch's job after the first.  The result is kept in the results
    storage and linked, never embedded in the page."""
    who = context_from(request)
    try:
        contract = EncryptRequest.from_form(request.POST, uploads(request, "image"))
        if contract.password != request.POST.get("password2", ""):
            raise InvalidInput({"password2": ["the two passwords differ"]})
        job_id = text(request.POST, "job", max_length=36)
        if job_id:
            services.page_batch(who, _uuid(job_id))  # before the work, not after it
        done = cipher.do_encrypt(context=who, request=contract)
        kept = services.do_keep_page_result(
            context=who,
            job_id=job_id,
            upload=contract.upload,
            declared_domain=contract.declared_domain,
            cipher_name=contract.cipher,
            encrypted=done,
        )
    except SecurePixError as error:
        return refusal(request, error)
    sequenced(done.event)  # for the receipt on the page
    encrypted_samples = analysis.body_samples(done.encrypted.header, done.encrypted.body)
    before, after = charts.profile(done.image.samples), charts.profile(encrypted_samples)
    context: dict[str, Any] = {
        "name": contract.upload.name,
        "download_name": naming.encrypted_name(contract.upload.name),
        "declared_label": LABELS[contract.declared_domain],
        "done": done,
        "before": before,
        "after": after,
        "correlations": [(d, before.correlation[d], after.correlation[d]) for d in before.correlation],
        # noise does not compress: a small preview keeps the page light whatever the image's size
        "preview": data_url(charts.thumbnail_png(encrypted_samples, PREVIEW_PIXELS), "image/png"),
        "download": reverse("result-download", args=[kept.result.pk]),
        "job": kept.job,
        "job_download": reverse("job-download", args=[kept.job.pk]),
        "expires": kept.result.expires,
    }
    return no_store(render(request, "cipher/_encrypted.html", context))


def _uuid(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise InvalidInput({"job": ["must be the job the page started"]}) from None


def file_response(download: services.Download, content_type: str) -> FileResponse:
    """A download streamed from the storage, never read whole (pages and API)."""
    response = FileResponse(download.handle, as_attachment=True, filename=download.name, content_type=content_type)
    response["Content-Length"] = str(download.size)
    return no_store(response)


def _file(download: services.Download, content_type: str) -> HttpResponse:
    return cast(HttpResponse, file_response(download, content_type))  # the page decorators take any response


@require_GET
@page(permissions.ENCRYPT)
def jobs_page(request: HttpRequest) -> HttpResponse:
    return render(request, "jobs/jobs.html", _jobs_context(request))


@require_GET
@page(permissions.ENCRYPT)
def jobs_list(request: HttpRequest) -> HttpResponse:
    """The jobs table alone: the page asks again every two seconds while a job runs."""
    return render(request, "jobs/_jobs.html", _jobs_context(request))


def _jobs_context(request: HttpRequest) -> dict[str, Any]:
    owner = context_from(request).actor
    jobs = services.job_summaries(list(Job.objects.filter(owner=owner)[:20]))
    for job in jobs:
        job["finished_files"] = job["total"] - job["counts"]["queued"]
    return {"jobs": jobs, "running": any(job["state"] == "running" for job in jobs)}


@require_GET
@page(permissions.ENCRYPT)
def result_download(request: HttpRequest, result_id: UUID) -> HttpResponse:
    try:
        done = services.do_download_result(context=context_from(request), result_id=result_id)
    except SecurePixError as error:
        return refusal(request, error)
    return _file(done, "image/png")


@require_GET
@page(permissions.ENCRYPT)
def job_download(request: HttpRequest, job_id: UUID) -> HttpResponse:
    try:
        done = services.do_download_job(context=context_from(request), job_id=job_id)
    except SecurePixError as error:
        return refusal(request, error)
    return _file(done, "application/zip")

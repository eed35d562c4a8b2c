"""/api/v1/jobs: many files in one request; /api/v1/results: the stored encrypted outputs."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.http import FileResponse, HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.views import APIView

from audit.api import ExportQuery
from audit.services import EXPORT_FORMATS
from cipher.engine.envelope import CIPHERS
from core import permissions
from core.domains import DOMAIN_CHOICES
from web.auth import requires
from web.context import context_from
from web.uploads import PasswordField, uploads

from . import services, tasks
from .contracts import JOB_STATES, KINDS, JobRequest
from .models import AuditExport, Job, JobFile
from .views import file_response


class JobForm(serializers.Serializer[Any]):
    """The schema of JobRequest (jobs/contracts.py), which reads and checks the fields."""

    kind = serializers.ChoiceField(choices=KINDS, default="encrypt")
    files = serializers.ListField(child=serializers.FileField(), required=False, help_text="the images, in order")
    archive = serializers.FileField(required=False, help_text="or one ZIP archive of images (e.g. a DICOM series)")
    password = PasswordField(required=False, help_text="to encrypt: protects every file of the job")
    declared_domain = serializers.ChoiceField(choices=DOMAIN_CHOICES, required=False, help_text="for every file")
    declared_domains = serializers.CharField(
        required=False, help_text='or one per file, in order: a JSON list, e.g. ["medical", "legal"]'
    )
    acknowledgment_reasons = serializers.CharField(
        required=False,
        help_text="per file, in order: a JSON list of reasons; a non-empty reason acknowledges that file's mismatch",
    )
    cipher = serializers.ChoiceField(choices=CIPHERS, default="chaotic")


class JobFileStatus(serializers.Serializer[Any]):
    index = serializers.IntegerField()
    name = serializers.CharField()
    declared_domain = serializers.CharField()
    state = serializers.ChoiceField(choices=JobFile.State.choices)
    classification = serializers.DictField(required=False)
    decision = serializers.CharField(required=False)
    error = serializers.DictField(required=False)
    result = serializers.DictField(
        required=False, help_text="the stored encrypted output: id, name, size, sha256, expires"
    )


class JobSummary(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=KINDS)
    state = serializers.ChoiceField(choices=JOB_STATES)
    created = serializers.DateTimeField()
    finished = serializers.DateTimeField(allow_null=True)
    total = serializers.IntegerField()
    counts = serializers.DictField(child=serializers.IntegerField())
    progress = serializers.FloatField()


class JobStatus(JobSummary):
    files = JobFileStatus(many=True)


def _status(job: Job, status: int = 200) -> JsonResponse:
    response = JsonResponse(services.job_status(job), status=status)
    response["Location"] = f"/api/v1/jobs/{job.id}"
    return response


@method_decorator(sensitive_post_parameters("password"), name="dispatch")
class Jobs(APIView):
    """POST: submit a job (202, its status; each file runs as a task). GET: your jobs, newest first."""

    # the role is checked before the body is read (an archive is not unpacked for
    # someone who may not submit); the service checks encrypt or classify again
    permission_classes = [requires(permissions.CLASSIFY)]
    parser_classes = [MultiPartParser]

    @extend_schema(request={"multipart/form-data": JobForm}, responses={202: JobStatus})
    def post(self, request: Request) -> HttpResponse:
        contract = JobRequest.from_form(
            request.data, uploads(request, "files"), uploads(request, "archive"), services.limits()
        )
        job = services.do_submit_job(context=context_from(request), request=contract, dispatch=tasks.dispatch)
        job.refresh_from_db()
        return _status(job, 202)

    @extend_schema(responses={200: JobSummary(many=True)})
    def get(self, request: Request) -> HttpResponse:
        """Your 50 latest jobs, newest first: state, progress and counts (the
        files of one: GET /api/v1/jobs/ID)."""
        jobs = list(Job.objects.filter(owner=context_from(request).actor)[:50])
        return JsonResponse(services.job_summaries(jobs), safe=False)


class JobDetail(APIView):
    """A job's state, progress and per-file results."""

    permission_classes = [requires()]

    @extend_schema(responses={200: JobStatus})
    def get(self, request: Request, job_id: UUID) -> HttpResponse:
        return _status(services.own_job(context_from(request), job_id))


class JobCancel(APIView):
    """Leave out the files no worker has taken yet; those done stay done."""

    permission_classes = [requires()]

    @extend_schema(request=None, responses={200: JobStatus})
    def post(self, request: Request, job_id: UUID) -> HttpResponse:
        return _status(services.do_cancel_job(context=context_from(request), job_id=job_id))


class JobDownload(APIView):
    """Every stored encrypted result of the job, in one ZIP."""

    permission_classes = [requires()]

    @extend_schema(
        responses={(200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, description="a ZIP of the results")}
    )
    def get(self, request: Request, job_id: UUID) -> FileResponse:
        return file_response(services.do_download_job(context=context_from(request), job_id=job_id), "application/zip")


class ResultDownload(APIView):
    """One stored encrypted result (its owner only, until it expires)."""

    permission_classes = [requires()]

    @extend_schema(
        responses={(200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY, description="the encrypted SecurePix PNG")}
    )
    def get(self, request: Request, result_id: UUID) -> FileResponse:
        return file_response(
            services.do_download_result(context=context_from(request), result_id=result_id), "image/png"
        )


class AuditExportStatus(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    state = serializers.ChoiceField(choices=AuditExport.State.choices)
    format = serializers.CharField()
    filter = serializers.DictField()
    created = serializers.DateTimeField()
    finished = serializers.DateTimeField(allow_null=True)
    events = serializers.IntegerField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    expires = serializers.DateTimeField(allow_null=True)
    available = serializers.BooleanField()
    error = serializers.CharField(help_text="why a failed export failed: queue_lost, or what the platform raised")


def _export_status(made: Any, status: int = 200) -> JsonResponse:
    response = JsonResponse(services.export_status(made), status=status)
    response["Location"] = f"/api/v1/audit/exports/{made.pk}"
    return response


class AuditExports(APIView):
    """POST: export the filtered events as a job, written to storage in chunks
    (202; the same filters and formats as GET audit/export, which streams)."""

    permission_classes = [requires(permissions.EXPORT)]

    @extend_schema(parameters=[ExportQuery], request=None, responses={202: AuditExportStatus})
    def post(self, request: Request) -> HttpResponse:
        query = ExportQuery(data=request.query_params)
        where = query.to_filter()
        made = services.do_start_audit_export(
            context=context_from(request),
            where=where,
            fmt=query.validated_data["format"],
            dispatch=tasks.dispatch_export,
        )
        made.refresh_from_db()
        return _export_status(made, 202)


class AuditExportDetail(APIView):
    """An export job's state; `available` once it can be downloaded."""

    permission_classes = [requires(permissions.EXPORT)]

    @extend_schema(responses={200: AuditExportStatus})
    def get(self, request: Request, export_id: UUID) -> HttpResponse:
        return _export_status(services.own_export(context_from(request), export_id))


class AuditExportDownload(APIView):
    """The written export (its owner only, until it expires); recorded."""

    permission_classes = [requires(permissions.EXPORT)]

    @extend_schema(
        responses={
            (200, "application/x-ndjson"): OpenApiResponse(OpenApiTypes.BINARY, description="JSON Lines"),
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description="CSV"),
        }
    )
    def get(self, request: Request, export_id: UUID) -> FileResponse:
        done = services.do_download_export(context=context_from(request), export_id=export_id)
        return file_response(done, EXPORT_FORMATS[done.name.rsplit(".", 1)[1]])

"""POST /api/v1/encrypt and /api/v1/decrypt."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.views import APIView

from core import naming, permissions
from core.domains import DOMAIN_CHOICES
from web.auth import requires
from web.context import context_from
from web.downloads import file_answer
from web.pages import no_store
from web.throttles import DecryptAddressThrottle, DecryptUserThrottle
from web.uploads import PasswordField, check_content_length, ciphertext_uploads, spool_ciphertext, uploads

from . import services
from .contracts import DecryptRequest, EncryptRequest
from .engine import container
from .engine.envelope import CIPHERS


class EncryptForm(serializers.Serializer[Any]):
    """The schema of EncryptRequest (cipher/contracts.py), which reads and checks the fields."""

    image = serializers.FileField(help_text="PNG, JPEG, BMP, TIFF, WebP or DICOM")
    password = PasswordField()
    declared_domain = serializers.ChoiceField(choices=DOMAIN_CHOICES)
    cipher = serializers.ChoiceField(choices=CIPHERS, default="chaotic")
    acknowledge = serializers.BooleanField(default=False, help_text="encrypt despite a predicted-domain mismatch")
    acknowledgment_reason = serializers.CharField(
        default="", allow_blank=True, max_length=2000, help_text="required with acknowledge"
    )


class DecryptForm(serializers.Serializer[Any]):
    """The schema of DecryptRequest (cipher/contracts.py)."""

    file = serializers.FileField(help_text="a SecurePix PNG")
    password = PasswordField()


@method_decorator(sensitive_post_parameters("password"), name="dispatch")
class EncryptView(APIView):
    """Classify, check the declared domain against the policy, encrypt.

    Success: the encrypted PNG as the body; the classification in the
    `X-SecurePix-*` headers. A mismatch without acknowledgment: 409 with the
    prediction. Blocked by policy: 403."""

    permission_classes = [requires(permissions.ENCRYPT)]
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={"multipart/form-data": EncryptForm},
        responses={
            (200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY, description="the encrypted SecurePix PNG"),
            409: OpenApiResponse(description="mismatch: acknowledge it to encrypt"),
        },
    )
    def post(self, request: Request) -> HttpResponseBase:
        contract = EncryptRequest.from_form(request.data, uploads(request, "image"))
        done = services.do_encrypt(context=context_from(request), request=contract, keep_image=False)
        encrypted = done.encrypted
        response = file_answer(encrypted.pieces(), "image/png", weight=encrypted.size, length=encrypted.size)
        response["Content-Disposition"] = f'attachment; filename="{naming.encrypted_name(contract.upload.name)}"'
        response["X-SecurePix-Domain"] = done.classification.domain
        response["X-SecurePix-Confidence"] = f"{done.classification.confidence:.4f}"
        response["X-SecurePix-Model"] = done.classification.model
        response["X-SecurePix-Decision"] = done.decision.action
        if done.acknowledgment is not None:
            response["X-SecurePix-Acknowledgment"] = str(done.acknowledgment.pk)
        return response


@method_decorator(sensitive_post_parameters("password"), name="dispatch")
class DecryptView(APIView):
    """Check and decrypt a SecurePix file: the original image (PNG, DICOM or
    TIFF). Wrong password or altered file: 400 `authentication_failed`."""

    permission_classes = [requires(permissions.DECRYPT)]
    parser_classes = [MultiPartParser]
    throttle_classes = [DecryptUserThrottle, DecryptAddressThrottle]

    def initialize_request(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Request:
        # before anything reads the body: a large SecurePix file goes to disk (ciphertext only)
        spool_ciphertext(request, container.begins_as_securepix, container.LEADING_BYTES)
        return super().initialize_request(request, *args, **kwargs)

    @extend_schema(
        request={"multipart/form-data": DecryptForm},
        responses={(200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY, description="the image")},
    )
    def post(self, request: Request) -> HttpResponseBase:
        check_content_length(request)  # before the body is read, let alone spooled
        contract = DecryptRequest.from_form(request.data, ciphertext_uploads(request, "file"))
        done = services.do_decrypt(context=context_from(request), request=contract)
        if done.made is not None:  # a file made whole (not a plain PNG)
            response: HttpResponseBase = HttpResponse(done.made, content_type=done.content_type)
        else:  # a plain PNG, deflated as it is sent when large
            response = file_answer(done.pieces(), done.content_type, weight=done.image.samples.nbytes)
        name = naming.decrypted_name(contract.upload.name, done.suffix)
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return no_store(response)  # the plaintext image: no cache may keep it

"""API tokens (create, list, revoke) and TOTP enrolment."""

from __future__ import annotations

from typing import Any, cast

import django_otp
from django.conf import settings
from django.contrib.auth import authenticate
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters
from django_otp.plugins.otp_totp.models import TOTPDevice
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, generics, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import ErrorCode
from web.auth import Authenticated, has_device, needs_second_factor, second_factor_done
from web.context import context_from
from web.pages import no_store
from web.throttles import TokenAddressThrottle
from web.uploads import PasswordField

from . import services
from .models import ApiToken


class TokenRequest(serializers.Serializer[Any]):
    username = serializers.CharField(required=False, max_length=150, help_text="not needed when logged in")
    password = PasswordField(required=False)
    otp_token = serializers.CharField(required=False, max_length=16, help_text="one-time password, once enrolled")
    name = serializers.CharField(required=False, default="", allow_blank=True, max_length=100)
    days = serializers.IntegerField(required=False, min_value=1, help_text="at most SECUREPIX_TOKEN_DAYS (30)")

    def validate_days(self, days: int | None) -> int | None:
        if days is not None and days > settings.SECUREPIX_TOKEN_DAYS:
            raise serializers.ValidationError(f"at most {settings.SECUREPIX_TOKEN_DAYS} days")
        return days


class TokenSerializer(serializers.ModelSerializer[ApiToken]):
    active = serializers.BooleanField(read_only=True)

    class Meta:
        model = ApiToken
        fields = ["key_id", "name", "created", "expires", "last_used", "revoked", "second_factor", "active"]


class CreatedToken(TokenSerializer):
    token = serializers.CharField(read_only=True, help_text="shown once: keep it safe")

    class Meta(TokenSerializer.Meta):
        fields = [*TokenSerializer.Meta.fields, "token"]


def _otp_device(request: Request, user: Any, otp_token: str) -> Any:
    """The device that accepts `otp_token`, or an error when the user has a
    device and the token is missing or wrong (a failed login: recorded, and
    counted towards the lockout like a wrong password)."""
    if not has_device(user):
        return None
    device = django_otp.match_token(user, otp_token) if otp_token else None
    if device is None:
        code = ErrorCode.OTP_INVALID if otp_token else ErrorCode.OTP_REQUIRED
        services.do_reject_login(request=request._request, username=user.get_username(), reason=code.code)
        message = (
            "the one-time password is wrong or was already used"
            if otp_token
            else "a one-time password (otp_token) is required"
        )
        raise exceptions.AuthenticationFailed(message, code=code.code)
    return device


@method_decorator(sensitive_post_parameters("password", "otp_token"), name="dispatch")
class Tokens(generics.ListAPIView[ApiToken]):
    """GET: your tokens. POST: a new token, from username and password (plus a
    one-time password once you have enrolled), or for the logged-in user."""

    serializer_class = TokenSerializer
    throttle_classes = [TokenAddressThrottle]

    def get_permissions(self) -> list[Any]:
        # Making a token needs no second factor yet: a user who must enrol gets
        # one to enrol with (and nothing else works with it until then).
        return [AllowAny()] if self.request.method == "POST" else [Authenticated()]

    def get_throttles(self) -> list[Any]:
        return super().get_throttles() if self.request.method == "POST" else []

    def get_queryset(self) -> QuerySet[ApiToken]:
        return ApiToken.objects.filter(user=cast(Any, self.request.user))

    @extend_schema(request=TokenRequest, responses={201: CreatedToken})
    def post(self, request: Request) -> Response:
        form = TokenRequest(data=request.data)
        form.is_valid(raise_exception=True)
        values = form.validated_data
        user = request.user if request.user.is_authenticated else None
        if user is None:
            if not values.get("username") or not values.get("password"):
                raise exceptions.ValidationError({"password": ["username and password are required"]})
            user = authenticate(request._request, username=values["username"], password=values["password"])
            if user is None:
                raise exceptions.AuthenticationFailed("wrong username or password", code=ErrorCode.BAD_CREDENTIALS.code)
            device = _otp_device(request, user, values.get("otp_token", ""))
            verified = device is not None
        else:
            verified = second_factor_done(request)
            if has_device(user) and not verified:
                raise exceptions.PermissionDenied(
                    "this session has not used your authenticator: log in again with its code",
                    code=ErrorCode.SECOND_FACTOR_REQUIRED.code,
                )
        token, plain = services.do_issue_token(
            context=context_from(request, actor=user),
            name=values["name"],
            days=values.get("days"),
            second_factor=verified,
        )
        body = {**TokenSerializer(token).data, "token": plain}
        if needs_second_factor(user) and not verified:
            body["warning"] = "this account must use two-factor authentication: enrol a TOTP device with this token"
        return no_store(Response(body, status=status.HTTP_201_CREATED))  # the token, shown once: never cached


class TokenDetail(APIView):
    """DELETE: revoke one of your tokens (by its key id)."""

    permission_classes = [Authenticated]

    @extend_schema(responses={204: None})
    def delete(self, request: Request, key_id: str) -> Response:
        token = get_object_or_404(ApiToken, user=request.user, key_id=key_id)
        services.do_revoke_token(context=context_from(request), token=token)
        return Response(status=status.HTTP_204_NO_CONTENT)


class OtpEnrolment(APIView):
    """POST: start enrolling a TOTP device; returns the otpauth:// URL for an
    authenticator app. Confirm it with /otp/totp/confirm."""

    permission_classes = [Authenticated]
    allow_without_second_factor = True

    @extend_schema(request=None, responses={201: dict[str, str]})
    def post(self, request: Request) -> Response:
        user = request.user
        if django_otp.user_has_device(user) and not second_factor_done(request):
            raise exceptions.PermissionDenied(
                "use your current device first to replace it", code=ErrorCode.SECOND_FACTOR_REQUIRED.code
            )
        device = services.do_start_totp(context=context_from(request))
        return Response({"config_url": device.config_url}, status=status.HTTP_201_CREATED)


class OtpConfirmRequest(serializers.Serializer[Any]):
    otp_token = serializers.CharField(max_length=16)


@method_decorator(sensitive_post_parameters("otp_token"), name="dispatch")
class OtpConfirm(APIView):
    """POST a code from the new device: it becomes your second factor (older devices are removed)."""

    permission_classes = [Authenticated]
    allow_without_second_factor = True

    @extend_schema(request=OtpConfirmRequest, responses={200: dict[str, str]})
    def post(self, request: Request) -> Response:
        form = OtpConfirmRequest(data=request.data)
        form.is_valid(raise_exception=True)
        if not TOTPDevice.objects.filter(user=request.user, confirmed=False).exists():
            raise exceptions.NotFound("no enrolment in progress: start one with POST /api/v1/otp/totp")
        token = request.auth if isinstance(request.auth, ApiToken) else None
        device = services.do_confirm_totp(
            context=context_from(request), code=form.validated_data["otp_token"], token=token
        )
        if device is None:
            raise exceptions.ValidationError({"otp_token": ["the one-time password is wrong"]})
        if token is None:
            django_otp.login(request._request, device)
        return Response({"status": "enrolled"})

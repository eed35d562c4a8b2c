"""GET /api/v1/me: who you are, across the apps (roles, second factor, classifier)."""

from __future__ import annotations

from typing import Any

import django_otp
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from classification.services import model_name
from web.auth import Authenticated, needs_second_factor, roles_of, second_factor_done


class Me(APIView):
    """Who you are, your roles, and the classifier in use."""

    permission_classes = [Authenticated]
    allow_without_second_factor = True

    @extend_schema(responses={200: dict[str, Any]})
    def get(self, request: Request) -> Response:
        user = request.user
        return Response(
            {
                "username": user.get_username(),
                "roles": roles_of(user),
                "second_factor": {
                    "enrolled": django_otp.user_has_device(user),
                    "verified": second_factor_done(request),
                    "required": needs_second_factor(user),
                },
                "classifier": model_name(),
            }
        )

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from cipher.engine.envelope import CIPHERS


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html", {"ciphers": CIPHERS})


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})

"""Shared pieces of the HTML pages: the access check, error answers, data URLs."""

from __future__ import annotations

import base64
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render

from core.errors import InvalidInput, SecurePixError

from .auth import has_device, needs_second_factor, otp_verified

View = Callable[..., HttpResponse]
Answer = TypeVar("Answer", bound=HttpResponseBase)


def page(*perms: str, second_factor: bool = True) -> Callable[[View], View]:
    """Logged in (else to the login page), past the second factor where it is
    required (else to its set-up page), and holding `perms` (else a 403 page)."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            user = request.user
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if second_factor and needs_second_factor(user) and not otp_verified(user):
                return second_factor_step(request)
            if perms and not user.has_perms(perms):
                return problem(request, "Forbidden", "Your role does not allow this page.", 403)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def second_factor_step(request: HttpRequest) -> HttpResponse:
    """A session that has not used its second factor: a user with a device logs
    in again (the login asks for the code); one without enrols first."""
    if has_device(request.user):
        next_page = request.get_full_path()
        logout(request)
        return redirect_to_login(next_page)
    return redirect("two-factor")


def problem(request: HttpRequest, title: str, message: str, status: int) -> HttpResponse:
    """An error as a whole page, or as a fragment when htmx asked."""
    template = "_problem.html" if getattr(request, "htmx", False) else "error.html"
    return render(request, template, {"title": title, "message": message}, status=status)


def refusal(request: HttpRequest, error: SecurePixError) -> HttpResponse:
    """A SecurePix error as a page, with the status the API gives it (a form's
    problems in words, without the field names the API reports)."""
    if isinstance(error, InvalidInput):
        text = "; ".join(problem for problems in error.fields.values() for problem in problems)
    else:
        text = error.message
    message = text[:1].upper() + text[1:]
    return problem(request, "Not done", message if message.endswith(".") else message + ".", error.status)


def no_store(response: Answer) -> Answer:
    """What no cache may keep: a plaintext image, a token shown once, a password's verdict."""
    response["Cache-Control"] = "no-store"
    return response


def data_url(data: bytes, content_type: str) -> str:
    return f"data:{content_type};base64,{base64.b64encode(data).decode()}"

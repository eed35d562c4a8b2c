from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django_otp import match_token, user_has_device


class LoginForm(AuthenticationForm):
    """Username and password, plus the one-time password of users who have enrolled a device."""

    otp_token = forms.CharField(
        required=False,
        label="One-time password",
        max_length=16,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        user = self.get_user()
        if user is not None and user_has_device(user):
            device = match_token(user, cleaned.get("otp_token") or "")
            if device is None:
                raise forms.ValidationError("Enter the current code from your authenticator app.", code="otp_invalid")
            user.otp_device = device  # type: ignore[attr-defined]  # django-otp marks the session verified at login
        return cleaned

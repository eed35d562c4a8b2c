from __future__ import annotations

from django.urls import path

from accounts import api as accounts
from audit import api as audit
from cipher import api as cipher
from classification import api as classification
from securepix_site import api as site

urlpatterns = [
    path("encrypt", cipher.EncryptView.as_view(), name="api-encrypt"),
    path("decrypt", cipher.DecryptView.as_view(), name="api-decrypt"),
    path("classify", classification.ClassifyView.as_view(), name="api-classify"),
    path("acknowledgments", classification.AcknowledgmentList.as_view(), name="api-acknowledgments"),
    path("history", audit.History.as_view(), name="api-history"),
    path("audit/events", audit.EventList.as_view(), name="api-audit-events"),
    path("audit/export", audit.Export.as_view(), name="api-audit-export"),
    path("audit/verify", audit.Verify.as_view(), name="api-audit-verify"),
    path("tokens", accounts.Tokens.as_view(), name="api-tokens"),
    path("tokens/<str:key_id>", accounts.TokenDetail.as_view(), name="api-token"),
    path("otp/totp", accounts.OtpEnrolment.as_view(), name="api-otp-enrol"),
    path("otp/totp/confirm", accounts.OtpConfirm.as_view(), name="api-otp-confirm"),
    path("me", site.Me.as_view(), name="api-me"),
]

from __future__ import annotations

from django.urls import path

from accounts import api as accounts
from audit import api as audit
from cipher import api as cipher
from classification import api as classification
from jobs import api as jobs
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
    path("audit/checkpoint", audit.CheckpointView.as_view(), name="api-audit-checkpoint"),
    path("audit/key", audit.KeyView.as_view(), name="api-audit-key"),
    path("audit/proof/inclusion", audit.InclusionView.as_view(), name="api-audit-inclusion"),
    path("audit/proof/consistency", audit.ConsistencyView.as_view(), name="api-audit-consistency"),
    path("audit/leaves", audit.LeavesView.as_view(), name="api-audit-leaves"),
    path("audit/cosignatures", audit.CosignatureView.as_view(), name="api-audit-cosignatures"),
    path("audit/alerts", audit.AlertView.as_view(), name="api-audit-alerts"),
    path("tokens", accounts.Tokens.as_view(), name="api-tokens"),
    path("tokens/<str:key_id>", accounts.TokenDetail.as_view(), name="api-token"),
    path("otp/totp", accounts.OtpEnrolment.as_view(), name="api-otp-enrol"),
    path("otp/totp/confirm", accounts.OtpConfirm.as_view(), name="api-otp-confirm"),
    path("jobs", jobs.Jobs.as_view(), name="api-jobs"),
    path("jobs/<uuid:job_id>", jobs.JobDetail.as_view(), name="api-job"),
    path("jobs/<uuid:job_id>/cancel", jobs.JobCancel.as_view(), name="api-job-cancel"),
    path("jobs/<uuid:job_id>/download", jobs.JobDownload.as_view(), name="api-job-download"),
    path("results/<uuid:result_id>", jobs.ResultDownload.as_view(), name="api-result"),
    path("audit/exports", jobs.AuditExports.as_view(), name="api-audit-exports"),
    path("audit/exports/<uuid:export_id>", jobs.AuditExportDetail.as_view(), name="api-audit-export-job"),
    path(
        "audit/exports/<uuid:export_id>/download", jobs.AuditExportDownload.as_view(), name="api-audit-export-download"
    ),
    path("me", site.Me.as_view(), name="api-me"),
]

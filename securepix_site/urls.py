from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from accounts import views as accounts
from audit import views as audit
from cipher import views as cipher
from jobs import views as jobs

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("accounts/login/", accounts.LoginView.as_view(), name="login"),
    path("accounts/login/code/", accounts.login_otp, name="login-otp"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", accounts.password_change, name="password_change"),
    path("accounts/password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("accounts/two-factor/", accounts.two_factor, name="two-factor"),
    path("accounts/tokens/", accounts.tokens_page, name="tokens"),
    path("accounts/tokens/new", accounts.token_create, name="token-create"),
    path("accounts/tokens/<str:key_id>/revoke", accounts.token_revoke, name="token-revoke"),
    path("encrypt/", cipher.encrypt_page, name="encrypt"),
    path("encrypt/classify", cipher.encrypt_classify, name="encrypt-classify"),
    path("encrypt/decide", cipher.encrypt_decide, name="encrypt-decide"),
    path("encrypt/run", jobs.encrypt_file, name="encrypt-run"),
    path("encrypt/password", cipher.encrypt_password, name="encrypt-password"),
    path("jobs/", jobs.jobs_page, name="jobs"),
    path("jobs/list", jobs.jobs_list, name="jobs-list"),
    path("results/<uuid:result_id>", jobs.result_download, name="result-download"),
    path("jobs/<uuid:job_id>/download", jobs.job_download, name="job-download"),
    path("decrypt/", cipher.decrypt_page, name="decrypt"),
    path("decrypt/run", cipher.decrypt_run, name="decrypt-run"),
    path("audit/", audit.audit_page, name="audit"),
    path("audit/events", audit.audit_events, name="audit-events"),
    path("audit/events/<int:sequence>", audit.audit_event, name="audit-event"),
    path("audit/verify", audit.audit_verify, name="audit-verify"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("securepix_site.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # the split view loads its script from a URL: no inline script under the CSP
    path("api/docs/", views.swagger_ui, name="api-docs"),
]

handler400 = "securepix_site.views.bad_request"
handler404 = "securepix_site.views.not_found"
handler500 = "securepix_site.views.server_error"

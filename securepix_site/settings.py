"""SecurePix settings, read from the environment (see README: Configuration)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from core.domains import DECISIONS
from imaging.limits import DEFAULT_MAX_PIXELS
from tlog import generate_key

from .env import LOCAL_SECRETS, envbool, envchoice, envfloat, envint, envlist, envstr, local_secret

BASE_DIR = Path(__file__).resolve().parent.parent
SITE_DIR = Path(__file__).resolve().parent  # the pages and static files ship inside the package

DEBUG = envbool("SECUREPIX_DEBUG", False)
DATA_DIR = Path(envstr("SECUREPIX_DATA_DIR", str(BASE_DIR / "var")))
# Deployments set SECUREPIX_SECRET_KEY; on a development machine `make run`
# makes a random key file in DATA_DIR (scripts/local-secrets).  Importing the
# settings never writes anything.
SECRET_KEY = envstr("SECUREPIX_SECRET_KEY", "") or local_secret(DATA_DIR / "secret_key")
ALLOWED_HOSTS = envlist("SECUREPIX_ALLOWED_HOSTS", ["127.0.0.1", "localhost"])

INSTALLED_APPS = [
    "securepix_site.apps.AdminConfig",  # the admin behind the platform's two-step login
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "accounts",
    "cipher",
    "classification",
    "audit",
    "jobs",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "securepix_site.middleware.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "securepix_site.middleware.RequestIdMiddleware",
    "audit.receipts.ReceiptMiddleware",  # every answer names the audit event its request recorded
    # last, as django-axes asks: turns a locked-out login into its own response
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "securepix_site.urls"
WSGI_APPLICATION = "securepix_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [SITE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "securepix_site.context.platform",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.config(
        env="DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'db.sqlite3'}", conn_max_age=60
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions take SQLite's write lock at BEGIN, so concurrent
    # audit appends queue up instead of failing half-way.
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 30}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # The server probes an idle connection after 60 s and ends its session
    # after 6 probes 10 s apart go unanswered: a worker whose machine died
    # holding a job file's lock releases it in about two minutes, not the
    # system's default of two hours (jobs/tasks.py BUSY_RETRIES).
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options.setdefault("options", "-c tcp_keepalives_idle=60 -c tcp_keepalives_interval=10 -c tcp_keepalives_count=6")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses locked-out logins before checking the password
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"  # filled by `manage.py collectstatic` for deployments (`make run` makes it)
STATICFILES_DIRS = [SITE_DIR / "static"]
WHITENOISE_USE_FINDERS = True  # serves static/ without collectstatic (collectstatic still works)

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# Served over HTTPS (production): secure cookies, a redirect from http, and
# HSTS for SECUREPIX_HSTS_SECONDS.  Behind a proxy that ends TLS, set
# SECUREPIX_PROXY_SSL_HEADER (e.g. HTTP_X_FORWARDED_PROTO) so Django knows.
SECUREPIX_HTTPS = envbool("SECUREPIX_HTTPS", False)
SESSION_COOKIE_SECURE = envbool("SECUREPIX_SECURE_COOKIES", not DEBUG and SECUREPIX_HTTPS)
SECURE_SSL_REDIRECT = envbool("SECUREPIX_SSL_REDIRECT", SECUREPIX_HTTPS and not DEBUG)
SECURE_HSTS_SECONDS = envint("SECUREPIX_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECUREPIX_HSTS_INCLUDE_SUBDOMAINS", SECURE_HSTS_SECONDS > 0)
SECURE_HSTS_PRELOAD = envbool("SECUREPIX_HSTS_PRELOAD", False)
if _proxy_header := envstr("SECUREPIX_PROXY_SSL_HEADER", ""):
    SECURE_PROXY_SSL_HEADER = (_proxy_header, "https")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# Limits for uploaded images: bytes on the wire and decoded pixels.
SECUREPIX_MAX_UPLOAD_BYTES = envint("SECUREPIX_MAX_UPLOAD_BYTES", 200 * 1024 * 1024, minimum=1)
SECUREPIX_MAX_PIXELS = envint("SECUREPIX_MAX_PIXELS", DEFAULT_MAX_PIXELS, minimum=1)
DATA_UPLOAD_MAX_MEMORY_SIZE = SECUREPIX_MAX_UPLOAD_BYTES
# Uploaded images stay in memory: never a temporary file on disk.
FILE_UPLOAD_HANDLERS = ["web.uploads.MemoryUploadHandler"]
FILE_UPLOAD_MAX_MEMORY_SIZE = SECUREPIX_MAX_UPLOAD_BYTES + 64 * 1024

# Jobs (docs/DEPLOY.md): many files in one request, one task per file, run by
# Celery workers with Redis as the broker; without a broker (`make run`) in the
# request that submits them.
SECUREPIX_JOB_BROKER = envstr("SECUREPIX_JOB_BROKER", "")
SECUREPIX_JOB_MAX_FILES = envint("SECUREPIX_JOB_MAX_FILES", 1000, minimum=1)
SECUREPIX_JOB_MAX_ACTIVE = envint("SECUREPIX_JOB_MAX_ACTIVE", 3, minimum=1)  # unfinished jobs per user
DATA_UPLOAD_MAX_NUMBER_FILES = SECUREPIX_JOB_MAX_FILES  # more: 413 too_many_files (securepix_site/views.py)
CELERY_BROKER_URL = SECUREPIX_JOB_BROKER or "memory://"
CELERY_TASK_ALWAYS_EAGER = not SECUREPIX_JOB_BROKER
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True  # a file's message is acknowledged after its work: a killed worker's files run again
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # one file at a time per worker process: the others stay for other workers
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
# A message not acknowledged within this time is delivered again (Redis): longer
# than the longest file's work.
_REDELIVER_SECONDS = envint("SECUREPIX_JOB_REDELIVER_SECONDS", 900, minimum=5)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": _REDELIVER_SECONDS,
    # how often workers look for messages to deliver again: a tenth of the delay
    "unacked_restore_interval": max(1, min(10, _REDELIVER_SECONDS // 10)),
    "unacked_restore_throttle": 1,
    # A worker looks for them under a lock in Redis that lasts until it is done
    # or this expires: a worker killed while looking (kombu's default is 300 s)
    # held back every redelivery longer than the delay itself.
    "unacked_mutex_expire": max(1, min(300, _REDELIVER_SECONDS // 10)),
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE = {
    "purge-expired-results": {"task": "jobs.purge_expired", "schedule": 600.0},
    "fail-lost-files": {"task": "jobs.fail_lost_files", "schedule": 60.0},  # after a restart of Redis
}

# Encrypted results (ciphertext only) kept for their owner, deleted after
# SECUREPIX_RESULT_HOURS by the periodic purge (`manage.py purge_results`).
# "local": files in DATA_DIR/results; "s3": an S3-compatible bucket
# (django-storages; pip install 'securepix[s3]'), configured by AWS_* variables.
SECUREPIX_RESULT_HOURS = envint("SECUREPIX_RESULT_HOURS", 24, minimum=1)
SECUREPIX_RESULTS_STORAGE = envchoice("SECUREPIX_RESULTS_STORAGE", "local", ("local", "s3"))
_RESULTS_STORAGE: dict[str, Any] = {
    "BACKEND": "django.core.files.storage.FileSystemStorage",
    "OPTIONS": {
        "location": str(DATA_DIR / "results"),
        "file_permissions_mode": 0o600,
        "directory_permissions_mode": 0o700,
    },
}
if SECUREPIX_RESULTS_STORAGE == "s3":
    _RESULTS_STORAGE = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": envstr("AWS_STORAGE_BUCKET_NAME", ""),
            "endpoint_url": envstr("AWS_S3_ENDPOINT_URL", "") or None,
            "default_acl": "private",
            "querystring_auth": True,
            "file_overwrite": True,
        },
    }
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "results": _RESULTS_STORAGE,
}

# Passwords that protect files (encryption): Django's own validators, so that
# "a" does not encrypt a scan.  The command line applies them too, unless
# --allow-weak-password (for batch scripts of old files).
SECUREPIX_FILE_PASSWORD_MIN_LENGTH = envint("SECUREPIX_FILE_PASSWORD_MIN_LENGTH", 12, minimum=1)
SECUREPIX_FILE_PASSWORD_VALIDATORS: list[dict[str, Any]] = [
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": SECUREPIX_FILE_PASSWORD_MIN_LENGTH},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Key derivation on the server (decryption): the most Argon2id work a file's
# header may ask for (by default twice what the server writes at most), and
# how many derivations run at once in one process (memory = that x the memory
# cost); a request waits up to SECUREPIX_KDF_WAIT_SECONDS for its turn.
SECUREPIX_KDF_MAX_MEMORY_KIB = envint("SECUREPIX_KDF_MAX_MEMORY_KIB", 64 * 1024, minimum=19 * 1024)
SECUREPIX_KDF_MAX_ITERATIONS = envint("SECUREPIX_KDF_MAX_ITERATIONS", 4, minimum=2)
SECUREPIX_KDF_MAX_PARALLELISM = envint("SECUREPIX_KDF_MAX_PARALLELISM", 4, minimum=1)
SECUREPIX_KDF_CONCURRENCY = envint("SECUREPIX_KDF_CONCURRENCY", 2, minimum=1)
SECUREPIX_KDF_WAIT_SECONDS = envfloat("SECUREPIX_KDF_WAIT_SECONDS", 30.0)

# Domain classification (see README: Classification).
SECUREPIX_CLASSIFIER = envstr("SECUREPIX_CLASSIFIER", "auto")  # checked by classification/checks.py
SECUREPIX_RESNET50_WEIGHTS = envstr("SECUREPIX_RESNET50_WEIGHTS", "")  # a local .h5 file
SECUREPIX_KERAS_HOME = envstr("KERAS_HOME", str(Path.home() / ".keras"))  # where Keras caches weights
SECUREPIX_OCR = envbool("SECUREPIX_OCR", True)
# The Unix socket of a model process (`securepix model-process`) that holds the
# models for every worker of this machine; empty: each process loads its own.
SECUREPIX_MODEL_PROCESS = envstr("SECUREPIX_MODEL_PROCESS", "")
# Load and warm the classifier when the web server starts (in the background;
# GET /readyz answers 200 once it is ready), so the first user waits no longer than the next.
SECUREPIX_WARM_UP = envbool("SECUREPIX_WARM_UP", True)
SECUREPIX_MISMATCH_THRESHOLD = envfloat("SECUREPIX_MISMATCH_THRESHOLD", 0.6)
SECUREPIX_MISMATCH_DEFAULT = envchoice("SECUREPIX_MISMATCH_DEFAULT", "acknowledge", DECISIONS)
SECUREPIX_MISMATCH_RULES = envstr("SECUREPIX_MISMATCH_RULES", "")
# An unsure `none` leaning to a stricter domain than declared asks from this on.
SECUREPIX_MISMATCH_LEANING = envfloat("SECUREPIX_MISMATCH_LEANING", 0.5)
# Most sensitive first: declaring a domain at least as sensitive as the predicted one passes.
SECUREPIX_SENSITIVITY_ORDER = envlist(
    "SECUREPIX_SENSITIVITY_ORDER", ["medical", "legal", "finance", "personal", "surveillance", "none"]
)

CSRF_FAILURE_VIEW = "securepix_site.views.csrf_failure"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Login lockout (django-axes): after SECUREPIX_LOGIN_FAILURES failures for one
# username from one address, logins are refused for SECUREPIX_LOCKOUT_MINUTES.
AXES_FAILURE_LIMIT = envint("SECUREPIX_LOGIN_FAILURES", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=envint("SECUREPIX_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_SENSITIVE_PARAMETERS = ["password", "otp_token"]
AXES_VERBOSE = False
AXES_LOCKOUT_CALLABLE = "accounts.views.locked_out"

# Two-factor authentication (django-otp, TOTP): any user may enrol; with
# SECUREPIX_REQUIRE_2FA auditors and administrators must.
SECUREPIX_REQUIRE_2FA = envbool("SECUREPIX_REQUIRE_2FA", False)
OTP_TOTP_ISSUER = "SecurePix"

# The audit chain's HMAC key lives outside the database: SECUREPIX_AUDIT_KEY
# (64 hex digits) in deployments, a random key file in DATA_DIR otherwise
# (checked by audit/checks.py).
SECUREPIX_AUDIT_KEY = envstr("SECUREPIX_AUDIT_KEY", "") or local_secret(DATA_DIR / "audit_key")
# The verifiable log (docs/AUDIT.md): its name (the checkpoints' origin line),
# its Ed25519 signing key (a signed-note signer key: `python -m tlog keygen
# ORIGIN`; outside the database), the public keys it signed with before a
# rotation, the witnesses whose cosignatures it keeps, and how often it signs.
SECUREPIX_AUDIT_LOG_ORIGIN = envstr("SECUREPIX_AUDIT_LOG_ORIGIN", "securepix.local/audit")
SECUREPIX_AUDIT_SIGNING_KEY = envstr("SECUREPIX_AUDIT_SIGNING_KEY", "") or local_secret(
    DATA_DIR / "audit_signing_key", make=lambda: generate_key(SECUREPIX_AUDIT_LOG_ORIGIN)[0]
)
SECUREPIX_AUDIT_OLD_VERIFIER_KEYS = envlist("SECUREPIX_AUDIT_OLD_VERIFIER_KEYS", [])
SECUREPIX_AUDIT_WITNESS_KEYS = envlist("SECUREPIX_AUDIT_WITNESS_KEYS", [])
SECUREPIX_CHECKPOINT_EVERY = envint("SECUREPIX_CHECKPOINT_EVERY", 1000, minimum=1)
SECUREPIX_CHECKPOINT_SECONDS = envfloat("SECUREPIX_CHECKPOINT_SECONDS", 1.0)
# after_commit: writers never wait for each other, the sequencer numbers their
# events in batches; in_transaction: each event is numbered inside its writer's
# transaction (one writer at a time; simpler, slower).
SECUREPIX_AUDIT_SEQUENCING = envchoice("SECUREPIX_AUDIT_SEQUENCING", "after_commit", ("after_commit", "in_transaction"))

# Secrets made up for this process alone (no environment variable, no file): reported by a system check.
SECUREPIX_EPHEMERAL_SECRETS = sorted(LOCAL_SECRETS)
# Served for real (`make serve`, or behind HTTPS): several processes and nodes.
SECUREPIX_PRODUCTION = envbool("SECUREPIX_PRODUCTION", False) or SECUREPIX_HTTPS
if SECUREPIX_EPHEMERAL_SECRETS and SECUREPIX_PRODUCTION and not DEBUG:
    # Every process and node must share one secret key, audit key and signing
    # key, or sessions break and the audit log forks.
    raise ImproperlyConfigured(
        f"this is a production server but no {', '.join(SECUREPIX_EPHEMERAL_SECRETS)} is configured: set "
        "SECUREPIX_SECRET_KEY, SECUREPIX_AUDIT_KEY and SECUREPIX_AUDIT_SIGNING_KEY (README: Production settings)"
    )

# Throttle counters live in the cache: "memory" counts per server process (the
# embedded default of `make run`, one process); "redis" shares them between all
# processes and machines that use SECUREPIX_REDIS_URL, counted with Redis's
# atomic INCR (web/throttles.py).  `make serve` uses Redis.
SECUREPIX_CACHE = envchoice("SECUREPIX_CACHE", "memory", ("memory", "redis"))
SECUREPIX_REDIS_URL = envstr("SECUREPIX_REDIS_URL", "redis://127.0.0.1:6379/0")
if SECUREPIX_CACHE == "redis":
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": SECUREPIX_REDIS_URL,
            "KEY_PREFIX": "securepix",
        }
    }

# API tokens expire after this many days.
SECUREPIX_TOKEN_DAYS = envint("SECUREPIX_TOKEN_DAYS", 30, minimum=1)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["web.auth.DenyAll"],  # each view says who may call it
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "web.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_RATES": {
        # decryption attempts: slows password guessing
        "decrypt_user": envstr("SECUREPIX_DECRYPT_RATE_USER", "30/min"),
        "decrypt_address": envstr("SECUREPIX_DECRYPT_RATE_ADDRESS", "60/min"),
        "token_address": envstr("SECUREPIX_TOKEN_RATE_ADDRESS", "20/min"),
        "cosignature_address": envstr("SECUREPIX_COSIGNATURE_RATE_ADDRESS", "60/min"),
    },
    "URL_FORMAT_OVERRIDE": None,  # `format` is the export's own parameter
}
SPECTACULAR_SETTINGS = {
    "TITLE": "SecurePix API",
    "DESCRIPTION": "Encrypt, decrypt and classify images; review the audit trail.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",  # local assets, no CDN
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "Domain": "core.domains.DOMAIN_CHOICES",
        "JobKind": "jobs.contracts.KINDS",
        "JobState": "jobs.contracts.JOB_STATES",
        "JobFileState": "jobs.models.JobFile.State",
        "AuditExportState": "jobs.models.AuditExport.State",
    },
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "web.schema.document_errors"],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {
        # /readyz answers 503 while the classifier loads: expected, not an error worth a log line
        "not_readiness": {
            "()": "django.utils.log.CallbackFilter",
            "callback": lambda record: "/readyz" not in record.getMessage(),
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["not_readiness"]}},
    "root": {"handlers": ["console"], "level": envstr("SECUREPIX_LOG_LEVEL", "INFO")},
}

"""SecurePix settings, read from the environment (see README: Configuration)."""

from __future__ import annotations

from pathlib import Path

import dj_database_url

from cipher.engine.limits import DEFAULT_MAX_PIXELS

from .env import envbool, envfloat, envint, envlist, envstr, local_secret

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = envbool("SECUREPIX_DEBUG", False)
DATA_DIR = Path(envstr("SECUREPIX_DATA_DIR", str(BASE_DIR / "var")))
# Deployments set SECUREPIX_SECRET_KEY; a development machine gets a random key
# in DATA_DIR, made once.
SECRET_KEY = envstr("SECUREPIX_SECRET_KEY", "") or local_secret(DATA_DIR / "secret_key")
ALLOWED_HOSTS = envlist("SECUREPIX_ALLOWED_HOSTS", ["127.0.0.1", "localhost"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "cipher",
    "classification",
    "audit",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "securepix_site.urls"
WSGI_APPLICATION = "securepix_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.config(
        env="DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'db.sqlite3'}", conn_max_age=60
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

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
STATIC_ROOT = BASE_DIR / "staticfiles"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = envbool("SECUREPIX_SECURE_COOKIES", not DEBUG and envbool("SECUREPIX_HTTPS", False))
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# Limits for uploaded images: bytes on the wire and decoded pixels.
SECUREPIX_MAX_UPLOAD_BYTES = envint("SECUREPIX_MAX_UPLOAD_BYTES", 200 * 1024 * 1024, minimum=1)
SECUREPIX_MAX_PIXELS = envint("SECUREPIX_MAX_PIXELS", DEFAULT_MAX_PIXELS, minimum=1)
DATA_UPLOAD_MAX_MEMORY_SIZE = SECUREPIX_MAX_UPLOAD_BYTES

# Domain classification (see README: Classification).
SECUREPIX_CLASSIFIER = envstr("SECUREPIX_CLASSIFIER", "auto")
SECUREPIX_OCR = envbool("SECUREPIX_OCR", True)
SECUREPIX_MISMATCH_THRESHOLD = envfloat("SECUREPIX_MISMATCH_THRESHOLD", 0.6)
SECUREPIX_MISMATCH_DEFAULT = envstr("SECUREPIX_MISMATCH_DEFAULT", "acknowledge")
SECUREPIX_MISMATCH_RULES = envstr("SECUREPIX_MISMATCH_RULES", "")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": envstr("SECUREPIX_LOG_LEVEL", "INFO")},
}

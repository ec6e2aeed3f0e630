"""Concord settings: one module, read from the environment (docker/.env.example lists every variable).

With nothing set, a bare ``manage.py`` runs on the embedded defaults: SQLite under
``var/`` and Celery over kombu's filesystem transport, so a first run needs no server.
Set ``DATABASE_URL`` and ``CELERY_BROKER_URL`` for PostgreSQL and Redis.
"""

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("CONCORD_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", default=True)
SECRET_KEY = env_str("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "concord-insecure-development-key"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "django_celery_beat",
    "annotate",
    "alignment",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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

# --- Database ---------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # The serving path prepares its few statements (annotate/db.py, ``prepare=True``):
        # psycopg ignores that while ``prepare_threshold`` is None, Django's default. A
        # threshold no query reaches prepares nothing else; Django's own cursors bind on the
        # client and never prepare. The prepared plans do not depend on the parameter
        # values, so plan once per connection: by default PostgreSQL keeps re-planning a
        # statement whose custom plans look cheaper than its generic one.
        DATABASES["default"]["OPTIONS"] = {
            **DATABASES["default"].get("OPTIONS", {}),
            "prepare_threshold": 2**31 - 1,
            "options": "-c plan_cache_mode=force_generic_plan",
        }
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "concord.sqlite3"),
            # SQLite serialises writers; a generous timeout keeps the demo's worker and web from
            # failing with "database is locked" while the other commits.
            "OPTIONS": {"timeout": 30, "transaction_mode": "IMMEDIATE"},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "annotate:home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))

# --- Uploads and imports ----------------------------------------------------
# Larger files are refused with a message naming the limit before anything is read.
CONCORD_IMPORT_MAX_BYTES = env_int("CONCORD_IMPORT_MAX_BYTES", 512 * 1024 * 1024)
CONCORD_IMPORT_MAX_RECORDS = env_int("CONCORD_IMPORT_MAX_RECORDS", 2_000_000)
# Imports with more records than this run in a Celery task instead of the request.
CONCORD_IMPORT_INLINE_MAX_RECORDS = env_int("CONCORD_IMPORT_INLINE_MAX_RECORDS", 5_000)
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# --- REST framework ---------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "annotate.api.authentication.FastTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Concord API",
    "DESCRIPTION": "Pairwise annotation, label quality, dataset export and alignment rounds.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Served from our own static files: no machine here reaches a CDN.
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

# --- Background jobs (imports, exports, training runs) ------------------------
# A worker writes its job's heartbeat every CONCORD_JOB_HEARTBEAT_SECONDS; a heartbeat
# older than CONCORD_JOB_STALE_SECONDS means the worker is gone, and the job is run again
# (at most CONCORD_JOB_MAX_ATTEMPTS attempts in all, then FAILED). annotate/checks.py
# refuses a staleness under two heartbeat intervals.
CONCORD_JOB_HEARTBEAT_SECONDS = env_int("CONCORD_JOB_HEARTBEAT_SECONDS", 10)
CONCORD_JOB_STALE_SECONDS = env_int("CONCORD_JOB_STALE_SECONDS", 60)
CONCORD_JOB_MAX_ATTEMPTS = env_int("CONCORD_JOB_MAX_ATTEMPTS", 3)
# How often the reaper (annotate.reap_jobs, on beat) looks for lost workers and unsent jobs.
CONCORD_JOB_REAP_SECONDS = env_int("CONCORD_JOB_REAP_SECONDS", 30)
# A queued job whose message was handed to the broker this long ago and never picked up
# is sent again (a message lost with a Redis restart); one whose send failed, at once.
CONCORD_JOB_RESEND_SECONDS = env_int("CONCORD_JOB_RESEND_SECONDS", 600)
# Hard time limit of the import and export tasks (the soft one is a minute less).
CONCORD_JOB_TIME_LIMIT_SECONDS = env_int("CONCORD_JOB_TIME_LIMIT_SECONDS", 3 * 3600)
# Rows per slice of an export and records per write round of an import (each one progress
# report); smaller is slower. At most 10,000 for imports on SQLite (its variable limit).
CONCORD_EXPORT_CHUNK_ROWS = env_int("CONCORD_EXPORT_CHUNK_ROWS", 10_000)
CONCORD_IMPORT_CHUNK_RECORDS = env_int("CONCORD_IMPORT_CHUNK_RECORDS", 2000)

# --- Celery -----------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "") or "filesystem://"
if CELERY_BROKER_URL == "filesystem://":
    # kombu's filesystem transport: a broker that is just two folders, for a first run
    # on a bare machine. Web and worker must share VAR_DIR.
    _broker_dir = VAR_DIR / "broker"
    (_broker_dir / "queue").mkdir(parents=True, exist_ok=True)
    (_broker_dir / "processed").mkdir(parents=True, exist_ok=True)
    (_broker_dir / "control").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Redis hands an unacknowledged message to another worker after this long, even if
        # the first one is still working on it: it must exceed every task's hard time limit
        # (annotate/checks.py says so at start-up). A worker killed outright is noticed far
        # sooner, by its job's stale heartbeat (the reaper), not by this.
        "visibility_timeout": env_int(
            "CELERY_BROKER_VISIBILITY_TIMEOUT", CONCORD_JOB_TIME_LIMIT_SECONDS + 3600
        ),
        # Without these a publish to a Redis that hangs (not refusing: hanging) waits forever,
        # and the web request with it. The BRPOP of a worker is asynchronous and unaffected.
        "socket_connect_timeout": env_int("CELERY_BROKER_SOCKET_TIMEOUT", 2),
        "socket_timeout": env_int("CELERY_BROKER_SOCKET_TIMEOUT", 2),
    }
CELERY_BROKER_CONNECTION_TIMEOUT = env_int("CELERY_BROKER_SOCKET_TIMEOUT", 2)  # seconds, for any transport
# One attempt, then give up: a job whose message could not be sent stays QUEUED and the
# reaper sends it again (redis-py itself reconnects a pooled connection that a Redis
# restart closed). Celery's default of four attempts held a request ~20 s on a hung Redis;
# one attempt fails in about CELERY_BROKER_SOCKET_TIMEOUT (2 s measured; 6 s with a retry).
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 0}
# Our own rows (ImportJob, ExportJob, TrainingRun) are the source of truth for task state.
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Installed into django-celery-beat's tables when beat starts; admins edit them in the admin.
CELERY_BEAT_SCHEDULE = {
    "reclaim-expired-leases": {"task": "annotate.reclaim_expired_leases", "schedule": 60.0},
    "reap-jobs": {"task": "annotate.reap_jobs", "schedule": float(CONCORD_JOB_REAP_SECONDS)},
}
CELERY_TIMEZONE = TIME_ZONE

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

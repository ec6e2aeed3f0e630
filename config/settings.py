"""Concord settings: one module, read from the environment (docker/.env.example lists every variable).

With nothing set, a bare ``manage.py`` runs on the embedded defaults: SQLite under
``var/`` and Celery over kombu's filesystem transport, so a first run needs no server.
Set ``DATABASE_URL`` and ``CELERY_BROKER_URL`` for PostgreSQL and Redis.
"""

from datetime import timedelta
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
    "csp",
    "axes",
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
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a lockout flagged during authentication into the 429 page.
    "axes.middleware.AxesMiddleware",
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
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes' backend goes first: it refuses a locked-out username+address before the
# password is checked. It needs the request, so tests log in with force_login().
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "annotate:home"
LOGOUT_REDIRECT_URL = "login"

# --- HTTPS, cookies and headers ---------------------------------------------
# Production (DEBUG=0) defaults to everything `manage.py check --deploy` asks for; development
# (DEBUG=1) serves plain HTTP on localhost. Each can be turned off from the environment, e.g.
# SECURE_HSTS_SECONDS=0 while trying a new domain (a browser remembers HSTS for that long).
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
if SECURE_HSTS_SECONDS < 0:
    raise ImproperlyConfigured(f"SECURE_HSTS_SECONDS={SECURE_HSTS_SECONDS} must be 0 (off) or positive")
# Behind a TLS-terminating proxy Django sees plain HTTP; without this header SECURE_SSL_REDIRECT
# would redirect for ever. Set it only when the proxy overwrites the header on every request:
# a client could otherwise claim HTTPS. Given as "HEADER,value", e.g. "X-Forwarded-Proto,https".
_proxy_ssl_header = env_list("SECURE_PROXY_SSL_HEADER", "")
if _proxy_ssl_header:
    if len(_proxy_ssl_header) != 2:
        raise ImproperlyConfigured(
            f"SECURE_PROXY_SSL_HEADER={','.join(_proxy_ssl_header)!r} must be 'HEADER,value', e.g. 'X-Forwarded-Proto,https'"
        )
    _header, _value = _proxy_ssl_header
    if not _header.upper().startswith("HTTP_"):
        _header = "HTTP_" + _header
    SECURE_PROXY_SSL_HEADER = (_header.upper().replace("-", "_"), _value)
# Django's defaults, stated so that they are not lost: no sniffing, no framing, same-origin referrers.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# --- Content-Security-Policy (django-csp 4) ---------------------------------
# Only our own files run: no inline script, style or event handler (templates use data-*
# attributes and annotate/static/annotate/*.js). htmx is told not to inject its indicator
# <style> (the meta tag in base.html; the rules live in concord.css). The API docs page
# relaxes this for Redoc (config/urls.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
# Where browsers send violation reports (any endpoint that accepts them); unset: none are sent.
# (Not kept as a CSP_* setting: django-csp 4 refuses those as leftovers of its 3.x format.)
_csp_report_uri = env_str("CSP_REPORT_URI", "")
if _csp_report_uri:
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["report-uri"] = [_csp_report_uri]

# --- Login throttling (django-axes) -----------------------------------------
# Both login pages (/accounts/login/ and /admin/login/) go through django.contrib.auth's
# authenticate(), where axes counts failures per username and client address together: a
# password guesser is stopped without letting anyone lock a whole office out. Once locked, the
# right password is refused too until AXES_COOLOFF_MINUTES after the last failure. Behind a
# proxy the client address is the proxy's, so the lock is in effect per username.
AXES_ENABLED = env_bool("AXES_ENABLED", default=True)
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
if AXES_FAILURE_LIMIT < 1:
    raise ImproperlyConfigured(f"AXES_FAILURE_LIMIT={AXES_FAILURE_LIMIT} must be at least 1")
_axes_cooloff_minutes = env_int("AXES_COOLOFF_MINUTES", 15)
if _axes_cooloff_minutes < 1:
    raise ImproperlyConfigured(f"AXES_COOLOFF_MINUTES={_axes_cooloff_minutes} must be at least 1")
AXES_COOLOFF_TIME = timedelta(minutes=_axes_cooloff_minutes)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# A user who mistypes twice and then gets it right starts again from zero.
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"

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
    # Token first: DRF answers an unauthenticated request with the first class's
    # ``authenticate_header`` (401 + WWW-Authenticate: Token); session auth has none (403).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "annotate.api.authentication.FastTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON nested past 64 levels and a multipart body with no readable part are a 400.
    "DEFAULT_PARSER_CLASSES": [
        "annotate.api.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "annotate.api.parsers.StrictMultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "annotate.api.schema.ConcordAutoSchema",
    # ?limit= defaults to 50 and is clamped at 500; a limit or offset that is not a count is a 400.
    "DEFAULT_PAGINATION_CLASS": "annotate.api.pagination.ApiPagination",
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
    # Request bodies get their own components (``…Request``), so an upload is ``format: binary``.
    "COMPONENT_SPLIT_REQUEST": True,
    # One enum component per choice set, named after it (fields named "status" mean two different sets).
    "ENUM_NAME_OVERRIDES": {
        f"{name}Enum": f"annotate.models.{name}"
        for name in (
            "Choice", "Strength", "ComparisonStatus", "JobStatus", "AggregationMethod",
            "ExportFormat", "ExportSchema", "ImportKind", "ImportFormat",
        )
    }
    | {
        f"{name}Enum": f"alignment.models.{name}"
        for name in ("RoundState", "RoundTrigger", "RunStep", "VersionKind", "VersionStatus", "PolicyAlgorithm")
    },
    # Every operation documents the errors it can answer (annotate/api/schema.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "annotate.api.schema.postprocess_error_responses",
    ],
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

# --- Alignment rounds ---------------------------------------------------------
# Where rounds write model versions and training runs. Every worker that trains and every
# worker that samples must read and write the same folder: on a cluster, a shared mount.
CONCORD_MODEL_ROOT = Path(env_str("CONCORD_MODEL_ROOT", str(VAR_DIR / "models")))
# How often beat checks the plans' triggers and the collecting rounds, in seconds.
CONCORD_ROUND_TICK_SECONDS = env_int("CONCORD_ROUND_TICK_SECONDS", 60)

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
    "clean-import-files": {"task": "annotate.import_files_clean", "schedule": 3600.0},
    "reap-jobs": {"task": "annotate.reap_jobs", "schedule": float(CONCORD_JOB_REAP_SECONDS)},
    "alignment-tick": {"task": "alignment.rounds_tick", "schedule": float(CONCORD_ROUND_TICK_SECONDS)},
}
CELERY_TIMEZONE = TIME_ZONE

# --- Import limits ----------------------------------------------------------
# What one record may hold, so that a hostile or broken file is refused while it is read,
# with the line and field, instead of filling memory or making an unreadable annotator page.
# A text field (a prompt, a turn's content, a response, metadata as JSON), in characters.
CONCORD_IMPORT_MAX_FIELD_CHARS = env_int("CONCORD_IMPORT_MAX_FIELD_CHARS", 256 * 1024)
# A record: a JSONL line (bytes), a JSON array element or CSV row (characters), a Parquet row (bytes).
# Readers never hold more than about this much of one record.
CONCORD_IMPORT_MAX_RECORD_BYTES = env_int("CONCORD_IMPORT_MAX_RECORD_BYTES", 1024 * 1024)
# Nesting of JSON inside a record (metadata objects, turns); deeper is refused, never recursed into.
CONCORD_IMPORT_MAX_JSON_DEPTH = env_int("CONCORD_IMPORT_MAX_JSON_DEPTH", 32)
# Parquet is compressed: a small file can expand enormously. The uncompressed size (from the
# row-group metadata, before reading; then the decoded bytes as they are read) is bounded.
CONCORD_IMPORT_MAX_UNCOMPRESSED_BYTES = env_int("CONCORD_IMPORT_MAX_UNCOMPRESSED_BYTES", 512 * 1024 * 1024)
# Imports bigger than this (file bytes, or uncompressed bytes for Parquet) run in a worker, as do
# those with more than CONCORD_IMPORT_INLINE_MAX_RECORDS records.
CONCORD_IMPORT_INLINE_MAX_BYTES = env_int("CONCORD_IMPORT_INLINE_MAX_BYTES", 4 * 1024 * 1024)
# A responses import compares pairs of a prompt's responses; n responses have n(n-1)/2 pairs.
# Past this many comparisons per prompt, pairs are chosen so that every response is compared.
CONCORD_IMPORT_MAX_PAIRS_PER_PROMPT = env_int("CONCORD_IMPORT_MAX_PAIRS_PER_PROMPT", 1000)
# Uploaded files of finished (succeeded or failed) imports are deleted after this many hours.
CONCORD_IMPORT_FILE_RETENTION_HOURS = env_int("CONCORD_IMPORT_FILE_RETENTION_HOURS", 7 * 24)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

# --- undo of a judgment ---
# How long after a submit its annotator may take the judgment back (annotate/services/assignment.py).
JUDGMENT_UNDO_SECONDS = env_int("JUDGMENT_UNDO_SECONDS", 30)

"""Settings. Two ways to run, chosen by the environment:

* embedded default (no DATABASE_URL / REDIS_URL): SQLite in WAL mode, Celery's in-process
  memory broker and the in-memory channel layer; `manage.py kaizen_serve` runs web + worker.
* distributed: DATABASE_URL=postgres://..., REDIS_URL=redis://... — Redis is the Celery broker
  and the channels_redis layer; any number of `celery -A kaizen_web worker` processes.
"""

import json
import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("KAIZEN_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).lower() in ("1", "true", "yes", "on")


SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "dev-only-insecure-key-change-me")
DEBUG = env_bool("DJANGO_DEBUG", True)
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver").split(",")
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "daphne",
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
    "channels",
    "graphs",
    "audit",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "audit.logs.LogContextMiddleware",  # run_id/user_id on log lines
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "kaizen_web.urls"
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
                "graphs.views.context.kaizen",
            ],
        },
    }
]
ASGI_APPLICATION = "kaizen_web.asgi.application"

DATABASE_URL = os.environ.get("DATABASE_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "")
EMBEDDED = not REDIS_URL

if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "kaizen.sqlite3",
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000;",
                "transaction_mode": "IMMEDIATE",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Database connections: a pool per process (PostgreSQL) --------------------------------
# Opening a PostgreSQL connection per API request cost ~7 % of a loaded web process. Not
# CONN_MAX_AGE: under ASGI (Daphne) each request runs its sync code on a thread of its own
# (asgiref's ThreadSensitiveContext), so per-thread persistent connections would still be opened
# per request, then left behind. psycopg's pool (Django's OPTIONS "pool") lends the same few open
# connections to whichever thread asks and takes them back on close; only healthy ones are lent.
# Bounded per process: a thread waits up to the timeout for one. A worker's run holds one (its
# recorder thread) while it runs, so KAIZEN_DB_POOL_MAX must cover the worker's concurrency twice.
# KAIZEN_DB_POOL_MAX=0: no pool, a connection per request (e.g. behind PgBouncer).
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and os.environ.get("KAIZEN_DB_POOL_MAX") != "0":
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # (the pool keeps them; Django refuses both at once)
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": int(os.environ.get("KAIZEN_DB_POOL_MIN", "1")),
        "max_size": int(os.environ.get("KAIZEN_DB_POOL_MAX", "40")),
        "timeout": float(os.environ.get("KAIZEN_DB_POOL_TIMEOUT_S", "30")),
        "max_idle": float(os.environ.get("KAIZEN_DB_POOL_MAX_IDLE_S", "300")),
    }

AUTH_PASSWORD_VALIDATORS = [{"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"}]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"

# --- Celery ------------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
# Embedded: kombu's memory transport, woken by every put instead of polling (graphs/broker.py).
CELERY_BROKER_TRANSPORT = None if REDIS_URL else "graphs.broker:Transport"
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 6 * 3600} if REDIS_URL else {}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- Channels ----------------------------------------------------------------------------
if REDIS_URL:
    # The pub/sub layer of channels_redis: one PUBLISH per message and pushed delivery, where the
    # list-based core layer makes every receiving process do four serial round trips per message
    # (EVAL, BZPOPMIN, ZADD, ZPOPMIN). Both are at-most-once; the consumer fills gaps from the
    # database either way. redis-py 8 defaults socket_timeout to 5 s, which aborts blocking reads
    # on idle sockets (django/channels_redis#422): restore "no timeout".
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                    "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": None}]}}
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "graphs.layers.ThreadSafeInMemoryChannelLayer"}}

# --- REST framework ----------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "graphs.api.errors.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Kaizen Web API", "VERSION": "1.0.0", "SERVE_INCLUDE_SCHEMA": False,
    # served from our own static files, not a CDN
    "SWAGGER_UI_DIST": "SIDECAR", "SWAGGER_UI_FAVICON_HREF": "SIDECAR", "REDOC_DIST": "SIDECAR",
}
DATA_UPLOAD_MAX_MEMORY_SIZE = 6 * 1024 * 1024  # graph documents are capped at 5 MB

# --- Content-Security-Policy: everything from our own origin ------------------------------
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'", "ws:", "wss:"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

# --- Kaizen --------------------------------------------------------------------------------
OPENAI_BASE_URL = os.environ.get("OPENAI_BASE_URL", "")
OPENAI_API_KEY = os.environ.get("OPENAI_API_KEY", "")
# Without an endpoint, agents answer from the simulated provider (the UI says so).
KAIZEN_DEFAULT_PROVIDER = "openai" if (OPENAI_BASE_URL or OPENAI_API_KEY) else "simulated"
# Fernet keys for stored API keys and hook secrets, comma-separated, newest first (see
# graphs/credentials.py); when unset they are derived from SECRET_KEY and SECRET_KEY_FALLBACKS.
SECRET_KEY_FALLBACKS = [k for k in os.environ.get("DJANGO_SECRET_KEY_FALLBACKS", "").split(",") if k]
KAIZEN_ENCRYPTION_KEY = os.environ.get("KAIZEN_ENCRYPTION_KEY", "")
KAIZEN_LLM_MAX_RETRIES = int(os.environ.get("KAIZEN_LLM_MAX_RETRIES", "2"))
KAIZEN_SIMULATED_LATENCY_S = float(os.environ.get("KAIZEN_SIMULATED_LATENCY_S", "0.3"))
# USD per 1M tokens, (input, output); JSON in KAIZEN_PRICES adds or overrides models.
KAIZEN_PRICES = json.loads(os.environ.get("KAIZEN_PRICES", "{}"))
KAIZEN_HEARTBEAT_S = float(os.environ.get("KAIZEN_HEARTBEAT_S", "2"))
KAIZEN_LEASE_S = float(os.environ.get("KAIZEN_LEASE_S", "15"))  # a run whose lease lapses is taken over
KAIZEN_CANCEL_POLL_S = float(os.environ.get("KAIZEN_CANCEL_POLL_S", "2"))  # safety net: cancels are pushed
KAIZEN_SWEEP_S = float(os.environ.get("KAIZEN_SWEEP_S", "5"))
KAIZEN_REQUEUE_AFTER_S = float(os.environ.get("KAIZEN_REQUEUE_AFTER_S", "60"))  # queued, message lost
KAIZEN_MEMORY_OPTIMIZE_S = float(os.environ.get("KAIZEN_MEMORY_OPTIMIZE_S", "30"))  # memory tier demotion, per worker
KAIZEN_MAX_CLAIMS = int(os.environ.get("KAIZEN_MAX_CLAIMS", "5"))
KAIZEN_EMBEDDED_WORKER_THREADS = int(os.environ.get("KAIZEN_EMBEDDED_WORKER_THREADS", "4"))
# Database threads per worker process for runs' reads, heartbeats and final updates (the
# group-commit writer has its own connection): the bound on a worker's connections.
KAIZEN_WORKER_DB_THREADS = int(os.environ.get("KAIZEN_WORKER_DB_THREADS", "4"))
# A worker process frozen inside a transaction (SIGSTOP, a swapped-out VM) must not hold row locks
# for long: PostgreSQL ends its sessions idle in a transaction after this (see graphs/worker.py).
KAIZEN_DB_IDLE_IN_TRANSACTION_S = float(os.environ.get("KAIZEN_DB_IDLE_IN_TRANSACTION_S", "5"))
# On SIGTERM a worker gives its runs this long to finish their in-flight calls, then hands them off.
KAIZEN_SHUTDOWN_GRACE_S = float(os.environ.get("KAIZEN_SHUTDOWN_GRACE_S", "10"))
KAIZEN_EVENT_PREVIEW_BYTES = 16_384

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "audit.logs.ContextFilter"}},  # run_id/node_id/user_id on every line
    "formatters": {"json": {"()": "audit.logs.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["context"], "formatter": "json"}},
    "root": {"handlers": ["console"], "level": os.environ.get("KAIZEN_LOG_LEVEL", "INFO")},
    "loggers": {"django": {"level": "INFO"}, "django.channels.server": {"level": "WARNING"}, "daphne": {"level": "WARNING"}},
}

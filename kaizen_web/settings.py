"""Settings. Two ways to run, chosen by the environment:

* embedded default (no DATABASE_URL / REDIS_URL): SQLite in WAL mode, Celery's in-process
  memory broker and the in-memory channel layer; `manage.py kaizen_serve` runs web + worker.
* distributed: DATABASE_URL=postgres://..., REDIS_URL=redis://... — Redis is the Celery broker
  and the channels_redis layer; any number of `celery -A kaizen_web worker` processes.
"""

import os
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

# The one way settings come from the environment (django-environ): typed reads with defaults.
env = environ.Env()
env.escape_proxy = True  # a value starting with "$" names another variable; write \$ for a literal "$"

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env.str("KAIZEN_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DATABASE_URL = env.str("DATABASE_URL", default="")
REDIS_URL = env.str("REDIS_URL", default="")
# The embedded local mode (no Redis: one process, SQLite) is for one person on their machine; any
# other deployment is treated as production: DEBUG off, real secrets required, https settings on.
EMBEDDED = not REDIS_URL
PRODUCTION = not EMBEDDED

DEBUG = env.bool("DJANGO_DEBUG", default=EMBEDDED)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
# Fernet keys for stored API keys and hook secrets, comma-separated, newest first (see
# graphs/credentials.py); in the embedded mode, when unset, derived from SECRET_KEY and its fallbacks.
KAIZEN_ENCRYPTION_KEY = env.str("KAIZEN_ENCRYPTION_KEY", default="")
if PRODUCTION:
    missing = [name for name, value in (("DJANGO_SECRET_KEY", SECRET_KEY), ("KAIZEN_ENCRYPTION_KEY", KAIZEN_ENCRYPTION_KEY)) if not value]
    if missing:
        raise ImproperlyConfigured(
            f"{' and '.join(missing)} must be set outside the embedded local mode (REDIS_URL is set). Generate them with\n"
            "  python -c 'import secrets; print(secrets.token_urlsafe(50))'   # DJANGO_SECRET_KEY\n"
            "  python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'   # KAIZEN_ENCRYPTION_KEY\n"
            "(see README.md, \"Production\").")
if not SECRET_KEY:  # embedded: a random key made on first start, kept in VAR_DIR (never a public string)
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        import secrets

        key_file.touch(mode=0o600)
        key_file.write_text(secrets.token_urlsafe(50))
    SECRET_KEY = key_file.read_text().strip()
SECRET_KEY_FALLBACKS = env.list("DJANGO_SECRET_KEY_FALLBACKS", default=[])
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# --- HTTPS: on by default in production; KAIZEN_HTTPS=0 turns all of it off (plain http on a private
# network or a test rig), and each one can be set on its own. ------------------------------------
HTTPS = env.bool("KAIZEN_HTTPS", default=PRODUCTION)
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=HTTPS)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=HTTPS)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", default=HTTPS)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=HTTPS)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=HTTPS)
if env.bool("DJANGO_SECURE_PROXY_SSL_HEADER", default=False):  # behind a TLS-terminating proxy that sets it
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True

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
    "axes",
    "django_celery_beat",
    "workspaces",
    "graphs",
    "audit",
    "apitokens",
    "triggers",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # /static/ with caching headers and compression
    "kaizen_web.limits.InputLimitsMiddleware",  # JSON 413 on /api/, no NUL characters anywhere
    "kaizen_web.csp.OwnOriginCSPMiddleware",  # django-csp, connect-src naming our own websocket origin
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "audit.logs.LogContextMiddleware",  # run_id/user_id on log lines
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # answers a locked-out login attempt
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
                "workspaces.views.context",
            ],
        },
    }
]
ASGI_APPLICATION = "kaizen_web.asgi.application"

if DATABASE_URL:
    DATABASES = {"default": {**env.db_url_config(DATABASE_URL), "CONN_MAX_AGE": 0}}
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
# Bounded per process: a thread waits up to the timeout for one. A worker holds at most
# KAIZEN_WORKER_DB_THREADS + 2 (the group-commit writer, the sweeper), whatever its concurrency.
# KAIZEN_DB_POOL_MAX=0: no pool, a connection per request (e.g. behind PgBouncer).
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env.int("KAIZEN_DB_POOL_MAX", default=40) != 0:
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # (the pool keeps them; Django refuses both at once)
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("KAIZEN_DB_POOL_MIN", default=1),
        "max_size": env.int("KAIZEN_DB_POOL_MAX", default=40),
        "timeout": env.float("KAIZEN_DB_POOL_TIMEOUT_S", default=30),
        "max_idle": env.float("KAIZEN_DB_POOL_MAX_IDLE_S", default=300),
    }

# The workers' group commit is prepared on the server (graphs/runner/writer.py: its planning cost as
# much as its execution). Behind PgBouncer in transaction mode before 1.21 (no
# max_prepared_statements), turn it off.
KAIZEN_DB_PREPARED = env.bool("KAIZEN_DB_PREPARED", default=True)

AUTHENTICATION_BACKENDS = [
    "kaizen_web.auth.LoginThrottleBackend",  # django-axes: refuses while locked out, counts failures
    "django.contrib.auth.backends.ModelBackend",
]
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
STATIC_ROOT.mkdir(exist_ok=True)  # (WhiteNoise warns about a missing one)
# WhiteNoise serves static files in every mode; in production run `manage.py collectstatic` once
# per release (it also writes the compressed copies). Finders let it serve straight from static/
# when nothing was collected (the embedded mode, tests).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# --- Throttling ---------------------------------------------------------------------------
# Logins (django-axes): after KAIZEN_LOGIN_FAILURE_LIMIT failures for one username, or from one
# address, that username / address is locked out for KAIZEN_LOGIN_COOLOFF_MINUTES.
AXES_FAILURE_LIMIT = env.int("KAIZEN_LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("KAIZEN_LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # each on its own
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False  # no start-up banner in the console
# API (DRF, graphs/api/throttles.py): requests per user, per address when anonymous, and run
# starts per user. "N/s", "N/min", "N/hour" or "N/day"; empty turns a limit off.
KAIZEN_API_RATES = {
    "user": env.str("KAIZEN_THROTTLE_USER", default="1200/min") or None,
    "anon": env.str("KAIZEN_THROTTLE_ANON", default="120/min") or None,
    "runs": env.str("KAIZEN_THROTTLE_RUNS", default="120/min") or None,
    "token": env.str("KAIZEN_THROTTLE_TOKEN", default="600/min") or None,  # per personal access token
}
# The API's fast path (graphs/api/fast.py) remembers who a token is for this long (0: never);
# a revoked token or a deactivated user is refused at once anyway (graphs/api/auth_cache.py).
KAIZEN_AUTH_CACHE_S = env.float("KAIZEN_AUTH_CACHE_S", default=10.0)
# Web (Daphne) processes `manage.py kaizen_serve` starts on one listening socket: one per core in
# the distributed mode (the channel layer and the database are shared through Redis and
# PostgreSQL); always one in the embedded mode (its worker, broker and channel layer live inside).
KAIZEN_WEB_PROCESSES = env.int("KAIZEN_WEB_PROCESSES", default=0) or (1 if EMBEDDED else (os.cpu_count() or 1))
KAIZEN_FAST_API = env.bool("KAIZEN_FAST_API", default=True)  # 0: every API request through DRF (to compare)
if REDIS_URL:  # throttle counters shared by every web process
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                          "KEY_PREFIX": "kaizen-cache"}}

# --- Celery ------------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
# Embedded: kombu's memory transport, woken by every put instead of polling (graphs/runner/broker.py).
# Distributed: kombu's Redis transport with one publishing client per channel (kaizen_web/redis_broker.py).
CELERY_BROKER_TRANSPORT = "kaizen_web.redis_broker:Transport" if REDIS_URL else "graphs.runner.broker:Transport"
# No ack emulation: kombu's Redis transport would keep every delivered message in an "unacked" hash
# (a pipeline on delivery and another on ack, on the worker's consumer thread: ~14 % of a worker's
# CPU per run) to re-deliver it after a visibility timeout. Runs do not need it: a run whose worker
# died is found by its lapsed lease, a queued run whose message was lost by its age, and both are
# sent again by the sweeper (services.runs_sweep); a worker that stops cleanly puts back what it
# took and had not started (kombu restores delivered, unacked messages when its channel closes).
CELERY_BROKER_TRANSPORT_OPTIONS = {"ack_emulation": False} if REDIS_URL else {}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Schedules (triggers/): beat reads them from the database; `celery -A kaizen_web beat` in the
# distributed setup, a thread of the in-process worker in the embedded default.
CELERY_BEAT_SCHEDULER = "triggers.beat:Scheduler"
CELERY_TIMEZONE = "UTC"
CELERY_RESULT_EXPIRES = None  # (no results are stored: no nightly cleanup entry for beat to install)
KAIZEN_EMBEDDED_BEAT = env.bool("KAIZEN_EMBEDDED_BEAT", default=True)
# How often beat looks for changed schedules at the latest (seconds): a new schedule's first firing
# waits at most this long.
KAIZEN_BEAT_MAX_INTERVAL_S = env.float("KAIZEN_BEAT_MAX_INTERVAL_S", default=5)
# The skip policy skips a firing that starts later than this after its time (at most half the gap
# to the next firing); the run-once policy starts it anyway, once.
KAIZEN_SCHEDULE_GRACE_S = env.float("KAIZEN_SCHEDULE_GRACE_S", default=60)
# A webhook trigger's HMAC call must be signed within this many seconds of the server's clock
# (X-Kaizen-Timestamp); its signature is refused a second time for twice as long (triggers/auth.py).
KAIZEN_TRIGGER_SIGNATURE_TOLERANCE_S = env.int("KAIZEN_TRIGGER_SIGNATURE_TOLERANCE_S", default=300)
# Refused calls (401, 410, 413, 429) of one trigger and status within this many seconds of the first
# are one audit row and a count (triggers.models.RefusalWindow), not one row each.
KAIZEN_TRIGGER_REFUSAL_WINDOW_S = env.int("KAIZEN_TRIGGER_REFUSAL_WINDOW_S", default=60)

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
    CHANNEL_LAYERS = {"default": {"BACKEND": "graphs.runner.layers.ThreadSafeInMemoryChannelLayer"}}

# --- REST framework ----------------------------------------------------------------------
REST_FRAMEWORK = {
    # Personal access tokens first: a bad token answers 401 with WWW-Authenticate (DRF asks the
    # first class). DRF's own tokens were moved into them (apitokens/migrations/0002).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apitokens.auth.PersonalAccessTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON nested deeper than graphs.api.parsers.MAX_DEPTH is refused before parsing (400)
    "DEFAULT_PARSER_CLASSES": ["graphs.api.parsers.BoundedJSONParser", "rest_framework.parsers.FormParser",
                               "rest_framework.parsers.MultiPartParser"],
    "DEFAULT_THROTTLE_CLASSES": ["graphs.api.throttles.UserThrottle", "graphs.api.throttles.AnonThrottle",
                                 "graphs.api.throttles.TokenThrottle"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "graphs.api.errors.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Kaizen Web API", "VERSION": "1.0.0", "SERVE_INCLUDE_SCHEMA": False,
    # served from our own static files, not a CDN
    "SWAGGER_UI_DIST": "SIDECAR", "SWAGGER_UI_FAVICON_HREF": "SIDECAR", "REDOC_DIST": "SIDECAR",
    # `check --deploy` is about the deployment's security; the schema's completeness (APIViews
    # without a declared serializer) is not, and would hide a real warning among a dozen others.
    "ENABLE_DJANGO_DEPLOY_CHECK": False,
}
DATA_UPLOAD_MAX_MEMORY_SIZE = 6 * 1024 * 1024  # graph documents are capped at 5 MB

# --- Content-Security-Policy: everything from our own origin ------------------------------
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],  # + this host's ws(s):// origin, per request (kaizen_web/csp.py)
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

# --- Kaizen --------------------------------------------------------------------------------
OPENAI_BASE_URL = env.str("OPENAI_BASE_URL", default="")
OPENAI_API_KEY = env.str("OPENAI_API_KEY", default="")
# Without an endpoint, agents answer from the simulated provider (the UI says so).
KAIZEN_DEFAULT_PROVIDER = "openai" if (OPENAI_BASE_URL or OPENAI_API_KEY) else "simulated"
# The operator's key (OPENAI_API_KEY) is sent only to OPENAI_BASE_URL. An agent's own base_url must
# come with a stored credential and resolve to public addresses, unless this is set ("1": a local
# Ollama or vLLM on a private address); see graphs/engine/llm/urlguard.py.
KAIZEN_ALLOW_PRIVATE_MODEL_URLS = env.bool("KAIZEN_ALLOW_PRIVATE_MODEL_URLS", default=False)
# Agents' tools (HTTP requests, MCP servers) may reach only public addresses, unless this is set
# ("1": tools on the operator's private network); see graphs/engine/tools/.
KAIZEN_TOOLS_ALLOW_PRIVATE = env.bool("KAIZEN_TOOLS_ALLOW_PRIVATE", default=False)
KAIZEN_LLM_MAX_RETRIES = env.int("KAIZEN_LLM_MAX_RETRIES", default=0)  # the openai SDK's own; the engine retries (visibly)
KAIZEN_SIMULATED_LATENCY_S = env.float("KAIZEN_SIMULATED_LATENCY_S", default=0.3)
# How an answer's JSON Schema reaches the operator's endpoint when a node does not say (its
# output_mode): json_schema (structured outputs: OpenAI, vLLM, Ollama, llama.cpp), json_object
# (JSON mode; keys named in the prompt) or text. See graphs/engine/llm/structured.py.
KAIZEN_LLM_OUTPUT_MODE = env.str("KAIZEN_LLM_OUTPUT_MODE", default="json_schema")
# Chat completions stream their answers (the run page shows the text growing; the stored
# post_llm_call keeps the final text either way). 0: one answer per request.
KAIZEN_LLM_STREAM = env.bool("KAIZEN_LLM_STREAM", default=True)
KAIZEN_TOKEN_FLUSH_S = env.float("KAIZEN_TOKEN_FLUSH_S", default=0.05)  # streamed text is sent this often per run
KAIZEN_TOKEN_STREAM_MAX_CHARS = env.int("KAIZEN_TOKEN_STREAM_MAX_CHARS", default=100_000)  # per call, to the page
# USD per 1M tokens, (input, output); JSON in KAIZEN_PRICES adds or overrides models.
KAIZEN_PRICES = env.json("KAIZEN_PRICES", default={})
KAIZEN_HEARTBEAT_S = env.float("KAIZEN_HEARTBEAT_S", default=2)
KAIZEN_LEASE_S = env.float("KAIZEN_LEASE_S", default=15)  # a run whose lease lapses is taken over
KAIZEN_CANCEL_POLL_S = env.float("KAIZEN_CANCEL_POLL_S", default=2)  # safety net: cancels are pushed
KAIZEN_SWEEP_S = env.float("KAIZEN_SWEEP_S", default=5)
KAIZEN_REQUEUE_AFTER_S = env.float("KAIZEN_REQUEUE_AFTER_S", default=60)  # queued, message lost
KAIZEN_MEMORY_OPTIMIZE_S = env.float("KAIZEN_MEMORY_OPTIMIZE_S", default=30)  # memory tier demotion, per worker
# Web and worker processes take what they loaded at start-up out of the garbage collector's full
# collections (kaizen_web/heap.py).
KAIZEN_GC_FREEZE = env.bool("KAIZEN_GC_FREEZE", default=True)
KAIZEN_MAX_CLAIMS = env.int("KAIZEN_MAX_CLAIMS", default=5)
KAIZEN_EMBEDDED_WORKER_THREADS = env.int("KAIZEN_EMBEDDED_WORKER_THREADS", default=4)
# Database threads per worker process for runs' reads, heartbeats and final updates (the
# group-commit writer has its own connection): the bound on a worker's connections.
KAIZEN_WORKER_DB_THREADS = env.int("KAIZEN_WORKER_DB_THREADS", default=4)
# Workspace admins may invite someone without an account by email: the account is created and the
# admin gets a one-time link (valid KAIZEN_INVITE_DAYS) to pass on. KAIZEN_INVITES=0: only the
# operator creates accounts (manage.py createsuperuser, Django admin).
KAIZEN_INVITES = env.bool("KAIZEN_INVITES", default=True)
PASSWORD_RESET_TIMEOUT = env.int("KAIZEN_INVITE_DAYS", default=7) * 24 * 3600
# A worker process frozen inside a transaction (SIGSTOP, a swapped-out VM) must not hold row locks
# for long: PostgreSQL ends its sessions idle in a transaction after this (see graphs/runner/worker.py).
KAIZEN_DB_IDLE_IN_TRANSACTION_S = env.float("KAIZEN_DB_IDLE_IN_TRANSACTION_S", default=5)
# On SIGTERM a worker gives its runs this long to finish their in-flight calls, then hands them off.
KAIZEN_SHUTDOWN_GRACE_S = env.float("KAIZEN_SHUTDOWN_GRACE_S", default=10)
KAIZEN_EVENT_PREVIEW_BYTES = 16_384

# Celery's two INFO lines per task ("received", "succeeded in"): a run's failure is logged by the
# worker itself (graphs/runner/execution.py); formatting them cost ~4 % of a worker's CPU per run.
# Their warnings and errors (a task that raised) are kept.
_TASK_LOGS = {} if env.bool("KAIZEN_LOG_TASKS", default=False) else {
    "celery.app.trace": {"level": "WARNING"}, "celery.worker.strategy": {"level": "WARNING"}}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "audit.logs.ContextFilter"}},  # run_id/node_id/user_id on every line
    "formatters": {"json": {"()": "audit.logs.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["context"], "formatter": "json"}},
    "root": {"handlers": ["console"], "level": env.str("KAIZEN_LOG_LEVEL", default="INFO")},
    "loggers": {"django": {"level": "INFO"}, "django.channels.server": {"level": "WARNING"}, "daphne": {"level": "WARNING"},
                "axes": {"level": "WARNING"},  # (its start-up banner is not for the console)
                # one INFO line per model call from the SDK's HTTP client: the run's events carry
                # each call (with its model, tokens and time); its warnings and errors are kept
                "httpx2": {"level": "WARNING"}, "httpx": {"level": "WARNING"},
                **_TASK_LOGS},
}

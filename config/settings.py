"""PipeCRM settings: every knob is an environment variable (SPEC §3).

With nothing set the app runs *embedded*: SQLite, in-memory channel layer, eager Celery,
local-memory cache and the AI agent in offline mode. Setting the variables switches each
part to its production engine. Parsing is strict: a malformed value stops start-up.
"""

import os
import tempfile
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from environs import Env

BASE_DIR = Path(__file__).resolve().parent.parent

env = Env()
env.read_env(BASE_DIR / ".env", recurse=False)

DEBUG = env.bool("DEBUG", default=True)
_DEV_SECRET = "dev-only-insecure-secret-key-change-me-in-production-0123456789"
# Required (no default) once DEBUG is off: a missing SECRET_KEY stops start-up.
SECRET_KEY = env.str("SECRET_KEY", default=_DEV_SECRET) if DEBUG else env.str("SECRET_KEY")
if not DEBUG and SECRET_KEY == _DEV_SECRET:
    raise ValueError("SECRET_KEY must be set to a real secret when DEBUG is off.")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "guardian",
    "simple_history",
    "django_celery_beat",
    "django_htmx",
    "template_partials",
    "channels",
    "csp",
    "axes",
    "anymail",
    "crm",
    "wfm",
    "customfields",
    "leads",
    "deals",
    "activities",
    "analytics",
    "aiagent",
    "privacy",
    "duplicates",
    "emails",
]

MIDDLEWARE = [
    "crm.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "crm.middleware.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "crm.middleware.DomainErrorMiddleware",
    # A database or Redis outage met by a view: a fast 503 with the error body (issue 21).
    "crm.middleware.ServiceUnavailableMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes asks: turns a sign-in lockout into crm.auth.lockout_response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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
                "crm.context_processors.shell",
                "activities.context_processors.navigation",
                "customfields.context_processors.navigation",
                "leads.context_processors.navigation",
                "duplicates.context_processors.navigation",
                "emails.context_processors.navigation",
            ],
        },
    }
]

# --- Database -----------------------------------------------------------------------------
DATABASES = {
    "default": env.dj_db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
# Connection reuse (issue 21). 0 closes each request's connection at its end: right for the
# ASGI processes, where Django serves every request in a thread of its own and a kept
# connection stays with a thread that may never serve again. A Celery worker (one thread per
# process) may set it (e.g. 60). Health checks: a kept connection that the server dropped
# (a PostgreSQL restart) is replaced before use, so the app recovers without a restart.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Seconds to wait for a database connection (a server that does not answer must not hold a
# request for the OS's TCP timeout of minutes), and for one statement (0: no limit; a web
# process may set e.g. 30, so that a runaway query is cancelled and answered with a 503;
# leave it 0 for migrations and maintenance commands).
DB_CONNECT_TIMEOUT = env.int("DB_CONNECT_TIMEOUT", default=5)
DB_STATEMENT_TIMEOUT = env.int("DB_STATEMENT_TIMEOUT", default=0)
if DB_CONNECT_TIMEOUT < 1 or DB_STATEMENT_TIMEOUT < 0:
    raise ImproperlyConfigured("DB_CONNECT_TIMEOUT must be ≥ 1 and DB_STATEMENT_TIMEOUT ≥ 0.")
# A pool of connections per process (psycopg's, through Django's "pool" option), for the ASGI
# web processes: a request takes a connection from it and gives it back at its end, so no
# request pays for a new PostgreSQL connection (a server process forked and its caches warmed;
# issue 21's load run on 5,000 leads at 50 users: median 230 → 87 ms, p95 900 → 400 ms), and
# a process never holds more than DB_POOL_MAX_SIZE connections however many requests are in
# flight (the others wait up to DB_POOL_TIMEOUT, then answer 503; at once when the server is
# down: crm.dbpool). 0: no pool. Leave it off for Celery's prefork workers: a pool made before
# the fork would have no threads in the children (they keep a connection with
# DB_CONN_MAX_AGE instead). Connections are checked when taken (CONN_HEALTH_CHECKS), so a
# PostgreSQL restart costs no request more than a reconnect.
DB_POOL_MAX_SIZE = env.int("DB_POOL_MAX_SIZE", default=0)
DB_POOL_TIMEOUT = env.float("DB_POOL_TIMEOUT", default=10.0)
if DB_POOL_MAX_SIZE < 0 or DB_POOL_TIMEOUT <= 0:
    raise ImproperlyConfigured("DB_POOL_MAX_SIZE must be ≥ 0 and DB_POOL_TIMEOUT > 0.")
# PostgreSQL's parallel workers per query (max_parallel_workers_per_gather) for the app's
# connections. Pages read a page of rows; starting workers for them cost more than it saved
# (1M leads, a filtered and sorted page of 50: 82 ms with the server's 2, 37 ms with 0) and,
# under load, takes cores from other requests. The dashboard's grouped queries over a
# period's records ask for DASHBOARD_PARALLEL_WORKERS themselves (analytics.db). -1: the
# server's own setting.
DB_PARALLEL_WORKERS = env.int("DB_PARALLEL_WORKERS", default=0)
DASHBOARD_PARALLEL_WORKERS = env.int("DASHBOARD_PARALLEL_WORKERS", default=2)
if DB_PARALLEL_WORKERS < -1 or DASHBOARD_PARALLEL_WORKERS < -1:
    raise ImproperlyConfigured("DB_PARALLEL_WORKERS and DASHBOARD_PARALLEL_WORKERS must be ≥ -1.")
if DATABASES["default"]["ENGINE"].startswith("django.db.backends.postgresql"):
    _pg_options = DATABASES["default"].setdefault("OPTIONS", {})
    _pg_options.setdefault("connect_timeout", DB_CONNECT_TIMEOUT)
    # Server settings for the app's connections (``-c name=value``).
    _pg_settings = {
        "statement_timeout": DB_STATEMENT_TIMEOUT * 1000 if DB_STATEMENT_TIMEOUT else None,
        "max_parallel_workers_per_gather": DB_PARALLEL_WORKERS
        if DB_PARALLEL_WORKERS >= 0
        else None,
    }
    _pg_flags = [f"-c {name}={value}" for name, value in _pg_settings.items() if value is not None]
    if _pg_flags:
        _pg_options["options"] = " ".join([_pg_options.get("options", ""), *_pg_flags]).strip()
    if DB_POOL_MAX_SIZE:
        if DATABASES["default"]["CONN_MAX_AGE"]:
            raise ImproperlyConfigured("DB_POOL_MAX_SIZE needs DB_CONN_MAX_AGE=0.")
        # Django's backend with a pool that answers at once when the server is down.
        DATABASES["default"]["ENGINE"] = "crm.dbpool"
        _pg_options["pool"] = {
            "min_size": min(2, DB_POOL_MAX_SIZE),
            "max_size": DB_POOL_MAX_SIZE,
            "timeout": DB_POOL_TIMEOUT,
            # A connection idle this long is closed (down to min_size), one older than
            # max_lifetime replaced: a quiet process gives its connections back.
            "max_idle": 300,
            "max_lifetime": 3600,
        }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + a busy timeout let the ASGI server, eager tasks and tests share the file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # Tests use a file too: the shared-cache in-memory database answers concurrent requests
    # of the live server (browser tests) with "table is locked" instead of waiting. One file
    # per test process, so two test runs on one machine never share (and break) a database.
    DATABASES["default"]["TEST"] = {
        "NAME": env.str(
            "TEST_SQLITE_PATH",
            default=os.path.join(tempfile.gettempdir(), f"pipecrm-test-{os.getpid()}.sqlite3"),
        )
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
IS_POSTGRES = DATABASES["default"]["ENGINE"] in {"django.db.backends.postgresql", "crm.dbpool"}

# --- Redis: channel layer, Celery broker, cache --------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
# Seconds a request waits for Redis (connect, and each cache command) before going on without
# it (issue 21): the cache fails soft (crm.cache), a hung Redis costs one such wait per
# process every REDIS_FAILURE_BACKOFF seconds, not one per cache call.
REDIS_TIMEOUT = env.float("REDIS_TIMEOUT", default=1.0)
REDIS_FAILURE_BACKOFF = env.float("REDIS_FAILURE_BACKOFF", default=5.0)
if not 0 < REDIS_TIMEOUT <= 30 or REDIS_FAILURE_BACKOFF < 0:
    raise ImproperlyConfigured("REDIS_TIMEOUT must be in (0, 30], REDIS_FAILURE_BACKOFF ≥ 0.")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "crm.cache.ResilientRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "pipecrm",
            "FAILURE_BACKOFF": REDIS_FAILURE_BACKOFF,
            "OPTIONS": {"socket_connect_timeout": REDIS_TIMEOUT, "socket_timeout": REDIS_TIMEOUT},
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # Realtime (issue 9): channels_redis blocks on BZPOPMIN for 5 s, and redis-py 8
            # gives up a read after socket_timeout, 5 s by default: every socket idle for 5 s
            # died with "Timeout reading from …". Reads must outlast the blocking pop.
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_timeout": 30,
                        "socket_connect_timeout": REDIS_TIMEOUT,
                    }
                ],
                "prefix": "pipecrm",
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Spreadsheet imports (crm.records.imports) -----------------------------------------------
IMPORT_MAX_BYTES = env.int("IMPORT_MAX_BYTES", default=50 * 1024 * 1024)  # the file, kept in the DB
IMPORT_MAX_ROWS = env.int("IMPORT_MAX_ROWS", default=200_000)
IMPORT_BATCH_SIZE = env.int("IMPORT_BATCH_SIZE", default=500)  # rows per transaction
# Uploads larger than this go to a temporary file instead of memory while the request reads them.
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- Duplicate detection (duplicates) -------------------------------------------------------
# Phone numbers written without a country code are read in this region (ISO 3166 code).
DEFAULT_PHONE_REGION = env.str("DEFAULT_PHONE_REGION", default="US").upper()
DUPLICATE_MIN_SCORE = env.int("DUPLICATE_MIN_SCORE", default=65)  # 0–100: shown from this score
# A key (domain, company word, name) shared by more records than this is no evidence: skipped.
DUPLICATE_MAX_BLOCK = env.int("DUPLICATE_MAX_BLOCK", default=200)
# Records changed since the last run, compared directly by the live checks (newest first).
DUPLICATE_LIVE_FRESH = env.int("DUPLICATE_LIVE_FRESH", default=500)
DUPLICATE_PAGE_MAX_PAIRS = env.int("DUPLICATE_PAGE_MAX_PAIRS", default=5000)  # Duplicates page


def _check_phone_region(region: str) -> None:
    import phonenumbers

    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ImproperlyConfigured(f"DEFAULT_PHONE_REGION {region!r} is not a known region.")


_check_phone_region(DEFAULT_PHONE_REGION)
if not 0 <= DUPLICATE_MIN_SCORE <= 100:
    raise ImproperlyConfigured("DUPLICATE_MIN_SCORE must be between 0 and 100.")
if min(DUPLICATE_MAX_BLOCK, DUPLICATE_LIVE_FRESH, DUPLICATE_PAGE_MAX_PAIRS) < 1:
    raise ImproperlyConfigured(
        "DUPLICATE_MAX_BLOCK, DUPLICATE_LIVE_FRESH and DUPLICATE_PAGE_MAX_PAIRS must be at least 1."
    )

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
# Imports (crm.records.imports) in a thread of the web process where no worker runs them.
IMPORT_IN_THREAD = env.bool("IMPORT_IN_THREAD", default=CELERY_TASK_ALWAYS_EAGER)
# Eager mode runs tasks inside the request; a failing task must not break the request that
# merely scheduled it (its error is recorded by the task itself).
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Longer than the longest retry countdown, so a late-acked task is not redelivered early.
# Socket timeouts (issue 21): a publish to a hung Redis gives up after seconds (the event
# stays in the outbox) instead of holding the request; reads outlast kombu's 1 s BRPOP.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 4 * 3600,
    "socket_connect_timeout": REDIS_TIMEOUT,
    "socket_timeout": max(REDIS_TIMEOUT, 2.0),
}
CELERY_BROKER_CONNECTION_TIMEOUT = REDIS_TIMEOUT
# A publish (an event's dispatch after commit, in the request) is tried once, then left to
# the outbox's re-dispatch: measured against a hung Redis, kombu's default retries held a
# write 6 s (2 s with none). A connection that a restarted Redis dropped is found by the
# transport's health check (kombu's 25 s default) before it is used.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 0}
CELERY_TASK_IGNORE_RESULT = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
WORKER_HEARTBEAT_MAX_AGE = env.int("WORKER_HEARTBEAT_MAX_AGE", default=120)

# Reference data (users, roles and their permissions, workflow steps, custom fields) cached
# until it changes (crm.reference). A change moves the version in the cache, which every
# process must share: on by default with Redis only; a single process without Redis may turn
# it on (a process-local cache would let other processes keep a revoked permission).
REFERENCE_CACHE = env.bool("REFERENCE_CACHE", default=bool(REDIS_URL))
# Outbox: a failed event handler runs again after EVENT_RETRY_BACKOFF seconds, doubling (at
# most an hour), until it succeeds or has failed EVENT_HANDLER_MAX_ATTEMPTS times (dead).
EVENT_HANDLER_MAX_ATTEMPTS = env.int("EVENT_HANDLER_MAX_ATTEMPTS", default=8)
EVENT_RETRY_BACKOFF = env.int("EVENT_RETRY_BACKOFF", default=60)
# A pending event whose dispatch is older than this (seconds: a broker outage, a killed
# worker) is dispatched again by the re-dispatch beat task (every 60 s; admin, Periodic tasks).
EVENT_REDISPATCH_AFTER = env.int("EVENT_REDISPATCH_AFTER", default=60)
if EVENT_HANDLER_MAX_ATTEMPTS < 1 or EVENT_RETRY_BACKOFF < 1 or EVENT_REDISPATCH_AFTER < 1:
    raise ValueError(
        "EVENT_HANDLER_MAX_ATTEMPTS, EVENT_RETRY_BACKOFF and EVENT_REDISPATCH_AFTER must be at "
        "least 1."
    )

# --- Auth and permissions -------------------------------------------------------------------
AUTH_USER_MODEL = "crm.User"
AUTHENTICATION_BACKENDS = [
    # First: refuses sign-ins of locked-out clients before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    # Django's ModelBackend, the role permissions cached until a grant changes (crm.reference).
    "crm.backends.ModelBackendWithCachedPermissions",
    "guardian.backends.ObjectPermissionBackend",
]
GUARDIAN_RAISE_403 = False
ANONYMOUS_USER_NAME = None  # no guardian anonymous user: anonymous users see nothing
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in protection (django-axes, see crm/auth.py): the login page and the API token endpoint.
# Reverse proxies in front of the app that append the client address to X-Forwarded-For; 0
# (direct connections) reads REMOTE_ADDR only and ignores the header.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)  # one username, one address
LOGIN_ADDRESS_FAILURE_LIMIT = env.int("LOGIN_ADDRESS_FAILURE_LIMIT", default=10)  # any usernames
LOGIN_FAILURE_WINDOW = env.int("LOGIN_FAILURE_WINDOW", default=900)  # seconds: the cool-off
if min(LOGIN_FAILURE_LIMIT, LOGIN_ADDRESS_FAILURE_LIMIT, LOGIN_FAILURE_WINDOW) < 1:
    raise ValueError("LOGIN_FAILURE_LIMIT, _ADDRESS_FAILURE_LIMIT and _WINDOW must be at least 1.")
if TRUSTED_PROXY_COUNT < 0:
    raise ValueError("TRUSTED_PROXY_COUNT cannot be negative.")
AXES_HANDLER = "crm.auth.LoginAttemptHandler"
AXES_CLIENT_IP_CALLABLE = "crm.auth.client_ip"
AXES_LOCKOUT_CALLABLE = "crm.auth.lockout_response"
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
# The username with the address, and the address alone (LOGIN_ADDRESS_FAILURE_LIMIT): never
# the username alone, so nobody can lock someone else out from another address.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_COOLOFF_TIME = timedelta(seconds=LOGIN_FAILURE_WINDOW)
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False  # no banner at every start; failures and lockouts are still logged
# API tokens (crm/tokens.py): how many one user may hold at once.
API_TOKENS_PER_USER = env.int("API_TOKENS_PER_USER", default=20)

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "crm.tokens.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["crm.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "crm.rest.Pagination",
    "DEFAULT_FILTER_BACKENDS": [
        "crm.rest.FilterBackend",
        "crm.rest.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "crm.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "crm.rest.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
        "rest_framework.throttling.ScopedRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("THROTTLE_ANON", default="60/minute"),
        "user": env.str("THROTTLE_USER", default="6000/minute"),
        "login": env.str("THROTTLE_LOGIN", default="10/minute"),
        # Web-to-lead capture (leads.capture.abuse): per client address, and per form key.
        "capture": env.str("THROTTLE_CAPTURE", default="30/minute"),
        "capture_form": env.str("THROTTLE_CAPTURE_FORM", default="600/minute"),
    },
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # Throttles identify clients like sign-in protection does (crm.auth.client_ip).
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "PipeCRM API",
    "DESCRIPTION": "Lead management: leads, deals, people, organizations, activities, workflows.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SWAGGER_UI_DIST": "/static/vendor/swagger-ui",
    "SWAGGER_UI_FAVICON_HREF": "/static/favicon.svg",
    # One name for a choice set used by several fields (a lead's source, a capture form's).
    "ENUM_NAME_OVERRIDES": {
        "SourceEnum": "leads.models.Lead.Source",
        # Custom fields and AI conversations name the same four record types.
        "EntityTypeEnum": "customfields.models.EntityType",
        # The record an email is written from or merged on; beside it, custom fields' "type"
        # keeps its name.
        "EmailRecordTypeEnum": "emails.api.RECORD_TYPES",
        "TypeEnum": "customfields.models.FieldType",
    },
}

# --- I18N, static ---------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# In development whitenoise serves straight from the app and project static folders.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
# Uploaded files (email attachments): private, never served as static files.
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Security -------------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# With Redis, sessions are read from the cache and written through to the database: a request
# reads its session without a query (issue 21), and a session outlives the cache (a Redis
# without persistence, or one that is down: the cache then reads as empty, crm.cache).
if REDIS_URL:
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    # Preloading is hard to undo (browsers ship the list): only when asked for.
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
    if not SECURE_HSTS_PRELOAD:
        SILENCED_SYSTEM_CHECKS = ["security.W021"]  # "SECURE_HSTS_PRELOAD is not True"
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True


def _socket_origins(origins: list[str]) -> list[str]:
    """``https://crm.example.com`` → ``wss://crm.example.com`` (and http → ws)."""
    schemes = {"https": "wss", "http": "ws"}
    out = []
    for origin in origins:
        scheme, sep, rest = origin.partition("://")
        if sep and scheme in schemes and rest and "*" not in rest:
            out.append(f"{schemes[scheme]}://{rest.rstrip('/')}")
    return out


CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        # htmx injects its indicator styles and Chart.js sizes canvases with style attributes.
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        # 'self' covers the app's own ws:// and wss:// origin (CSP Level 3, every current
        # browser); the trusted origins are named too, for browsers that predate it.
        "connect-src": ["'self'", *_socket_origins(CSRF_TRUSTED_ORIGINS)],
        "font-src": ["'self'", "data:"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
    }
}

# Browser features the app does not use, off (crm.middleware.PermissionsPolicyMiddleware).
PERMISSIONS_POLICY: dict[str, list[str]] = {
    feature: []
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "encrypted-media",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "publickey-credentials-get",
        "screen-wake-lock",
        "serial",
        "usb",
        "xr-spatial-tracking",
    )
} | {"fullscreen": ["self"]}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # In embedded mode every task runs in-process; one INFO line per task is noise.
        "celery.app.trace": {"level": "WARNING" if CELERY_TASK_ALWAYS_EAGER else "INFO"},
        "kombu.connection": {"level": "ERROR"},
        # Sign-in failures and lockouts are warnings; every successful sign-in is not news.
        "axes": {"level": "WARNING"},
    },
}

# --- AI -------------------------------------------------------------------------------------
ANTHROPIC_API_KEY = env.str("ANTHROPIC_API_KEY", default="")
ANTHROPIC_MODEL = env.str("ANTHROPIC_MODEL", default="claude-sonnet-4-5")
# What the app shell's "AI online/offline" badge asks: a key is set and the breaker is closed.
AI_STATUS = "aiagent.llm.is_online"
AI_MAX_STEPS = env.int("AI_MAX_STEPS", default=8)  # model rounds per answer
AI_MAX_TOKENS = env.int("AI_MAX_TOKENS", default=2048)  # per model response
AI_MAX_RUN_TOKENS = env.int("AI_MAX_RUN_TOKENS", default=150_000)  # input + output per answer
AI_MAX_TOOL_CALLS_PER_STEP = env.int("AI_MAX_TOOL_CALLS_PER_STEP", default=8)
AI_TOOL_RESULT_MAX_CHARS = env.int("AI_TOOL_RESULT_MAX_CHARS", default=12_000)
AI_HISTORY_MESSAGES = env.int("AI_HISTORY_MESSAGES", default=40)
# The history sent to Claude is kept under this many (estimated) tokens: older turns are
# summarised into one compact message (aiagent/budget.py).
AI_HISTORY_TOKENS = env.int("AI_HISTORY_TOKENS", default=30_000)
# Streamed answer text reaches the chat in frames of at most this period or this many
# characters, whichever comes first (not one websocket frame per token).
AI_STREAM_FLUSH_SECONDS = env.float("AI_STREAM_FLUSH_SECONDS", default=0.1)
AI_STREAM_FLUSH_CHARS = env.int("AI_STREAM_FLUSH_CHARS", default=400)
if AI_HISTORY_TOKENS < 1000 or AI_STREAM_FLUSH_SECONDS < 0 or AI_STREAM_FLUSH_CHARS < 1:
    raise ValueError(
        "AI_HISTORY_TOKENS must be at least 1000, AI_STREAM_FLUSH_SECONDS ≥ 0 and "
        "AI_STREAM_FLUSH_CHARS ≥ 1."
    )
AI_REQUEST_TIMEOUT = env.float("AI_REQUEST_TIMEOUT", default=60.0)  # seconds per API call
AI_MAX_RETRIES = env.int("AI_MAX_RETRIES", default=1)  # the SDK's own retries per call
# Circuit breaker: this many failed calls within the window open it for AI_BREAKER_OPEN_SECONDS.
AI_BREAKER_FAILURES = env.int("AI_BREAKER_FAILURES", default=3)
AI_BREAKER_WINDOW = env.int("AI_BREAKER_WINDOW", default=120)
AI_BREAKER_OPEN_SECONDS = env.int("AI_BREAKER_OPEN_SECONDS", default=300)
AI_PROPOSAL_TTL = env.int("AI_PROPOSAL_TTL", default=86_400)  # seconds a proposal can be confirmed
# Web-to-lead capture (issue 15): the largest submission body (413 beyond), and the seconds a
# visitor needs at least between loading the hosted page and sending it (faster: a bot).
CAPTURE_MAX_BODY_BYTES = env.int("CAPTURE_MAX_BODY_BYTES", default=131072)
CAPTURE_MIN_FILL_SECONDS = env.float("CAPTURE_MIN_FILL_SECONDS", default=3.0)
if CAPTURE_MAX_BODY_BYTES < 1024 or CAPTURE_MIN_FILL_SECONDS < 0:
    raise ValueError("CAPTURE_MAX_BODY_BYTES must be at least 1024, CAPTURE_MIN_FILL_SECONDS ≥ 0.")

REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["ai"] = env.str("THROTTLE_AI", default="60/minute")

# Outbound webhooks may call loopback, link-local and private addresses only when this is on
# (the demo and the tests; see activities/webhooks.py).
WEBHOOK_ALLOW_PRIVATE = env.bool("WEBHOOK_ALLOW_PRIVATE", default=False)

# --- Product knobs --------------------------------------------------------------------------
# Lists (tables and API) count their rows exactly up to this many; above it they show the
# database's estimate ("about 24,000", crm.paging), so no page scans a large set to count it.
EXACT_COUNT_LIMIT = env.int("EXACT_COUNT_LIMIT", default=1000)
SITE_NAME = "PipeCRM"
CUSTOM_FIELDS_EDITABLE_BY_REPS = env.bool("CUSTOM_FIELDS_EDITABLE_BY_REPS", default=False)
DEFAULT_CURRENCY = env.str("DEFAULT_CURRENCY", default="EUR")
# Dashboard (issue 16): an open lead with no activity for this many days is "going stale" on
# My day; the live dashboard refreshes at most once per DASHBOARD_LIVE_SECONDS.
DASHBOARD_STALE_DAYS = env.int("DASHBOARD_STALE_DAYS", default=14)
DASHBOARD_LIVE_SECONDS = env.float("DASHBOARD_LIVE_SECONDS", default=3.0)
if DASHBOARD_STALE_DAYS < 1:
    raise ImproperlyConfigured("DASHBOARD_STALE_DAYS must be a whole number of days, at least 1.")
if not 0 <= DASHBOARD_LIVE_SECONDS <= 3600:
    raise ImproperlyConfigured("DASHBOARD_LIVE_SECONDS must be between 0 and 3600.")

# --- Privacy (issue 18: privacy app) -----------------------------------------------------------
# Managers may export and anonymize personal data too (Admins always may).
PRIVACY_MANAGERS_MANAGE_PERSONAL_DATA = env.bool(
    "PRIVACY_MANAGERS_MANAGE_PERSONAL_DATA", default=False
)
# Days the access log (who viewed, exported or anonymized whose data) is kept; a beat task
# prunes older entries.
PRIVACY_ACCESS_LOG_DAYS = env.int("PRIVACY_ACCESS_LOG_DAYS", default=365)
# Nurture sequences skip their contact steps (calls, emails, meetings) for a lead without
# marketing consent (its own, or its person's).
SEQUENCES_REQUIRE_MARKETING_CONSENT = env.bool("SEQUENCES_REQUIRE_MARKETING_CONSENT", default=False)
# Retention (0: off). Disqualified leads with no activity (nor change) for this many days, and
# people with no activity, change, open lead or open deal for this many days, are anonymized
# by a nightly task (``manage.py apply_retention --dry-run`` shows what it would do).
RETENTION_DISQUALIFIED_LEAD_DAYS = env.int("RETENTION_DISQUALIFIED_LEAD_DAYS", default=0)
RETENTION_INACTIVE_PERSON_DAYS = env.int("RETENTION_INACTIVE_PERSON_DAYS", default=0)
if PRIVACY_ACCESS_LOG_DAYS < 1:
    raise ImproperlyConfigured(
        "PRIVACY_ACCESS_LOG_DAYS must be a whole number of days, at least 1."
    )
if RETENTION_DISQUALIFIED_LEAD_DAYS < 0 or RETENTION_INACTIVE_PERSON_DAYS < 0:
    raise ImproperlyConfigured(
        "RETENTION_DISQUALIFIED_LEAD_DAYS and RETENTION_INACTIVE_PERSON_DAYS must be 0 (off) "
        "or a number of days."
    )

# --- Email (issue 20: emails app) --------------------------------------------------------------
# How mail leaves, first match wins: EMAIL_BACKEND named outright; a provider through anymail
# (EMAIL_PROVIDER, its credentials in the ANYMAIL JSON object); SMTP from EMAIL_URL
# (smtp://user:password@host:587/?tls=True) or EMAIL_HOST; else the embedded default, which
# stores every message instead of sending it (the Admins' "Sent mail" page shows them).
EMAIL_PROVIDER = env.str("EMAIL_PROVIDER", default="").strip().lower()
ANYMAIL = env.json("ANYMAIL", default={})
if not isinstance(ANYMAIL, dict):
    raise ImproperlyConfigured("ANYMAIL must be a JSON object of anymail settings.")
if env.str("ANYMAIL_WEBHOOK_SECRET", default=""):
    ANYMAIL["WEBHOOK_SECRET"] = env.str("ANYMAIL_WEBHOOK_SECRET")
EMAIL_STORED_BACKEND = "emails.backends.StoredEmailBackend"
if EMAIL_PROVIDER:
    import importlib.util

    if importlib.util.find_spec(f"anymail.backends.{EMAIL_PROVIDER}") is None:
        raise ImproperlyConfigured(f"EMAIL_PROVIDER {EMAIL_PROVIDER!r} is not an anymail ESP.")
    _email_backend = f"anymail.backends.{EMAIL_PROVIDER}.EmailBackend"
elif env.str("EMAIL_URL", default=""):
    _email_config = env.dj_email_url("EMAIL_URL")
    _email_backend = _email_config.pop("EMAIL_BACKEND")
    globals().update(_email_config)  # EMAIL_HOST, EMAIL_PORT, EMAIL_HOST_USER, EMAIL_USE_TLS…
elif env.str("EMAIL_HOST", default=""):
    EMAIL_HOST = env.str("EMAIL_HOST")
    EMAIL_PORT = env.int("EMAIL_PORT", default=587)
    EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
    EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
    EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=EMAIL_PORT == 587)
    EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=EMAIL_PORT == 465)
    _email_backend = "django.core.mail.backends.smtp.EmailBackend"
else:
    _email_backend = EMAIL_STORED_BACKEND
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default=_email_backend)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)  # seconds per SMTP operation
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="PipeCRM <crm@pipecrm.localhost>")
SERVER_EMAIL = env.str("SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)
# Mail to this address from an unknown sender becomes a lead (email-to-lead).
EMAIL_CAPTURE_ADDRESS = env.str("EMAIL_CAPTURE_ADDRESS", default="leads@pipecrm.localhost")
EMAIL_MAX_ATTACHMENT_BYTES = env.int("EMAIL_MAX_ATTACHMENT_BYTES", default=10 * 1024 * 1024)
# Opens and clicks from the provider's tracking events are recorded only when this is on.
EMAIL_TRACK_OPENS = env.bool("EMAIL_TRACK_OPENS", default=False)
# Where the embedded backend stores messages (default storage, below MEDIA_ROOT).
EMAIL_STORED_PATH = env.str("EMAIL_STORED_PATH", default="email/sent")
# Absolute address of the app, for links in mail (the unsubscribe link): no request there.
SITE_URL = env.str("SITE_URL", default="http://localhost:8000").rstrip("/")
if EMAIL_MAX_ATTACHMENT_BYTES < 1:
    raise ImproperlyConfigured("EMAIL_MAX_ATTACHMENT_BYTES must be at least 1.")

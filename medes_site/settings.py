"""Settings for the MedES workbench, read from the environment through ``medes_site.env``.

Defaults run the whole app on one machine with no servers (SQLite and a filesystem broker under
``var/``); production sets ``DEBUG=0``, ``SECRET_KEY``, ``DATABASE_URL`` and ``CELERY_BROKER_URL``.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import django_stubs_ext

from medes_site.env import Env

django_stubs_ext.monkeypatch()  # lets admin.ModelAdmin[Job] and friends be written at run time

env = Env()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = env.read_path("MEDES_VAR_DIR", BASE_DIR / "var")

DEBUG = env.read_bool("DEBUG", True)
SECRET_KEY = env.read_secret_key("SECRET_KEY", debug=DEBUG, dev_key_file=VAR_DIR / "secret_key")
ALLOWED_HOSTS = env.read_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.read_origins("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "medes_site.apps.WorkbenchAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "rest_framework",
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "axes",
    "csp",
    "medes_site.apps.MedesSiteConfig",
    "benchmark",
    "annotation",
    "alignment",
]

MIDDLEWARE = [
    "medes_site.middleware.ServerTimingMiddleware",  # first: it times everything below it
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",  # Content-Security-Policy on every response (CONTENT_SECURITY_POLICY below)
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Above the session and auth middleware: a database outage anywhere below answers 503, not 500.
    "medes_site.middleware.DatabaseUnavailableMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",  # history rows name who made the change
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a lockout raised by authentication into its response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "medes_site.urls"
WSGI_APPLICATION = "medes_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "medes_site.context_processors.navigation",
            ],
        },
    }
]

DATABASES = {"default": env.read_database("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory, for the test database too: the Celery worker a test starts must see it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test_db.sqlite3")}
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "medes_site.usercache.CachedModelBackend",  # Django's ModelBackend; reads the signed-in user from the cache
]

# A cache every web process shares (Redis): sessions and the signed-in user with their roles are read from it
# instead of three queries per request (medes_site/usercache.py). Unset, each process has its own memory cache
# and both are read from the database, as a cache that other processes cannot clear would keep a revoked role
# or a signed-out session alive in them.
MEDES_CACHE_URL = env.read_cache("MEDES_CACHE_URL")
if MEDES_CACHE_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": MEDES_CACHE_URL,
            "KEY_PREFIX": "medes",
        }
    }
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
MEDES_CACHE_USERS = bool(MEDES_CACHE_URL)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Login rate limit (django-axes): after this many failures for one username from one address the
# pair is locked out for the cool-off period; a success resets the count.
AXES_FAILURE_LIMIT = env.read_int("MEDES_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env.read_int("MEDES_LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "medes_site.views.locked_out"
AXES_VERBOSE = False
# Behind n proxies the client's address is the n-th X-Forwarded-For entry from the right (medes_site.audit).
MEDES_PROXY_COUNT = env.read_int("MEDES_PROXY_COUNT", 0, minimum=0)
AXES_CLIENT_IP_CALLABLE = "medes_site.audit.client_ip"

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.read_timezone("TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.read_path("STATIC_ROOT", BASE_DIR / "staticfiles")
MEDIA_URL = "media/"
MEDIA_ROOT = env.read_path("MEDIA_ROOT", VAR_DIR / "media")
ARTIFACTS_ROOT = env.read_path("ARTIFACTS_ROOT", VAR_DIR / "artifacts")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

MEDES_SOURCE_MAX_BYTES = env.read_int("MEDES_SOURCE_MAX_BYTES", 50 * 1024 * 1024, minimum=1024)
# Each source is parsed in a child process with these limits (CPU seconds, address space).
MEDES_PARSE_SECONDS = env.read_int("MEDES_PARSE_SECONDS", 120, minimum=1)
MEDES_PARSE_MEMORY_MB = env.read_int("MEDES_PARSE_MEMORY_MB", 1024, minimum=128)
MEDES_DEVICE = env.read_choice("MEDES_DEVICE", "auto", ("auto", "cpu", "cuda"))
# Start a guardian training by itself once this many accepted labels arrived since the last one (0: never).
MEDES_GUARDIAN_RETRAIN_EVERY = env.read_int("MEDES_GUARDIAN_RETRAIN_EVERY", 0, minimum=0)
# load_demo builds a tiny guardian and a tiny local policy (alignment/demo.py); 0 leaves them out
MEDES_DEMO_MODELS = env.read_bool("MEDES_DEMO_MODELS", True)

# The model backends (benchmark.model_backends) that draft scenarios and judge. Two, each offered only when
# configured: an OpenAI-compatible endpoint (vLLM, SGLang, `transformers serve`, a hosted API) and a local
# Hugging Face model directory (safetensors only, never downloaded). The API key is read here and never logged.
MEDES_GENERATOR_BASE_URL = env.read_url("MEDES_GENERATOR_BASE_URL")
MEDES_GENERATOR_MODEL = env.read_str("MEDES_GENERATOR_MODEL", "")
MEDES_GENERATOR_API_KEY = env.read_str("MEDES_GENERATOR_API_KEY", "")
MEDES_GENERATOR_TIMEOUT = env.read_int("MEDES_GENERATOR_TIMEOUT", 120, minimum=1)
MEDES_GENERATOR_RETRIES = env.read_int("MEDES_GENERATOR_RETRIES", 3, minimum=1)
MEDES_GENERATOR_LOCAL_DIR = env.read_str("MEDES_GENERATOR_LOCAL_DIR", "")
if MEDES_GENERATOR_LOCAL_DIR and not Path(MEDES_GENERATOR_LOCAL_DIR).is_absolute():
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"MEDES_GENERATOR_LOCAL_DIR={MEDES_GENERATOR_LOCAL_DIR!r} must be an absolute path.")
MEDES_GENERATOR_MAX_NEW_TOKENS = env.read_int("MEDES_GENERATOR_MAX_NEW_TOKENS", 2048, minimum=16)
MEDES_GENERATOR_TEMPERATURE = env.read_float("MEDES_GENERATOR_TEMPERATURE", 0.7, minimum=0.0, maximum=2.0)
# What registered models may point the workers at (issue 13, item 1; medes_site/outbound.py, model_dirs.py).
# An endpoint's key is read only from a variable named here (names or fnmatch patterns; the app's own secrets,
# SECRET_KEY, DATABASE_URL and the like, never). Endpoint hosts are checked after DNS at every request: when the
# list is set, only hosts on it (names, *.suffix, IPs, networks); private and loopback addresses only with the
# switch on, or in a listed network. Local model directories and accelerate config files must lie under a models
# root (ARTIFACTS_ROOT always is one: merged and demo models are written there). The operator's own generator
# above (MEDES_GENERATOR_BASE_URL) is trusted for its host.
MEDES_MODEL_KEY_VARIABLES = env.read_variable_names("MEDES_MODEL_KEY_VARIABLES", ["MEDES_MODEL_KEY_*"])
MEDES_ENDPOINT_HOSTS = env.read_hosts("MEDES_ENDPOINT_HOSTS", [])
MEDES_ENDPOINT_ALLOW_PRIVATE = env.read_bool("MEDES_ENDPOINT_ALLOW_PRIVATE", False)
MEDES_MODELS_ROOTS = env.read_paths("MEDES_MODELS_ROOTS", [VAR_DIR / "models"])
# Scenarios whose character-shingle Jaccard similarity reaches this are flagged as near-duplicates.
MEDES_NEAR_DUPLICATE_THRESHOLD = env.read_float("MEDES_NEAR_DUPLICATE_THRESHOLD", 0.8, minimum=0.1, maximum=1.0)

# Jobs (DESIGN.md §5): a running job writes a heartbeat this often; one silent for longer than the
# stale limit is marked lost by the sweeper, which runs every sweep interval.
MEDES_JOB_HEARTBEAT_SECONDS = env.read_int("MEDES_JOB_HEARTBEAT_SECONDS", 10, minimum=1)
MEDES_JOB_STALE_SECONDS = env.read_int("MEDES_JOB_STALE_SECONDS", 120, minimum=2)
if MEDES_JOB_STALE_SECONDS <= 2 * MEDES_JOB_HEARTBEAT_SECONDS:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "MEDES_JOB_STALE_SECONDS must be more than twice MEDES_JOB_HEARTBEAT_SECONDS, "
        "or healthy jobs would be marked lost."
    )
# A job that died only because the database went away is queued again, as a new attempt, once the database
# answers (medes_site/jobs.py: requeue_after_db_outage): at most this many times per job (0: never).
MEDES_JOB_DB_RETRIES = env.read_int("MEDES_JOB_DB_RETRIES", 3, minimum=0)
# The first wait before looking whether the database is back; doubled at each look, up to five minutes.
MEDES_JOB_DB_RETRY_SECONDS = env.read_int("MEDES_JOB_DB_RETRY_SECONDS", 5, minimum=0)

CELERY_BROKER_URL = env.read_broker("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        "polling_interval": 0.2,  # seconds between looks at the queue folder (default 1)
    }
CELERY_TASK_IGNORE_RESULT = True  # job state lives on the Job row, never on a result backend
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE = {
    "sweep-lost-jobs": {"task": "medes.jobs.sweep_lost", "schedule": 60.0, "options": {"queue": "default"}},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

REST_FRAMEWORK = {
    # The browser uses its session; scripts send "Authorization: Token <token>" (created on the API tokens page).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "knox.auth.TokenAuthentication",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
}

KNOX_TOKEN_MODEL = "knox.AuthToken"  # noqa: S105 (a model name, not a secret)
REST_KNOX = {
    "TOKEN_TTL": timedelta(days=env.read_int("MEDES_API_TOKEN_DAYS", 90, minimum=1)),
    "TOKEN_PREFIX": "medes_",
    "AUTO_REFRESH": False,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "MedES workbench API",
    "DESCRIPTION": "Read the corpus, the scenario bank, releases, labeling campaigns, jobs, the guardian, "
    "evaluations, leaderboards and alignment data; ML engineers start trainings, evaluations and align pipelines. "
    "Authenticate with a session or with `Authorization: Token <token>` (create tokens on the API tokens page).",
    "VERSION": "1",
    # choice sets several components share, named once (else drf-spectacular names them by a hash and warns)
    "ENUM_NAME_OVERRIDES": {
        "ProposalStatusEnum": "alignment.models.ProposalStatus",
        "JudgeKindEnum": "alignment.models.JudgeKind",
    },
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated", "medes_site.api.HasAnyRole"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Behind a TLS-terminating proxy (the production layout in the README).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.read_bool("MEDES_BEHIND_PROXY", False) else None
if not DEBUG:
    SECURE_SSL_REDIRECT = env.read_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.read_int("SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.read_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env.read_bool("SECURE_HSTS_PRELOAD", True)
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
# No inline script or style anywhere (htmx's own indicator style is switched off in base.html): scripts, styles,
# images and fonts from this origin only; no framing, no plugins, forms post back here only.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
# Server-Timing headers: "staff" (staff users and DEBUG servers only) or "always" (loopback benchmarks).
MEDES_SERVER_TIMING = env.read_choice("MEDES_SERVER_TIMING", "staff", ("staff", "always"))
SECURE_CONTENT_TYPE_NOSNIFF = True
DATA_UPLOAD_MAX_MEMORY_SIZE = env.read_int("MEDES_UPLOAD_MAX_MEMORY_BYTES", 10 * 1024 * 1024, minimum=1024)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {
        "handlers": ["console"],
        "level": env.read_choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR")),
    },
}

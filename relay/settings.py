"""Settings for Relay Novel, read from the environment.

Two profiles share this file: the embedded default (SQLite, in-memory channel
layer, generation in a thread) and the scaled profile (DATABASE_URL and
REDIS_URL set, several daphne processes and separate generation workers).
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def envbool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def envint(name: str, default: int) -> int:
    return _envnumber(name, default, int, "an integer")


def envfloat(name: str, default: float) -> float:
    return _envnumber(name, default, float, "a number")


def _envnumber(name: str, default, kind: type, what: str):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return kind(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be {what}, not {value!r}") from exc


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = envbool("DEBUG", True)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    # Only for local development: never used with DEBUG off (see above).
    SECRET_KEY = "dev-only-insecure-key-relay-novel-do-not-use-in-production"

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "daphne",
    "relay.admin_site.AdminConfig",  # Django's admin, its log-in limited as the site's (relay/admin_site.py)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "relay.live",
    "novels",
    "voting",
    "management",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "relay.middleware.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "relay.urls"
ASGI_APPLICATION = "relay.asgi.application"
WSGI_APPLICATION = None

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
                "management.context.training_notice",
            ],
        },
    },
]

VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))
# Lets several test runs share one machine without sharing a test database
# or channel-layer keys (e.g. TEST_DB_SUFFIX=_b).
TEST_DB_SUFFIX = os.environ.get("TEST_DB_SUFFIX", "")
DATABASE_URL = os.environ.get("DATABASE_URL", "")


def database_from_url(url: str, var_dir: Path) -> dict:
    """The default database: DATABASE_URL when given, else SQLite under var/."""
    if url:
        # Persistent connections, checked before reuse (at most once a second:
        # relay.postgresql). This is safe because requests run in the event loop's
        # fixed thread pool (relay.handler): with Django's own ASGI handler every
        # request had a thread of its own, kept connections were never reused and
        # piled up until PostgreSQL refused more.
        max_age = envint("DB_CONN_MAX_AGE", 60)
        config = dict(dj_database_url.parse(url, conn_max_age=max_age, conn_health_checks=True))
        if config["ENGINE"] == "django.db.backends.postgresql":
            config["ENGINE"] = "relay.postgresql"
        config["TEST"] = {"NAME": f"test_{config['NAME']}{TEST_DB_SUFFIX}"}
    else:
        config = {"ENGINE": "django.db.backends.sqlite3", "NAME": var_dir / "relay.sqlite3"}
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # A file, not memory, so that test servers in other processes share it.
        config["TEST"] = {"NAME": str(var_dir / f"test{TEST_DB_SUFFIX}.sqlite3")}
        # WAL lets readers go on while the generation thread writes; IMMEDIATE
        # makes writers queue instead of failing with "database is locked".
        config["OPTIONS"] = {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    return config


DATABASES = {"default": database_from_url(DATABASE_URL, VAR_DIR)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "")


def channel_layers_from_url(url: str) -> dict:
    """channels_redis when REDIS_URL is given, else the in-memory layer of one process."""
    if url:
        return {
            "default": {
                # Pub/sub: a group message is published once and each process fans
                # it out to its own sockets, instead of one Redis round trip per
                # socket (bench/load.py: tally p50 18 s -> 1 s at 10 votes/s with
                # 300 clients). Nothing is lost that a client needs: on reconnect
                # the snapshot brings it in step.
                "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                # redis-py 8 reads with a 5 s socket timeout by default; an idle
                # subscriber must not be dropped for that. Wait longer.
                "CONFIG": {
                    "hosts": [{"address": url, "socket_timeout": 30}],
                    "prefix": f"relay{TEST_DB_SUFFIX}",
                },
            }
        }
    return {"default": {"BACKEND": "relay.transport.layers.FanOutInMemoryChannelLayer"}}


CHANNEL_LAYERS = channel_layers_from_url(REDIS_URL)


def caches_from_url(url: str) -> dict:
    """Redis when REDIS_URL is given, so that throttles count across all web processes."""
    if url:
        return {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": url,
                "KEY_PREFIX": f"relay{TEST_DB_SUFFIX}",
                # Not a new connection per request (see relay.cache).
                "OPTIONS": {"pool_class": "relay.cache.SharedConnectionPool"},
            }
        }
    return {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


CACHES = caches_from_url(REDIS_URL)

# Generation runs in a thread of the web process in the embedded profile and
# in separate `manage.py relayworker` processes in the scaled one.
GENERATION_IN_PROCESS = envbool("GENERATION_IN_PROCESS", not REDIS_URL)

# Rules of the relay (defaults in docs/relay-loop.md).
RELAY_TURN_MIN_CHARS = envint("RELAY_TURN_MIN_CHARS", 10)
RELAY_TURN_MAX_CHARS = envint("RELAY_TURN_MAX_CHARS", 2000)
RELAY_TURN_RATE_SECONDS = envint("RELAY_TURN_RATE_SECONDS", 30)
RELAY_CANDIDATE_SECONDS = envint("RELAY_CANDIDATE_SECONDS", 60)
RELAY_JOB_STALE_SECONDS = envint("RELAY_JOB_STALE_SECONDS", 30)
RELAY_TALLY_INTERVAL_MS = envint("RELAY_TALLY_INTERVAL_MS", 100)
# Broadcast frames written straight to daphne's connections (relay.transport.wire); 0 sends each through ASGI.
RELAY_DIRECT_FRAMES = envbool("RELAY_DIRECT_FRAMES", True)
RELAY_WORKER_NICE = envint("RELAY_WORKER_NICE", 19)
# Sockets one browser (session) and one address may have open at once, across every web process; one over is
# closed with 4430 (relay.live.consumers). A classroom behind one address needs room for every pupil's tabs.
SOCKETS_PER_SESSION = envint("SOCKETS_PER_SESSION", 12)
SOCKETS_PER_ADDRESS = envint("SOCKETS_PER_ADDRESS", 120)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

LANGUAGE_CODE = "ko-kr"
LANGUAGES = [("ko", "한국어"), ("en", "English")]
TIME_ZONE = os.environ.get("TIME_ZONE", "Asia/Seoul")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# var/ holds the SQLite databases (the test one too) and collected static files;
# a fresh clone has none of it yet.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# A Korean TrueType font for the PDF of a finished novel (novels/book.py); Debian's fonts-nanum has it.
BOOK_FONT = os.environ.get("BOOK_FONT", "/usr/share/fonts/truetype/nanum/NanumMyeongjo.ttf")
# A finished novel's files (EPUB, PDF, text), built once per state of the book (novels/book/files.py).
BOOK_DIR = Path(os.environ.get("BOOK_DIR", VAR_DIR / "books"))

STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

MODEL_DIR = Path(os.environ.get("MODEL_DIR", VAR_DIR / "models"))
# makedata removes the files of older versions beyond this many, from the model store and from MODEL_DIR
# (the active one and the one before it always stay; 0 keeps all).
MODEL_KEEP = envint("MODEL_KEEP", 10)
# Where a trained version's files live for every host (management.model_store): "database" (chunks in the
# database, the scaled profile's default), "s3" (an S3-compatible bucket through django-storages) or "files"
# (MODEL_DIR alone, one host: the embedded default). With a store, MODEL_DIR is the host's cache of it.
MODEL_STORE = os.environ.get("MODEL_STORE", "database" if DATABASE_URL else "files")
MODEL_STORES = ("files", "database", "s3")
if MODEL_STORE not in MODEL_STORES:
    raise ImproperlyConfigured(f"MODEL_STORE must be one of {', '.join(MODEL_STORES)}, not {MODEL_STORE!r}")
# A version whose files weigh more than this is refused by makedata before anything is activated.
MODEL_STORE_MAX_BYTES = envint("MODEL_STORE_MAX_BYTES", 1024 * 1024 * 1024)


def model_storage(kind: str) -> dict:
    """STORAGES["models"]: the database store, or django-storages' S3 store configured from MODEL_STORE_*
    (the keys: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, read by boto3 from the environment)."""
    if kind == "s3":
        options = {
            "bucket_name": os.environ.get("MODEL_STORE_BUCKET", ""),
            "location": os.environ.get("MODEL_STORE_PREFIX", "relay-models"),
            "file_overwrite": True,  # names are content hashes: the same name is the same bytes
            "default_acl": None,
        }
        if not options["bucket_name"]:
            raise ImproperlyConfigured("MODEL_STORE=s3 needs MODEL_STORE_BUCKET")
        for option, name in (("endpoint_url", "MODEL_STORE_ENDPOINT_URL"), ("region_name", "MODEL_STORE_REGION")):
            if os.environ.get(name):
                options[option] = os.environ[name]
        return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}
    return {"BACKEND": "management.storage.DatabaseStorage"}


STORAGES["models"] = model_storage(MODEL_STORE)
# "auto" picks CUDA when torch sees a GPU.
ENGINE_DEVICE = os.environ.get("ENGINE_DEVICE", "auto")
# How much the story's own text counts when the AI writes (engine/memory.py):
# 0 turns the story's memory off, so the AI writes from what it read elsewhere alone.
ENGINE_STORY_MEMORY = envfloat("ENGINE_STORY_MEMORY", 0.5)
if not 0.0 <= ENGINE_STORY_MEMORY < 1.0:
    raise ImproperlyConfigured(f"ENGINE_STORY_MEMORY must be at least 0 and below 1, not {ENGINE_STORY_MEMORY}")
# How many of the story's last positions the AI recalls moments like the present one from
# (engine/recall.py: a neural cache, weighed by the gate of engine/mixer.py); 0 turns it off.
ENGINE_STORY_RECALL = envint("ENGINE_STORY_RECALL", 4096)
if not 0 <= ENGINE_STORY_RECALL <= 65536:
    raise ImproperlyConfigured(f"ENGINE_STORY_RECALL must be between 0 and 65536, not {ENGINE_STORY_RECALL}")
# How fast the model learns from the story before it writes (engine/adapt.py: a few
# gradient steps on the story, kept per novel); 0 turns it off.
ENGINE_STORY_ADAPT = envfloat("ENGINE_STORY_ADAPT", 0.1)
if not 0.0 <= ENGINE_STORY_ADAPT <= 1.0:
    raise ImproperlyConfigured(f"ENGINE_STORY_ADAPT must be between 0 and 1, not {ENGINE_STORY_ADAPT}")
# The AI samples this many passages side by side and keeps the one a reader would
# (engine/rerank.py: fluent, the story's names, no loops); it then appears at once.
# 1 streams the one passage character by character as it is sampled.
ENGINE_CANDIDATES = envint("ENGINE_CANDIDATES", 4)
if not 1 <= ENGINE_CANDIDATES <= 16:
    raise ImproperlyConfigured(f"ENGINE_CANDIDATES must be between 1 and 16, not {ENGINE_CANDIDATES}")
# The AI's guess is mixed with counts of its training text (engine/ngram.py: a
# Kneser-Ney n-gram that training writes beside the model); 0 uses the network alone.
ENGINE_NGRAM = envbool("ENGINE_NGRAM", True)
# The AI never writes 40 characters in a row that a training text holds (engine/copyguard.py); 0 allows it.
ENGINE_COPY_GUARD = envbool("ENGINE_COPY_GUARD", True)
# The AI never writes the name of another training novel's person into a story that does not have them
# (engine/cast.py); 0 allows it.
ENGINE_NAME_GUARD = envbool("ENGINE_NAME_GUARD", True)
# How much likelier the story's own people are where a word starts (engine/generate.py CAST_PULL); 0: not at all.
ENGINE_CAST_PULL = envfloat("ENGINE_CAST_PULL", 1.5)
# The first start's demo model trains this long at most (manage.py bootstrap_demo, make run).
DEMO_TRAIN_SECONDS = envint("DEMO_TRAIN_SECONDS", 150)
# makedata compares a new model with the active one only on at least this many
# held-out characters; with less it says so and keeps the active model.
MAKEDATA_MIN_HELDOUT_CHARS = envint("MAKEDATA_MIN_HELDOUT_CHARS", 2000)
# Readers judge a new model: after makedata trains a candidate that passes the
# held-out check, a blind round opens on a novel (two continuations, which is
# which unsaid). BLIND_ROUND_WAIT=1: the candidate is activated only if the
# readers prefer it, once BLIND_ROUND_QUORUM votes are in or the deadline passes.
BLIND_ROUNDS = envbool("BLIND_ROUNDS", True)
BLIND_ROUND_WAIT = envbool("BLIND_ROUND_WAIT", False)
BLIND_ROUND_QUORUM = envint("BLIND_ROUND_QUORUM", 5)
BLIND_ROUND_HOURS = envint("BLIND_ROUND_HOURS", 24)
# What a run started by staff from the site runs: `manage.py makedata` with these options.
SITE_RUN_OPTIONS = envlist("SITE_RUN_OPTIONS", "--time-budget,1200")
# How often each web process reads the newest training run while a site page is open (relay.live.training_watch).
TRAINING_WATCH_S = envint("TRAINING_WATCH_MS", 1000) / 1000
# manage.py makedata lowers its own CPU priority by this much (0: not at all) ...
MAKEDATA_NICE = envint("MAKEDATA_NICE", 10)
# ... and trains on at most this many CPU threads (0: half the cores, at least one).
MAKEDATA_THREADS = envint("MAKEDATA_THREADS", 0)

# Upload and text limits.
DATA_UPLOAD_MAX_MEMORY_SIZE = envint("DATA_UPLOAD_MAX_MEMORY_SIZE", 6 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = DATA_UPLOAD_MAX_MEMORY_SIZE
SOURCE_TEXT_MAX_BYTES = envint("SOURCE_TEXT_MAX_BYTES", 5 * 1024 * 1024)

REST_FRAMEWORK = {
    # Token first: a request without credentials is then answered 401 with
    # `WWW-Authenticate: Token` rather than a bare 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # JSON: its types are the schema's (a form has no null, no number, no true). Uploading a source text
    # takes a multipart form as well (novels.api_views.SourceListView).
    "DEFAULT_PARSER_CLASSES": ["relay.common.api.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "relay.common.api.Pagination",
    "PAGE_SIZE": 20,
    "DEFAULT_THROTTLE_CLASSES": ["relay.common.api.AnonThrottle", "relay.common.api.UserThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "anon": os.environ.get("THROTTLE_ANON", "120/min"),
        "user": os.environ.get("THROTTLE_USER", "600/min"),
        "auth": os.environ.get("THROTTLE_AUTH", "20/min"),
        "login": os.environ.get("THROTTLE_LOGIN", "10/min"),
        "login_account": os.environ.get("THROTTLE_LOGIN_ACCOUNT", "5/min"),
        "book": os.environ.get("THROTTLE_BOOK", "30/min"),
        "signup": os.environ.get("THROTTLE_SIGNUP", "10/hour"),
    },
    # REMOTE_ADDR is the client's own address: relay.asgi takes it from X-Forwarded-For
    # on connections from TRUSTED_PROXIES alone. DRF must not read that header itself.
    "NUM_PROXIES": 0,
    "EXCEPTION_HANDLER": "relay.common.api.exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Relay Novel API",
    "DESCRIPTION": '릴레이 소설: write a Korean novel together with a GRU. Errors: {"code", "detail"} (docs/api.md).',
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/",
    # Swagger UI from the installed package: the docs work offline and run no third party's code.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Separate request and response components, so read-only fields and
    # uploads are described as they are.
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "NovelStatusEnum": "novels.models.Novel.Status",
        "TurnStatusEnum": "novels.models.Turn.Status",
        "TurnKindEnum": "novels.models.Turn.Kind",
        "SourceTextStatusEnum": "novels.models.SourceText.Status",
        "RoundStatusEnum": "voting.models.Round.Status",
        "JobStatusEnum": "voting.models.GenerationJob.Status",
        "TrainingRunStatusEnum": "management.models.TrainingRun.Status",
        "TrainingRunPhaseEnum": "management.models.TrainingRun.Phase",
        "BlindSideEnum": "management.models.BlindVote.Choice",
        "BlindRoundStatusEnum": "management.models.BlindRound.Status",
        "BlindVerdictEnum": "management.models.BlindRound.Verdict",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "relay.common.api.add_common_error_responses",
        "relay.common.api.restate_min_lengths",
    ],
}

# Every page, the admin and the API docs run only the site's own scripts and styles
# (Swagger UI is served from drf-spectacular-sidecar, not a CDN); the browser tests
# check that none of them reports a violation.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# The proxies in front (nginx): addresses or networks, comma-separated, e.g. 127.0.0.1 or
# 10.0.0.0/24. From a connection of theirs, and only theirs, the client's address and
# scheme are read from X-Forwarded-For and X-Forwarded-Proto (relay.asgi).
TRUSTED_PROXIES = envlist("TRUSTED_PROXIES", "")
if os.environ.get("NUM_PROXIES"):
    raise ImproperlyConfigured(
        "NUM_PROXIES is gone: name the proxies whose X-Forwarded-For is trusted in TRUSTED_PROXIES instead."
    )

HTTPS = envbool("HTTPS", False)
if HTTPS:
    # The scheme comes from the proxy's X-Forwarded-Proto (TRUSTED_PROXIES), as the address does.
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)-7s %(name)s: %(message)s", "datefmt": "%H:%M:%S"},
    },
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["stderr"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["stderr"], "level": LOG_LEVEL, "propagate": False},
        "daphne": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
        # fpdf2's font subsetting says a line per table of every PDF it writes.
        "fontTools": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
    },
}

"""Django settings, read from the environment.

With no variables set, Troupe runs on a SQLite file and the in-memory channel layer.
Production sets ``DEBUG=0``, ``SECRET_KEY``, ``ALLOWED_HOSTS``, ``DATABASE_URL`` (PostgreSQL)
and ``REDIS_URL``; insecure defaults are refused when ``DEBUG`` is off.
"""

import re
from pathlib import Path

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_float, env_int, env_list, env_str

# Lets admin and other generic classes be subscripted for type checking at run time.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)

_DEV_SECRET_KEY = "django-insecure-troupe-development-only"  # noqa: S105 - refused when DEBUG is off
SECRET_KEY = env_str("SECRET_KEY") or (_DEV_SECRET_KEY if DEBUG else "")
if not DEBUG and (not SECRET_KEY or SECRET_KEY == _DEV_SECRET_KEY or len(SECRET_KEY) < 32):
    raise ImproperlyConfigured(
        "DEBUG is off: set SECRET_KEY to a random string of 32+ characters "
        "(or DEBUG=1 for local development)."
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DEBUG is off: set ALLOWED_HOSTS (comma-separated host names).")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "workspace",
    "realtime",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "workspace.auth.BearerTokenMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "workspace.pages.site.site_context",
            ],
        },
    },
]

# Databases: any URL dj-database-url understands; a SQLite file next to the code by default.
_DEFAULT_SQLITE = BASE_DIR / "db.sqlite3"
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL") or f"sqlite:///{_DEFAULT_SQLITE}",
        conn_max_age=env_int("TROUPE_DB_CONN_MAX_AGE_SECONDS", 60),
        # Health checks would add a SELECT 1 to every thread hop of Channels; a broken
        # connection is instead dropped after its first error (the persister retries).
        conn_health_checks=False,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and IMMEDIATE transactions let the persistence thread and request threads share
    # one file without "database is locked" errors; tests share the file with live servers.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["TEST"] = {
        "NAME": env_str("TROUPE_TEST_SQLITE", str(BASE_DIR / ".test-db.sqlite3"))
    }
else:
    DATABASES["default"]["TEST"] = {"NAME": env_str("TROUPE_TEST_DB_NAME", "test_troupe")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Channel layer and cache: Redis when REDIS_URL is set, in-process otherwise.
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    # Redis pub/sub: a message costs its sender one PUBLISH and its receivers none (they
    # read it from their subscription). The list-based core layer costs four round trips
    # to send, four to receive and echoes a group send to its sender: with a room on two
    # processes at 200 updates/s that took a core (paced p99 35-53 ms against 7-11 ms).
    # Pub/sub drops what is sent while a subscriber is disconnected; the bus detects the
    # gap and repairs it by a sync exchange.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            # socket_timeout None: the subscription stays open however long it is idle.
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": None}]},
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "build" / "static"
_FRONTEND_DIST = BASE_DIR / "frontend" / "dist"
STATICFILES_DIRS = [_FRONTEND_DIST] if _FRONTEND_DIST.is_dir() else []
WHITENOISE_USE_FINDERS = True
# Vite names every file it writes under troupe/ <name>-<8-character hash>.<ext>
# (frontend/vite.config.ts): a new build has new names, so such files are cached for
# good ("max-age=315360000, public, immutable"); anything else (the manifest) gets
# whitenoise's default (60 s, 0 with DEBUG). The build also writes .gz and .br copies,
# which whitenoise serves to clients that accept them.
WHITENOISE_IMMUTABLE_FILE_TEST = (
    rf"^{re.escape(STATIC_URL)}troupe/[^/]+-[A-Za-z0-9_-]{{8}}\.[A-Za-z0-9]+$"
)
MEDIA_ROOT = Path(env_str("TROUPE_MEDIA_ROOT", str(BASE_DIR / "media")))

# Security defaults of a production service; DEBUG relaxes only what breaks plain HTTP.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("TROUPE_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_SSL_REDIRECT = env_bool("TROUPE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
    if env_bool("TROUPE_BEHIND_TLS_PROXY", True):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOG_JSON = env_bool("TROUPE_LOG_JSON", False)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "config.logging.JsonFormatter"},
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json" if LOG_JSON else "plain"}
    },
    "root": {"handlers": ["console"], "level": env_str("TROUPE_LOG_LEVEL", "INFO")},
    "loggers": {"daphne": {"level": "WARNING"}, "django.channels.server": {"level": "WARNING"}},
}

# Troupe's own knobs (all TROUPE_*, documented in README.md).
TROUPE = {
    "MAX_MESSAGE_BYTES": env_int("TROUPE_MAX_MESSAGE_BYTES", 8 * 1024 * 1024),
    # Unsent bytes held for one socket before it is closed with 4408 (not reading). Twice
    # the largest message: a whole 8 MiB frame fits behind another still being sent, so a
    # reader that keeps reading never meets it (at 10 MB/s it drains in under 2 s), while
    # a stopped one costs at most this, not everything broadcast until the ping timeout.
    "MAX_SEND_BUFFER_BYTES": env_int("TROUPE_MAX_SEND_BUFFER_BYTES", 16 * 1024 * 1024),
    "MAX_UPLOAD_BYTES": env_int("TROUPE_MAX_UPLOAD_BYTES", 50 * 1024 * 1024),
    # The room page embeds the script's stored state (base64, a third larger) so the
    # editor starts before its socket syncs; a larger state is left to the socket. A
    # feature-length script's state is ~300 KB.
    "PAGE_STATE_MAX_BYTES": env_int("TROUPE_PAGE_STATE_MAX_BYTES", 512 * 1024),
    # Larger request bodies get 413 before daphne reads them (it would hold all of one in
    # memory): the largest upload plus 1 MiB for the multipart framing around it.
    "MAX_REQUEST_BODY_BYTES": env_int(
        "TROUPE_MAX_REQUEST_BODY_BYTES",
        env_int("TROUPE_MAX_UPLOAD_BYTES", 50 * 1024 * 1024) + 1024 * 1024,
    ),
    "PROPOSAL_MIN_WINDOW_DAYS": env_int("TROUPE_PROPOSAL_MIN_WINDOW_DAYS", 14),
    "IDLE_UNLOAD_SECONDS": env_float("TROUPE_IDLE_UNLOAD_SECONDS", 30.0),
    "COMPACT_EVERY_UPDATES": env_int("TROUPE_COMPACT_EVERY_UPDATES", 500),
    # ... or after this many bytes of log entries: compaction reads them all into memory.
    # Twice the largest message, so one large paste compacts soon after it.
    "COMPACT_EVERY_BYTES": env_int("TROUPE_COMPACT_EVERY_BYTES", 16 * 1024 * 1024),
    "RATE_BURST_MESSAGES": env_int("TROUPE_RATE_BURST_MESSAGES", 2000),
    "RATE_MESSAGES_PER_SECOND": env_float("TROUPE_RATE_MESSAGES_PER_SECOND", 500.0),
    "MAX_CONNECTIONS_PER_ROOM": env_int("TROUPE_MAX_CONNECTIONS_PER_ROOM", 1000),
    # Document connections authenticated, checked and loaded at once (realtime/admission.py)
    # and how many more may wait for a slot before new ones are told to retry (1013).
    "ADMISSION_CONCURRENCY": env_int("TROUPE_ADMISSION_CONCURRENCY", 32),
    "ADMISSION_QUEUE": env_int("TROUPE_ADMISSION_QUEUE", 5000),
    # Threads (each with a database connection) for connection set-up: token, access and
    # cold room loads (realtime/db_threads.py). 0 runs them on Channels' one database
    # thread: the default on SQLite, which has a single writer.
    "CONNECT_DB_THREADS": env_int(
        "TROUPE_CONNECT_DB_THREADS",
        0 if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3" else 4,
    ),
    # Project-room and notification sockets (JSON). Real use is presence moves, debounced
    # and sent only when the place changes (frontend/src/location.ts), plus a ping every
    # few seconds: a few messages a second at most. A burst of 60 covers a flurry of clicks
    # and a reconnect; 20/s sustained is ~10x a busy user, while each message may cost a
    # database round trip (presence.invisible, session.*): an unlimited socket took
    # 23,000 messages, 11.9 s of CPU and ~2,900 commits from one outsider.
    "PROJECT_RATE_BURST_MESSAGES": env_int("TROUPE_PROJECT_RATE_BURST_MESSAGES", 60),
    "PROJECT_RATE_MESSAGES_PER_SECOND": env_float("TROUPE_PROJECT_RATE_MESSAGES_PER_SECOND", 20.0),
    # One client's awareness state: a cursor, a selection and the user is < 1 KiB; 64 KiB
    # leaves room for rich selections while a 7 MiB state (stored, and sent to every
    # joiner) is refused with 4413.
    "MAX_AWARENESS_BYTES": env_int("TROUPE_MAX_AWARENESS_BYTES", 64 * 1024),
    # A document's encoded state: a feature-length script is ~300 KB of text, so 16 MiB is
    # ~50 of them; every loaded room holds its document in memory and joiners download it.
    "MAX_DOCUMENT_BYTES": env_int("TROUPE_MAX_DOCUMENT_BYTES", 16 * 1024 * 1024),
    # Update bytes a document accepts per rolling minute (each is also a log row, kept as
    # history): 50 MB inserted and deleted in 1.3 s grew the database by 51 MB. A pasted
    # screenplay is < 1 MB, so 32 MiB/min never stops real editing.
    "DOCUMENT_GROWTH_BYTES_PER_MINUTE": env_int(
        "TROUPE_DOCUMENT_GROWTH_BYTES_PER_MINUTE", 32 * 1024 * 1024
    ),
    "AWARENESS_TIMEOUT_SECONDS": env_float("TROUPE_AWARENESS_TIMEOUT_SECONDS", 30.0),
    # A process stores an update another process relayed unless the origin confirms its
    # own commit within this time (it died, or its database stalled). Commits start every
    # 50 ms and their lag p99 is ~250 ms under a saturated burst: 3 s means duplicates
    # only when something is wrong, and a holder's copy stored 3 s after a crash.
    "RELAY_STORE_AFTER_SECONDS": env_float("TROUPE_RELAY_STORE_AFTER_SECONDS", 3.0),
    # At SIGTERM, how long to try committing before writing what is left to the journal.
    # daphne's own shutdown waits 10 s for the whole application.
    "SHUTDOWN_COMMIT_SECONDS": env_float("TROUPE_SHUTDOWN_COMMIT_SECONDS", 5.0),
    "FORGERY_CLOSE_AFTER": env_int("TROUPE_FORGERY_CLOSE_AFTER", 3),
    "ANTI_ENTROPY_SECONDS": env_float("TROUPE_ANTI_ENTROPY_SECONDS", 2.0),
    # Benchmarks only: 0 keeps updates in memory and never writes the log (data loss!).
    "PERSISTENCE": env_bool("TROUPE_PERSISTENCE", True),
    # Group commits start at most this often: fewer, larger transactions keep the
    # database thread's share of the GIL (and so broadcast latency) small.
    "PERSIST_INTERVAL_SECONDS": env_float("TROUPE_PERSIST_INTERVAL_SECONDS", 0.05),
    # Failure tests only: drop every Nth cross-process update to prove repair works.
    "TEST_DROP_EVERY_NTH_UPDATE": env_int("TROUPE_TEST_DROP_EVERY_NTH_UPDATE", 0),
    "LOGIN_MAX_FAILURES": env_int("TROUPE_LOGIN_MAX_FAILURES", 5),
    "LOGIN_LOCKOUT_SECONDS": env_int("TROUPE_LOGIN_LOCKOUT_SECONDS", 300),
    "LOGIN_MAX_FAILURES_PER_IP": env_int("TROUPE_LOGIN_MAX_FAILURES_PER_IP", 20),
}

# Where updates the database did not take by shutdown go; the next start on this host
# replays them. Local, persistent disk of this host (one directory per host, any number
# of processes: each file is claimed by rename before it is replayed).
TROUPE_JOURNAL_DIR = Path(env_str("TROUPE_JOURNAL_DIR", str(BASE_DIR / "var" / "journal")))

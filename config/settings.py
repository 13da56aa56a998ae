"""One settings module for every environment, driven by environment variables.

Every variable is documented in `.env.example`. Production mode is `DEBUG` off: there the
start-up refuses weak or missing secrets instead of running with a development default.
"""

import ipaddress
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)


def refuse(variable: str, reason: str):
    """Stop start-up with a message that names the variable to fix."""
    raise ImproperlyConfigured(f"{variable}: {reason}")


DEBUG = env.bool("DEBUG", default=False)

# Development defaults, refused in production. They only serve `make run` and the tests.
DEV_SECRET_KEY = "dev-insecure-secret-key-only-for-local-development-0123456789"  # noqa: S105
DEV_CARD_DATA_KEY = "ZGV2LW9ubHktY2FyZC1kYXRhLWtleS0wMTIzNDU2Nzg="  # noqa: S105 - dev only
DEV_CARD_HASH_KEY = "dev-only-card-lookup-hash-key"  # noqa: S105 - dev only

SECRET_KEY = env.str("SECRET_KEY", default="")
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])
if not SECRET_KEY:
    if not DEBUG:
        refuse("SECRET_KEY", "must be set when DEBUG is off")
    SECRET_KEY = DEV_SECRET_KEY
elif not DEBUG and (
    len(SECRET_KEY) < 50
    or len(set(SECRET_KEY)) < 5
    or SECRET_KEY.startswith("django-insecure")
    or SECRET_KEY == DEV_SECRET_KEY
):
    refuse("SECRET_KEY", "is too weak: use at least 50 random characters")

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else []
)
if not DEBUG and not ALLOWED_HOSTS:
    refuse("ALLOWED_HOSTS", "must list the host names this site is served under")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# A stale form gets the site's own page (saying nothing was charged on a payment form).
CSRF_FAILURE_VIEW = "config.views.csrf_failure"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Before staticfiles: runserver serves static files as gunicorn does, through WhiteNoise.
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "axes",
    "ecard_integration",
    "ordering",
    "kiosk",
    "config.apps.ConfigConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files from the app itself (gunicorn alone serves a complete site), before anything
    # that would spend a session or a query on them; SecurityMiddleware's headers still apply.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "config.security.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The guest's language: the browser's (Accept-Language) online, the visit's switch on the kiosk
    # (config.locale). After sessions (the kiosk's is in the visit), before CommonMiddleware.
    "config.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it inspects the outcome of authentication.
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
                "config.security.csp_nonce",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
USING_POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")
if USING_POSTGRES:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", 60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("DATABASE_CONN_HEALTH_CHECKS", True)
    # Measured in docs/performance.md ("Measure, then decide"): off unless the figures say so.
    if env.bool("DATABASE_SERVER_SIDE_BINDING", False):
        DATABASES["default"].setdefault("OPTIONS", {})["server_side_binding"] = True
    if env.bool("DATABASE_POOL", False):
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": env.int("DATABASE_POOL_MIN_SIZE", 2),
            "max_size": env.int("DATABASE_POOL_MAX_SIZE", 20),
        }
        DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps the connections
else:
    # SQLite: wait for the writer instead of failing at once when web and worker overlap. A
    # transaction takes the write lock when it begins (IMMEDIATE): one that read first and then
    # wrote would otherwise fail at once with "database is locked" (SQLite cannot wait to upgrade
    # a read lock another writer holds); now it waits its turn like a single statement does.
    DATABASES["default"].setdefault("OPTIONS", {}).update(timeout=20, transaction_mode="IMMEDIATE")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and Celery broker ------------------------------------------------------------------
# With REDIS_URL both use Redis. Without it, embedded defaults that need no server and still work
# across processes: the database cache table and kombu's filesystem transport under var/.
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            # Django's RedisCache on one redis-py client per process, not one per call (and the
            # throttle's pipelines): config/cache.py.
            "BACKEND": "config.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", "giftcards"),
        }
    }
    CELERY_BROKER_URL = REDIS_URL
    # kombu's Redis transport with a fix that keeps the worker alive when Redis is killed.
    CELERY_BROKER_TRANSPORT = "config.broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "django_cache",
        }
    }
    CELERY_BROKER_URL = "filesystem://localhost//"
    # eCard's clock offset (ecard_integration/clock.py): shared by web and worker through files,
    # so reading it on the reconciliation path is no database query (the query budgets hold).
    CACHES["ecard_clock"] = {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": env.str(
            "ECARD_CLOCK_CACHE_DIR", default=str(VAR_DIR / "cache" / "ecard-clock")
        ),
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", "giftcards"),
    }
    CELERY_QUEUE_DIR = Path(env.str("CELERY_QUEUE_DIR", default=str(VAR_DIR / "celery")))
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_QUEUE_DIR / "queue"),
        "data_folder_out": str(CELERY_QUEUE_DIR / "queue"),
        "control_folder": str(CELERY_QUEUE_DIR / "control"),
        "store_processed": False,
    }

# Reconciliation replays within eCard's 2-hour window; no countdown is ever longer than this,
# and a Redis message unacknowledged for longer is redelivered.
CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] = 3 * 60 * 60
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", "celery")
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 100
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A guest's request never waits long on a broker outage: the sweep finds the row anyway.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
CELERY_TIMEZONE = "UTC"
# Keep our logging configuration (and its redacting filter) in workers too.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# What a worker prints (the console receipt e-mail in development) is output, not a warning.
CELERY_WORKER_REDIRECT_STDOUTS_LEVEL = "INFO"
# Celery's Django fixup closes the database connection before and after every task unless this is
# set: a new PostgreSQL connection (a backend process) per reconcile. Tasks reuse connections
# instead, recycled like web requests' by CONN_MAX_AGE and health checks (ecard_integration/tasks.py).
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", 1000)
CELERY_BEAT_SCHEDULE = {
    "reconcile-due-transactions": {
        "task": "ecard_integration.sweep_due_transactions",
        "schedule": timedelta(seconds=env.int("RECONCILE_SWEEP_SECONDS", 15)),
    },
    # Checkouts left unfinished: give up their tenders (voided) or complete them if paid.
    "expire-abandoned-orders": {
        "task": "ordering.expire_abandoned_orders",
        "schedule": timedelta(seconds=env.int("ORDER_EXPIRY_SWEEP_SECONDS", 60)),
    },
    # Evidence exports: re-queue those whose worker died, remove files past their retention.
    "sweep-evidence-exports": {
        "task": "ecard_integration.sweep_evidence_exports",
        "schedule": timedelta(seconds=env.int("EVIDENCE_EXPORT_SWEEP_SECONDS", 60)),
    },
    "clear-expired-sessions": {
        "task": "ordering.clear_expired_sessions",
        "schedule": timedelta(days=1),
    },
    # The order sweep looks back two days for voided payments; this looks at all, once a day.
    "refresh-voided-orders": {
        "task": "ordering.refresh_voided_orders",
        "schedule": timedelta(days=1),
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# A backlog of due transactions is drained in batches claimed together (ecard_integration/
# reconciliation.py): rows per batch, the time a batch may go on starting replays, and how many
# batch chains one sweep starts (about the worker processes there are to run them).
RECONCILE_BATCH_SIZE = env.int("RECONCILE_BATCH_SIZE", 50)
RECONCILE_BATCH_SECONDS = env.float("RECONCILE_BATCH_SECONDS", 30.0)
RECONCILE_CHAINS = env.int("RECONCILE_CHAINS", 4)
for _name in ("RECONCILE_BATCH_SIZE", "RECONCILE_CHAINS"):
    if not 1 <= globals()[_name] <= 500:
        refuse(_name, f"must be between 1 and 500, not {globals()[_name]}")
if not 0 < RECONCILE_BATCH_SECONDS <= 300:
    refuse(
        "RECONCILE_BATCH_SECONDS", f"must be above 0 and at most 300, not {RECONCILE_BATCH_SECONDS}"
    )

# Evidence exports (ecard_integration/exports.py): ZIPs written by the worker and downloaded
# through the web, so both must see this folder (one volume when they run on different hosts).
EVIDENCE_EXPORT_DIR = Path(env.str("EVIDENCE_EXPORT_DIR", default=str(VAR_DIR / "exports")))
EVIDENCE_EXPORT_RETENTION_DAYS = env.int("EVIDENCE_EXPORT_RETENTION_DAYS", 7)
# A running job whose heartbeat is older than this was left by a dead worker: re-queued.
EVIDENCE_EXPORT_STALE_SECONDS = env.int("EVIDENCE_EXPORT_STALE_SECONDS", 120)
EVIDENCE_EXPORT_MAX_DAYS = env.int("EVIDENCE_EXPORT_MAX_DAYS", 366)

# --- eCard ------------------------------------------------------------------------------------
ECARD_BASE_URL = env.str("ECARD_BASE_URL", default="https://127.0.0.1:8443/api/transaction/v1")
ECARD_TOKEN_URL = env.str(
    "ECARD_TOKEN_URL", default="https://127.0.0.1:8443/api/reporting/v1/auth/token"
)
for _name, _url in (("ECARD_BASE_URL", ECARD_BASE_URL), ("ECARD_TOKEN_URL", ECARD_TOKEN_URL)):
    if not _url.startswith("https://"):
        refuse(_name, "must be an https:// URL; eCard refuses plain HTTP")
ECARD_CLIENT_ID = env.str("ECARD_CLIENT_ID", default="demo-client" if DEBUG else "")
ECARD_CLIENT_SECRET = env.str("ECARD_CLIENT_SECRET", default="demo-secret" if DEBUG else "")
for _name in ("ECARD_CLIENT_ID", "ECARD_CLIENT_SECRET"):
    if not globals()[_name]:
        refuse(_name, "eCard client credentials are required when DEBUG is off")
# Blank: the system CA store. The local sandbox writes its own CA here on first start.
ECARD_CA_BUNDLE = env.str(
    "ECARD_CA_BUNDLE", default=str(VAR_DIR / "sandbox" / "ca.pem") if DEBUG else ""
)
ECARD_CONNECT_TIMEOUT = env.float("ECARD_CONNECT_TIMEOUT", 3.05)
ECARD_READ_TIMEOUT = env.float("ECARD_READ_TIMEOUT", 10.0)
ECARD_CURRENCY = env.str("ECARD_CURRENCY", "USD")
ECARD_POOL_SIZE = env.int("ECARD_POOL_SIZE", 32)
# eCard forgets a request id 2 h after storing its outcome; we stop replaying well before that,
# counting from our first send (which precedes eCard's store) on the database clock.
ECARD_REPLAY_WINDOW_SECONDS = env.int("ECARD_REPLAY_WINDOW_SECONDS", 2 * 60 * 60)
ECARD_REPLAY_SAFETY_MARGIN_SECONDS = env.int("ECARD_REPLAY_SAFETY_MARGIN_SECONDS", 10 * 60)
# eCard's clock, measured on every answer (ecard_integration/clock.py). A measurement older than
# this counts as none; without one, a row nearer its deadline than the "near" window is not
# replayed but settled by a blind void; /healthz is degraded when eCard's clock is further off.
ECARD_CLOCK_CACHE = "default" if REDIS_URL else "ecard_clock"  # see CACHES
ECARD_CLOCK_SAMPLE_MAX_AGE_SECONDS = env.int("ECARD_CLOCK_SAMPLE_MAX_AGE_SECONDS", 30 * 60)
ECARD_REPLAY_NEAR_DEADLINE_SECONDS = env.int("ECARD_REPLAY_NEAR_DEADLINE_SECONDS", 10 * 60)
ECARD_CLOCK_SKEW_DEGRADED_SECONDS = env.int("ECARD_CLOCK_SKEW_DEGRADED_SECONDS", 60)
if not 0 < ECARD_REPLAY_SAFETY_MARGIN_SECONDS < ECARD_REPLAY_WINDOW_SECONDS:
    refuse("ECARD_REPLAY_SAFETY_MARGIN_SECONDS", "must be above 0 and below the replay window")
_replay_seconds = ECARD_REPLAY_WINDOW_SECONDS - ECARD_REPLAY_SAFETY_MARGIN_SECONDS
if not 0 <= ECARD_REPLAY_NEAR_DEADLINE_SECONDS < _replay_seconds:
    refuse(
        "ECARD_REPLAY_NEAR_DEADLINE_SECONDS",
        f"must be at least 0 and below the replay window less the margin ({_replay_seconds} s)",
    )
for _name in ("ECARD_CLOCK_SAMPLE_MAX_AGE_SECONDS", "ECARD_CLOCK_SKEW_DEGRADED_SECONDS"):
    if globals()[_name] <= 0:
        refuse(_name, f"must be above 0, not {globals()[_name]}")
# How long a guest-facing call may take in all, retries included, before it is left to reconciliation.
ECARD_GUEST_BUDGET_SECONDS = env.float("ECARD_GUEST_BUDGET_SECONDS", 8.0)
ECARD_STAFF_BUDGET_SECONDS = env.float("ECARD_STAFF_BUDGET_SECONDS", 20.0)
# Test cards for `manage.py ecard_certify` against eCard's sandbox (options override them).
ECARD_CERTIFICATION_CARD = env.str("ECARD_CERTIFICATION_CARD", default="")
ECARD_CERTIFICATION_PIN = env.str("ECARD_CERTIFICATION_PIN", default="")
ECARD_CERTIFICATION_VOID_CARD = env.str("ECARD_CERTIFICATION_VOID_CARD", default="")
# The fingerprint of the build eCard certified (ecard_integration/fingerprint.py); /healthz and the
# admin say "not the certified build" when the running one differs.
ECARD_CERTIFIED_FINGERPRINT = env.str("ECARD_CERTIFIED_FINGERPRINT", default="")
# The local sandbox's control API, for certification's local test cards and for tests. Empty on
# real eCard (`python -m ecard_sandbox seed` reads ECARD_SANDBOX_CONTROL_KEY itself).
# In DEBUG, unset, it is the key `make run` wrote for its sandbox (on loopback only), so that
# commands from a second shell reach it.
LOCAL_SANDBOX_CONTROL_KEY_FILE = VAR_DIR / "sandbox" / "control-key"


def local_sandbox_control_key(path: Path, base_url: str) -> str:
    if urlsplit(base_url).hostname not in ("127.0.0.1", "localhost", "::1"):
        return ""
    try:
        return path.read_text().strip()
    except OSError:
        return ""


ECARD_SANDBOX_CONTROL_KEY = env.str(
    "ECARD_SANDBOX_CONTROL_KEY",
    default=local_sandbox_control_key(LOCAL_SANDBOX_CONTROL_KEY_FILE, ECARD_BASE_URL)
    if DEBUG
    else "",
)

# --- Guest ordering and PIN throttling ------------------------------------------------------------
# A checkout not completed within this time is abandoned: its approved tenders are voided.
ORDER_CHECKOUT_TIMEOUT_SECONDS = env.int("ORDER_CHECKOUT_TIMEOUT_SECONDS", 900)
ORDERING_ONLINE_STORE_ID = env.str("ORDERING_ONLINE_STORE_ID", "online-store")
# Absolute base for links in receipt emails, e.g. https://order.example.com (none when empty).
SITE_URL = env.str("SITE_URL", default="")
# Failed PINs that block, and the sliding window (s), per card / online session / online guest's
# IP / kiosk device (kiosks are never counted by address: a store's kiosks share one).
# The card limit stays below eCard's own lock at 3 consecutive wrong PINs.
PIN_THROTTLE_CARD_LIMIT = env.int("PIN_THROTTLE_CARD_LIMIT", 2)
PIN_THROTTLE_CARD_SECONDS = env.int("PIN_THROTTLE_CARD_SECONDS", 24 * 60 * 60)
PIN_THROTTLE_SESSION_LIMIT = env.int("PIN_THROTTLE_SESSION_LIMIT", 5)
PIN_THROTTLE_SESSION_SECONDS = env.int("PIN_THROTTLE_SESSION_SECONDS", 10 * 60)
PIN_THROTTLE_IP_LIMIT = env.int("PIN_THROTTLE_IP_LIMIT", 5)
PIN_THROTTLE_IP_SECONDS = env.int("PIN_THROTTLE_IP_SECONDS", 10 * 60)
PIN_THROTTLE_DEVICE_LIMIT = env.int("PIN_THROTTLE_DEVICE_LIMIT", 5)
PIN_THROTTLE_DEVICE_SECONDS = env.int("PIN_THROTTLE_DEVICE_SECONDS", 10 * 60)
if PIN_THROTTLE_DEVICE_LIMIT < 1 or PIN_THROTTLE_DEVICE_SECONDS < 1:
    refuse("PIN_THROTTLE_DEVICE_LIMIT", "the kiosk device limit and window must be at least 1")
if PIN_THROTTLE_CARD_LIMIT >= 3:
    refuse("PIN_THROTTLE_CARD_LIMIT", "must be below eCard's lock at 3 wrong PINs")

# --- Kiosks -----------------------------------------------------------------------------------
# Seconds without a touch before the "still here?" countdown, and the countdown's length.
KIOSK_IDLE_SECONDS = env.int("KIOSK_IDLE_SECONDS", 60)
KIOSK_IDLE_COUNTDOWN_SECONDS = env.int("KIOSK_IDLE_COUNTDOWN_SECONDS", 15)
# Slack before the server itself ends a visit whose browser went silent.
KIOSK_IDLE_GRACE_SECONDS = env.int("KIOSK_IDLE_GRACE_SECONDS", 30)
KIOSK_ENROLLMENT_CODE_SECONDS = env.int("KIOSK_ENROLLMENT_CODE_SECONDS", 900)
KIOSK_ENROLL_ATTEMPT_LIMIT = env.int("KIOSK_ENROLL_ATTEMPT_LIMIT", 10)
KIOSK_CREDENTIAL_MAX_AGE_DAYS = env.int("KIOSK_CREDENTIAL_MAX_AGE_DAYS", 365)

# --- Card data at rest --------------------------------------------------------------------------
# Fernet keys, newest first: the first encrypts, every one decrypts (rotation, see docs/security.md).
CARD_DATA_KEYS = env.list("CARD_DATA_KEYS", default=[DEV_CARD_DATA_KEY] if DEBUG else [])
if not CARD_DATA_KEYS:
    refuse("CARD_DATA_KEYS", "a card-data encryption key is required when DEBUG is off")
if not DEBUG and DEV_CARD_DATA_KEY in CARD_DATA_KEYS:
    refuse("CARD_DATA_KEYS", "the development key must not be used when DEBUG is off")
# HMAC key for card-number lookups; kept apart from the encryption keys so they can rotate alone.
CARD_HASH_KEY = env.str("CARD_HASH_KEY", default=DEV_CARD_HASH_KEY if DEBUG else "")
if not CARD_HASH_KEY or (not DEBUG and CARD_HASH_KEY == DEV_CARD_HASH_KEY):
    refuse("CARD_HASH_KEY", "a card lookup key of at least 32 characters is required")
if not DEBUG and len(CARD_HASH_KEY) < 32:
    refuse("CARD_HASH_KEY", "must be at least 32 characters")

# --- Auth, admin brute-force protection ---------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", 30))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# The address behind the trusted proxies (as for guest PIN limits): with REMOTE_ADDR, the proxy's
# address for everyone, anyone knowing a staff username could keep that account locked out.
AXES_CLIENT_IP_CALLABLE = "config.security.client_ip"
AXES_RESET_ON_SUCCESS = True

# --- Internationalisation -------------------------------------------------------------------------
LANGUAGE_CODE = "en"
# Guest pages in English and Spanish (locale/es/LC_MESSAGES/django.po, compiled django.mo
# committed); the staff admin stays English. Money is shown "$10.00" in both (docs/architecture.md).
LANGUAGES = [("en", "English"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", "America/New_York")
USE_I18N = True
USE_TZ = True

# --- Static files: served by the app itself through WhiteNoise -----------------------------------
# `manage.py collectstatic` (run where the app is installed: make setup, the bench, deploy/) copies
# them to STATIC_ROOT with a content hash in every name (site.3f2a….css) and gzip and Brotli copies
# beside them. WhiteNoise serves the hashed names with a one-year immutable cache lifetime (a new
# file is a new name) and picks the compressed copy the browser accepts. In DEBUG the templates name
# the plain files and WhiteNoise finds them through the finders, so no collectstatic is needed.
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Files without a hash in their name (none that a page names; /static/favicon.svg asked for by
# its plain name) are cached this long (s), not a year: they may change under the same name.
WHITENOISE_MAX_AGE = env.int("WHITENOISE_MAX_AGE", 0 if DEBUG else 3600)
# Uploaded images (item photos, store logos), re-encoded on upload and served by ordering.media.
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))

# Receipts: EMAIL_URL names the mail server (smtp+tls://user:password@host:587, smtps://…);
# without it they are written to the worker's output.
if env.str("EMAIL_URL", default=""):
    globals().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = env.str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", 10)  # the worker's wait for a silent mail server
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", "receipts@example.com")

# --- Security headers ---------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# The database (default) or signed cookies; measured in docs/performance.md.
SESSION_ENGINE = env.str("SESSION_ENGINE", "django.contrib.sessions.backends.db")
SESSION_COOKIE_SAMESITE = "Lax"
DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
# Reverse proxies in front of Django that append the client's address to X-Forwarded-For: the
# per-address PIN throttle counts the address they saw (config.security.client_ip), not theirs.
# Production runs behind the TLS proxy (one); 0 uses REMOTE_ADDR and ignores the header.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0 if DEBUG else 1)
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# --- Health -----------------------------------------------------------------------------------
# /healthz's components (database vendor, broker, worker count, lag) only to these addresses
# (CIDRs; the client address as config.security.client_ip finds it behind TRUSTED_PROXY_COUNT
# proxies), loopback always; everyone else gets the bare status with the same HTTP code.
HEALTHZ_DETAIL_ALLOW = env.list("HEALTHZ_DETAIL_ALLOW", default=[])
for _cidr in HEALTHZ_DETAIL_ALLOW:
    try:
        ipaddress.ip_network(_cidr, strict=False)
    except ValueError:
        refuse("HEALTHZ_DETAIL_ALLOW", f"{_cidr!r} is not an address or a CIDR (10.0.0.0/8)")
# /healthz turns 503 when the oldest transaction due for reconciliation is older than this.
HEALTH_RECONCILIATION_LAG_SECONDS = env.int("HEALTH_RECONCILIATION_LAG_SECONDS", 300)
# /healthz's database write (a heartbeat row) fails after this long instead of hanging, whether
# the database is slow, locked or frozen (it never answers).
HEALTH_DATABASE_TIMEOUT_SECONDS = env.float("HEALTH_DATABASE_TIMEOUT_SECONDS", 2.0)
if not 0 < HEALTH_DATABASE_TIMEOUT_SECONDS <= 10:
    refuse(
        "HEALTH_DATABASE_TIMEOUT_SECONDS",
        f"must be above 0 and at most 10, not {HEALTH_DATABASE_TIMEOUT_SECONDS}",
    )

# --- Logging: one configuration, every handler masks card data and secrets ---------------------
LOG_LEVEL = env.str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "config.logging.RedactingFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "urllib3": {"handlers": ["console"], "level": "WARNING", "propagate": False},
    },
}

"""Lockpost settings. Everything an operator changes comes from the environment;
the README lists each variable."""

import json
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("LOCKPOST_VAR_DIR", BASE_DIR / "var"))


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name, default=""):
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("LOCKPOST_DEBUG", False)
SECRET_KEY = os.environ.get("LOCKPOST_SECRET_KEY") or os.environ.get("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG and not env_bool("LOCKPOST_INSECURE_DEV_SECRET", False):
        raise ImproperlyConfigured("Set LOCKPOST_SECRET_KEY (make run sets one for you).")
    SECRET_KEY = "insecure-development-only-secret"  # noqa: S105 - refused unless asked for

# Secrets at rest (private keys, stored bodies) are encrypted under this key.
LOCKPOST_MASTER_KEY = os.environ.get("LOCKPOST_MASTER_KEY", "")
if not LOCKPOST_MASTER_KEY and env_bool("LOCKPOST_INSECURE_DEV_SECRET", False):
    LOCKPOST_MASTER_KEY = "insecure-development-only-master-key"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "csp",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "frontend",
    "gateway",
    "ca",
    "dlp",
    "portal",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language comes from the browser (Accept-Language): en, nl or de.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # Ends sessions whose per-user token was rotated ("log out everywhere").
    "portal.middleware.SessionTokenMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, so it sees the lockout flag set during authentication.
    "axes.middleware.AxesMiddleware",
]

# django-axes checks lockouts before the password is even tried.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Lock out a username from one address after this many failures, for this
# many hours; other addresses (the real user elsewhere) are not locked out.
AXES_FAILURE_LIMIT = int(os.environ.get("LOCKPOST_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = float(os.environ.get("LOCKPOST_LOGIN_COOLOFF_HOURS", "0.5"))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_LOCKOUT_TEMPLATE = "portal/locked_out.html"
LOGIN_URL = "portal:login"
LOGIN_REDIRECT_URL = "portal:home"

ROOT_URLCONF = "lockpost.urls"

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
            ],
        },
    },
]

WSGI_APPLICATION = "lockpost.wsgi.application"
ASGI_APPLICATION = "lockpost.asgi.application"

# SQLite by default so `make run` needs nothing; PostgreSQL in CI and production.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'lockpost.sqlite3'}",
        conn_max_age=int(os.environ.get("LOCKPOST_DB_CONN_MAX_AGE", "0")),
        # A connection kept open across a database restart is checked before
        # use, so the first message after the restart is not refused (the
        # LMTP store checks at most once a second: see gateway.lmtp_store).
        conn_health_checks=True,
    )
}
# The gateway process (LMTP listener, embedded worker) keeps its threads'
# connections this long, whatever the web app does.
LOCKPOST_GATEWAY_DB_CONN_MAX_AGE = int(os.environ.get("LOCKPOST_GATEWAY_DB_CONN_MAX_AGE", "300"))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the LMTP listener, the worker and the web
    # app share one file without "database is locked" errors.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;",
    }
    # A file, not memory, so that test subprocesses (a gateway, a worker)
    # see the same test database; one per test run, so runs do not collide.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Parameters go to the server beside the query (bytes in binary, not as
    # hex text inside it), and a query a connection has run this many times
    # is prepared: PostgreSQL then plans it once, not on every run. Measured
    # on the worker: a quarter less database CPU a message. "off" for a
    # pooler that cannot keep prepared statements (PgBouncer in transaction
    # mode before 1.21).
    _prepare_after = os.environ.get("LOCKPOST_DB_PREPARE_THRESHOLD", "5")
    DATABASES["default"]["OPTIONS"] = {
        "server_side_binding": True,
        "prepare_threshold": None if _prepare_after == "off" else int(_prepare_after),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# A cache shared by every process (Redis) in production: trust changes, rate
# limits. Unset: each process has its own, which suits one machine.
if os.environ.get("LOCKPOST_CACHE_URL"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["LOCKPOST_CACHE_URL"],
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("nl", "Nederlands"), ("de", "Deutsch")]
# Our catalogues first: an app earlier in INSTALLED_APPS (the admin, sessions)
# would otherwise win for a shared msgid ("Log out", "Home", "History").
LOCALE_PATHS = [BASE_DIR / app / "locale" for app in ("frontend", "portal", "dlp")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"

SESSION_COOKIE_HTTPONLY = True
# Sessions end after 8 hours, and when the browser closes.
SESSION_COOKIE_AGE = int(os.environ.get("LOCKPOST_SESSION_SECONDS", str(8 * 3600)))
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_SECURE = env_bool("LOCKPOST_SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Strict Content-Security-Policy on every page: nothing from other sites,
# no inline script.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Lockpost API",
    "DESCRIPTION": "Configure domains, users and settings; inspect and requeue messages.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Messages, recipients and deliveries each have a "state" with its own choices.
    "ENUM_NAME_OVERRIDES": {
        "MessageStateEnum": "gateway.models.Message.State",
        "RecipientStateEnum": "gateway.models.Recipient.State",
        "DeliveryStateEnum": "gateway.models.Delivery.State",
    },
}

# --- the gateway ---------------------------------------------------------

# host:port the LMTP listener binds to.
LOCKPOST_LMTP = os.environ.get("LOCKPOST_LMTP", "127.0.0.1:10024")
# Optional plain SMTP listener for MTAs that cannot speak LMTP.
LOCKPOST_SMTP_LISTEN = os.environ.get("LOCKPOST_SMTP_LISTEN", "")
LOCKPOST_MAX_MESSAGE_SIZE = int(os.environ.get("LOCKPOST_MAX_MESSAGE_SIZE", str(64 * 1024 * 1024)))
# host:port of the SMTP next hop. Unset: results go to LOCKPOST_OUTBOX_DIR as .eml files.
LOCKPOST_NEXT_HOP = os.environ.get("LOCKPOST_NEXT_HOP", "")
LOCKPOST_NEXT_HOP_USER = os.environ.get("LOCKPOST_NEXT_HOP_USER", "")
LOCKPOST_NEXT_HOP_PASSWORD = os.environ.get("LOCKPOST_NEXT_HOP_PASSWORD", "")
LOCKPOST_NEXT_HOP_STARTTLS = os.environ.get("LOCKPOST_NEXT_HOP_STARTTLS", "opportunistic")
LOCKPOST_OUTBOX_DIR = Path(os.environ.get("LOCKPOST_OUTBOX_DIR", VAR_DIR / "outbox"))
# How long delivery keeps retrying on temporary failures before bouncing.
LOCKPOST_MAX_QUEUE_AGE = int(os.environ.get("LOCKPOST_MAX_QUEUE_AGE", str(5 * 24 * 3600)))
LOCKPOST_RETRY_FIRST = int(os.environ.get("LOCKPOST_RETRY_FIRST", "60"))
LOCKPOST_RETRY_MAX = int(os.environ.get("LOCKPOST_RETRY_MAX", "3600"))
# A delivery is leased while it is sent; a sender that dies frees it when this runs out.
LOCKPOST_DELIVERY_LEASE = float(os.environ.get("LOCKPOST_DELIVERY_LEASE", "600"))
# Seconds to wait for the next hop before a delivery attempt counts as a temporary failure.
LOCKPOST_NEXT_HOP_TIMEOUT = float(os.environ.get("LOCKPOST_NEXT_HOP_TIMEOUT", "120"))
# The name this gateway uses in Received headers, DSNs and its SMTP greeting.
LOCKPOST_HOSTNAME = os.environ.get("LOCKPOST_HOSTNAME", "lockpost.localdomain")
LOCKPOST_POSTMASTER = os.environ.get("LOCKPOST_POSTMASTER", f"postmaster@{LOCKPOST_HOSTNAME}")

# Public base URL of the web app: links in mail, CRL and CA certificate URLs.
LOCKPOST_PORTAL_URL = os.environ.get("LOCKPOST_PORTAL_URL", "http://127.0.0.1:8000")

# Portal accounts of external recipients: how long an activation link lives.
LOCKPOST_ACTIVATION_MAX_AGE = int(os.environ.get("LOCKPOST_ACTIVATION_MAX_AGE", str(7 * 24 * 3600)))
# Certificate pickups: how long the link and the stored PKCS#12 files live.
LOCKPOST_PICKUP_MAX_AGE = int(os.environ.get("LOCKPOST_PICKUP_MAX_AGE", str(14 * 24 * 3600)))
# Second-factor codes by SMS: lifetime in seconds; wrong codes (SMS or TOTP)
# allowed per user within the window before code entry is refused.
LOCKPOST_SMS_CODE_MAX_AGE = int(os.environ.get("LOCKPOST_SMS_CODE_MAX_AGE", "600"))
LOCKPOST_CODE_ATTEMPTS = int(os.environ.get("LOCKPOST_CODE_ATTEMPTS", "5"))
LOCKPOST_CODE_WINDOW = int(os.environ.get("LOCKPOST_CODE_WINDOW", "900"))
# Mail written in the portal (PDF replies, secure inbox): messages per
# external author per hour, and the attachments' total size.
LOCKPOST_REPLY_RATE = int(os.environ.get("LOCKPOST_REPLY_RATE", "20"))
LOCKPOST_REPLY_MAX_BYTES = int(os.environ.get("LOCKPOST_REPLY_MAX_BYTES", str(10 * 1024 * 1024)))

# Live pages (Channels): Redis when several processes serve the portal,
# in-memory otherwise (one process, as `make run`).
LOCKPOST_CHANNELS_REDIS_URL = os.environ.get("LOCKPOST_CHANNELS_REDIS_URL") or os.environ.get("LOCKPOST_REDIS_URL", "")
if LOCKPOST_CHANNELS_REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [LOCKPOST_CHANNELS_REDIS_URL], "prefix": "lockpost"},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# SMS for PDF passwords (portal.sms). The file backend writes each SMS as a
# JSON file into LOCKPOST_SMS_FILE_PATH: what `make run` and tests use.
# Production: portal.sms.backends.twilio.SmsBackend with the Twilio settings.
LOCKPOST_SMS_BACKEND = os.environ.get("LOCKPOST_SMS_BACKEND", "portal.sms.backends.filebased.SmsBackend")
LOCKPOST_SMS_FILE_PATH = Path(os.environ.get("LOCKPOST_SMS_FILE_PATH", VAR_DIR / "sms"))
LOCKPOST_SMS_DEFAULT_REGION = os.environ.get("LOCKPOST_SMS_DEFAULT_REGION", "") or None
LOCKPOST_SMS_RATE_LIMIT = int(os.environ.get("LOCKPOST_SMS_RATE_LIMIT", "10"))
LOCKPOST_SMS_RATE_WINDOW = int(os.environ.get("LOCKPOST_SMS_RATE_WINDOW", "3600"))
LOCKPOST_SMS_FROM = os.environ.get("LOCKPOST_SMS_FROM", "")
LOCKPOST_TWILIO_ACCOUNT_SID = os.environ.get("LOCKPOST_TWILIO_ACCOUNT_SID", "")
LOCKPOST_TWILIO_AUTH_TOKEN = os.environ.get("LOCKPOST_TWILIO_AUTH_TOKEN", "")
LOCKPOST_TWILIO_MESSAGING_SERVICE_SID = os.environ.get("LOCKPOST_TWILIO_MESSAGING_SERVICE_SID", "")
# Only tests change this (a fake of Twilio's API on loopback).
LOCKPOST_TWILIO_API_ROOT = os.environ.get("LOCKPOST_TWILIO_API_ROOT", "")

# The handlers every message passes through, in order. One job each.
LOCKPOST_PIPELINE = [
    "gateway.handlers.classify.classify_recipients",
    "gateway.handlers.resolve_settings.resolve_settings",
    "gateway.handlers.smime_incoming.smime_incoming",
    # After smime_incoming, so outgoing mail it decrypted (decrypt_outgoing) is scanned in clear.
    "gateway.handlers.dlp_scan.dlp_scan",
    "gateway.handlers.smime_decide.decide_smime",
    # Before PDF: recipients whose mail is kept in the portal's secure inbox.
    "gateway.handlers.portal_inbox.decide_portal",
    "gateway.handlers.pdf_decide.decide_pdf",
    "gateway.handlers.dlp_enforce.dlp_enforce",
    "gateway.handlers.group.group_recipients",
    "gateway.handlers.smime_outgoing.smime_outgoing",
    "gateway.handlers.pdf_encrypt.encrypt_pdf_groups",
    "gateway.handlers.portal_inbox.deliver_to_portal",
    "gateway.handlers.trace_header.add_trace_header",
]
if os.environ.get("LOCKPOST_PIPELINE", "").strip():
    # A JSON list or a comma list of dotted paths; tests insert probes this way.
    _pipeline = os.environ["LOCKPOST_PIPELINE"].strip()
    LOCKPOST_PIPELINE = json.loads(_pipeline) if _pipeline.startswith("[") else env_list("LOCKPOST_PIPELINE")

# Listener profiles: more LMTP listeners whose mail runs a pipeline of its own
# (the scanner flows: "decrypt-only" decrypts, and does nothing else, so a
# virus scanner behind it can read the mail). "name=host:port,...".
LOCKPOST_LMTP_PROFILES = dict(item.split("=", 1) for item in env_list("LOCKPOST_LMTP_PROFILES") if "=" in item)
LOCKPOST_PROFILE_PIPELINES = {
    "decrypt-only": [
        "gateway.handlers.classify.classify_recipients",
        "gateway.handlers.resolve_settings.resolve_settings",
        "gateway.handlers.smime_incoming.smime_incoming",
        "gateway.handlers.group.group_recipients",
        "gateway.handlers.smime_outgoing.smime_outgoing",
        "gateway.handlers.trace_header.add_trace_header",
    ],
    # Notices Lockpost writes itself (gateway.spool.store_notice): delivered
    # as they are, never encrypted or scanned as a user's mail would be.
    "system": [
        "gateway.handlers.classify.classify_recipients",
        "gateway.handlers.resolve_settings.resolve_settings",
        "gateway.handlers.group.group_recipients",
        "gateway.handlers.trace_header.add_trace_header",
    ],
    # Behind a scanner that read what decrypt-only opened: the rest of the
    # main pipeline (incoming S/MIME was opened, forged headers removed).
    "after-scan": [path for path in LOCKPOST_PIPELINE if not path.endswith(".smime_incoming")],
}
# Where a profile's output goes instead of LOCKPOST_NEXT_HOP (e.g. decrypt-only
# to the scanner's Postfix listener): "name=host:port,...".
LOCKPOST_PROFILE_NEXT_HOPS = dict(item.split("=", 1) for item in env_list("LOCKPOST_PROFILE_NEXT_HOPS") if "=" in item)

# Processing: a worker holds a lease on a message while it works on it and
# renews it as it goes; a lease left by a dead worker expires and the sweeper
# rings again. A failing message is retried with backoff, then held.
LOCKPOST_PROCESS_LEASE = float(os.environ.get("LOCKPOST_PROCESS_LEASE", "60"))
LOCKPOST_PROCESS_ATTEMPTS = int(os.environ.get("LOCKPOST_PROCESS_ATTEMPTS", "5"))
# A ring older than this with the message still waiting counts as lost.
LOCKPOST_RING_GRACE = float(os.environ.get("LOCKPOST_RING_GRACE", "120"))
LOCKPOST_SWEEP_INTERVAL = float(os.environ.get("LOCKPOST_SWEEP_INTERVAL", "30"))
# Two: one can wait on the database or the next hop while the other works.
# More split the waiting jobs into smaller batches and cost CPU under load
# (sign+encrypt, 10 KB: 2 threads 113-137 msg/s, 4 threads 102-108).
LOCKPOST_WORKER_THREADS = int(os.environ.get("LOCKPOST_WORKER_THREADS", "2"))
# Jobs already waiting that a worker thread takes at once: their SQL is
# written together (one claim, one transaction for the results).
LOCKPOST_WORKER_BATCH = int(os.environ.get("LOCKPOST_WORKER_BATCH", "16"))
# Gateway processes on the same listen addresses (SO_REUSEPORT): one per core.
LOCKPOST_GATEWAY_PROCESSES = int(os.environ.get("LOCKPOST_GATEWAY_PROCESSES", "1"))

# A PKCS#11 token for private keys that must never leave hardware (optional).
LOCKPOST_PKCS11_LIBRARY = os.environ.get("LOCKPOST_PKCS11_LIBRARY", "")
LOCKPOST_PKCS11_TOKEN = os.environ.get("LOCKPOST_PKCS11_TOKEN", "")
LOCKPOST_PKCS11_PIN = os.environ.get("LOCKPOST_PKCS11_PIN", "")

# How long a process may use what it read about trust (anchors, CRLs, trust
# list) before reading again; changes are seen at once where the cache is shared.
LOCKPOST_TRUST_CACHE_SECONDS = float(os.environ.get("LOCKPOST_TRUST_CACHE_SECONDS", "60"))

# A certificate that names a CRL we do not hold current: "accept" it (with a
# warning in the trail) or "reject" it.
LOCKPOST_REVOCATION_UNKNOWN = os.environ.get("LOCKPOST_REVOCATION_UNKNOWN", "accept")

# How often CRLs are downloaded again from the distribution points.
LOCKPOST_CRL_REFRESH_HOURS = float(os.environ.get("LOCKPOST_CRL_REFRESH_HOURS", "12"))

# Celery: unset broker means the embedded worker inside `manage.py gateway`.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
# Separate Lockpost installations (or test runs) sharing one broker by queue name.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("LOCKPOST_CELERY_QUEUE", "celery")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_BEAT_SCHEDULE = {
    "sweep-spool": {"task": "gateway.tasks.sweep", "schedule": LOCKPOST_SWEEP_INTERVAL},
    "refresh-crls": {"task": "ca.tasks.refresh_crls", "schedule": LOCKPOST_CRL_REFRESH_HOURS * 3600.0},
    "refresh-ocsp": {"task": "ca.tasks.refresh_ocsp", "schedule": 3600.0},
    "expire-quarantine": {"task": "dlp.tasks.expire_quarantine", "schedule": 3600.0},
    "purge-pickups": {"task": "portal.tasks.purge_pickups", "schedule": 3600.0},
    "purge-inbox": {"task": "portal.tasks.purge_inbox", "schedule": 3600.0},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # Tokens in the paths of links from mail never reach a log line (portal.logfilter).
    "filters": {"redact_tokens": {"()": "portal.logfilter.RedactTokens"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact_tokens"]}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOCKPOST_LOG_LEVEL", "INFO")},
    # Libraries that narrate every step at INFO: their warnings still show.
    "loggers": {
        name: {"level": "WARNING"}
        for name in ("axes", "pikepdf", "weasyprint", "fontTools", "mail.log", "celery.redirected")
    },
}

"""Settings for the PrivateLink portal.

Every value comes from the environment (or a `.env` file). The defaults are the embedded
development set-up: SQLite, a file-based Celery broker, the simulator on 127.0.0.1:8765.
Production sets DEBUG=false and must then provide SECRET_KEY, ALLOWED_HOSTS and DATABASE_URL.
"""

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=True)
# With DEBUG, missing pages still get the portal's 404 page unless this asks for Django's.
DEBUG_404_PAGE = env.bool("DEBUG_404_PAGE", default=False)
if DEBUG:
    SECRET_KEY = env("SECRET_KEY", default="insecure-development-key-never-used-in-production")
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
else:
    SECRET_KEY = env("SECRET_KEY")
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "django_filters",
    "axes",
    "django_ratelimit",
    "django_scim",
    # django-ninja: the HTTP API; as an app, its docs page is served from static files.
    "ninja",
    "portal.accounts",
    "portal.audit",
    "portal.teams",
    "portal.cloud",
    "portal.endpoint_services",
    "portal.service_requests",
    "portal.approvals",
    "portal.requests",
    "portal.history",
    "portal.catalog",
    "portal.provisioning",
    "portal.insights",
    "portal.api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "portal.lib.middleware.RefuseNulMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "portal.accounts.directory.ScimBearerMiddleware",
    "portal.audit.middleware.GrantsActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "portal.lib.middleware.SignedOutHtmxMiddleware",
    "portal.lib.middleware.RenderedForMiddleware",
    "portal.history.middleware.AuditorsReadOnlyMiddleware",
    "portal.api.middleware.ApiAuditMiddleware",
    "portal.requests.middleware.ConflictMiddleware",
    "portal.lib.middleware.NotFoundPageMiddleware",
    # Last, as django-axes asks: it answers a locked-out login.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

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
                "portal.requests.context_processors.navigation",
            ],
        },
    }
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'portal.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share the file: wait for locks instead of failing at once, and
    # let readers (the polled status) go on while a worker writes (WAL).
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://portal")}
# Actions that call the cloud (validate, submit, refresh a zone list or a service) per user and
# minute; each web process counts its own unless CACHE_URL names a shared cache (Redis).
CLOUD_ACTIONS_PER_MINUTE = env.int("CLOUD_ACTIONS_PER_MINUTE", default=20)
# django-ratelimit counts in the cache: Django's own Redis cache is atomic (it does not list
# it); the embedded default's per-process memory is enough on one laptop, and nowhere else.
# The HTTP API: calls per token and minute (429 with Retry-After beyond), how often a token's
# reads are written to the audit log (every write is), and a new token's default lifetime.
API_CALLS_PER_MINUTE = env.int("API_CALLS_PER_MINUTE", default=120)
API_READ_AUDIT_EVERY = env.int("API_READ_AUDIT_EVERY", default=3600)
API_TOKEN_DAYS = env.int("API_TOKEN_DAYS", default=90)
# No token works longer than this after it was made, whatever it was made with; tokens that
# never expire only where the operator allows them (then the longest is theirs to choose).
API_TOKEN_MAX_DAYS = env.int("API_TOKEN_MAX_DAYS", default=365)
API_TOKEN_NEVER_EXPIRE = env.bool("API_TOKEN_NEVER_EXPIRE", default=False)
SILENCED_SYSTEM_CHECKS = ["django_ratelimit.W001"] + (["django_ratelimit.E003"] if DEBUG else [])
# How long the insights' figures are kept in the cache before they are computed again (0: never).
INSIGHTS_CACHE_SECONDS = env.int("INSIGHTS_CACHE_SECONDS", default=300)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Sign-in: everyone through the identity provider (single sign-on, below); a local password
# only for the BREAK_GLASS_USERS, and only while LOCAL_LOGIN_ENABLED.
# Login throttling (django-axes), on the portal's login page and the admin's: after
# LOGIN_FAILURE_LIMIT wrong passwords for one username from one address, that pair is locked
# out for LOGIN_COOLOFF_MINUTES (each lockout is an audit event). Behind a proxy, set
# AXES_IPWARE_PROXY_COUNT to the number of proxies so the client address is the real one.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "portal.accounts.backends.SingleSignOnBackend",
    "portal.accounts.backends.BreakGlassBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_IPWARE_PROXY_COUNT = env.int("AXES_IPWARE_PROXY_COUNT", default=None)
AXES_VERBOSE = False
AXES_USERNAME_CALLABLE = "portal.lib.logins.attempted_username"

# Content-Security-Policy (django-csp): everything from the portal itself, nothing inline
# (htmx from static, its indicator styles off; see base.html), no framing.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

# Single sign-on: OpenID Connect's authorization code flow with PKCE (mozilla-django-oidc)
# against OIDC_ISSUER, whose endpoints come from its discovery document unless set one by
# one. The embedded default is the demo provider that `make run` starts (idp/).
# Production must name its provider (`manage.py check --deploy` says so).
# Where `make run` (the Procfile) serves the portal, the simulator and the demo provider:
# `make run PORT=8100` moves all three (8100, 8865, 8866); the defaults below follow.
PORTAL_PORT = env.int("PORTAL_PORT", default=8000)
SIMULATOR_PORT = env.int("SIMULATOR_PORT", default=8765)
IDP_PORT = env.int("IDP_PORT", default=8766)
OIDC_ISSUER = env("OIDC_ISSUER", default=f"http://127.0.0.1:{IDP_PORT}" if DEBUG else "")
OIDC_RP_CLIENT_ID = env("OIDC_CLIENT_ID", default="portal" if DEBUG else "")
OIDC_RP_CLIENT_SECRET = env(
    "OIDC_CLIENT_SECRET", default="insecure-demo-idp-secret" if DEBUG else ""
)
OIDC_PROVIDER_NAME = env(
    "OIDC_PROVIDER_NAME", default="the demo identity provider" if DEBUG else "single sign-on"
)
OIDC_OP_AUTHORIZATION_ENDPOINT = env("OIDC_AUTHORIZATION_ENDPOINT", default="")
OIDC_OP_TOKEN_ENDPOINT = env("OIDC_TOKEN_ENDPOINT", default="")
OIDC_OP_USER_ENDPOINT = env("OIDC_USERINFO_ENDPOINT", default="")
OIDC_OP_JWKS_ENDPOINT = env("OIDC_JWKS_URI", default="")
OIDC_OP_LOGOUT_ENDPOINT = env("OIDC_END_SESSION_ENDPOINT", default="")
OIDC_RP_SCOPES = env("OIDC_SCOPES", default="openid email profile")
# Off: the ID token's claims alone (Entra ID's userinfo adds nothing the portal reads).
OIDC_USE_USERINFO = env.bool("OIDC_USE_USERINFO", default=True)
OIDC_RP_SIGN_ALGO = env("OIDC_SIGN_ALGO", default="RS256")
OIDC_TIMEOUT = env.float("OIDC_TIMEOUT", default=10.0)
OIDC_USE_PKCE = True
OIDC_PKCE_CODE_CHALLENGE_METHOD = "S256"
OIDC_STORE_ID_TOKEN = True  # the id_token_hint of the logout at the provider
OIDC_OP_LOGOUT_URL_METHOD = "portal.accounts.oidc.provider_logout_url"
LOGIN_REDIRECT_URL_FAILURE = "login"
# Which claims say who someone is and which groups they are in; the groups that grant the
# portal's roles. All others are teams (portal/teams): `payments` makes a member of the team
# payments, `payments-approvers` one of its approvers.
OIDC_USERNAME_CLAIM = env("OIDC_USERNAME_CLAIM", default="preferred_username")
OIDC_GROUPS_CLAIM = env("OIDC_GROUPS_CLAIM", default="groups")
OIDC_APPROVERS_GROUP = env("OIDC_APPROVERS_GROUP", default="approvers")
OIDC_AUDITORS_GROUP = env("OIDC_AUDITORS_GROUP", default="auditors")
OIDC_ADMINS_GROUP = env("OIDC_ADMINS_GROUP", default="admins")
OIDC_TEAM_APPROVERS_SUFFIX = env("OIDC_TEAM_APPROVERS_SUFFIX", default="-approvers")
# Only groups named <prefix><team> are teams (the prefix is dropped), when set: a provider's
# other groups ("all-staff", "vpn-users") are then not teams.
OIDC_TEAM_PREFIX = env("OIDC_TEAM_PREFIX", default="")
# Local passwords: the break-glass administrators named here, while LOCAL_LOGIN_ENABLED (on
# whenever someone is named). The embedded set-up names its demo `breakglass` account.
BREAK_GLASS_USERS = env.list("BREAK_GLASS_USERS", default=["breakglass"] if DEBUG else [])
LOCAL_LOGIN_ENABLED = env.bool("LOCAL_LOGIN_ENABLED", default=bool(BREAK_GLASS_USERS))
# Signing out sends the logout form's answer on to the provider's end_session_endpoint: the
# Content-Security-Policy must let a form lead there.
CONTENT_SECURITY_POLICY["DIRECTIVES"]["form-action"] += sorted(
    {
        f"{url.scheme}://{url.netloc}"
        for url in map(urlsplit, (OIDC_ISSUER, OIDC_OP_LOGOUT_ENDPOINT))
        if url.netloc
    }
)

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env("STATIC_ROOT", default=str(VAR_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="privatelink-portal@localhost")
SITE_URL = env("SITE_URL", default=f"http://127.0.0.1:{PORTAL_PORT}")

# Provisioning from the identity provider over SCIM 2.0 (/scim/v2/, portal/accounts/directory.py):
# its client calls with this bearer secret. Empty: SCIM is off (every call a 401).
SCIM_BEARER_TOKEN = env("SCIM_BEARER_TOKEN", default="insecure-demo-scim-token" if DEBUG else "")
SCIM_SERVICE_PROVIDER = {
    "SCHEME": urlsplit(SITE_URL).scheme,
    "NETLOC": urlsplit(SITE_URL).netloc,
    "AUTHENTICATION_SCHEMES": [
        {
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "SCIM_BEARER_TOKEN, given to the identity provider's SCIM client",
            "primary": True,
        }
    ],
    "USER_MODEL_GETTER": "portal.accounts.scim_filters.directory_user_model",
    "USER_ADAPTER": "portal.accounts.directory.DirectoryUserAdapter",
    "GROUP_MODEL": "portal.accounts.models.DirectoryGroup",
    "GROUP_ADAPTER": "portal.accounts.directory.DirectoryGroupAdapter",
    "USER_FILTER_PARSER": "portal.accounts.scim_filters.DirectoryUserFilter",
    "GROUP_FILTER_PARSER": "portal.accounts.scim_filters.DirectoryGroupFilter",
    "GET_IS_AUTHENTICATED_PREDICATE": "portal.accounts.directory.is_provider",
    "BASE_LOCATION_GETTER": "portal.accounts.directory.base_location",
    "WWW_AUTHENTICATE_HEADER": 'Bearer realm="portal-scim"',
}
# Who hears of what needs an administrator (a request the worker refused, a broken audit
# log): "name:email,name:email".
ADMINS = [tuple(a.split(":", 1)) for a in env.list("ADMINS", default=[])]
# The error reports ADMINS get hide every setting that holds a secret, URLs included.
DEFAULT_EXCEPTION_REPORTER_FILTER = "portal.lib.reporting.SecretsHiddenFilter"

SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Celery: an embedded file-system broker by default, Redis in production.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
CELERY_BROKER_DIR = Path(env("CELERY_BROKER_DIR", default=str(VAR_DIR / "celery")))
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's own writes a message in place, where a worker can claim it half-written.
    CELERY_BROKER_TRANSPORT = "portal.lib.filesystem_broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
        # Listing a local folder is cheap; a 1 s default would add a second to every hop.
        "polling_interval": 0.1,
    }
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)

# PrivateLink: the simulator by default. Against the cloud, leave PRIVATELINK_ENDPOINT empty:
# each product's SDK then calls each region at its own endpoint (privatelink.<region>.aliyuncs
# .com); set, it is the one endpoint that answers for every product and region (the simulator).
# PRIVATELINK_PROXY sends every call through an HTTP proxy instead (the simulator is one too).
PRIVATELINK_ENDPOINT = env(
    "PRIVATELINK_ENDPOINT", default=f"127.0.0.1:{SIMULATOR_PORT}" if DEBUG else ""
)
PRIVATELINK_PROXY = env("PRIVATELINK_PROXY", default="")
PRIVATELINK_PROTOCOL = env("PRIVATELINK_PROTOCOL", default="http" if DEBUG else "https")
PRIVATELINK_REGION_ID = env("PRIVATELINK_REGION_ID", default="cn-hangzhou")
PRIVATELINK_TIMEOUT_MS = env.int("PRIVATELINK_TIMEOUT_MS", default=10000)
# Credentials never live in the database. Without an explicit pair, production uses the
# SDK's default credential chain (environment, RAM role).
ALIBABA_CLOUD_ACCESS_KEY_ID = env(
    "ALIBABA_CLOUD_ACCESS_KEY_ID", default="dev-access-key-id" if DEBUG else None
)
ALIBABA_CLOUD_ACCESS_KEY_SECRET = env(
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET", default="dev-access-key-secret" if DEBUG else None
)
# Each cloud account is reached through the RAM role its record names (AssumeRole, by the
# identity above): the session's name in the accounts' logs, and how long a session lasts.
CLOUD_ROLE_SESSION_NAME = env("CLOUD_ROLE_SESSION_NAME", default="privatelink-portal")
CLOUD_ROLE_SESSION_SECONDS = env.int("CLOUD_ROLE_SESSION_SECONDS", default=3600)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
}

# Approval policy: distinct approvers needed, and for risky requests (auto-accept on, or the
# service owner paying for consumers' traffic).
APPROVALS_REQUIRED = env.int("APPROVALS_REQUIRED", default=1)
APPROVALS_REQUIRED_RISKY = env.int("APPROVALS_REQUIRED_RISKY", default=2)
# The longest an approver may lend their deciding to someone else, in days.
DELEGATION_MAX_DAYS = env.int("DELEGATION_MAX_DAYS", default=90)
PRIVATELINK_CACHE_SECONDS = env.int("PRIVATELINK_CACHE_SECONDS", default=3600)

# Provisioning: poll from PROVISION_POLL_INITIAL doubling to PROVISION_POLL_MAX seconds until
# Active; past PROVISION_DEADLINE seconds the request fails. The reconciler resumes live requests
# untouched for RECONCILE_AFTER seconds (a worker died, a message was lost).
PROVISION_POLL_INITIAL = env.float("PROVISION_POLL_INITIAL", default=2.0)
PROVISION_POLL_MAX = env.float("PROVISION_POLL_MAX", default=30.0)
PROVISION_RETRY_MAX = env.float("PROVISION_RETRY_MAX", default=60.0)
PROVISION_DEADLINE = env.int("PROVISION_DEADLINE", default=30 * 60)
RECONCILE_AFTER = env.int("RECONCILE_AFTER", default=120)
RECONCILE_EVERY = env.float("RECONCILE_EVERY", default=30.0)
AUDIT_VERIFY_EVERY = env.float("AUDIT_VERIFY_EVERY", default=3600.0)
# The audit log's keys, "id:secret" (32+ characters), the first sealing new events; keep old
# ones listed to verify what they sealed. Never in the database. Required in production.
if DEBUG:
    AUDIT_HMAC_KEYS = env.list(
        "AUDIT_HMAC_KEYS", default=["dev:insecure-development-audit-key-never-used-in-production"]
    )
else:
    AUDIT_HMAC_KEYS = env.list("AUDIT_HMAC_KEYS")
# Where the chain's head is appended every AUDIT_CHECKPOINT_EVERY seconds: ship this file to
# write-once storage (see the README); verification checks the log against it.
AUDIT_CHECKPOINT_FILE = env(
    "AUDIT_CHECKPOINT_FILE", default=str(VAR_DIR / "audit-checkpoints.jsonl")
)
AUDIT_CHECKPOINT_EVERY = env.float("AUDIT_CHECKPOINT_EVERY", default=60.0)
# In production a missing checkpoint file is a finding, not a pass: it was deleted, or the
# process that verifies (a worker) cannot see the file beat writes (mount it on both). Not in
# the embedded set-up: `make run` stopped with Ctrl-C leaves up to a minute of events after
# beat's last line, which the first verification after a restart would call a cut file.
AUDIT_CHECKPOINTS_REQUIRED = env.bool("AUDIT_CHECKPOINTS_REQUIRED", default=not DEBUG)
# Drift: every DRIFT_EVERY seconds each region's services are listed and compared with the
# portal's records (DRIFT_REGIONS, default every region DescribeRegions names). Resource changes
# do not show in the listing: each pass also re-reads the resources of up to
# DRIFT_RESOURCE_SWEEP services not read for DRIFT_RESOURCE_MAX_AGE seconds.
DRIFT_EVERY = env.float("DRIFT_EVERY", default=300.0)
DRIFT_REGIONS = env.list("DRIFT_REGIONS", default=[])
DRIFT_RESOURCE_SWEEP = env.int("DRIFT_RESOURCE_SWEEP", default=50)
DRIFT_RESOURCE_MAX_AGE = env.int("DRIFT_RESOURCE_MAX_AGE", default=6 * 3600)
# Nor do allow-lists: each pass reads those of DRIFT_ALLOW_LIST_SWEEP managed services per
# account and region, read longest ago first (two calls each).
DRIFT_ALLOW_LIST_SWEEP = env.int("DRIFT_ALLOW_LIST_SWEEP", default=50)
# Connections: every CONNECTIONS_EVERY seconds the connections of up to CONNECTIONS_PASS_LIMIT
# services that wait for their owner's acceptance (active, auto-accept off, someone on the
# allow-list), least recently read first, are read; owners hear once of each waiting endpoint.
# A service's page reads them when its reading is older than CONNECTIONS_MAX_AGE seconds, and
# every CONNECTIONS_FOLLOW_EVERY seconds while one is being accepted or rejected.
CONNECTIONS_EVERY = env.float("CONNECTIONS_EVERY", default=60.0)
CONNECTIONS_PASS_LIMIT = env.int("CONNECTIONS_PASS_LIMIT", default=200)
CONNECTIONS_MAX_AGE = env.int("CONNECTIONS_MAX_AGE", default=30)
CONNECTIONS_FOLLOW_EVERY = env.int("CONNECTIONS_FOLLOW_EVERY", default=2)
# Reminders: a request pending approval for APPROVAL_REMIND_AFTER seconds reminds those who
# may decide it, and again every APPROVAL_REMIND_AFTER while it waits; past
# APPROVAL_ESCALATE_AFTER seconds (and every as long again) the members of ESCALATION_GROUP
# hear of it. 0 turns either off. Beat looks every APPROVAL_REMIND_EVERY seconds.
APPROVAL_REMIND_AFTER = env.int("APPROVAL_REMIND_AFTER", default=24 * 3600)
APPROVAL_ESCALATE_AFTER = env.int("APPROVAL_ESCALATE_AFTER", default=3 * 24 * 3600)
APPROVAL_REMIND_EVERY = env.float("APPROVAL_REMIND_EVERY", default=900.0)
ESCALATION_GROUP = env("ESCALATION_GROUP", default="escalation")
OIDC_ESCALATION_GROUP = env("OIDC_ESCALATION_GROUP", default=ESCALATION_GROUP)
# Chat: what the emails say also goes to a Slack-compatible incoming webhook and/or a DingTalk
# robot (with its signing secret, if the robot has one). The URLs hold secrets: never logged,
# and hidden in error reports (portal/lib/reporting.py).
SLACK_WEBHOOK_URL = env("SLACK_WEBHOOK_URL", default="")
DINGTALK_WEBHOOK_URL = env("DINGTALK_WEBHOOK_URL", default="")
DINGTALK_SECRET = env("DINGTALK_SECRET", default="")
CHAT_TIMEOUT = env.float("CHAT_TIMEOUT", default=5.0)
CELERY_BEAT_SCHEDULE = {
    "reconcile": {"task": "portal.provisioning.tasks.reconcile", "schedule": RECONCILE_EVERY},
    "approval-reminders": {
        # The task's name, kept from before it moved to portal/approvals/tasks.py.
        "task": "portal.service_requests.tasks.approval_reminders",
        "schedule": APPROVAL_REMIND_EVERY,
    },
    "drift-pass": {"task": "portal.endpoint_services.tasks.drift_pass", "schedule": DRIFT_EVERY},
    "connections-pass": {
        "task": "portal.endpoint_services.tasks.connections_pass",
        "schedule": CONNECTIONS_EVERY,
    },
    "verify-audit-chain": {
        "task": "portal.audit.tasks.verify_audit_chain",
        "schedule": AUDIT_VERIFY_EVERY,
    },
    "audit-checkpoint": {
        "task": "portal.audit.tasks.write_checkpoint",
        "schedule": AUDIT_CHECKPOINT_EVERY,
    },
}
if INSIGHTS_CACHE_SECONDS:
    # The default weeks' figures are computed ahead of the page, before they expire.
    CELERY_BEAT_SCHEDULE["insights-refresh"] = {
        "task": "portal.insights.tasks.refresh_insights",
        "schedule": max(INSIGHTS_CACHE_SECONDS // 2, 30),
    }

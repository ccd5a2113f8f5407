from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class ApiConfig(AppConfig):
    name = "portal.api"
    label = "api"
    verbose_name = "HTTP API"

    def ready(self):
        from portal.api.models import AccessToken
        from portal.audit import grants

        # A token is its user's rights in a pipeline's hands: sealed however written, its
        # digest with it (a row whose secret was swapped is another token).
        grants.track(
            AccessToken,
            name="token",
            record=lambda row: {
                "user": row.user_id,
                "scope": row.scope,
                "digest": row.digest,
                "created_at": grants.stamp(row.created_at),
                "expires_at": grants.stamp(row.expires_at),
                "revoked_at": grants.stamp(row.revoked_at),
            },
            holder=lambda row: row.user_id,
            label=lambda row: {"user": row.user.get_username(), "prefix": row.prefix},
            fields=("user", "scope", "digest", "created_at", "expires_at", "revoked_at"),
        )

        # A token's longest life: 0 or less would make tokens born expired; ten years and
        # more is "never", which API_TOKEN_NEVER_EXPIRE says (and past datetime's range, 500s).
        if not 1 <= settings.API_TOKEN_MAX_DAYS <= 3650:
            raise ImproperlyConfigured(
                f"API_TOKEN_MAX_DAYS is {settings.API_TOKEN_MAX_DAYS}: it must be 1 to 3650 days."
            )

from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class ApiConfig(AppConfig):
    name = "portal.api"
    label = "api"
    verbose_name = "HTTP API"

    def ready(self):
        # A token's longest life: 0 or less would make tokens born expired; ten years and
        # more is "never", which API_TOKEN_NEVER_EXPIRE says (and past datetime's range, 500s).
        if not 1 <= settings.API_TOKEN_MAX_DAYS <= 3650:
            raise ImproperlyConfigured(
                f"API_TOKEN_MAX_DAYS is {settings.API_TOKEN_MAX_DAYS}: it must be 1 to 3650 days."
            )

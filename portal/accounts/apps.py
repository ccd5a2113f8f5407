from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "portal.accounts"
    verbose_name = "Sign-in"

    def ready(self):
        from portal.accounts import checks, signals  # noqa: F401  (registers them)

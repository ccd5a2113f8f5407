from django.apps import AppConfig


class ProvisioningConfig(AppConfig):
    name = "portal.provisioning"
    label = "provisioning"
    verbose_name = "Provisioning"

    def ready(self):
        # Bind shared tasks to the portal's Celery app in every process, web included.
        from portal import celery  # noqa: F401

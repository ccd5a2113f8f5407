from django.apps import AppConfig


class ProvisioningConfig(AppConfig):
    name = "portal.provisioning"
    label = "provisioning"
    verbose_name = "Provisioning"

    def ready(self):
        # Bind shared tasks to the portal's Celery app in every process, web included.
        from portal import celery  # noqa: F401
        from portal.provisioning.tasks import start_work
        from portal.service_requests.signals import work_ready

        work_ready.connect(
            lambda sender, service_request, **kwargs: start_work(service_request),
            weak=False,
            dispatch_uid="provisioning.start_work",
        )

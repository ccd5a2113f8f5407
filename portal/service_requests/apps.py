from django.apps import AppConfig


class ServiceRequestsConfig(AppConfig):
    name = "portal.service_requests"
    label = "service_requests"
    verbose_name = "Endpoint service requests"

    def ready(self):
        from portal.lib import webhooks
        from portal.service_requests import integrity  # noqa: F401  (registers its explainer)

        # A chat webhook that cannot work stops every process at start, not at the first post.
        webhooks.check_settings()

from django.apps import AppConfig


class ServiceRequestsConfig(AppConfig):
    name = "portal.service_requests"
    label = "service_requests"
    verbose_name = "Endpoint service requests"

    def ready(self):
        from portal.endpoint_services import about
        from portal.service_requests import (
            about_services,
            integrity,  # noqa: F401  (registers its explainer)
        )

        about.answer(**about_services.ANSWERS)

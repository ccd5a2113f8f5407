from django.apps import AppConfig


class EndpointServicesConfig(AppConfig):
    name = "portal.endpoint_services"
    label = "endpoint_services"
    verbose_name = "Endpoint services"

    def ready(self):
        from portal.endpoint_services import integrity  # noqa: F401  (registers its explainer)

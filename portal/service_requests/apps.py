from django.apps import AppConfig


class ServiceRequestsConfig(AppConfig):
    name = "portal.service_requests"
    label = "service_requests"
    verbose_name = "Endpoint service requests"

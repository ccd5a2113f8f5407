from django.apps import AppConfig


class CatalogConfig(AppConfig):
    """The services' pages: the catalog, a service's page with its connections and allow-list,
    unmanaged services, and the forms that file requests about a service. Above the requests
    and services they show, as the history is."""

    name = "portal.catalog"
    label = "catalog"
    verbose_name = "Catalog"

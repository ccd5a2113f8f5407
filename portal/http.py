from django.http import HttpRequest as DjangoHttpRequest
from django_htmx.middleware import HtmxDetails


class HttpRequest(DjangoHttpRequest):
    """A request as the views see it, with django-htmx's details (typing only)."""

    htmx: HtmxDetails

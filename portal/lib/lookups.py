"""One row, or one 404 whatever the reason: a row that does not exist and one the person may
not see answer alike, and the answer names no model (Django's "No EndpointService matches the
given query." told missing ids from hidden ones, and named the table)."""

from django.core.exceptions import ValidationError
from django.http import Http404


def one_or_404(queryset, message, **lookup):
    """queryset.get(**lookup), or Http404(`message`)."""
    try:
        return queryset.get(**lookup)
    except (queryset.model.DoesNotExist, ValueError, TypeError, ValidationError):
        raise Http404(message) from None

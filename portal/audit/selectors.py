"""The auditors' reads that pages and the API share, with their permission check."""

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404

from portal.service_requests import policy
from portal.service_requests.models import ServiceRequest


def require_auditor(user):
    if not policy.is_auditor(user):
        raise PermissionDenied("The history is for auditors.")


def request_for_auditor(user, pk):
    """Return any request, for an auditor (403 for anyone else, before any lookup)."""
    require_auditor(user)
    return get_object_or_404(ServiceRequest.objects.select_related("requester"), pk=pk)

from django.http import Http404
from django.shortcuts import get_object_or_404

from portal.endpoint_services.models import EndpointService
from portal.service_requests import policy


def service_for_user(user, service_id):
    """Return the service if `user` may see it; 404 otherwise, so ids leak nothing."""
    service = get_object_or_404(
        EndpointService.objects.select_related("owner"), service_id=service_id
    )
    if not policy.can_view_service(user, service):
        raise Http404("No such service.")
    return service

from django.http import Http404
from django.shortcuts import get_object_or_404

from portal.endpoint_services.models import EndpointService
from portal.service_requests import policy
from portal.service_requests.models import Kind, State


def service_for_user(user, service_id):
    """Return the service if `user` may see it; 404 otherwise, so ids leak nothing."""
    service = get_object_or_404(
        EndpointService.objects.select_related("owner"), service_id=service_id
    )
    if not policy.can_view_service(user, service):
        raise Http404("No such service.")
    return service


def access_requests_by_account(service, accounts):
    """Return {account id: the newest applied access request for it (with its requester)}
    among `accounts` on `service`: who asked for each allow-list entry."""
    admitted = {}
    for request in (
        service.requests.filter(kind=Kind.ACCESS, state=State.APPLIED, account_id__in=accounts)
        .select_related("requester")
        .order_by("pk")
    ):
        admitted[request.account_id] = request
    return admitted

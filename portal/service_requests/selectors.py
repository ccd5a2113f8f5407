"""The record's own lookups that pages of other apps and the services layer share."""

from portal.service_requests.models import Kind, ServiceRequest, State


def access_requests_by_account(service, accounts):
    """Return {account id: the newest applied access request for it (with its requester)}
    among `accounts` on `service`: who asked for each allow-list entry."""
    admitted = {}
    for request in (
        ServiceRequest.objects.filter(
            endpoint_service=service,
            kind=Kind.ACCESS,
            state=State.APPLIED,
            account_id__in=accounts,
        )
        .select_related("requester")
        .order_by("pk")
    ):
        admitted[request.account_id] = request
    return admitted


def service_requests_listed(service):
    """The requests about a service (its creation included), newest first: for its keepers."""
    return (
        ServiceRequest.objects.filter(endpoint_service=service)
        .select_related("requester")
        .order_by("-created_at", "-id")
    )

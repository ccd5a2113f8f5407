"""The requests' answers to what the services layer asks of them (portal.endpoint_services.about),
registered at start by this app's AppConfig."""

from portal.service_requests.models import Kind, ServiceRequest, State
from portal.service_requests.selectors import access_requests_by_account

IN_FLIGHT = (State.APPROVED, State.APPLYING)


def being_changed(service):
    return ServiceRequest.objects.filter(endpoint_service=service, state__in=IN_FLIGHT).exists()


def being_deleted(service):
    return ServiceRequest.objects.filter(
        endpoint_service=service, kind=Kind.DECOMMISSION, state__in=IN_FLIGHT
    ).exists()


def revoking(service, account):
    return (
        ServiceRequest.objects.filter(
            endpoint_service=service, kind=Kind.REVOKE, account_id=account, state=State.APPLIED
        )
        .order_by("-pk")
        .first()
    )


ANSWERS = {
    "being_changed": being_changed,
    "being_deleted": being_deleted,
    "admitting": access_requests_by_account,
    "revoking": revoking,
}

from django.core.exceptions import PermissionDenied
from django.db.models import Case, When
from django.http import Http404

from portal.accounts import rights
from portal.endpoint_services import keepers
from portal.endpoint_services.models import CONNECTION_IN_FLIGHT, EndpointService, ServiceStatus
from portal.lib.lookups import one_or_404


def service_for_user(user, service_id):
    """Return the service if `user` may see it; 404 otherwise, so ids leak nothing."""
    service = one_or_404(
        EndpointService.objects.select_related("owner", "team"),
        "No such service.",
        service_id=service_id,
    )
    if not keepers.can_view_service(user, service):
        raise Http404("No such service.")
    return service


def service_consumers_for_user(user, service_id):
    """Return the service if `user` may see who connects to it (its keepers, auditors)."""
    service = service_for_user(user, service_id)
    if not keepers.sees_consumers(user, service):
        raise PermissionDenied("Who connects to a service is for its owner and approvers.")
    return service


def service_to_manage(user, service_id, *, to):
    """Return the service if `user` looks after it (its owner, approvers); 403 if they only
    see it, saying what they meant `to` do."""
    service = service_for_user(user, service_id)
    if not keepers.may_manage(user, service):
        raise PermissionDenied(f"Only the service's owner and approvers can {to}.")
    return service


def unmanaged_services(user):
    """The services found in the cloud that the portal did not make (not deleted), by region
    (approvers, auditors and admins)."""
    if not (rights.is_approver(user) or rights.is_auditor(user)):
        raise PermissionDenied("Unmanaged services are for approvers and admins.")
    return (
        EndpointService.objects.filter(managed=False)
        .exclude(status=ServiceStatus.DELETED)
        .select_related("cloud_account")
        .order_by("region_id", "service_id")
    )


def connections_listed(service):
    """The service's connections still listed by the cloud, in the order keepers read them:
    waiting for the owner first, then in flight, then the rest; newest first."""
    return (
        service.connections.filter(gone=False)
        .select_related("access_request__requester", "rejected_by")
        .order_by(
            Case(
                When(status="Disconnected", rejected_at__isnull=True, then=0),
                When(status__in=CONNECTION_IN_FLIGHT, then=1),
                default=2,
            ),
            "-first_seen_at",
            "endpoint_id",
        )
    )


def service_events_listed(service):
    """The service's own history (drift, adoption, connections, deletion), newest first; the
    requests about it keep theirs."""
    return (
        service.events.filter(request_id__isnull=True)
        .select_related("actor")
        .order_by("-created_at", "-id")
    )

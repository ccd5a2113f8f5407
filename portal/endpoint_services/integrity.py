"""What the audit log must explain of each service: its approved configuration, owner, team,
management and identity, as the events about it last recorded them (registered with
portal.audit.services, which runs it in the same snapshot as the chain's walk)."""

from portal.audit.models import AuditEvent
from portal.audit.services import Broken, chunks, explainer, no_events_of_deleted, within
from portal.endpoint_services.models import EndpointService

STEWARDSHIP = (
    ("approved_digest", "approved configuration"),
    ("owner", "owner"),
    ("team", "owning team"),
    ("managed", "management"),
    ("service_id", "ServiceId"),
    ("region_id", "region"),
    # The account it lives in (absent before accounts): moved, the work would go elsewhere.
    ("account", "cloud account"),
)


def _difference(service, record):
    now = service.stewardship()
    for name, label in STEWARDSHIP:
        if now.get(name) != record.get(name):
            return f"the service's {label} differs from what its events recorded"
    return None


def service_events_problem(service):
    """Why the events about `service` do not explain it as it is (owner, team, approved
    configuration...), or None: one service's part of the whole log's check, which a worker
    asks before it acts on a request about the service (whose owner may decide it)."""
    record = (
        AuditEvent.objects.filter(
            service_id=service.pk, request_id__isnull=True, details__has_key="record"
        )
        .order_by("-seq")
        .values_list("details__record", flat=True)
        .first()
    )
    if record is None:
        return "the service has no event that records it: the portal never made it"
    return _difference(service, record)


@explainer("services")
def explain_services():
    """Check each service's approved configuration, owner and management against its events."""
    checked = 0
    for rows in chunks(EndpointService.objects.all()):
        span = (rows[0].pk, rows[-1].pk)
        recorded = {}
        for service_id, seq, record in (
            AuditEvent.objects.filter(
                **within("service_id", span), request_id__isnull=True, details__has_key="record"
            )
            .order_by("seq")
            .values_list("service_id", "seq", "details__record")
        ):
            recorded[service_id] = (seq, record)
        for service in rows:
            if service.pk not in recorded:
                raise Broken(
                    "the service has no event that records it: the portal never made it",
                    service=service.pk,
                )
            seq, record = recorded[service.pk]
            problem = _difference(service, record)
            if problem:
                raise Broken(problem, seq=seq, service=service.pk)
            checked += 1
    no_events_of_deleted("service_id", EndpointService, "service")
    return checked

"""Verifying the audit chain: which event, if any, was edited, deleted, reordered or inserted."""

from dataclasses import dataclass

from portal.audit.models import (
    CONTENT_FIELDS,
    GENESIS,
    AuditEvent,
    ChainCheck,
    canonical,
    chain_hash,
)

EVENT_FIELDS = ["id", *CONTENT_FIELDS, "prev_hash", "hash"]


@dataclass
class ChainReport:
    ok: bool
    requests_checked: int
    events_checked: int
    broken_event: int | None = None
    broken_request: int | None = None
    message: str = ""
    services_checked: int = 0
    broken_service: int | None = None

    def __str__(self):
        if self.ok:
            services = f", {self.services_checked} services" if self.services_checked else ""
            return (
                f"audit chain intact: {self.requests_checked} requests{services}, "
                f"{self.events_checked} events"
            )
        where = f"event #{self.broken_event}" if self.broken_event else "the head"
        subject = (
            f"service #{self.broken_service}"
            if self.broken_service is not None
            else f"request #{self.broken_request}"
        )
        return f"audit chain BROKEN at {where} ({subject}): {self.message}"


class _Broken(Exception):
    def __init__(self, subject_id, event_id, message):
        super().__init__(message)
        self.subject_id, self.event_id, self.message = subject_id, event_id, message


def _check_head(subject_id, head, last, count, noun):
    """Compare what a subject's events end with against the head kept on its row."""
    expected_count, expected_hash, state = head
    last_id, last_seq, last_hash, last_to_state = last
    if count < expected_count:
        raise _Broken(
            subject_id,
            last_id,
            f"the {noun} has {expected_count} events on record but only {count} remain: "
            f"the newest after seq {last_seq} were removed",
        )
    if count > expected_count or last_hash != expected_hash:
        raise _Broken(
            subject_id, last_id, f"seq {last_seq} was appended outside the portal's record"
        )
    # A service's status follows the cloud between events; only a request's state is theirs.
    if state is not None and last_to_state and state != last_to_state:
        raise _Broken(
            subject_id,
            last_id,
            f"the {noun} says {state!r} but its last event leads to {last_to_state!r}",
        )


def _walk(events, heads, subject_field, noun):
    """Check every chain of `events` (ordered by subject, seq) against `heads`.

    Returns (subjects checked, events checked); raises _Broken at the first break.
    """
    checked_subjects, checked_events = set(), 0
    current, prev, count, last = None, GENESIS, 0, None
    for row in events.values_list(*EVENT_FIELDS).iterator(chunk_size=5000):
        event = dict(zip(EVENT_FIELDS, row, strict=True))
        subject_id = event[subject_field]
        if subject_id != current:
            if current is not None:
                _check_head(current, heads[current], last, count, noun)
            current, prev, count = subject_id, GENESIS, 0
            checked_subjects.add(subject_id)
            if subject_id not in heads:
                raise _Broken(subject_id, event["id"], f"the events name a {noun} that is gone")
        count += 1
        checked_events += 1
        if event["seq"] != count:
            raise _Broken(
                subject_id,
                event["id"],
                f"seq {event['seq']} follows seq {count - 1}: events before it were "
                "deleted or reordered",
            )
        if event["prev_hash"] != prev:
            raise _Broken(
                subject_id,
                event["id"],
                f"seq {event['seq']} does not follow the event before it: one was inserted, "
                "deleted or rewritten",
            )
        content = canonical(**{k: event[k] for k in CONTENT_FIELDS})
        if chain_hash(prev, content) != event["hash"]:
            raise _Broken(subject_id, event["id"], f"seq {event['seq']} was edited")
        prev = event["hash"]
        last = (event["id"], event["seq"], event["hash"], event["to_state"])
    if current is not None:
        _check_head(current, heads[current], last, count, noun)
    for pk, (expected, _hash, _state) in sorted(heads.items()):
        if expected and pk not in checked_subjects:
            raise _Broken(pk, None, f"all {expected} events of the {noun} were removed")
    return len(checked_subjects), checked_events


def audit_chain_verify(*, request_ids=None, service_ids=None):
    """Walk every chain (or those of `request_ids` / `service_ids`) and return a ChainReport.

    A request's chain holds the events that name it; a service's chain the events that name
    the service and no request.
    """
    from portal.endpoint_services.models import EndpointService
    from portal.service_requests.models import ServiceRequest

    requests = ServiceRequest.objects.all()
    services = EndpointService.objects.all()
    request_events = AuditEvent.objects.filter(request__isnull=False)
    service_events = AuditEvent.objects.filter(request__isnull=True)
    if request_ids is not None or service_ids is not None:
        requests = requests.filter(pk__in=request_ids or [])
        request_events = request_events.filter(request_id__in=request_ids or [])
        services = services.filter(pk__in=service_ids or [])
        service_events = service_events.filter(service_id__in=service_ids or [])
    request_heads = {
        pk: (count, last_hash, state)
        for pk, count, last_hash, state in requests.values_list(
            "pk", "audit_event_count", "audit_last_hash", "state"
        ).iterator(chunk_size=5000)
    }
    service_heads = {
        pk: (count, last_hash, None)
        for pk, count, last_hash in services.values_list(
            "pk", "audit_event_count", "audit_last_hash"
        ).iterator(chunk_size=5000)
    }
    events_checked = 0
    try:
        _subjects, events_checked = _walk(
            request_events.order_by("request_id", "seq"), request_heads, "request_id", "request"
        )
    except _Broken as broken:
        return ChainReport(
            False,
            len(request_heads),
            events_checked,
            broken_event=broken.event_id,
            broken_request=broken.subject_id,
            message=broken.message,
        )
    try:
        _subjects, service_events_checked = _walk(
            service_events.order_by("service_id", "seq"), service_heads, "service_id", "service"
        )
    except _Broken as broken:
        return ChainReport(
            False,
            len(request_heads),
            events_checked,
            broken_event=broken.event_id,
            broken_service=broken.subject_id,
            message=broken.message,
        )
    return ChainReport(
        True,
        len(request_heads),
        events_checked + service_events_checked,
        services_checked=len(service_heads),
    )


def audit_chain_check():
    """Verify the whole chain and keep the outcome for the auditors' page."""
    report = audit_chain_verify()
    ChainCheck.objects.create(
        ok=report.ok,
        requests_checked=report.requests_checked,
        events_checked=report.events_checked,
        broken_event=report.broken_event,
        broken_request=report.broken_request,
        message=str(report),
    )
    return report

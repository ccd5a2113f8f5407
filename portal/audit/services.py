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

    def __str__(self):
        if self.ok:
            return (
                f"audit chain intact: {self.requests_checked} requests, "
                f"{self.events_checked} events"
            )
        where = f"event #{self.broken_event}" if self.broken_event else "request"
        return f"audit chain BROKEN at {where} (request #{self.broken_request}): {self.message}"


class _Broken(Exception):
    def __init__(self, request_id, event_id, message):
        super().__init__(message)
        self.request_id, self.event_id, self.message = request_id, event_id, message


def _check_head(request_id, head, last, count):
    """Compare what a request's events end with against the head kept on its row."""
    expected_count, expected_hash, state = head
    last_id, last_seq, last_hash, last_to_state = last
    if count < expected_count:
        raise _Broken(
            request_id,
            last_id,
            f"the request has {expected_count} events on record but only {count} remain: "
            f"the newest after seq {last_seq} were removed",
        )
    if count > expected_count or last_hash != expected_hash:
        raise _Broken(
            request_id, last_id, f"seq {last_seq} was appended outside the portal's record"
        )
    if last_to_state and state != last_to_state:
        raise _Broken(
            request_id,
            last_id,
            f"the request says {state!r} but its last event leads to {last_to_state!r}",
        )


def audit_chain_verify(*, request_ids=None):
    """Walk every chain (or those of `request_ids`) and return a ChainReport."""
    from portal.service_requests.models import ServiceRequest

    requests = ServiceRequest.objects.all()
    events = AuditEvent.objects.all()
    if request_ids is not None:
        requests = requests.filter(pk__in=request_ids)
        events = events.filter(request_id__in=request_ids)
    heads = {
        pk: (count, last_hash, state)
        for pk, count, last_hash, state in requests.values_list(
            "pk", "audit_event_count", "audit_last_hash", "state"
        ).iterator(chunk_size=5000)
    }
    checked_requests, checked_events = set(), 0
    current, prev, count, last = None, GENESIS, 0, None
    try:
        for row in (
            events.order_by("request_id", "seq")
            .values_list(*EVENT_FIELDS)
            .iterator(chunk_size=5000)
        ):
            event = dict(zip(EVENT_FIELDS, row, strict=True))
            request_id = event["request_id"]
            if request_id != current:
                if current is not None:
                    _check_head(current, heads[current], last, count)
                current, prev, count = request_id, GENESIS, 0
                checked_requests.add(request_id)
            count += 1
            checked_events += 1
            if event["seq"] != count:
                raise _Broken(
                    request_id,
                    event["id"],
                    f"seq {event['seq']} follows seq {count - 1}: events before it were "
                    "deleted or reordered",
                )
            if event["prev_hash"] != prev:
                raise _Broken(
                    request_id,
                    event["id"],
                    f"seq {event['seq']} does not follow the event before it: one was inserted, "
                    "deleted or rewritten",
                )
            content = canonical(**{k: event[k] for k in CONTENT_FIELDS})
            if chain_hash(prev, content) != event["hash"]:
                raise _Broken(request_id, event["id"], f"seq {event['seq']} was edited")
            prev = event["hash"]
            last = (event["id"], event["seq"], event["hash"], event["to_state"])
        if current is not None:
            _check_head(current, heads[current], last, count)
        for pk, (expected, _hash, _state) in sorted(heads.items()):
            if expected and pk not in checked_requests:
                raise _Broken(pk, None, f"all {expected} events of the request were removed")
    except _Broken as broken:
        return ChainReport(
            False,
            len(checked_requests),
            checked_events,
            broken_event=broken.event_id,
            broken_request=broken.request_id,
            message=broken.message,
        )
    return ChainReport(True, len(heads), checked_events)


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

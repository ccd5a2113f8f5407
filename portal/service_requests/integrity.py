"""What the audit log must explain of each request: its state, content, route, approvals and
the service it is about, as the events about it last recorded them.

`explain_requests` is the whole log's check (registered with portal.audit.services, which runs
it in the same snapshot as the chain's walk); `request_events_verify` is one request's, which a
worker runs at every step and a timeline on every view.
"""

from collections import defaultdict
from typing import NamedTuple

from django.db.models.fields.json import KT

from portal.audit import chain
from portal.audit.actions import Action
from portal.audit.models import AuditEvent
from portal.audit.services import (
    Broken,
    ChainReport,
    chunks,
    explainer,
    no_events_of_deleted,
    plain_rows,
    within,
)
from portal.endpoint_services.models import EndpointService
from portal.lib.digests import content_digest
from portal.service_requests.models import (
    Approval,
    RequestOperation,
    RequestResource,
    RequestTag,
    ServiceRequest,
    lifecycle_problem,
)

# Events that record a request's whole content (details: revision, content, digest).
CONTENT_EVENTS = (
    Action.CREATED,
    Action.EDITED,
    Action.REPLANNED,
    Action.SUBMIT,
    Action.BASELINE,
    Action.REROUTED,
)
# Events that record who decides a request (details: route), since routing.
ROUTE_EVENTS = (Action.SUBMIT, Action.REROUTED)
# The request fields verification reads (content(), its state, the service it names).
REQUEST_FIELDS = [
    "id",
    "kind",
    "state",
    "revision",
    "requester",
    "target_owner",
    "account_id",
    "endpoint_service",
    "service_id",
    "connect_bandwidth",
    "justification",
    "region_id",
    "service_description",
    "auto_accept_enabled",
    "payer",
    "zone_affinity_enabled",
    "service_resource_type",
    "resource_group_id",
    "address_ip_version",
    "supported_region_list",
    "target_team",
    "decided_by",
    "deciding_team",
]
# An approval row as the events record it (Approval.as_record()): its columns, its keys.
APPROVAL_RECORD = ["approver_id", "revision", "digest", "decision", "comment", "on_behalf_of_id"]
APPROVAL_RECORD_KEYS = ["approver", "revision", "digest", "decision", "comment", "on_behalf_of"]
# Events that record which service a create request made (details: service_id).
OUTCOME_EVENTS = (Action.MARK_CREATING, Action.MARK_ACTIVE, Action.BASELINE)
# Events that record a decision (details: approval).
DECISION_EVENTS = (Action.APPROVE, Action.APPROVAL_ADDED, Action.REJECT, Action.SEND_BACK)


class _Resource(NamedTuple):
    resource_type: str
    resource_id: str
    zone_id: str


class _Tag(NamedTuple):
    key: str
    value: str


class _Operation(NamedTuple):
    action: str
    params: dict

    def content(self):  # as RequestOperation.content()
        return {"action": self.action, "params": self.params}


def _attach_children(rows):
    """Load the resources, tags and plans of `rows` in three queries, as a prefetch would,
    as plain tuples with the attributes content() reads: no related manager and no model
    instance per row (most of the time at 100k requests)."""
    span = (rows[0].pk, rows[-1].pk)  # rows come in pk order: a range, not 2,000 parameters
    children = {row.pk: {"resources": [], "tags": [], "operations": []} for row in rows}
    for name, model, shape in (
        ("resources", RequestResource, _Resource),
        ("tags", RequestTag, _Tag),
        ("operations", RequestOperation, _Operation),
    ):
        # In the model's own order, as `request.resources.all()` would give them.
        for request_id, *fields in model.objects.filter(**within("request_id", span)).values_list(
            "request_id", *shape._fields
        ):
            children[request_id][name].append(shape(*fields))
    for row in rows:
        row._prefetched_objects_cache = children[row.pk]


@explainer("requests")
def explain_requests():
    """Check each request against its events; return how many were checked."""
    checked = 0
    # Only what content() and the checks read: the rest (times, cloud answers) is not needed.
    requests = ServiceRequest.objects.only(*REQUEST_FIELDS)
    for rows in chunks(requests):
        _attach_children(rows)
        span = (rows[0].pk, rows[-1].pk)
        lives = defaultdict(list)
        for request_id, *event in plain_rows(
            AuditEvent.objects.filter(**within("request_id", span))
            .order_by("request_id", "seq")
            .values_list("request_id", "seq", "action", "from_state", "to_state")
        ):
            lives[request_id].append(tuple(event))
        # Of the newest event that recorded each request's content, only its revision and
        # digest: the whole content is large, and the digest covers it.
        recorded = {}
        for request_id, seq, revision, digest in (
            AuditEvent.objects.filter(**within("request_id", span), action__in=CONTENT_EVENTS)
            .order_by("seq")
            .values_list("request_id", "seq", KT("details__revision"), KT("details__digest"))
        ):
            revision = int(revision) if revision is not None else None
            recorded[request_id] = (seq, {"revision": revision, "digest": digest})
        routes = {}
        for request_id, seq, route in (
            AuditEvent.objects.filter(
                **within("request_id", span), action__in=ROUTE_EVENTS, details__has_key="route"
            )
            .order_by("seq")
            .values_list("request_id", "seq", "details__route")
        ):
            routes[request_id] = (seq, route)
        outcomes = {}
        for request_id, service_id in (
            AuditEvent.objects.filter(
                **within("request_id", span),
                action__in=OUTCOME_EVENTS,
                details__has_key="service_id",
            )
            .order_by("seq")
            .values_list("request_id", KT("details__service_id"))
        ):
            outcomes[request_id] = service_id
        vouched = defaultdict(list)
        for request_id, approval, decisions in AuditEvent.objects.filter(
            **within("request_id", span), action__in=(*DECISION_EVENTS, Action.BASELINE)
        ).values_list("request_id", "details__approval", "details__decisions"):
            vouched[request_id] += ([approval] if approval else []) + (decisions or [])
        approvals = defaultdict(list)
        for request_id, *record in (
            Approval.objects.filter(**within("request_id", span))
            .order_by("id")
            .values_list("request_id", *APPROVAL_RECORD)
        ):
            record = dict(zip(APPROVAL_RECORD_KEYS, record, strict=True))
            if record["on_behalf_of"] is None:
                del record["on_behalf_of"]  # as Approval.as_record() writes it
            approvals[request_id].append(record)
        linked = dict(
            EndpointService.objects.filter(
                pk__in={r.endpoint_service_id for r in rows if r.endpoint_service_id}
            ).values_list("pk", "service_id")
        )
        for request in rows:
            _explain_request(
                request,
                life=lives.get(request.pk, []),
                recorded=recorded.get(request.pk),
                vouched=vouched[request.pk],
                approvals=approvals[request.pk],
                outcome=outcomes.get(request.pk),
                linked_service_id=linked.get(request.endpoint_service_id),
                route=routes.get(request.pk),
            )
            checked += 1
    no_events_of_deleted("request_id", ServiceRequest, "request")
    return checked


def _decisions(details):
    """The approval records an event's details vouch for."""
    return ([details["approval"]] if "approval" in details else []) + details.get("decisions", [])


def _explain_request(
    request,
    *,
    life,
    recorded,
    vouched,
    approvals,
    outcome,
    linked_service_id,
    route=None,
    digest=None,
):
    """Raise Broken naming the first thing about `request` its events do not explain
    (`digest`: the request's content digest, if the caller has it already)."""

    def broken(message, seq=None):
        return Broken(message, seq=seq, request=request.pk)

    if not life:
        raise broken("the request has no events: the portal never made it")
    seq, _action, _from_state, to_state = life[-1]
    if to_state != request.state:
        raise broken(f"the request says {request.state!r} but its events lead to {to_state!r}", seq)
    problem = lifecycle_problem(request.kind, life)
    if problem:
        raise broken(problem[1], problem[0])
    if recorded is None:
        raise broken("no event records the request's content")
    seq, details = recorded
    if details.get("revision") != request.revision:
        raise broken(
            f"the request is at revision {request.revision} but its events recorded revision "
            f"{details.get('revision')}",
            seq,
        )
    if details.get("digest") != (digest or content_digest(request.content())):
        raise broken(
            "the request's parameters, resources, tags or plan differ from what its events "
            "recorded",
            seq,
        )
    # Who decides it (policy.route) is what its last submission or re-routing recorded.
    if route is None:
        if request.decided_by:
            raise broken("the request names who decides it, but no event routed it")
    elif route[1] != {"decided_by": request.decided_by, "deciding_team": request.deciding_team_id}:
        raise broken("who decides the request differs from what its events recorded", route[0])
    unmatched = list(vouched)
    for record in approvals:
        if record not in unmatched:
            raise broken(
                f"an approval by user {record['approver']} of revision {record['revision']} "
                "has no event behind it, or was edited"
            )
        unmatched.remove(record)
    if unmatched:
        raise broken(
            f"a decision by user {unmatched[0].get('approver')} that the events recorded has no "
            "approval row: it was deleted"
        )
    # Which service the request is about (or made) is part of what it is.
    if request.is_create:
        if request.service_id and request.service_id != outcome:
            raise broken(
                f"the request says it made {request.service_id!r} but its events say {outcome!r}"
            )
        if request.endpoint_service_id and linked_service_id != request.service_id:
            raise broken("the request is linked to a service other than the one it made")
    elif linked_service_id != request.service_id:
        raise broken(
            f"the request is about {request.service_id!r} but is linked to {linked_service_id!r}"
        )


def request_events_verify(service_request, *, digest=None):
    """Check one request's own events (each sealed with the key) and its rows; a report.

    The whole-log walk is the full check; this is what a timeline or a worker can afford.
    """
    secrets = chain.keys()
    report = ChainReport(ok=True, requests_checked=1)
    try:
        events = list(service_request.events.order_by("seq"))
        for event in events:
            if not chain.authentic(event, secrets):
                raise Broken(f"#{event.seq} was edited", seq=event.seq)
        report.events_checked = len(events)
        recorded = next(
            ((e.seq, e.details) for e in reversed(events) if e.action in CONTENT_EVENTS), None
        )
        outcome = next(
            (
                e.details["service_id"]
                for e in reversed(events)
                if e.action in OUTCOME_EVENTS and "service_id" in e.details
            ),
            None,
        )
        linked = (
            EndpointService.objects.filter(pk=service_request.endpoint_service_id)
            .values_list("service_id", flat=True)
            .first()
        )
        _explain_request(
            service_request,
            life=[(e.seq, e.action, e.from_state, e.to_state) for e in events],
            recorded=recorded,
            vouched=[
                r
                for e in events
                if e.action in (*DECISION_EVENTS, Action.BASELINE)
                for r in _decisions(e.details)
            ],
            approvals=[a.as_record() for a in service_request.approvals.order_by("id")],
            outcome=outcome,
            linked_service_id=linked,
            route=next(
                (
                    (e.seq, e.details["route"])
                    for e in reversed(events)
                    if e.action in ROUTE_EVENTS and "route" in e.details
                ),
                None,
            ),
            digest=digest,
        )
    except Broken as broken:
        report.ok = False
        report.broken_event = broken.seq
        report.broken_request = service_request.pk
        report.message = broken.message
    return report

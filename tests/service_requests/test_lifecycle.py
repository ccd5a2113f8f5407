"""The one state machine: every allowed and every refused transition, each audited."""

import pytest

from portal.audit.models import AppendOnlyError, AuditEvent
from portal.service_requests.models import (
    TRANSITIONS,
    Kind,
    State,
    TransitionNotAllowed,
    states_of,
)
from tests.support.factories import ServiceRequestFactory

pytestmark = pytest.mark.django_db

ALLOWED = [
    (kind, action, source, target)
    for kind, table in TRANSITIONS.items()
    for action, (sources, target) in table.items()
    for source in sorted(sources)
]
REFUSED = [
    (kind, action, state)
    for kind, table in TRANSITIONS.items()
    for action, (sources, _target) in table.items()
    for state in State.values
    if state not in sources
]


def test_a_create_request_has_the_product_states():
    assert set(states_of(Kind.CREATE)) == {
        "draft",
        "pending_approval",
        "approved",
        "provisioning",
        "creating",
        "active",
        "changes_requested",
        "rejected",
        "cancelled",
        "failed",
    }


@pytest.mark.parametrize("kind", [k for k in Kind if k != Kind.CREATE])
def test_every_other_kind_has_the_day_two_states(kind):
    assert set(states_of(kind)) == {
        "draft",
        "pending_approval",
        "changes_requested",
        "approved",
        "applying",
        "applied",
        "rejected",
        "cancelled",
        "failed",
    }


@pytest.mark.parametrize(("kind", "action", "source", "target"), ALLOWED)
def test_allowed_transition_moves_and_writes_its_event(requester, kind, action, source, target):
    request = ServiceRequestFactory(requester=requester, kind=kind, state=source)
    event = request.move(action, actor=requester, comment="why not")
    request.refresh_from_db()
    assert request.state == target
    assert (event.action, event.from_state, event.to_state) == (action, source, target)
    assert event.actor == requester
    assert event.comment == "why not"


@pytest.mark.parametrize(("kind", "action", "state"), REFUSED)
def test_refused_transition_changes_nothing(requester, kind, action, state):
    request = ServiceRequestFactory(requester=requester, kind=kind, state=state)
    events = AuditEvent.objects.count()
    with pytest.raises(TransitionNotAllowed):
        request.move(action, actor=requester)
    request.refresh_from_db()
    assert request.state == state
    assert AuditEvent.objects.count() == events


def test_an_action_of_another_kind_is_refused(requester):
    change = ServiceRequestFactory(requester=requester, kind=Kind.CHANGE, state=State.APPROVED)
    assert not change.can("start_provisioning")
    with pytest.raises(TransitionNotAllowed):
        change.move("start_provisioning", actor=None)


@pytest.mark.parametrize("kind", list(Kind))
def test_final_states_have_no_way_out_but_retry_from_failed(kind):
    table = TRANSITIONS[kind]
    for state in (State.ACTIVE, State.APPLIED, State.REJECTED, State.CANCELLED):
        assert not [a for a, (sources, _t) in table.items() if state in sources]
    assert [a for a, (sources, _t) in table.items() if State.FAILED in sources] == ["retry"]


def test_submit_starts_a_new_revision(requester):
    request = ServiceRequestFactory(requester=requester)
    revision = request.revision
    request.move("submit", actor=requester)
    assert request.revision == revision + 1
    assert request.submitted_at is not None


def test_client_token_is_stable_ascii_and_unique(requester):
    first, second = ServiceRequestFactory.create_batch(2, requester=requester)
    assert first.client_token != second.client_token
    assert first.client_token.isascii() and len(first.client_token) <= 64
    token = first.client_token
    first.move("submit", actor=requester)
    first.refresh_from_db()
    assert first.client_token == token


def test_audit_events_are_append_only(requester):
    request = ServiceRequestFactory(requester=requester)
    event = request.move("submit", actor=requester)
    event.comment = "rewritten"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(comment="x")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get(pk=event.pk).comment == ""

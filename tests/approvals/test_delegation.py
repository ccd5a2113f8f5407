"""Delegation: an approver lends their deciding to one person for a window, on a frozen clock.

The delegate decides with the delegator's own right only, while the window [starts, ends)
holds and nobody revoked it; the two count as one person; every step is audited.
"""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from portal.approvals import notifications, policy, queue, reminders
from portal.approvals import services as approval_services
from portal.approvals.models import Delegation
from portal.audit.models import AuditEvent
from portal.audit.services import audit_chain_verify
from portal.provisioning import services as provisioning
from portal.requests import services
from portal.service_requests import exceptions
from portal.service_requests.integrity import request_events_verify
from portal.service_requests.models import Approval, State
from tests.support.api import call, token
from tests.support.factories import ServiceRequestFactory, UserFactory
from tests.support.helpers import decide

pytestmark = pytest.mark.django_db


class Clock:
    """The portal's clock (django.utils.timezone.now), standing still until a test moves it."""

    def __init__(self, start):
        self.now = start

    def __call__(self):
        return self.now

    def advance(self, **delta):
        self.now += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch):
    clock = Clock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    monkeypatch.setattr(timezone, "now", clock)
    return clock


@pytest.fixture
def bob(requester2):
    """The delegate: a developer, no approver."""
    return requester2


def pending(requester, **fields):
    return ServiceRequestFactory(requester=requester, state=State.PENDING_APPROVAL, **fields)


def lend(delegator, delegate, clock, *, starts_in=timedelta(0), lasts=timedelta(days=7)):
    return approval_services.delegation_create(
        delegator=delegator,
        delegate=delegate,
        starts_at=clock.now + starts_in,
        ends_at=clock.now + starts_in + lasts,
        reason="holiday",
    )


def approve(service_request, user):
    service_request.refresh_from_db()
    return approval_services.service_request_decide(
        pk=service_request.pk,
        approver=user,
        decision="approve",
        revision=service_request.revision,
    )


# --- the window ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "holds"),
    [
        (timedelta(minutes=59, seconds=59), False),  # just before it starts
        (timedelta(hours=1), True),  # at its start: included
        (timedelta(days=1), True),  # inside
        (timedelta(hours=1, days=2) - timedelta(microseconds=1), True),  # its last instant
        (timedelta(hours=1, days=2), False),  # at its end: excluded
        (timedelta(days=5), False),  # after
    ],
)
def test_a_delegation_holds_from_its_start_until_just_before_its_end(
    clock, requester, approver, bob, moment, holds
):
    request = pending(requester)
    start = clock.now
    lend(approver, bob, clock, starts_in=timedelta(hours=1), lasts=timedelta(days=2))
    clock.now = start + moment
    assert policy.may_decide(bob, request) is holds
    assert (policy.decision_refusal(bob, request) is None) is holds
    # The same answer for that moment, asked at any other.
    clock.now = start
    assert policy.may_decide(bob, request, at=start + moment) is holds


def test_a_revoked_delegation_stops_at_once_and_history_still_knows(
    clock, requester, approver, bob
):
    request = pending(requester)
    lend(approver, bob, clock)
    clock.advance(days=1)
    assert policy.may_decide(bob, request)
    revoked_at = clock.now
    approval_services.delegation_revoke(delegation=Delegation.objects.get(), actor=approver)
    assert not policy.may_decide(bob, request)
    clock.advance(minutes=1)
    assert not policy.may_decide(bob, request)
    assert policy.may_decide(bob, request, at=revoked_at - timedelta(seconds=1))
    with pytest.raises(exceptions.DecisionRefused, match=r"for the platform.s approvers to decide"):
        approve(request, bob)


def test_a_delegate_who_became_a_mere_auditor_decides_nothing(
    clock, requester, approver, bob, groups
):
    request = pending(requester)
    lend(approver, bob, clock)
    bob.groups.add(groups["auditors"])
    bob = type(bob).objects.get(pk=bob.pk)  # as the next request reads them
    assert not policy.may_decide(bob, request)


def test_a_delegator_who_leaves_the_approvers_takes_the_delegation_back(
    clock, requester, approver, bob, groups
):
    request = pending(requester)
    lend(approver, bob, clock)
    assert policy.may_decide(bob, request)
    approver.groups.remove(groups["approvers"])
    assert not policy.may_decide(bob, request)
    approver.groups.add(groups["approvers"])
    approver.is_active = False
    approver.save()
    assert not policy.may_decide(bob, request)


def test_no_chains_a_delegate_cannot_pass_the_right_on(clock, requester, approver, bob):
    carol = UserFactory(username="carol")
    request = pending(requester)
    lend(approver, bob, clock)
    with pytest.raises(exceptions.NotAllowed):
        lend(bob, carol, clock)
    # Even a row written behind the portal's back gives carol nothing: bob has no own right.
    Delegation.objects.create(
        delegator=bob,
        delegate=carol,
        starts_at=clock.now,
        ends_at=clock.now + timedelta(days=1),
        reason="chain",
    )
    assert policy.may_decide(bob, request)
    assert not policy.may_decide(carol, request)


def test_an_approver_who_is_a_delegate_lends_only_their_own_right(
    clock, requester, approver, approver2, bob
):
    """approver lends to approver2, who lends to bob: bob decides as approver2 only."""
    request = pending(requester, auto_accept_enabled=True)
    lend(approver, approver2, clock)
    lend(approver2, bob, clock)
    assert [d.username for d in policy.deciding_for(bob, request)] == ["approver2"]
    approve(request, bob)
    assert Approval.objects.get().on_behalf_of == approver2
    # approver2's own right is used up; what approver lent them is still theirs to use.
    approve(request, approver2)
    assert Approval.objects.get(approver=approver2).on_behalf_of == approver
    request.refresh_from_db()
    assert request.state == State.APPROVED


def test_the_requester_never_decides_even_as_a_delegate(clock, requester, approver, bob):
    lend(approver, bob, clock)
    own = pending(bob)
    assert not policy.may_decide(bob, own)
    assert policy.decision_refusal(bob, own) is not None
    with pytest.raises(exceptions.DecisionRefused):
        approve(own, bob)
    # Nor for a delegator who filed it: their right does not reach their own request.
    theirs = pending(approver)
    assert policy.deciding_for(bob, theirs) == []
    assert not policy.may_decide(bob, theirs)


def test_a_delegator_and_their_delegate_count_once(
    clock, requester, approver, approver2, bob, django_capture_on_commit_callbacks
):
    request = pending(requester, auto_accept_enabled=True)  # needs two people
    lend(approver, bob, clock)
    approve(request, bob)
    approval = Approval.objects.get()
    assert (approval.approver, approval.on_behalf_of) == (bob, approver)
    request.refresh_from_db()
    assert request.state == State.PENDING_APPROVAL
    assert request.approving_people() == 1
    with pytest.raises(exceptions.DecisionRefused, match="Your delegate has already approved"):
        approve(request, approver)
    assert [u.username for u in policy.waiting_on(request)] == ["approver2"]
    approve(request, approver2)
    request.refresh_from_db()
    assert request.state == State.APPROVED


def test_people_not_rows_are_counted(clock, requester, approver, bob):
    """Should two rows for one person ever be written (by hand, say), they count once."""
    request = pending(requester, auto_accept_enabled=True, submitted_at=clock.now)
    for approver_, for_whom in ((approver, None), (bob, approver)):
        Approval.objects.create(
            request=request,
            approver=approver_,
            on_behalf_of=for_whom,
            revision=request.revision,
            digest=request.digest(),
            decision="approve",
        )
    assert request.approving_people() == 1
    queue.changed()
    (item,) = queue.split(approver).others.object_list
    assert item.approvals_so_far == 1


def test_a_delegate_cannot_add_to_their_delegators_own_approval(clock, requester, approver, bob):
    request = pending(requester, auto_accept_enabled=True)
    lend(approver, bob, clock)
    approve(request, approver)
    assert (
        policy.decision_refusal(bob, request) == "Already approved for approver at this revision."
    )
    with pytest.raises(exceptions.DecisionRefused):
        approve(request, bob)
    assert Approval.objects.count() == 1


def test_one_delegate_of_two_approvers_decides_once_per_revision(
    clock, requester, approver, approver2, bob
):
    request = pending(requester, auto_accept_enabled=True)
    lend(approver, bob, clock)
    lend(approver2, bob, clock)
    approve(request, bob)
    with pytest.raises(exceptions.DecisionRefused, match="You have already approved"):
        approve(request, bob)
    # The database holds the line too: one decision per person and revision.
    with pytest.raises(IntegrityError), transaction.atomic():
        Approval.objects.create(
            request=request, approver=bob, on_behalf_of=approver2, revision=request.revision
        )


# --- what the database refuses, and the rules of making one ---------------------------


def test_the_database_refuses_a_window_that_ends_before_it_starts_or_one_to_oneself(
    clock, approver, bob
):
    with pytest.raises(IntegrityError), transaction.atomic():
        Delegation.objects.create(
            delegator=approver, delegate=bob, starts_at=clock.now, ends_at=clock.now, reason="x"
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        Delegation.objects.create(
            delegator=approver,
            delegate=approver,
            starts_at=clock.now,
            ends_at=clock.now + timedelta(days=1),
            reason="x",
        )


def test_one_delegate_at_a_time_and_a_bounded_length(clock, settings, approver, bob):
    settings.DELEGATION_MAX_DAYS = 10
    with pytest.raises(approval_services.DelegationInvalid) as refused:
        lend(approver, bob, clock, lasts=timedelta(days=10, seconds=1))
    assert refused.value.field == "ends_at"
    lend(approver, bob, clock, lasts=timedelta(days=10))
    carol = UserFactory(username="carol")
    with pytest.raises(approval_services.DelegationInvalid) as refused:
        lend(approver, carol, clock, starts_in=timedelta(days=9))
    assert refused.value.field == "starts_at"
    assert "You already delegate to requester2" in str(refused.value)
    # Back to back is not an overlap: [starts, ends) meets the next start.
    lend(approver, carol, clock, starts_in=timedelta(days=10))


def test_the_same_delegation_posted_twice_is_made_once(clock, approver, bob):
    first = lend(approver, bob, clock)
    clock.advance(seconds=1)
    assert lend(approver, bob, clock, starts_in=timedelta(seconds=-1)) == first
    assert Delegation.objects.count() == 1
    assert AuditEvent.objects.filter(action="delegation_created").count() == 1


def test_an_auditor_cannot_be_a_delegate(clock, approver, auditor):
    with pytest.raises(approval_services.DelegationInvalid) as refused:
        lend(approver, auditor, clock)
    assert refused.value.field == "delegate"


# --- audited, told, shown ---------------------------------------------------------------


def test_making_and_revoking_a_delegation_are_audit_events(clock, approver, bob, admin_user):
    delegation = lend(approver, bob, clock)
    made = AuditEvent.objects.get(action="delegation_created")
    assert made.actor == approver
    assert made.details["delegate"] == "requester2"
    assert made.details["ends_at"] == delegation.ends_at.isoformat()
    clock.advance(hours=1)
    approval_services.delegation_revoke(delegation=delegation, actor=admin_user)
    revoked = AuditEvent.objects.get(action="delegation_revoked")
    assert (revoked.actor, revoked.details["was"]) == (admin_user, "active")
    # Revoking again changes nothing and writes nothing.
    approval_services.delegation_revoke(delegation=delegation, actor=approver)
    assert AuditEvent.objects.filter(action="delegation_revoked").count() == 1
    with pytest.raises(exceptions.NotAllowed):
        approval_services.delegation_revoke(delegation=delegation, actor=UserFactory())


def test_a_delegates_approval_is_in_the_audit_log_and_explains_the_work(
    clock, requester, approver, bob, simulator, django_capture_on_commit_callbacks
):
    draft = ServiceRequestFactory(requester=requester)
    draft.record("created", actor=requester, details=draft.explained())
    lend(approver, bob, clock)
    services.service_request_submit(service_request=draft, actor=requester)
    approve(draft, bob)
    draft.refresh_from_db()
    assert draft.state == State.APPROVED
    event = draft.events.get(action="approve")
    assert event.actor == bob
    assert event.details["on_behalf_of"] == "approver"
    assert event.details["approval"]["on_behalf_of"] == approver.pk
    assert request_events_verify(draft).ok
    assert audit_chain_verify().ok  # the walk over the whole log reads the rows as records too
    assert provisioning._unexplained(draft) is None
    # An approval row whose delegator was changed behind the portal's back shows.
    Approval.objects.update(on_behalf_of=None)
    assert not audit_chain_verify().ok


def test_waiting_on_emails_reach_the_delegate(clock, requester, approver, approver2, bob):
    request = pending(requester)
    request.submitted_at = clock.now
    request.save()
    lend(approver, bob, clock)
    notifications.notify_approvers(request)
    assert sorted(mail.outbox[-1].to) == sorted([approver.email, approver2.email, bob.email])


def test_reminders_reach_the_delegate_with_the_way_to_the_queue(
    clock, settings, requester, approver, bob, django_capture_on_commit_callbacks
):
    settings.APPROVAL_REMIND_AFTER = 3600
    settings.APPROVAL_ESCALATE_AFTER = 0
    request = pending(requester, submitted_at=clock.now)
    lend(approver, bob, clock)
    clock.advance(hours=1)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert reminders.approval_reminders_pass() == (1, 0)
    told = {tuple(message.to): message.body for message in mail.outbox}
    assert f"/requests/{request.pk}/" in told[(bob.email,)]
    assert "/approvals/" in told[(bob.email,)]
    assert "requester2" in request.events.get(action="reminded").details["told"]


def test_the_queue_labels_delegated_rows_and_tells_the_delegator(
    clock, login, requester, approver, bob
):
    request = pending(requester, submitted_at=clock.now)
    pending(approver, submitted_at=clock.now)  # the delegator's own: not for bob
    lend(approver, bob, clock, lasts=timedelta(days=14))
    queue.changed()
    page = login(bob).get("/approvals/").content.decode()
    assert f'href="/requests/{request.pk}/"' in page
    assert "for approver (delegated until 2026-12-15)" in page
    assert page.count('data-for="approver"') == 1
    assert 'id="waiting-for-you"' not in page  # bob has no queue of his own
    page = login(approver).get("/approvals/").content.decode()
    assert "requester2 decides for you until 2026-12-15 09:00 UTC" in page
    # After the window, bob has no queue at all.
    clock.advance(days=14)
    assert login(bob).get("/approvals/").status_code == 403


def test_the_delegate_sees_and_approves_the_request_on_its_page(
    clock, login, requester, approver, approver2, bob, django_capture_on_commit_callbacks
):
    request = pending(requester, auto_accept_enabled=True)
    client = login(bob)
    assert client.get(f"/requests/{request.pk}/").status_code == 404
    lend(approver, bob, clock)
    page = login(approver2).get(f"/requests/{request.pk}/").content.decode()
    assert 'approver <span class="delegated">(or requester2 for them, until' in page
    client = login(bob)
    page = client.get(f"/requests/{request.pk}/").content.decode()
    assert 'approver <span class="delegated">(or you for them, until' in page
    assert "Approve revision" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = decide(client, request, "approve")
    assert response.status_code == 302
    page = client.get(f"/requests/{request.pk}/").content.decode()
    assert "requester2 for approver: approved revision" in page


def test_the_api_queue_and_delegations(clock, client, requester, approver, bob):
    request = pending(requester, submitted_at=clock.now)
    made = call(
        client,
        "POST",
        "delegations",
        token(approver),
        {"delegate": "requester2", "ends_at": "2026-12-08T09:00:00Z", "reason": "holiday"},
    )
    assert made.status_code == 201, made.content
    delegation = json.loads(made.content)
    assert delegation["status"] == "active" and delegation["delegate"] == "requester2"
    queued = json.loads(call(client, "GET", "approvals", token(bob)).content)
    assert [(i["id"], i["on_behalf_of"]) for i in queued["items"]] == [(request.pk, "approver")]
    lent = json.loads(call(client, "GET", "approvals", token(approver)).content)["lent"]
    assert [item["delegate"] for item in lent] == ["requester2"]
    refused = call(
        client,
        "POST",
        "delegations",
        token(approver),
        {"delegate": "nobody", "ends_at": "2026-12-02T09:00:00Z", "reason": "again"},
    )
    assert refused.status_code == 422
    assert [e["field"] for e in json.loads(refused.content)["errors"]] == ["delegate"]
    revoked = call(client, "POST", f"delegations/{delegation['id']}/revoke", token(bob))
    assert json.loads(revoked.content)["status"] == "revoked"


# --- the page ---------------------------------------------------------------------------


def form(**fields):
    return {
        "delegate": "requester2",
        "starts_at": "",
        "ends_at": "2026-12-08T09:00",
        "reason": "holiday",
        **fields,
    }


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"delegate": "auditor"}, "delegate", "Choose someone who may decide"),
        ({"delegate": "approver"}, "delegate", "Choose someone who may decide"),
        ({"ends_at": "2026-12-01T08:00"}, "ends_at", "It must end after it starts."),
        ({"ends_at": "someday"}, "ends_at", "Enter a date and time"),
        ({"ends_at": "2027-06-01T09:00"}, "ends_at", "at most 90 days"),
        ({"starts_at": "2026-11-30T09:00"}, "starts_at", "cannot start in the past"),
        ({"reason": ""}, "reason", "Say why"),
    ],
)
def test_the_form_says_what_is_wrong_at_the_field_and_keeps_what_was_typed(
    clock, login, approver, bob, auditor, fields, field, message
):
    response = login(approver).post("/account/delegations/", form(**fields))
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert list(errors) == [field]
    assert message in errors[field][0]
    page = response.content.decode()
    assert 'value="holiday"' in page or field == "reason"
    assert not Delegation.objects.exists()


def test_the_page_makes_lists_and_revokes_post_redirect_get(clock, login, approver, bob):
    client = login(approver)
    response = client.post("/account/delegations/", form())
    assert response.status_code == 302 and response.url == "/account/delegations/"
    delegation = Delegation.objects.get()
    assert (delegation.starts_at, delegation.delegate) == (clock.now, bob)
    page = client.get("/account/delegations/").content.decode()
    assert f'id="delegation-{delegation.pk}" data-status="active"' in page
    assert client.post("/account/delegations/", form()).status_code == 302  # a double post
    assert Delegation.objects.count() == 1
    UserFactory(username="carol")
    again = client.post("/account/delegations/", form(delegate="carol"))
    assert again.status_code == 400
    assert "one delegate at a time" in again.context["form"].errors["starts_at"][0]
    assert 'value="carol" selected' in again.content.decode()
    received = login(bob).get("/account/delegations/").content.decode()
    assert f'id="delegation-{delegation.pk}"' in received
    assert 'id="delegation-form"' not in received  # bob decides nothing of his own
    assert login(bob).post("/account/delegations/", form()).status_code == 403
    client = login(approver)
    response = client.post(f"/account/delegations/{delegation.pk}/revoke/")
    assert response.status_code == 302
    delegation.refresh_from_db()
    assert delegation.revoked_by == approver
    stranger = login(UserFactory(username="stranger"))
    assert stranger.post(f"/account/delegations/{delegation.pk}/revoke/").status_code == 404


def test_admins_see_and_revoke_every_delegation(clock, client, approver, bob, admin_user):
    delegation = lend(approver, bob, clock)
    client.force_login(admin_user)
    assert (
        f'id="delegation-{delegation.pk}"' in client.get("/account/delegations/").content.decode()
    )
    listing = client.get("/admin/approvals/delegation/")
    assert listing.status_code == 200
    response = client.post(
        "/admin/approvals/delegation/",
        {"action": "revoke", "_selected_action": [delegation.pk]},
    )
    assert response.status_code == 302
    delegation.refresh_from_db()
    assert delegation.revoked_by == admin_user
    change = client.get(f"/admin/approvals/delegation/{delegation.pk}/change/")
    assert b'name="ends_at"' not in change.content  # nobody edits a window after the fact

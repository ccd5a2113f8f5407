"""An attacker's review of issue 14 (teams, routing, transfers, delegation, the API).

Each test is one attempt: most hold, and pin that they do; the holes found are fixed (the
last two by the lead: a re-routing voids the old route's approvals, and the audit log checks
the route).
"""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from portal.approvals import policy, queue
from portal.approvals import services as approval_services
from portal.audit.models import AuditEvent
from portal.audit.services import audit_chain_verify
from portal.endpoint_services import services as endpoint_services
from portal.endpoint_services.models import EndpointService
from portal.provisioning import services as provisioning
from portal.requests import services as requests
from portal.service_requests import exceptions
from portal.service_requests.models import Deciders, Kind, ServiceRequest, State
from portal.teams.models import Membership, Role, Team
from tests.support.api import CREATE, call, token
from tests.support.day2 import run
from tests.support.factories import UserFactory
from tests.support.helpers import decide
from tests.teams.test_teams import ask_access, ask_change, join

pytestmark = pytest.mark.django_db


@pytest.fixture
def payments(db):
    return Team.objects.create(name="payments")


@pytest.fixture
def checkout(db):
    return Team.objects.create(name="checkout")


@pytest.fixture
def lead(payments):
    return join(UserFactory(username="paylead"), payments, Role.APPROVER)


@pytest.fixture
def colleague(payments):
    return join(UserFactory(username="colleague"), payments)


@pytest.fixture
def taker(checkout):
    return join(UserFactory(username="checklead"), checkout, Role.APPROVER)


@pytest.fixture
def team_service(service, payments, requester):
    """The `service` fixture's service, given to the payments team the audited way (so that the
    audit log explains it), the requester a member."""
    join(requester, payments)
    return endpoint_services.endpoint_service_transfer(
        service=service, team=payments, by_request=None
    )


def leave(user, team):
    Membership.objects.filter(user=user, team=team).delete()
    user.__dict__.pop("_portal_teams", None)


def transfer(client, service, team):
    return client.post(
        f"/services/{service.service_id}/transfer/",
        {"team": str(team.pk), "justification": "They run it now.", "action": "submit"},
    )


def lend(delegator, delegate):
    now = timezone.now()
    return approval_services.delegation_create(
        delegator=delegator,
        delegate=delegate,
        starts_at=now,
        ends_at=now + timedelta(days=2),
        reason="Away.",
    )


# --- seeing what one should not --------------------------------------------------------------


def test_an_outsider_sees_no_team_request_by_id_poll_or_api(
    client, login, team_service, lead, requester, requester2
):
    asked = ask_change(login(requester), team_service, service_description="Orders v2")
    assert asked.deciding_team.name == "payments"
    outsider = login(requester2)
    assert outsider.get(f"/requests/{asked.pk}/").status_code == 404
    # The fast poll, with the version the page would bring: never a 204 for an outsider.
    version = ServiceRequest.objects.get(pk=asked.pk).version
    assert outsider.get(f"/requests/{asked.pk}/status/?v={version}").status_code == 404
    assert outsider.get(f"/requests/{asked.pk}/calls/").status_code == 404
    secret = token(requester2, scope="read")
    assert call(client, "GET", f"requests/{asked.pk}", secret).status_code == 404
    for path in ("requests", "allow-list", "connections"):
        found = call(client, "GET", f"services/{team_service.service_id}/{path}", secret)
        assert found.status_code == 403, (path, found.content)
    owned = json.loads(call(client, "GET", "approvals/owned", secret).content)
    assert owned["items"] == []
    assert call(client, "GET", "audit/requests", secret).status_code == 403
    assert call(client, "GET", "audit/export.csv", secret).status_code == 403


def test_the_old_team_neither_sees_nor_decides_after_a_transfer(
    client, login, team_service, requester, colleague, checkout, taker
):
    """A member of the team that gave the service away, with the access request's page still
    open (its form, its revision and digest), and through the API."""
    asking = ask_access(login(UserFactory(username="consumer")), team_service)
    assert asking.deciding_team.name == "payments"
    stale = {"revision": asking.revision, "digest": asking.digest()}
    version = ServiceRequest.objects.get(pk=asking.pk).version
    assert transfer(login(requester), team_service, checkout).status_code == 302
    moved = ServiceRequest.objects.get(kind=Kind.TRANSFER)
    assert decide(login(taker), moved, "approve").status_code == 302
    run(provisioning.service_request_apply, moved.pk)
    moved.refresh_from_db()
    assert moved.state == State.APPLIED, moved.error_message
    asking.refresh_from_db()
    assert asking.deciding_team == checkout
    old = login(colleague)
    assert old.post(f"/requests/{asking.pk}/approve/", stale).status_code in (403, 404)
    assert old.get(f"/requests/{asking.pk}/status/?v={version}").status_code == 404
    secret = token(colleague)
    answer = call(client, "POST", f"requests/{asking.pk}/approve", secret, {**stale})
    assert answer.status_code in (403, 404)
    asking.refresh_from_db()
    assert asking.state == State.PENDING_APPROVAL and not asking.approvals.exists()
    assert audit_chain_verify().ok


def test_a_team_approver_is_not_a_platform_approver(login, team_service, lead, requester):
    risky = ask_change(login(requester), team_service, auto_accept_enabled="on")
    assert risky.decided_by == Deciders.PLATFORM
    assert decide(login(lead), risky, "approve").status_code in (403, 404)
    assert not queue.waiting_for(lead).filter(pk=risky.pk).exists()


# --- deciding what one should not ------------------------------------------------------------


def test_a_delegate_of_a_lead_who_left_the_team_decides_nothing(
    login, team_service, lead, requester, payments
):
    stand_in = UserFactory(username="standin")
    lend(lead, stand_in)
    asked = ask_change(login(requester), team_service, service_description="Orders v2")
    assert policy.may_decide(stand_in, asked)
    leave(lead, payments)
    assert decide(login(stand_in), asked, "approve").status_code in (403, 404)
    assert not asked.approvals.exists()


def test_the_requester_never_decides_their_own_request_by_any_path(
    client, login, team_service, lead, colleague, approver, payments
):
    """A team approver's own safe change: not as its team's approver, not as another's
    delegate, not through the API, not as an admin-made second approver of the team."""
    join(colleague, payments, Role.APPROVER)  # so the route stays the team's
    asked = ask_change(login(lead), team_service, service_description="Orders v2")
    assert asked.decided_by == Deciders.TEAM
    lend(colleague, lead)
    assert decide(login(lead), asked, "approve").status_code == 403
    answer = call(
        client,
        "POST",
        f"requests/{asked.pk}/approve",
        token(lead),
        {"revision": asked.revision, "digest": asked.digest()},
    )
    assert answer.status_code == 403
    assert policy.deciding_for(lead, asked) == []
    assert not asked.approvals.exists()


def test_a_team_whose_only_approver_is_the_requester_goes_to_the_platform(
    login, team_service, lead, approver
):
    asked = ask_change(login(lead), team_service, service_description="Orders v2")
    assert asked.decided_by == Deciders.PLATFORM
    assert "other than the requester" in asked.routing_reason
    assert decide(login(approver), asked, "approve").status_code == 302


# --- naming a team one is not in -------------------------------------------------------------


def test_an_api_edit_cannot_name_a_team_one_is_not_in(client, requester, payments, checkout):
    join(requester, payments)
    secret = token(requester)
    made = json.loads(
        call(client, "POST", "requests", secret, {**CREATE, "team": "payments"}).content
    )
    edited = call(
        client,
        "PUT",
        f"requests/{made['id']}",
        secret,
        {"revision": made["revision"], "team": "checkout"},
    )
    assert edited.status_code == 422, edited.content
    assert ServiceRequest.objects.get(pk=made["id"]).target_team == payments


def test_a_clone_does_not_keep_a_team_the_cloner_is_not_in(
    client, login, requester, requester2, payments, approver
):
    join(requester, payments)
    made = json.loads(
        call(client, "POST", "requests", token(requester), {**CREATE, "team": "payments"}).content
    )
    # An approver sees every request, and may clone it: not with the payments team.
    clone = call(client, "POST", f"requests/{made['id']}/clone", token(approver))
    assert clone.status_code == 201, clone.content
    assert json.loads(clone.content)["target_team"] is None
    # Someone who does not see it cannot clone it at all.
    assert (
        call(client, "POST", f"requests/{made['id']}/clone", token(requester2)).status_code == 404
    )


def test_the_page_form_cannot_name_a_team_one_is_not_in(login, requester, payments, checkout):
    join(requester, payments)
    with pytest.raises(exceptions.NotAllowed):
        requests.service_request_create(
            requester=requester,
            fields={"region_id": "cn-hangzhou", "target_team": checkout},
            resources=[],
            tags=[],
        )


# --- transfers -------------------------------------------------------------------------------


def test_only_owners_transfer_and_not_to_the_owning_team(
    client, login, team_service, requester2, payments, checkout
):
    outsider = token(requester2)
    answer = call(
        client,
        "POST",
        f"services/{team_service.service_id}/transfer",
        outsider,
        {"team": "checkout", "justification": "Mine now."},
    )
    assert answer.status_code == 403
    assert transfer(login(requester2), team_service, checkout).status_code == 403
    assert not ServiceRequest.objects.filter(kind=Kind.TRANSFER).exists()


def test_a_transfer_posted_twice_is_filed_once(login, team_service, requester, checkout, taker):
    """A double click on the transfer form's submit: one transfer, not a stray second draft."""
    client = login(requester)
    first = transfer(client, team_service, checkout)
    second = transfer(client, team_service, checkout)
    assert first.status_code == 302
    assert second.status_code == 302
    assert ServiceRequest.objects.filter(kind=Kind.TRANSFER).count() == 1
    assert second["Location"] == first["Location"]


def test_a_transfer_waits_for_an_open_change(login, team_service, requester, checkout, taker):
    ask_change(login(requester), team_service, service_description="Orders v2")
    response = transfer(login(requester), team_service, checkout)
    moved = ServiceRequest.objects.get(kind=Kind.TRANSFER)
    assert moved.state == State.DRAFT, response
    assert "already open" in response.content.decode() or moved.state == State.DRAFT


def test_a_transfer_whose_requester_left_the_team_is_not_accepted(
    login, team_service, requester, payments, checkout, taker
):
    """The giving side's consent is its requester's: once they no longer look after the
    service, the receiving team cannot take it on their word."""
    assert transfer(login(requester), team_service, checkout).status_code == 302
    moved = ServiceRequest.objects.get(kind=Kind.TRANSFER)
    assert policy.transfer_lapse(moved) is None
    leave(requester, payments)
    answer = decide(login(taker), moved, "approve")
    assert answer.status_code == 302  # back to the page, which says why
    shown = login(taker).get(answer["Location"]).content.decode()
    assert "This transfer no longer stands" in shown
    moved.refresh_from_db()
    assert moved.state == State.PENDING_APPROVAL and not moved.approvals.exists()
    assert "no longer stands" in policy.transfer_lapse(moved)
    # The receiving team may still say no.
    assert decide(login(taker), moved, "reject", comment="Not without payments.").status_code == 302
    moved.refresh_from_db()
    assert moved.state == State.REJECTED


# --- counts ----------------------------------------------------------------------------------


def test_an_approval_of_the_old_team_does_not_count_after_a_reroute(
    login, settings, team_service, requester, colleague, checkout, taker
):
    settings.APPROVALS_REQUIRED = 2
    join(UserFactory(username="checkmember"), checkout)
    asking = ask_access(login(UserFactory(username="consumer")), team_service)
    assert (asking.decided_by, asking.deciding_team.name) == (Deciders.TEAM_MEMBERS, "payments")
    assert decide(login(colleague), asking, "approve").status_code == 302
    join(UserFactory(username="checklead2"), checkout, Role.APPROVER)
    assert transfer(login(requester), team_service, checkout).status_code == 302
    moved = ServiceRequest.objects.get(kind=Kind.TRANSFER)
    other_lead = UserFactory._meta.model.objects.get(username="checklead2")
    assert decide(login(taker), moved, "approve").status_code == 302
    assert decide(login(other_lead), moved, "approve").status_code == 302
    run(provisioning.service_request_apply, moved.pk)
    asking.refresh_from_db()
    assert asking.deciding_team == checkout
    # One member of the new owners approves: one of the two the policy needs, not the second.
    assert decide(login(taker), asking, "approve").status_code == 302
    asking.refresh_from_db()
    assert asking.state == State.PENDING_APPROVAL


# --- the admin -------------------------------------------------------------------------------


def test_renaming_a_team_in_the_admin_is_audited(admin_client, payments):
    """A team's name is the provider group it follows: a rename changes who will be in it."""
    response = admin_client.post(
        f"/admin/teams/team/{payments.pk}/change/",
        {"name": "payments-old", "memberships-TOTAL_FORMS": 0, "memberships-INITIAL_FORMS": 0},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    event = AuditEvent.objects.get(action="team_renamed")
    assert event.details == {"team": "payments-old", "was": "payments"}
    assert audit_chain_verify().ok


def test_deleting_a_team_in_the_admin_is_audited_with_its_members(admin_client, checkout, taker):
    response = admin_client.post(f"/admin/teams/team/{checkout.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert not Team.objects.filter(pk=checkout.pk).exists()
    event = AuditEvent.objects.get(action="team_deleted")
    assert event.details == {
        "team": "checkout",
        "members": [{"user": "checklead", "role": "approver", "source": "admin"}],
    }


def test_a_team_named_by_a_pending_request_cannot_be_deleted(
    admin_client, login, team_service, requester, checkout, taker
):
    assert transfer(login(requester), team_service, checkout).status_code == 302
    response = admin_client.post(f"/admin/teams/team/{checkout.pk}/delete/", {"post": "yes"})
    assert response.status_code in (200, 403)  # the admin's "cannot delete: protected" page
    assert Team.objects.filter(pk=checkout.pk).exists()


# --- the audit log -----------------------------------------------------------------------------


def test_a_services_team_changed_in_the_database_breaks_the_chain(team_service, checkout):
    assert audit_chain_verify().ok
    EndpointService.objects.filter(pk=team_service.pk).update(team=checkout)
    report = audit_chain_verify()
    assert not report.ok and "owning team" in report.message


def test_a_route_changed_in_the_database_is_caught(
    login, team_service, requester, lead, approver, payments
):
    risky = ask_change(login(requester), team_service, auto_accept_enabled="on")
    assert risky.decided_by == Deciders.PLATFORM
    ServiceRequest.objects.filter(pk=risky.pk).update(
        decided_by=Deciders.TEAM, deciding_team=payments
    )
    # Either the decision is refused, or the log says the row is not what it recorded.
    decided = decide(login(lead), risky, "approve").status_code == 302
    assert not decided or not audit_chain_verify().ok


def test_a_route_given_in_the_database_to_a_request_never_routed_is_caught(requester, payments):
    draft = ServiceRequest.objects.create(requester=requester, region_id="cn-hangzhou")
    draft.record("created", actor=requester, details=draft.explained())
    assert audit_chain_verify().ok
    ServiceRequest.objects.filter(pk=draft.pk).update(
        decided_by=Deciders.TEAM, deciding_team=payments
    )
    broken = audit_chain_verify()
    assert not broken.ok and "no event routed it" in broken.message


# --- no 500s -------------------------------------------------------------------------------


def test_bad_ids_and_missing_teams_are_answered_not_500(
    client, login, team_service, requester, approver
):
    page = login(requester)
    assert page.get("/services/nope/transfer/").status_code == 404
    bad = page.post(
        f"/services/{team_service.service_id}/transfer/",
        {"team": "999999", "justification": "x", "action": "submit"},
    )
    assert bad.status_code == 400
    words = page.post(
        f"/services/{team_service.service_id}/transfer/",
        {"team": "abc", "justification": "x", "action": "submit"},
    )
    assert words.status_code == 400
    secret = token(requester)
    missing = call(
        client,
        "POST",
        f"services/{team_service.service_id}/transfer",
        secret,
        {"team": "nobody", "justification": "x"},
    )
    assert missing.status_code == 422
    assert (
        call(
            client, "POST", "services/nope/transfer", secret, {"team": "x", "justification": "x"}
        ).status_code
        == 404
    )
    assert page.get("/requests/99999999/status/?v=1").status_code == 404
    assert call(client, "GET", "requests/99999999", secret).status_code == 404
    adopt = call(
        client,
        "POST",
        f"services/{team_service.service_id}/adopt",
        token(approver),
        {"owner": requester.username, "team": "nobody", "justification": "x"},
    )
    assert adopt.status_code in (403, 409, 422), adopt.content


def test_a_poll_of_a_request_without_a_service_answers(login, requester):
    """The fast poll's query joins the service: a create request has none."""
    made = ServiceRequest.objects.create(requester=requester, region_id="cn-hangzhou")
    made.record("created", actor=requester, details=made.explained())
    version = ServiceRequest.objects.get(pk=made.pk).version
    assert login(requester).get(f"/requests/{made.pk}/status/?v={version}").status_code in (
        200,
        204,
        286,  # a draft: nothing to follow, stop polling
    )


def test_someone_in_no_team_who_names_one_through_the_api_is_told(client, requester, payments):
    """Someone in no team files for themselves; naming a team (theirs or not) is an error at
    the field, not silently dropped."""
    secret = token(requester)
    answer = call(client, "POST", "requests", secret, {**CREATE, "team": "payments"})
    assert answer.status_code == 422, answer.content
    assert "team" in {e["field"] for e in json.loads(answer.content)["errors"]}
    made = json.loads(call(client, "POST", "requests", secret, CREATE).content)
    assert made["target_team"] is None
    edited = call(
        client,
        "PUT",
        f"requests/{made['id']}",
        secret,
        {"revision": made["revision"], "team": "payments"},
    )
    assert edited.status_code == 422, edited.content
    assert ServiceRequest.objects.get(pk=made["id"]).target_team is None


def test_a_platform_approvers_stale_page_after_a_person_owned_service_changes_hands(
    login, service, requester, approver, checkout, taker
):
    """Who may connect to a service no team owns is its owner's or the approvers'; once a
    team takes it on, its members': an approver's page open from before decides nothing."""
    asking = ask_access(login(UserFactory(username="consumer")), service)
    assert asking.decided_by == Deciders.OWNER
    stale = {"revision": asking.revision, "digest": asking.digest()}
    join(UserFactory(username="checkmember"), checkout)
    assert transfer(login(requester), service, checkout).status_code == 302
    moved = ServiceRequest.objects.get(kind=Kind.TRANSFER)
    assert decide(login(taker), moved, "approve").status_code == 302
    run(provisioning.service_request_apply, moved.pk)
    asking.refresh_from_db()
    assert (asking.decided_by, asking.deciding_team) == (Deciders.TEAM_MEMBERS, checkout)
    login(approver).post(f"/requests/{asking.pk}/approve/", stale)
    login(requester).post(f"/requests/{asking.pk}/approve/", stale)
    assert not asking.approvals.exists()
    assert audit_chain_verify().ok


def test_a_draft_for_a_team_its_requester_has_left_is_not_submitted(client, requester, payments):
    """The team is named when the draft is made; by its submission the requester may have
    left it, and could then give a team a service on no member's word."""
    join(requester, payments)
    secret = token(requester)
    made = json.loads(
        call(client, "POST", "requests", secret, {**CREATE, "team": "payments"}).content
    )
    leave(requester, payments)
    answer = call(client, "POST", f"requests/{made['id']}/submit", secret)
    assert answer.status_code == 409, answer.content
    assert "not a member of the payments team" in answer.content.decode()
    assert ServiceRequest.objects.get(pk=made["id"]).state == State.DRAFT

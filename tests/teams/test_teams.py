"""Teams own services; requests are routed to who should decide them (policy.route)."""

import pytest
from django.core import mail

from portal.approvals import policy, queue
from portal.approvals import services as approval_services
from portal.audit.actions import Action
from portal.audit.models import AuditEvent
from portal.audit.services import audit_chain_verify
from portal.endpoint_services import keepers
from portal.endpoint_services.models import EndpointService
from portal.provisioning import services as provisioning
from portal.requests import services as requests
from portal.service_requests import exceptions
from portal.service_requests.models import Deciders, Kind, ServiceRequest, State
from portal.teams.models import Membership, Role, Source, Team
from tests.support.day2 import form, run
from tests.support.factories import ServiceRequestFactory, UserFactory
from tests.support.helpers import decide

pytestmark = pytest.mark.django_db
CONSUMER = "1000000000000003"


def join(user, team, role=Role.MEMBER):
    Membership.objects.update_or_create(team=team, user=user, defaults={"role": role})
    user.__dict__.pop("_portal_teams", None)
    return user


@pytest.fixture
def payments(db):
    return Team.objects.create(name="payments")


@pytest.fixture
def checkout(db):
    return Team.objects.create(name="checkout")


@pytest.fixture
def lead(payments):
    """The payments team's approver (not one of the platform's)."""
    return join(UserFactory(username="paylead"), payments, Role.APPROVER)


@pytest.fixture
def colleague(payments):
    return join(UserFactory(username="colleague"), payments)


@pytest.fixture
def team_service(service, payments, requester):
    """The `service` fixture's service, owned by the payments team (requester a member)."""
    join(requester, payments)
    return given_to(service, payments)


def given_to(service, team):
    """Give `service` to `team` as the portal does: sealed, so that the worker (which checks a
    service against its events before acting on a request about it) and verification agree."""
    service.team = team
    service.save(update_fields=["team", "updated_at"])
    service.record(
        Action.TRANSFERRED,
        actor=None,
        details={"to_team": team.name, "record": service.stewardship()},
        saved=True,
    )
    return service


def submitted(user, **fields):
    request = ServiceRequest.objects.create(requester=user, **fields)
    requests.service_request_submit(service_request=request, actor=user)
    request.refresh_from_db()
    return request


def ask_access(client, service, account=CONSUMER):
    response = client.post(
        f"/services/{service.service_id}/access/",
        {"account_id": account, "justification": "Billing reads it.", "action": "submit"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    return ServiceRequest.objects.filter(kind=Kind.ACCESS).latest("pk")


def ask_change(client, service, **changes):
    response = client.post(f"/services/{service.service_id}/change/", form(service, **changes))
    assert response.status_code == 302, response.content.decode()[:2000]
    return ServiceRequest.objects.filter(kind=Kind.CHANGE).latest("pk")


# --- the routing rules, as a table --------------------------------------------------------


ROUTES = [
    # (what is asked, of a service owned by, the team has a lead, expected deciders, team)
    ("create", None, True, Deciders.PLATFORM, None),
    ("change-safe", "payments", True, Deciders.TEAM, "payments"),
    ("change-safe", "payments", False, Deciders.PLATFORM, None),
    ("change-safe", None, True, Deciders.PLATFORM, None),
    ("change-risky", "payments", True, Deciders.PLATFORM, None),
    ("decommission", "payments", True, Deciders.PLATFORM, None),
    ("access", "payments", True, Deciders.TEAM_MEMBERS, "payments"),
    ("access", None, True, Deciders.OWNER, None),
    ("access-everyone", "payments", True, Deciders.PLATFORM, None),
    ("revoke", "payments", True, Deciders.TEAM_MEMBERS, "payments"),
    ("transfer", "payments", True, Deciders.TEAM, "checkout"),
    ("transfer-no-lead", "payments", True, Deciders.PLATFORM, None),
]


@pytest.mark.parametrize(("asked", "owner", "has_lead", "deciders", "team"), ROUTES)
def test_who_decides_each_kind_of_request(
    login, asked, owner, has_lead, deciders, team, service, requester, payments, checkout
):
    if owner:
        join(requester, payments)
        given_to(service, payments)
    if has_lead:
        join(UserFactory(), payments, Role.APPROVER)
    if asked == "transfer":
        join(UserFactory(), checkout, Role.APPROVER)
    client = login(requester)
    if asked == "create":
        request = ServiceRequestFactory(requester=requester)
    elif asked.startswith("change"):
        changes = {"auto_accept_enabled": "on"} if asked == "change-risky" else {}
        request = ask_change(client, service, service_description="Renamed", **changes)
        request.state = State.DRAFT  # route() judges the content as it stands
    elif asked == "decommission":
        request = requests.decommission_request_create(
            requester=requester, service=service, justification="Gone."
        )
    elif asked.startswith("access"):
        account = "*" if asked == "access-everyone" else CONSUMER
        request = requests.access_request_create(
            requester=requester, service=service, account_id=account, justification="x"
        )
    elif asked == "revoke":
        request = ServiceRequest.objects.create(
            kind=Kind.REVOKE, requester=requester, endpoint_service=service, account_id=CONSUMER
        )
    else:
        request = requests.transfer_request_create(
            requester=requester, service=service, team=checkout, justification="They run it now."
        )
    found = policy.route(request)
    assert (found.deciders, str(found.team) if found.team else None) == (deciders, team), found
    assert found.reason  # every route says why, for the page


def test_a_team_without_enough_people_sends_its_requests_to_the_platform(
    service, requester, payments
):
    join(requester, payments, Role.APPROVER)  # the only lead is the requester
    given_to(service, payments)
    request = ServiceRequest.objects.create(
        kind=Kind.CHANGE, requester=requester, endpoint_service=service
    )
    found = policy.route(request)
    assert found.deciders == Deciders.PLATFORM
    assert "nobody of the payments team's approvers other than the requester" in found.reason


# --- owner rights are any member's ----------------------------------------------------------


def test_any_member_of_the_owning_team_looks_after_the_service_and_the_person_no_longer(
    login, team_service, colleague, requester, payments
):
    assert keepers.owns(colleague, team_service)
    assert policy.change_refusal(colleague, team_service) is None
    page = login(colleague).get(f"/services/{team_service.service_id}/").content.decode()
    assert "owned by the <strong>payments</strong> team" in page
    assert "Transfer to a team" in page and "Decommission" in page
    change = login(colleague).get(f"/services/{team_service.service_id}/change/").content
    assert "owned by the payments team" in change.decode()
    assert "owner the" not in change.decode()
    # The one who asked for it leaves the team: the service is no longer theirs.
    Membership.objects.filter(user=requester).delete()
    requester.__dict__.pop("_portal_teams", None)
    assert not keepers.owns(requester, team_service)
    assert policy.change_refusal(requester, team_service) is not None
    assert login(requester).get(f"/services/{team_service.service_id}/change/").status_code == 403
    assert "Only mine" in login(colleague).get("/services/?mine=on").content.decode()
    mine = login(colleague).get("/services/", {"mine": "on"}).context["rows"]
    assert [s.pk for s in mine] == [team_service.pk]
    assert list(login(requester).get("/services/", {"mine": "on"}).context["rows"]) == []


def test_a_member_decides_who_connects_and_sees_the_request_another_team_does_not(
    login,
    team_service,
    colleague,
    requester2,
    checkout,
    simulator,
    django_capture_on_commit_callbacks,
):
    asked = ask_access(login(requester2), team_service)
    assert (asked.decided_by, asked.deciding_team.name) == (Deciders.TEAM_MEMBERS, "payments")
    outsider = join(UserFactory(username="outsider"), checkout)
    assert login(outsider).get(f"/requests/{asked.pk}/").status_code == 404
    page = login(colleague).get("/").content.decode()
    assert f"/requests/{asked.pk}/" in page  # on the member's dashboard
    detail = login(colleague).get(f"/requests/{asked.pk}/").content.decode()
    assert "The payments team&#x27;s members" in detail
    assert login(colleague).get(f"/requests/{asked.pk}/status/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        assert decide(login(colleague), asked, "approve").status_code == 302
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        run(provisioning.service_request_apply, asked.pk)
    asked.refresh_from_db()
    assert asked.state == State.APPLIED
    # Every owner hears of it (the team's members), not only the person who made the service.
    told = {address for m in mail.outbox if "about" in m.subject for address in m.to}
    assert told == {"colleague@example.com", "requester@example.com"}


def test_the_owner_in_person_decides_who_connects_and_nobody_else_reads_their_queue(
    login, service, requester, requester2, simulator
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    # The service no team owns is its person's: access to it waits on their dashboard.
    asked = ask_access(login(requester2), service)
    assert asked.decided_by == Deciders.OWNER
    # So does one submitted before routing (decided_by empty), but not for every account.
    legacy = ServiceRequest.objects.create(
        kind=Kind.ACCESS,
        requester=requester2,
        endpoint_service=service,
        account_id="1000000000000004",
        state=State.PENDING_APPROVAL,
    )
    ServiceRequest.objects.create(
        kind=Kind.ACCESS,
        requester=requester2,
        endpoint_service=service,
        account_id="*",
        state=State.PENDING_APPROVAL,
    )
    shown = login(requester).get("/").context["owner_queue"]
    assert sorted(r.pk for r in shown) == sorted([asked.pk, legacy.pk])
    # Someone who owns no service and is in no team decides nothing: their dashboard does not
    # look for what waits on them at all.
    nobody = UserFactory(username="nobody")
    client = login(nobody)
    client.get("/")
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/")
    assert page.context["owner_queue"] == []
    assert not [q["sql"] for q in queries.captured_queries if "pending_approval" in q["sql"]]


def test_a_safe_change_is_the_teams_approvers_and_waits_in_their_queue_only(
    login, team_service, lead, approver, requester, django_capture_on_commit_callbacks
):
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        asked = ask_change(login(requester), team_service, service_description="Orders API v2")
    assert asked.state == State.PENDING_APPROVAL
    assert (asked.decided_by, asked.deciding_team.name) == (Deciders.TEAM, "payments")
    submitted_event = asked.events.get(action="submit")
    assert "payments team's approvers" in submitted_event.details["deciders"]
    assert [u.username for u in policy.waiting_on(asked)] == ["paylead"]
    (asking,) = [m for m in mail.outbox if "awaits approval" in m.subject]
    assert asking.to == ["paylead@example.com"]
    queue.changed()
    assert [r.pk for r in login(lead).get("/approvals/").context["queue"].object_list] == [asked.pk]
    assert queue.pending_count(lead) == 1
    assert "the payments team decides" in login(lead).get("/approvals/").content.decode()
    # The platform's approvers are not asked, and may not decide it.
    assert queue.pending_count(approver) == 0
    assert policy.decision_refusal(approver, asked) == (
        "This request is for the payments team's approvers to decide."
    )
    assert decide(login(approver), asked, "approve").status_code == 403
    assert decide(login(lead), asked, "approve").status_code == 302
    asked.refresh_from_db()
    assert asked.state == State.APPROVED


def test_a_risky_change_of_a_teams_service_is_the_platforms(
    login, team_service, lead, approver, requester
):
    asked = ask_change(login(requester), team_service, auto_accept_enabled="on")
    assert asked.decided_by == Deciders.PLATFORM
    assert "risky" in asked.routing_reason
    assert policy.decision_refusal(lead, asked) is not None
    assert policy.decision_refusal(approver, asked) is None


def test_the_route_is_kept_from_the_submission(login, team_service, lead, requester, payments):
    asked = ask_change(login(requester), team_service, service_description="Orders API v2")
    # The team loses its lead after submission: the request stays theirs, and says so.
    Membership.objects.filter(user=lead).delete()
    lead.__dict__.pop("_portal_teams", None)
    asked.refresh_from_db()
    assert policy.routed(asked).deciders == Deciders.TEAM
    assert "waits for ever" in policy.policy_shortfall(asked)


# --- creating for a team ---------------------------------------------------------------------


def test_a_new_service_is_for_one_of_the_requesters_teams(login, requester, payments, checkout):
    join(requester, payments)
    page = login(requester).get("/requests/new/")
    assert page.context["editor"].form.fields["team"].queryset.get() == payments
    assert 'name="team"' in page.content.decode()
    data = {
        "region_id": "cn-hangzhou",
        "service_resource_type": "nlb",
        "address_ip_version": "IPv4",
        "payer": "Endpoint",
        "service_description": "Ledger",
        "justification": "x",
        "team": str(checkout.pk),
        "resources-TOTAL_FORMS": 1,
        "resources-INITIAL_FORMS": 0,
        "resources-0-resource_type": "nlb",
        "resources-0-resource_id": "nlb-hzpool000002",
        "resources-0-zone_id": "cn-hangzhou-h",
        "tags-TOTAL_FORMS": 0,
        "tags-INITIAL_FORMS": 0,
        "action": "draft",
    }
    refused = login(requester).post("/requests/new/", data)
    assert refused.status_code == 200
    assert "team" in refused.context["editor"].form.errors  # at the field, all else kept
    assert 'value="Ledger"' in refused.content.decode()
    assert not ServiceRequest.objects.exists()
    data["team"] = str(payments.pk)
    assert login(requester).post("/requests/new/", data).status_code == 302
    request = ServiceRequest.objects.get()
    assert request.target_team == payments
    with pytest.raises(exceptions.NotAllowed):
        requests.service_request_create(
            requester=requester,
            fields={"target_team": checkout, "region_id": "cn-hangzhou"},
            resources=[],
            tags=[],
        )


def test_a_created_service_belongs_to_the_team_named_and_the_log_checks_it(
    simulator, requester, payments, tmp_path, settings
):
    settings.AUDIT_CHECKPOINT_FILE = str(tmp_path / "checkpoints.jsonl")
    join(requester, payments)
    request = ServiceRequestFactory(requester=requester, state=State.APPROVED, target_team=payments)
    run(provisioning.service_request_provision, request.pk)
    request.refresh_from_db()
    assert request.state == State.ACTIVE
    assert request.endpoint_service.team == payments
    assert audit_chain_verify().ok
    # Someone gives the service to another team behind the portal's back: the log says so.
    other = Team.objects.create(name="quiet")
    EndpointService.objects.filter(pk=request.endpoint_service_id).update(team=other)
    broken = audit_chain_verify()
    assert not broken.ok and "owning team" in broken.message


# --- transfer ----------------------------------------------------------------------------


def test_a_transfer_is_accepted_by_the_receiving_teams_approvers_and_audited(
    login, team_service, requester, checkout, approver, tmp_path, settings
):
    settings.AUDIT_CHECKPOINT_FILE = str(tmp_path / "checkpoints.jsonl")
    taker = join(UserFactory(username="checklead"), checkout, Role.APPROVER)
    page = login(requester).get(f"/services/{team_service.service_id}/transfer/")
    assert page.status_code == 200
    missing = login(requester).post(
        f"/services/{team_service.service_id}/transfer/",
        {"justification": "Checkout runs it now.", "action": "submit"},
    )
    assert missing.status_code == 400
    assert "Choose the team that takes the service on." in missing.content.decode()
    response = login(requester).post(
        f"/services/{team_service.service_id}/transfer/",
        {"team": str(checkout.pk), "justification": "Checkout runs it now.", "action": "submit"},
    )
    assert response.status_code == 302
    asked = ServiceRequest.objects.get(kind=Kind.TRANSFER)
    assert asked.state == State.PENDING_APPROVAL
    assert (asked.decided_by, asked.deciding_team) == (Deciders.TEAM, checkout)
    # The receiving team sees and decides it; the platform's approvers do not decide it.
    assert login(taker).get(f"/requests/{asked.pk}/").status_code == 200
    assert decide(login(approver), asked, "approve").status_code == 403
    assert decide(login(taker), asked, "approve").status_code == 302
    # Meanwhile someone asks for access, which the payments team's members decide.
    asking = ask_access(login(UserFactory(username="consumer")), team_service)
    assert asking.deciding_team.name == "payments"
    run(provisioning.service_request_apply, asked.pk)
    asked.refresh_from_db()
    team_service.refresh_from_db()
    assert asked.state == State.APPLIED, asked.error_message
    assert team_service.team == checkout
    event = team_service.events.filter(action="transferred").last()  # the fixture's first
    assert (event.details["from_team"], event.details["to_team"]) == ("payments", "checkout")
    assert audit_chain_verify().ok
    # The old team's members no longer look after it; the new team's do.
    assert not keepers.owns(requester, team_service)
    assert keepers.owns(taker, team_service)
    # Who may connect was the old team's to decide: it is the new team's now.
    assert asking.refresh_from_db() is None and asking.deciding_team == checkout
    assert asking.events.filter(action="rerouted").exists()
    assert policy.decision_refusal(requester, asking) is not None
    # Running the finished step again (a worker's retry) changes and records nothing.
    provisioning._finish(asked.pk)
    assert team_service.events.filter(action="transferred").count() == 2  # the fixture's, and this


def test_only_the_owners_may_ask_for_a_transfer_and_not_to_the_team_that_owns_it(
    login, team_service, requester2, payments, requester
):
    assert (
        login(requester2).get(f"/services/{team_service.service_id}/transfer/").status_code == 403
    )
    assert policy.transfer_refusal(requester, team_service, payments) == (
        "The payments team owns the service already."
    )
    choices = login(requester).get(f"/services/{team_service.service_id}/transfer/")
    assert payments not in choices.context["form"].fields["team"].queryset


# --- the admin -------------------------------------------------------------------------------


def test_memberships_made_in_the_admin_are_audited_and_kept_at_sign_in(admin_client, payments):
    user = UserFactory(username="newcomer")
    response = admin_client.post(
        f"/admin/teams/team/{payments.pk}/change/",
        {
            "name": "payments",
            "memberships-TOTAL_FORMS": 1,
            "memberships-INITIAL_FORMS": 0,
            "memberships-0-user": user.pk,
            "memberships-0-role": Role.APPROVER,
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    membership = Membership.objects.get(user=user)
    assert (membership.role, membership.source) == (Role.APPROVER, Source.ADMIN)
    event = AuditEvent.objects.get(action="team_member_added")
    assert event.details == {
        "team": "payments",
        "user": "newcomer",
        "role": "approver",
        "source": "admin",
    }
    from portal.accounts.roles import user_teams_sync

    user_teams_sync(user=user, names=["checkout"])
    assert set(Membership.objects.filter(user=user).values_list("team__name", flat=True)) == {
        "payments",
        "checkout",
    }


def test_a_team_that_owns_services_cannot_be_deleted_in_the_admin(admin_client, team_service):
    response = admin_client.post(
        f"/admin/teams/team/{team_service.team_id}/delete/", {"post": "yes"}
    )
    assert response.status_code == 403
    assert Team.objects.filter(pk=team_service.team_id).exists()


def test_a_teams_approver_delegates_and_the_delegate_decides_for_the_team(
    login, team_service, lead, approver, requester
):
    from datetime import timedelta

    from django.utils import timezone

    stand_in = UserFactory(username="standin")
    now = timezone.now()
    approval_services.delegation_create(
        delegator=lead,
        delegate=stand_in,
        starts_at=now,
        ends_at=now + timedelta(days=3),
        reason="On leave.",
    )
    asked = ask_change(login(requester), team_service, service_description="Orders API v2")
    assert asked.deciding_team.name == "payments"
    assert policy.may_decide(stand_in, asked)
    page = login(stand_in).get("/approvals/").content.decode()
    assert f"/requests/{asked.pk}/" in page and "for paylead" in page
    assert decide(login(stand_in), asked, "approve").status_code == 302
    approval = asked.approvals.get()
    assert (approval.approver, approval.on_behalf_of) == (stand_in, lead)
    asked.refresh_from_db()
    assert asked.state == State.APPROVED


# --- the API ----------------------------------------------------------------------------------


def test_the_api_files_for_a_team_transfers_and_says_who_decides(
    client, team_service, requester, checkout, payments, lead
):
    import json

    from tests.support.api import CREATE, call, token

    secret = token(requester)
    me = json.loads(call(client, "GET", "me", secret).content)
    assert me["teams"] == [{"name": "payments", "role": "member"}]
    # A member of a team names one of theirs; none, or another, is refused at the field.
    missing = call(client, "POST", "requests", secret, CREATE)
    assert missing.status_code == 422
    assert "team" in {e["field"] for e in json.loads(missing.content)["errors"]}
    other = call(client, "POST", "requests", secret, {**CREATE, "team": "checkout"})
    assert other.status_code == 422
    unknown = call(client, "POST", "requests", secret, {**CREATE, "team": "nobody"})
    assert json.loads(unknown.content)["errors"] == [
        {"field": "team", "message": "No team is called 'nobody'."}
    ]
    made = call(client, "POST", "requests", secret, {**CREATE, "team": "payments"})
    assert made.status_code == 201, made.content
    body = json.loads(made.content)
    assert body["target_team"] == "payments"
    assert body["deciders"]["deciders"] == Deciders.PLATFORM
    # An edit keeps the team unless it names another.
    edited = call(
        client,
        "PUT",
        f"requests/{body['id']}",
        secret,
        {"revision": body["revision"], "service_description": "Edited"},
    )
    assert edited.status_code == 200, edited.content
    assert json.loads(edited.content)["target_team"] == "payments"
    # The service says its team; a transfer is routed to the receiving team's approvers.
    service = json.loads(call(client, "GET", f"services/{team_service.service_id}", secret).content)
    assert service["team"] == "payments"
    join(UserFactory(username="checklead"), checkout, Role.APPROVER)
    moved = call(
        client,
        "POST",
        f"services/{team_service.service_id}/transfer",
        secret,
        {"team": "checkout", "justification": "They run it."},
    )
    assert moved.status_code == 201, moved.content
    moved = json.loads(moved.content)
    assert (moved["kind"], moved["target_team"]) == ("transfer", "checkout")
    submitted = call(client, "POST", f"requests/{moved['id']}/submit", secret)
    assert json.loads(submitted.content)["deciders"] == {
        "deciders": "team",
        "team": "checkout",
        "who": "the checkout team's approvers",
        "reason": "the checkout team takes the service on",
    }
    same = call(
        client,
        "POST",
        f"services/{team_service.service_id}/transfer",
        secret,
        {"team": "payments", "justification": "x"},
    )
    assert same.status_code == 422
    assert "team" in {e["field"] for e in json.loads(same.content)["errors"]}

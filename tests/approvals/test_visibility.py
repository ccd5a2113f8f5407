"""Who sees a request: one rule (policy.visible_to), applied by the pages, the API and the poll.

The matrix spells the rule per object, independently of the filter, and compares both over
every kind of person and every way a request can name one.
"""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from portal.approvals import policy
from portal.approvals.models import Delegation
from portal.endpoint_services.models import EndpointService
from portal.requests import selectors, services
from portal.service_requests.models import Deciders, Kind, ServiceRequest, State
from portal.teams.models import Membership, Role, Team
from tests.support.api import call, token
from tests.support.factories import ServiceRequestFactory, UserFactory

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def member(team, username, role=Role.MEMBER):
    user = UserFactory(username=username)
    Membership.objects.create(team=team, user=user, role=role)
    return user


def lend(delegator, delegate, *, started=timedelta(days=1), ends_in=timedelta(days=1), **fields):
    now = timezone.now()
    return Delegation.objects.create(
        delegator=delegator,
        delegate=delegate,
        starts_at=now - started,
        ends_at=now + ends_in,
        reason="holiday",
        **fields,
    )


def pending(requester, **fields):
    return ServiceRequestFactory(
        requester=requester, state=State.PENDING_APPROVAL, history=False, **fields
    )


@pytest.fixture
def world(requester, requester2, approver, auditor, admin_user):
    payments, orders, infra = (Team.objects.create(name=n) for n in ("payments", "orders", "infra"))
    owner = UserFactory(username="owner")
    person_service = EndpointService.objects.create(
        service_id="epsrv-person0000000000001", region_id="cn-hangzhou", owner=owner
    )
    # Its owner field names `owner` too, who sees it only as long as no team owns it.
    team_service = EndpointService.objects.create(
        service_id="epsrv-team00000000000001", region_id="cn-hangzhou", owner=owner, team=payments
    )
    people = {
        "requester": requester,
        "stranger": requester2,
        "owner": owner,
        "payments member": member(payments, "pay-member"),
        "payments approver": member(payments, "pay-approver", Role.APPROVER),
        "orders member": member(orders, "orders-member"),
        "infra member": member(infra, "infra-member"),
        "approver": approver,
        "auditor": auditor,
        "superuser": admin_user,
        "anonymous": AnonymousUser(),
    }
    for name in ("active", "expired", "revoked", "upcoming", "team", "owner's", "inactive's"):
        people[f"delegate ({name})"] = UserFactory(username=f"delegate-{name[:6]}")
    lend(approver, people["delegate (active)"])
    lend(approver, people["delegate (expired)"], started=timedelta(days=3), ends_in=-timedelta(1))
    lend(approver, people["delegate (revoked)"], revoked_at=timezone.now() - timedelta(hours=1))
    lend(approver, people["delegate (upcoming)"], started=-timedelta(hours=1))
    lend(people["payments approver"], people["delegate (team)"])
    lend(owner, people["delegate (owner's)"])
    gone = UserFactory(username="gone", is_active=False)
    gone.groups.add(approver.groups.get())
    lend(gone, people["delegate (inactive's)"])

    requests = {
        "draft, no service": ServiceRequestFactory(requester=requester, history=False),
        # A team decides it once submitted; no delegate of the platform's approvers sees it.
        "change draft, team's service": ServiceRequestFactory(
            requester=requester, kind=Kind.CHANGE, endpoint_service=team_service, history=False
        ),
        "create, no service": pending(requester, decided_by=Deciders.PLATFORM),
        "create for orders": pending(requester, decided_by=Deciders.PLATFORM, target_team=orders),
        "change, person's service": pending(
            requester, kind=Kind.CHANGE, endpoint_service=person_service, decided_by="platform"
        ),
        "access, person's service": pending(
            requester2,
            kind=Kind.ACCESS,
            account_id="1234567890123456",
            endpoint_service=person_service,
            decided_by=Deciders.OWNER,
        ),
        "change, team's service": pending(
            requester,
            kind=Kind.CHANGE,
            endpoint_service=team_service,
            decided_by=Deciders.TEAM,
            deciding_team=payments,
        ),
        "access, team's service": pending(
            requester,
            kind=Kind.ACCESS,
            account_id="1234567890123456",
            endpoint_service=team_service,
            decided_by=Deciders.TEAM_MEMBERS,
            deciding_team=payments,
        ),
        "transfer to infra": pending(
            requester,
            kind=Kind.TRANSFER,
            endpoint_service=team_service,
            target_team=infra,
            decided_by=Deciders.TEAM,
            deciding_team=infra,
        ),
        "routed to infra, rejected": ServiceRequestFactory(
            requester=requester,
            state=State.REJECTED,
            history=False,
            decided_by=Deciders.TEAM,
            deciding_team=infra,
        ),
        "the approver's own": pending(approver, decided_by=Deciders.PLATFORM),
    }
    return people, requests


EVERY = {
    "draft, no service",
    "change draft, team's service",
    "create, no service",
    "create for orders",
    "change, person's service",
    "access, person's service",
    "change, team's service",
    "access, team's service",
    "transfer to infra",
    "routed to infra, rejected",
    "the approver's own",
}
# What the approver decides (every request routed to the platform or to an owner, and one
# not routed yet), less their own and the drafts nobody decides yet: what their delegate sees.
APPROVERS = {
    "create, no service",
    "create for orders",
    "change, person's service",
    "access, person's service",
}
SEES = {
    "requester": EVERY - {"access, person's service", "the approver's own"},
    "stranger": {"access, person's service"},
    "owner": {"change, person's service", "access, person's service"},
    "payments member": {
        "change draft, team's service",
        "change, team's service",
        "access, team's service",
        "transfer to infra",
    },
    "payments approver": {
        "change draft, team's service",
        "change, team's service",
        "access, team's service",
        "transfer to infra",
    },
    "orders member": {"create for orders"},
    "infra member": {"transfer to infra", "routed to infra, rejected"},
    "approver": EVERY,
    "auditor": EVERY,
    "superuser": EVERY,
    "anonymous": set(),
    "delegate (active)": APPROVERS,
    "delegate (expired)": set(),
    "delegate (revoked)": set(),
    "delegate (upcoming)": set(),
    # A team's approver is one of its members too: they decide who may connect.
    "delegate (team)": {"change, team's service", "access, team's service"},
    "delegate (owner's)": {"access, person's service"},
    "delegate (inactive's)": set(),
}


def sees(user, service_request):
    """The rule, spelled per object: what the filter must agree with."""
    from portal.accounts import rights
    from portal.teams import services as teams

    if not user.is_authenticated:
        return False
    if rights.is_approver(user) or rights.is_auditor(user):
        return True
    service = service_request.endpoint_service
    if user.pk == service_request.requester_id:
        return True
    if service is not None and service.team_id is None and service.owner_id == user.pk:
        return True
    named = {service.team_id if service else None}
    named |= {service_request.deciding_team_id, service_request.target_team_id}
    if (named - {None}) & teams.team_ids(user):
        return True
    # A delegate decides, and so sees, nothing still being written.
    return not service_request.is_editable and bool(policy.deciding_for(user, service_request))


def test_the_filter_is_the_rule_for_everyone_and_every_request(world):
    people, requests = world
    names = {r.pk: name for name, r in requests.items()}
    for who, user in people.items():
        found = {
            names[pk]
            for pk in ServiceRequest.objects.filter(policy.visible_to(user)).values_list(
                "pk", flat=True
            )
        }
        assert found == SEES[who], who
        for name, service_request in requests.items():
            assert sees(user, service_request) == (name in found), (who, name)


def test_the_polls_compiled_query_answers_as_the_filter(world):
    people, requests = world
    for who, user in people.items():
        for name, service_request in requests.items():
            if user.is_authenticated:
                # Fresh, as each poll's user is: nothing read of their roles yet.
                user = get_user_model().objects.get(pk=user.pk)
            row = selectors.request_version(user, service_request.pk)
            if name in SEES[who]:
                assert row == (service_request.version, service_request.state), (who, name)
            else:
                assert row is None, (who, name)


def test_roles_read_before_the_filter_give_the_same_answer(world):
    people, _requests = world
    from portal.accounts import rights

    for who, user in people.items():
        before = set(
            ServiceRequest.objects.filter(policy.visible_to(user)).values_list("pk", flat=True)
        )
        rights.is_approver(user)  # reads the roles and keeps them on the user object
        after = set(
            ServiceRequest.objects.filter(policy.visible_to(user)).values_list("pk", flat=True)
        )
        assert before == after, who


def test_every_page_and_the_api_404_a_request_the_user_does_not_see(client, world):
    people, requests = world
    hidden = requests["change, team's service"]
    shown = requests["create for orders"]
    for who in ("stranger", "delegate (expired)", "orders member"):
        client.force_login(people[who])
        for path in ("", "status/", f"status/?v={hidden.version}", "calls/"):
            response = client.get(f"/requests/{hidden.pk}/{path}", headers=HTMX)
            assert response.status_code == 404, (who, path)
        secret = token(people[who], "read")
        assert call(client, "GET", f"requests/{hidden.pk}", secret).status_code == 404, who
    client.force_login(people["orders member"])
    assert client.get(f"/requests/{shown.pk}/").status_code == 200
    assert call(client, "GET", f"requests/{shown.pk}", secret).status_code == 200


@pytest.fixture
def submitted(requester):
    request = ServiceRequestFactory(requester=requester, auto_accept_enabled=True)
    services.service_request_submit(service_request=request, actor=requester)
    request.refresh_from_db()
    return request


def test_a_delegates_unchanged_poll_is_an_empty_204_in_one_query(
    login, submitted, approver, requester2, django_assert_num_queries
):
    lend(approver, requester2)
    client = login(requester2)
    url = f"/requests/{submitted.pk}/status/?v={submitted.version}"
    # The session, the user, and one query for the version and the right to see it.
    with django_assert_num_queries(3):
        response = client.get(url, headers=HTMX)
    assert response.status_code == 204
    assert response.content == b""


def test_a_strangers_poll_is_404_with_or_without_the_version(login, submitted, requester2):
    client = login(requester2)
    for query in (f"?v={submitted.version}", ""):
        response = client.get(f"/requests/{submitted.pk}/status/{query}", headers=HTMX)
        assert response.status_code == 404, query


def test_a_poll_after_the_delegation_ends_is_404(login, submitted, approver, requester2):
    delegation = lend(approver, requester2)
    client = login(requester2)
    url = f"/requests/{submitted.pk}/status/?v={submitted.version}"
    assert client.get(url, headers=HTMX).status_code == 204
    Delegation.objects.filter(pk=delegation.pk).update(revoked_at=timezone.now())
    assert client.get(url, headers=HTMX).status_code == 404


@pytest.mark.parametrize("who", ["requester", "approver2", "auditor"])
def test_everyone_who_sees_it_polls_unchanged_in_one_query(
    request, login, submitted, who, django_assert_num_queries
):
    client = login(request.getfixturevalue(who))
    url = f"/requests/{submitted.pk}/status/?v={submitted.version}"
    with django_assert_num_queries(3):
        assert client.get(url, headers=HTMX).status_code == 204


def test_a_poll_of_an_id_no_database_holds_is_404(login, requester):
    client = login(requester)
    for pk in (10**20, 2**63):
        response = client.get(f"/requests/{pk}/status/", {"v": "1"}, headers=HTMX)
        assert response.status_code == 404

"""The API names a create request's cloud account as the form does: by name, one of the
requester's teams', checked at the field."""

import pytest

from portal.service_requests.models import ServiceRequest
from portal.teams.models import AccountTeam, CloudAccount, Membership, Team
from tests.support.api import CREATE, call, token

pytestmark = pytest.mark.django_db


@pytest.fixture
def payments(requester):
    team = Team.objects.create(name="payments")
    Membership.objects.create(team=team, user=requester)
    account = CloudAccount.objects.create(
        name="networking",
        uid="1000000000000001",
        role_arn="acs:ram::1000000000000001:role/PrivateLinkPortal",
        regions=["cn-hangzhou"],
    )
    AccountTeam.objects.create(account=account, team=team)
    CloudAccount.objects.create(
        name="elsewhere",
        uid="1000000000000005",
        role_arn="acs:ram::1000000000000005:role/PrivateLinkPortal",
        regions=["cn-hangzhou"],
    )
    return team, account


def test_a_create_names_its_account_by_name(client, requester, payments):
    _team, account = payments
    secret = token(requester)
    body = {**CREATE, "team": "payments", "cloud_account": "networking"}
    response = call(client, "POST", "requests", secret, body)
    assert response.status_code == 201, response.content
    assert response.json()["cloud_account"] == "networking"
    assert ServiceRequest.objects.get().cloud_account == account


@pytest.mark.parametrize(
    ("named", "message"),
    [
        (None, "This field is required."),
        ("elsewhere", "Select a valid choice"),
        ("nowhere", "No cloud account is called 'nowhere'."),
    ],
)
def test_an_account_left_out_or_not_the_teams_is_refused_at_the_field(
    client, requester, payments, named, message
):
    secret = token(requester)
    body = {**CREATE, "team": "payments", **({"cloud_account": named} if named else {})}
    response = call(client, "POST", "requests", secret, body)
    assert response.status_code == 422, response.content
    errors = response.json()["errors"]
    assert any(e["field"] == "cloud_account" and message in e["message"] for e in errors), errors
    assert not ServiceRequest.objects.exists()


def test_the_load_balancers_of_a_teams_account_and_no_other(client, requester, payments):
    secret = token(requester)
    query = "load-balancers?region_id=cn-hangzhou&service_resource_type=slb"
    own = call(client, "GET", query, secret)
    assert own.status_code == 200
    assert "lb-hzpay0000000000000001" not in {lb["id"] for lb in own.json()["load_balancers"]}
    payments_prod = CloudAccount.objects.create(
        name="payments-prod",
        uid="1000000000000004",
        role_arn="acs:ram::1000000000000004:role/PrivateLinkPortal",
        regions=["cn-hangzhou"],
    )
    AccountTeam.objects.create(account=payments_prod, team=payments[0])
    theirs = call(client, "GET", f"{query}&cloud_account=payments-prod", secret)
    assert theirs.status_code == 200
    assert {lb["id"] for lb in theirs.json()["load_balancers"]} == {"lb-hzpay0000000000000001"}
    other = call(client, "GET", f"{query}&cloud_account=elsewhere", secret)
    assert other.status_code == 422
    assert other.json()["errors"][0]["field"] == "cloud_account"

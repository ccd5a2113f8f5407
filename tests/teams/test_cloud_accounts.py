"""Cloud accounts: sealed records of where the portal works and as whom, and a team's create
form that offers the team's accounts only."""

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from portal.audit.models import AuditEvent
from portal.audit.services import audit_chain_verify
from portal.cloud import services as cloud
from portal.service_requests.models import ServiceRequest
from portal.teams.models import AccountTeam, CloudAccount, Membership, Role, Team

pytestmark = pytest.mark.django_db
PAYMENTS_UID = "1000000000000004"


def account(name="payments-prod", uid=PAYMENTS_UID, regions=("cn-shanghai",), teams=()):
    made = CloudAccount.objects.create(
        name=name,
        uid=uid,
        role_arn=f"acs:ram::{uid}:role/PrivateLinkPortal",
        regions=list(regions),
    )
    for team in teams:
        AccountTeam.objects.create(account=made, team=team)
    return made


def member(user, name="payments", role=Role.MEMBER):
    team, _ = Team.objects.get_or_create(name=name)
    Membership.objects.create(team=team, user=user, role=role)
    return team


def recorded(table):
    return list(
        AuditEvent.objects.filter(action="right_recorded", details__table=table)
        .order_by("seq")
        .values_list("details", flat=True)
    )


def test_an_account_and_its_teams_are_sealed_however_written():
    team = Team.objects.create(name="payments")
    made = account(teams=[team])
    [row] = recorded("cloud_account")
    assert row["row"] == {
        "uid": PAYMENTS_UID,
        "name": "payments-prod",
        "role_arn": f"acs:ram::{PAYMENTS_UID}:role/PrivateLinkPortal",
        "regions": ["cn-shanghai"],
    }
    [link] = recorded("cloud_account_team")
    assert link["row"] == {"account": made.pk, "team": team.pk}
    assert link["label"] == {"account": "payments-prod", "team": "payments"}
    made.regions = ["cn-shanghai", "cn-hangzhou"]
    made.save()
    assert recorded("cloud_account")[-1]["row"]["regions"] == ["cn-shanghai", "cn-hangzhou"]
    report = audit_chain_verify()
    assert report.ok and report.rights_checked >= 2


def test_a_role_written_in_the_database_is_named_by_verification():
    made = account()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE teams_cloudaccount SET role_arn = %s WHERE id = %s",
            ["acs:ram::1000000000000003:role/Elsewhere", made.pk],
        )
    report = audit_chain_verify()
    assert not report.ok
    assert "cloud_account" in report.message and "role_arn" in report.message


def test_a_team_linked_in_the_database_is_named_by_verification():
    made = account()
    team = Team.objects.create(name="checkout")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO teams_accountteam (account_id, team_id, created_at) "
            "VALUES (%s, %s, CURRENT_TIMESTAMP)",
            [made.pk, team.pk],
        )
    report = audit_chain_verify()
    assert not report.ok
    assert "cloud_account_team" in report.message


@pytest.mark.parametrize(
    ("role_arn", "regions", "field"),
    [
        ("acs:ram::1000000000000003:role/PrivateLinkPortal", ["cn-shanghai"], "role_arn"),
        ("arn:aws:iam::123:role/x", ["cn-shanghai"], "role_arn"),
        (f"acs:ram::{PAYMENTS_UID}:role/PrivateLinkPortal", ["Shanghai"], "regions"),
        (f"acs:ram::{PAYMENTS_UID}:role/PrivateLinkPortal", "cn-shanghai", "regions"),
    ],
)
def test_an_account_names_a_role_in_itself_and_region_ids(role_arn, regions, field):
    made = CloudAccount(name="x", uid=PAYMENTS_UID, role_arn=role_arn, regions=regions)
    with pytest.raises(ValidationError) as refused:
        made.full_clean()
    assert field in refused.value.message_dict


def test_the_reach_of_an_account_and_of_a_service_without_one():
    made = account()
    assert made.reach() == cloud.Reach(
        PAYMENTS_UID, f"acs:ram::{PAYMENTS_UID}:role/PrivateLinkPortal"
    )
    assert ServiceRequest(region_id="cn-shanghai").reach() == cloud.HOME


def test_the_create_form_offers_the_teams_accounts_only(login, requester):
    team = member(requester)
    mine = account(teams=[team])
    account(
        name="checkout-prod", uid="1000000000000005", teams=[Team.objects.create(name="checkout")]
    )
    html = login(requester).get("/requests/new/").content.decode()
    assert 'name="cloud_account"' in html
    assert "payments-prod (1000000000000004)" in html
    assert "checkout-prod" not in html
    # The only one: chosen already.
    assert f'<option value="{mine.pk}" selected>' in html


def test_a_form_without_account_records_has_no_account_field(login, requester):
    member(requester)
    html = login(requester).get("/requests/new/").content.decode()
    assert 'name="cloud_account"' not in html


def _create_form(team, account_pk, region="cn-shanghai", action="draft"):
    return {
        "action": action,
        "region_id": region,
        "service_resource_type": "slb",
        "address_ip_version": "IPv4",
        "payer": "Endpoint",
        "service_description": "Ledger",
        "team": str(team.pk),
        "cloud_account": str(account_pk),
        "justification": "The ledger needs it.",
        "resources-TOTAL_FORMS": "1",
        "resources-INITIAL_FORMS": "0",
        "resources-0-resource_type": "slb",
        "resources-0-resource_id": "lb-payments-sh-1",
        "resources-0-zone_id": "",
        "tags-TOTAL_FORMS": "0",
        "tags-INITIAL_FORMS": "0",
    }


def test_a_draft_names_its_account_and_the_approval_binds_to_it(login, requester):
    team = member(requester)
    mine = account(teams=[team])
    response = login(requester).post("/requests/new/", _create_form(team, mine.pk))
    assert response.status_code == 302, response.content.decode()[-3000:]
    made = ServiceRequest.objects.get()
    assert made.cloud_account == mine
    assert made.content()["cloud_account"] == mine.pk
    assert made.reach() == mine.reach()


@pytest.mark.parametrize("case", ["other_team", "other_region", "unknown"])
def test_an_account_the_team_may_not_use_is_refused_at_the_field(login, requester, case):
    team = member(requester)
    mine = account(teams=[team])
    other = account(
        name="checkout-prod", uid="1000000000000005", teams=[Team.objects.create(name="checkout")]
    )
    region = "cn-hangzhou" if case == "other_region" else "cn-shanghai"
    pk = {"other_team": other.pk, "other_region": mine.pk, "unknown": 999}[case]
    response = login(requester).post("/requests/new/", _create_form(team, pk, region=region))
    assert response.status_code == 200
    html = response.content.decode()
    expected = {
        "other_team": "Select a valid choice",
        "unknown": "Select a valid choice",
        "other_region": "does not work in cn-hangzhou in the payments-prod account",
    }[case]
    assert expected in html
    assert not ServiceRequest.objects.exists()


def test_a_company_account_is_asked_for_by_name_and_shown_by_name(
    client, requester, requester2, service, simulator
):
    account(name="analytics", uid="1000000000000003")
    client.force_login(requester2)
    page = client.get(f"/services/{service.service_id}/access/").content.decode()
    assert '<datalist id="company-accounts"><option value="analytics (1000000000000003)">' in page
    response = client.post(
        f"/services/{service.service_id}/access/",
        {
            "account_id": "analytics (1000000000000003)",
            "justification": "Reports read orders.",
            "action": "submit",
        },
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    assert ServiceRequest.objects.get(kind="access").account_id == "1000000000000003"


def test_the_allow_list_names_company_accounts_and_shows_entries_by_arn(
    client, requester, service, simulator
):
    from tests.support.day2 import sdk

    account(name="analytics", uid="1000000000000003")
    sdk(
        simulator,
        "AddUserToVpcEndpointService",
        service_id=service.service_id,
        user_arn="acs:ram:*:1000000000000003:*",
    )
    client.force_login(requester)
    client.post(f"/services/{service.service_id}/refresh/")
    html = client.get(f"/services/{service.service_id}/").content.decode()
    row = html[html.index('id="allowed-1000000000000003"') :][:600]
    assert "<strong>analytics</strong> <code>1000000000000003</code>" in row
    assert "by ARN <code>acs:ram:*:1000000000000003:*</code>" in row


def test_the_catalog_and_a_request_name_their_account(login, requester):
    from portal.endpoint_services.models import EndpointService

    team = member(requester)
    mine = account(teams=[team])
    EndpointService.objects.create(
        service_id="epsrv-accountnamed0000000", region_id="cn-shanghai", cloud_account=mine
    )
    listed = login(requester).get("/services/").content.decode()
    row = listed[listed.index("epsrv-accountnamed0000000") :][:1500]
    assert "payments-prod<br><small" in row and "1000000000000004" in row
    response = login(requester).post("/requests/new/", _create_form(team, mine.pk))
    page = login(requester).get(response.url).content.decode()
    assert 'id="request-account">payments-prod <small class="muted">(1000000000000004)' in page


def test_an_external_id_is_part_of_the_sealed_record_once_set():
    made = account()
    assert "external_id" not in recorded("cloud_account")[-1]["row"]
    made.external_id = "privatelink-portal-7f3a"
    made.save()
    assert recorded("cloud_account")[-1]["row"]["external_id"] == "privatelink-portal-7f3a"
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE teams_cloudaccount SET external_id = %s WHERE id = %s", ["guessed", made.pk]
        )
    report = audit_chain_verify()
    assert not report.ok and "external_id" in report.message

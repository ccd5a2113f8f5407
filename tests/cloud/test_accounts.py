"""Many accounts through their roles, each region at its own endpoint: the official STS and
PrivateLink SDKs against the simulator's organization (simulator/inventory.json) over HTTP."""

import logging

import pytest
from alibabacloud_privatelink20200415 import models
from alibabacloud_tea_openapi.exceptions import ClientException
from django.core.management import call_command
from django.core.management.base import CommandError

from portal.cloud import services as cloud
from portal.provisioning import services as provisioning
from portal.service_requests.models import State
from portal.teams.models import AccountTeam, CloudAccount, Team
from tests.support.day2 import run
from tests.support.factories import ServiceRequestFactory

pytestmark = pytest.mark.django_db
NETWORKING, PAYMENTS, CONSUMER = "1000000000000001", "1000000000000004", "1000000000000003"
PAYMENTS_KEYS = ("payments-access-key-id", "payments-access-key-secret")
SHANGHAI = "cn-shanghai"


def role(uid, name="PrivateLinkPortal"):
    return f"acs:ram::{uid}:role/{name}"


@pytest.fixture(autouse=True)
def fresh_sessions(monkeypatch):
    """Each test assumes its roles afresh: sessions are per process, the simulator per test."""
    monkeypatch.setattr(cloud, "_sessions", {})


@pytest.fixture
def payments():
    team = Team.objects.create(name="payments")
    account = CloudAccount.objects.create(
        name="payments-prod", uid=PAYMENTS, role_arn=role(PAYMENTS), regions=[SHANGHAI]
    )
    AccountTeam.objects.create(account=account, team=team)
    return account


def first_load_balancer(reach, resource_type="slb", region_id=SHANGHAI):
    found, warning = cloud.load_balancers(
        resource_type=resource_type, region_id=region_id, reach=reach
    )
    assert not warning, warning
    usable = [lb for lb in found["load_balancers"] if lb["privatelink"]]
    assert usable, found
    return usable[0]


def approved_in(account, requester):
    """An approved create request for one of `account`'s Shanghai load balancers."""
    lb = first_load_balancer(account.reach())
    return ServiceRequestFactory(
        requester=requester,
        state=State.APPROVED,
        region_id=SHANGHAI,
        service_resource_type="slb",
        cloud_account=account,
        target_team=Team.objects.get(name="payments"),
        resources=[{"resource_type": "slb", "resource_id": lb["id"], "zone_id": ""}],
    )


def test_a_role_session_is_assumed_once_and_speaks_for_its_account(payments):
    reach = payments.reach()
    who, record = cloud.caller_identity(reach)
    assert who["account_id"] == PAYMENTS
    assert who["arn"].startswith(f"acs:ram::{PAYMENTS}:assumed-role/privatelinkportal/")
    assert record.account == PAYMENTS
    for _ in range(3):
        cloud.endpoint_services_page(region_id=SHANGHAI, reach=reach)
    assert cloud.role_session(payments.role_arn).assumed == 1
    own, _record = cloud.caller_identity()
    assert own["account_id"] == NETWORKING


def test_each_account_sees_its_own_load_balancers_and_services(payments, simulator):
    reach = payments.reach()
    theirs = first_load_balancer(reach)
    ours, _warning = cloud.load_balancers(resource_type="slb", region_id=SHANGHAI)
    assert theirs["id"] not in {lb["id"] for lb in ours["load_balancers"]}
    fields = {"region_id": SHANGHAI, "service_resource_type": "slb"}
    rows = [{"resource_type": "slb", "resource_id": theirs["id"], "zone_id": ""}]
    body, record = cloud.endpoint_service_create(
        fields=fields, resources=rows, tags=[], client_token="acct-1", reach=reach
    )
    service_id = body["ServiceId"]
    assert record.account == PAYMENTS
    # The account's own keys see it; the portal's own identity (another account) does not.
    mine = simulator.make_client(*PAYMENTS_KEYS)
    listed = mine.list_vpc_endpoint_services(
        models.ListVpcEndpointServicesRequest(region_id=SHANGHAI, service_id=service_id)
    ).body.services
    assert [s.service_id for s in listed] == [service_id]
    with pytest.raises(cloud.CloudError) as elsewhere:
        cloud.endpoint_service_get(region_id=SHANGHAI, service_id=service_id)
    assert elsewhere.value.code == "EndpointServiceNotFound"
    # Another account's load balancer is not the role's to use.
    other = first_load_balancer(cloud.HOME, region_id="cn-hangzhou")
    refused = cloud.endpoint_service_dry_run(
        fields={"region_id": "cn-hangzhou", "service_resource_type": "slb"},
        resources=[{"resource_type": "slb", "resource_id": other["id"], "zone_id": ""}],
        tags=[],
        reach=reach,
    )
    assert not refused.ok and refused.code == "LoadBalancerNotFound"


def test_a_session_is_renewed_before_it_expires(payments, monkeypatch, settings):
    settings.CLOUD_ROLE_SESSION_SECONDS = 900
    session = cloud.role_session(payments.role_arn)
    first = session.get_credential()
    now = cloud._now()
    monkeypatch.setattr(cloud, "_now", lambda: now + 900 - cloud.SESSION_MARGIN_SECONDS + 1)
    second = session.get_credential()
    assert session.assumed == 2
    assert second.access_key_id != first.access_key_id
    # Back at the moment the new session began: it serves the calls without another.
    monkeypatch.setattr(cloud, "_now", lambda: now)
    cloud.endpoint_services_page(region_id=SHANGHAI, reach=payments.reach())
    assert session.assumed == 2


def test_a_token_the_cloud_calls_expired_is_assumed_afresh_once(
    payments, simulator_server, monkeypatch
):
    reach = payments.reach()
    cloud.endpoint_services_page(region_id=SHANGHAI, reach=reach)
    backend = simulator_server.gateway.backend
    real_clock = backend.clock
    # The cloud's clock is an hour and more ahead of the portal's: the session has lapsed there.
    monkeypatch.setattr(backend, "clock", lambda: real_clock() + 3700)
    _body, record = cloud.endpoint_services_page(region_id=SHANGHAI, reach=reach)
    assert record.outcome == "ok"
    assert cloud.role_session(payments.role_arn).assumed == 2


def test_a_role_that_does_not_trust_the_portal_is_refused_with_its_code():
    reach = cloud.Reach(uid=CONSUMER, role_arn=role(CONSUMER, "Audit"))
    with pytest.raises(cloud.CloudError) as refused:
        cloud.endpoint_services_page(region_id=SHANGHAI, reach=reach)
    assert refused.value.code == "NoPermission"
    assert not refused.value.transient
    with pytest.raises(cloud.CloudError) as missing:
        cloud.caller_identity(cloud.Reach(uid=PAYMENTS, role_arn=role(PAYMENTS, "Nobody")))
    assert missing.value.code == "EntityNotExist.Role"


def test_each_region_is_called_at_its_own_endpoint(settings, simulator, caplog):
    """No endpoint forced: the SDK's map names each region's; the simulator, as a proxy,
    shows which host each call was sent to."""
    settings.PRIVATELINK_ENDPOINT = ""
    settings.PRIVATELINK_PROXY = f"http://{simulator.endpoint}"
    caplog.set_level(logging.INFO, logger="simulator")
    for region_id in ("cn-shanghai", "cn-hangzhou"):
        _body, record = cloud.endpoint_services_page(region_id=region_id)
        assert record.outcome == "ok"
        assert cloud.get_client(cloud.HOME, region_id)._endpoint == (
            f"privatelink.{region_id}.aliyuncs.com"
        )
    hosts = [m for m in caplog.messages if m.startswith("ListVpcEndpointServices") and "host=" in m]
    assert "host=privatelink.cn-shanghai.aliyuncs.com" in hosts[0]
    assert "host=privatelink.cn-hangzhou.aliyuncs.com" in hosts[1]


def test_a_create_request_in_a_teams_account_goes_active_through_its_role(
    requester, payments, simulator
):
    request = approved_in(payments, requester)
    run(provisioning.service_request_provision, request.pk)
    request.refresh_from_db()
    assert request.state == State.ACTIVE, (request.error_code, request.error_message)
    service = request.endpoint_service
    assert service.cloud_account == payments
    assert service.stewardship()["account"] == payments.pk
    calls = [
        e.details["cloud_call"] for e in request.events.filter(action="cloud_call").order_by("seq")
    ]
    assert calls and all(call["account"] == PAYMENTS for call in calls)
    with pytest.raises(ClientException):
        simulator.client.get_vpc_endpoint_service_attribute(
            models.GetVpcEndpointServiceAttributeRequest(
                region_id=SHANGHAI, service_id=service.service_id
            )
        )


def test_the_preflight_passes_for_a_role_that_may_do_everything(payments, capsys):
    call_command("cloud_preflight")
    out = capsys.readouterr().out
    assert "assume role" in out and "acs:ram::1000000000000004:assumed-role/" in out
    for check in ("list services", "list load balancers", "dry-run a create", "dry-run a change"):
        assert f"{check}" in out
    assert "refused" not in out
    assert "every check passed" in out


def test_the_preflight_names_each_refusal_and_its_fix(capsys):
    CloudAccount.objects.create(
        name="payments-prod", uid=PAYMENTS, role_arn=role(PAYMENTS, "ReadOnly"), regions=[SHANGHAI]
    )
    with pytest.raises(CommandError, match="refused"):
        call_command("cloud_preflight")
    out = capsys.readouterr().out
    create = next(line for line in out.splitlines() if "dry-run a create" in line)
    assert "refused" in create and "Forbidden.RAM" in create
    assert "attach docs/ram-policy.json to the role" in create
    listing = next(line for line in out.splitlines() if "list services" in line)
    assert " ok " in listing, out
    CloudAccount.objects.create(
        name="analytics", uid=CONSUMER, role_arn=role(CONSUMER, "Audit"), regions=[SHANGHAI]
    )
    with pytest.raises(CommandError):
        call_command("cloud_preflight", "--account", "analytics")
    out = capsys.readouterr().out
    assert "assume role" in out and "NoPermission" in out
    assert "acs:ram::1000000000000001:root" in out  # the trust policy to write


def test_the_preflight_says_when_a_role_is_in_another_account(capsys):
    CloudAccount.objects.create(
        name="mislabelled", uid="1000000000000006", role_arn=role(PAYMENTS), regions=[SHANGHAI]
    )
    with pytest.raises(CommandError):
        call_command("cloud_preflight")
    assert (
        "the role is in account 1000000000000004, not 1000000000000006" in capsys.readouterr().out
    )


def test_the_preflight_takes_a_refusal_behind_the_permission_as_allowed(payments, capsys):
    """A dry run refused for what it asks (its load balancer in use) was let through RAM."""
    reach = payments.reach()
    lb = first_load_balancer(reach)
    cloud.endpoint_service_create(
        fields={"region_id": SHANGHAI, "service_resource_type": "slb"},
        resources=[{"resource_type": "slb", "resource_id": lb["id"], "zone_id": ""}],
        tags=[],
        client_token="in-use",
        reach=reach,
    )
    call_command("cloud_preflight")
    create = next(line for line in capsys.readouterr().out.splitlines() if "a create" in line)
    assert " ok " in create and "allowed (EndpointServiceExist)" in create


def test_the_preflight_stops_when_the_portals_own_identity_fails(settings, capsys):
    settings.PRIVATELINK_ENDPOINT = "127.0.0.1:9"
    with pytest.raises(CommandError, match="own identity does not work"):
        call_command("cloud_preflight")
    out = capsys.readouterr().out
    assert "own identity" in out and "Unreachable" in out and "PRIVATELINK_ENDPOINT" in out


@pytest.mark.parametrize("forgery", ["role", "link"])
def test_an_account_forged_in_the_database_stops_the_worker_before_it_acts(
    requester, payments, simulator, forgery
):
    from django.db import connection

    request = approved_in(payments, requester)
    with connection.cursor() as cursor:
        if forgery == "role":
            # Another account's role that trusts the portal: the work would land there.
            cursor.execute(
                "UPDATE teams_cloudaccount SET role_arn = %s WHERE id = %s",
                [role(NETWORKING), payments.pk],
            )
        else:
            cursor.execute("DELETE FROM teams_accountteam WHERE account_id = %s", [payments.pk])
    run(provisioning.service_request_provision, request.pk)
    request.refresh_from_db()
    assert request.state == State.FAILED
    expected = "not what the log recorded" if forgery == "role" else "not granted the cloud account"
    assert expected in request.error_message
    assert simulator.services() == []


def test_a_role_that_asks_for_an_external_id_is_assumed_with_it_only():
    vendor = role(PAYMENTS, "VendorPortal")
    with pytest.raises(cloud.CloudError) as refused:
        cloud.caller_identity(cloud.Reach(uid=PAYMENTS, role_arn=vendor))
    assert refused.value.code == "NoPermission"
    wrong = cloud.Reach(uid=PAYMENTS, role_arn=vendor, external_id="someone-elses")
    with pytest.raises(cloud.CloudError):
        cloud.caller_identity(wrong)
    account = CloudAccount.objects.create(
        name="payments-vendor",
        uid=PAYMENTS,
        role_arn=vendor,
        external_id="privatelink-portal-7f3a",
        regions=[SHANGHAI],
    )
    who, _record = cloud.caller_identity(account.reach())
    assert who["arn"].startswith(f"acs:ram::{PAYMENTS}:assumed-role/vendorportal/")


def test_a_services_account_moved_in_the_database_is_named(requester, payments, simulator):
    from django.db import connection

    from portal.audit.services import audit_chain_verify
    from portal.endpoint_services.integrity import service_events_problem

    request = approved_in(payments, requester)
    run(provisioning.service_request_provision, request.pk)
    service = made_service(request)
    assert service_events_problem(service) is None
    other = CloudAccount.objects.create(
        name="networking", uid=NETWORKING, role_arn=role(NETWORKING), regions=[SHANGHAI]
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE endpoint_services_endpointservice SET cloud_account_id = %s WHERE id = %s",
            [other.pk, service.pk],
        )
    service.refresh_from_db()
    assert "cloud account" in service_events_problem(service)
    report = audit_chain_verify()
    assert not report.ok and "cloud account" in report.message


def made_service(request):
    request.refresh_from_db()
    assert request.state == State.ACTIVE
    return request.endpoint_service

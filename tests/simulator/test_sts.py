"""The simulator as an organization: STS AssumeRole and GetCallerIdentity through the official
STS SDK, sessions carried as the real gateway expects (x-acs-security-token, signed), their
expiry, each role's trust and policy, and each account's own load balancers."""

import pytest
from alibabacloud_privatelink20200415 import models
from alibabacloud_privatelink20200415.client import Client
from alibabacloud_sts20150401 import models as sts_models
from alibabacloud_sts20150401.client import Client as StsClient
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_tea_openapi.models import Config

from simulator.backend import Account, Backend

DEV = ("dev-access-key-id", "dev-access-key-secret")
PAYMENTS = ("payments-access-key-id", "payments-access-key-secret")
CONSUMER = ("consumer-access-key-id", "consumer-access-key-secret")
PAYMENTS_UID = "1000000000000004"
PORTAL_ROLE = f"acs:ram::{PAYMENTS_UID}:role/PrivateLinkPortal"
SHANGHAI = "cn-shanghai"
PAYMENTS_NLB = "nlb-shpay000000000000001"


def config(sim, key_id, secret, token=None):
    return Config(
        access_key_id=key_id,
        access_key_secret=secret,
        security_token=token,
        endpoint=sim.endpoint,
        protocol="http",
        region_id=SHANGHAI,
    )


def assume(sim, role_arn=PORTAL_ROLE, keys=DEV, duration=None):
    answer = StsClient(config(sim, *keys)).assume_role(
        sts_models.AssumeRoleRequest(
            role_arn=role_arn, role_session_name="portal-test", duration_seconds=duration
        )
    )
    return answer.body.credentials


def session_client(sim, credentials, token=None):
    return Client(
        config(
            sim,
            credentials.access_key_id,
            credentials.access_key_secret,
            credentials.security_token if token is None else token,
        )
    )


def refusal(call):
    with pytest.raises(ClientException) as refused:
        call()
    return refused.value.code, refused.value.status_code


def create(client, resource_id=PAYMENTS_NLB, zone="cn-shanghai-e", dry_run=None, region=SHANGHAI):
    return client.create_vpc_endpoint_service(
        models.CreateVpcEndpointServiceRequest(
            region_id=region,
            service_resource_type="nlb",
            resource=[
                models.CreateVpcEndpointServiceRequestResource(
                    resource_type="nlb", resource_id=resource_id, zone_id=zone
                )
            ],
            dry_run=dry_run,
        )
    ).body


def get(client, service_id):
    return client.get_vpc_endpoint_service_attribute(
        models.GetVpcEndpointServiceAttributeRequest(region_id=SHANGHAI, service_id=service_id)
    ).body


def test_a_session_acts_in_the_roles_account_and_only_there(clocked_simulator):
    sim = clocked_simulator
    credentials = assume(sim)
    assert credentials.access_key_id.startswith("STS.")
    assert credentials.security_token and credentials.expiration.endswith("Z")
    as_role = session_client(sim, credentials)
    service_id = create(as_role).service_id
    # The account's own keys see it as theirs; the caller's account (dev) does not.
    assert get(sim.make_client(*PAYMENTS), service_id).service_id == service_id
    assert refusal(lambda: get(sim.client, service_id))[0] == "EndpointServiceNotFound"
    owners = {s["ServiceId"]: s["AccountUid"] for s in sim.services()}
    assert owners[service_id] == PAYMENTS_UID


def test_a_session_cannot_touch_another_accounts_service(clocked_simulator):
    sim = clocked_simulator
    # dev's service in cn-hangzhou; a session in payments looks for it by its id.
    theirs = create(sim.client, "nlb-hz0000000000000001", "cn-hangzhou-h", region="cn-hangzhou")
    as_role = session_client(sim, assume(sim))
    code, _status = refusal(
        lambda: as_role.get_vpc_endpoint_service_attribute(
            models.GetVpcEndpointServiceAttributeRequest(
                region_id="cn-hangzhou", service_id=theirs.service_id
            )
        )
    )
    assert code == "EndpointServiceNotFound"


def test_caller_identity_for_a_key_and_for_a_session(clocked_simulator):
    sim = clocked_simulator
    own = StsClient(config(sim, *DEV)).get_caller_identity().body
    assert (own.account_id, own.identity_type) == ("1000000000000001", "Account")
    credentials = assume(sim)
    client = StsClient(
        config(
            sim,
            credentials.access_key_id,
            credentials.access_key_secret,
            credentials.security_token,
        )
    )
    who = client.get_caller_identity().body
    assert who.account_id == PAYMENTS_UID
    assert who.identity_type == "AssumedRoleUser"
    assert who.arn == f"acs:ram::{PAYMENTS_UID}:assumed-role/privatelinkportal/portal-test"


@pytest.mark.parametrize(
    ("role_arn", "keys", "expected"),
    [
        ("acs:ram::1000000000000003:role/Audit", DEV, ("NoPermission", 403)),
        (f"acs:ram::{PAYMENTS_UID}:role/Nobody", DEV, ("EntityNotExist.Role", 404)),
        ("arn:aws:iam::1:role/x", DEV, ("InvalidParameter.RoleArn", 400)),
        # The consumer account is not among the payments role's trusted accounts.
        (PORTAL_ROLE, CONSUMER, ("NoPermission", 403)),
    ],
)
def test_a_role_that_is_not_there_or_not_trusting_is_refused(
    clocked_simulator, role_arn, keys, expected
):
    assert refusal(lambda: assume(clocked_simulator, role_arn, keys)) == expected


def test_the_duration_is_the_roles_to_bound(clocked_simulator):
    assert refusal(lambda: assume(clocked_simulator, duration=600))[0] == (
        "InvalidParameter.DurationSeconds"
    )
    assert refusal(lambda: assume(clocked_simulator, duration=7200))[0] == (
        "InvalidParameter.DurationSeconds"
    )


def test_the_token_must_come_with_its_key_and_expires(clocked_simulator):
    sim = clocked_simulator
    credentials = assume(sim, duration=900)
    listing = models.ListVpcEndpointServicesRequest(region_id=SHANGHAI)
    no_token = Client(config(sim, credentials.access_key_id, credentials.access_key_secret))
    assert refusal(lambda: no_token.list_vpc_endpoint_services(listing)) == (
        "InvalidSecurityToken.MismatchWithAccessKey",
        400,
    )
    wrong = session_client(sim, credentials, token="CAISnotthetoken")
    assert refusal(lambda: wrong.list_vpc_endpoint_services(listing))[0] == (
        "InvalidSecurityToken.MismatchWithAccessKey"
    )
    good = session_client(sim, credentials)
    assert good.list_vpc_endpoint_services(listing).body.total_count == 0
    sim.clock.advance(901)
    assert refusal(lambda: good.list_vpc_endpoint_services(listing)) == (
        "InvalidSecurityToken.Expired",
        400,
    )


def test_a_read_only_role_lists_but_its_writes_are_refused_even_as_dry_runs(clocked_simulator):
    sim = clocked_simulator
    read_only = session_client(sim, assume(sim, f"acs:ram::{PAYMENTS_UID}:role/ReadOnly"))
    listing = models.ListVpcEndpointServicesRequest(region_id=SHANGHAI)
    assert read_only.list_vpc_endpoint_services(listing).body.total_count == 0
    assert refusal(lambda: create(read_only, dry_run=True)) == ("Forbidden.RAM", 403)


def test_each_account_lists_and_takes_only_its_own_load_balancers(clocked_simulator):
    sim = clocked_simulator
    payments = create(sim.make_client(*PAYMENTS))
    assert payments.service_id
    # dev does not own it: as if it did not exist.
    assert refusal(lambda: create(sim.client))[0] == "LoadBalancerNotFound"
    from alibabacloud_nlb20220430 import models as nlb_models
    from alibabacloud_nlb20220430.client import Client as NlbClient

    def nlbs(keys):
        listed = NlbClient(config(sim, *keys)).list_load_balancers(
            nlb_models.ListLoadBalancersRequest(region_id=SHANGHAI)
        )
        return {lb.load_balancer_id for lb in listed.body.load_balancers or []}

    assert PAYMENTS_NLB in nlbs(PAYMENTS)
    assert PAYMENTS_NLB not in nlbs(DEV)


def test_sessions_survive_a_restart_on_the_same_state_file(tmp_path):
    from simulator.server import start_in_thread

    state = tmp_path / "state.sqlite3"

    class Sim:
        def __init__(self):
            backend = Backend(str(state), create_delay=0, accounts=[Account("dev", *DEV)])
            self.server = start_in_thread(backend)
            self.endpoint = self.server.endpoint

    first = Sim()
    credentials = assume(first)
    first.server.shutdown()
    first.server.server_close()
    second = Sim()
    try:
        client = session_client(second, credentials)
        listed = client.list_vpc_endpoint_services(
            models.ListVpcEndpointServicesRequest(region_id=SHANGHAI)
        )
        assert listed.body.total_count == 0
    finally:
        second.server.shutdown()
        second.server.server_close()


def test_the_control_path_lists_the_organization(clocked_simulator):
    accounts = {a["uid"]: a for a in clocked_simulator.control("accounts")["Accounts"]}
    assert accounts[PAYMENTS_UID]["account_id"] == "payments"
    arns = {role["arn"]: role for role in accounts[PAYMENTS_UID]["roles"]}
    assert arns[PORTAL_ROLE.replace("PrivateLinkPortal", "privatelinkportal")]["trusted"] == [
        "1000000000000001"
    ]
    assert accounts["1000000000000003"]["roles"][0]["trusted"] == ["1000000000000003"]


def test_a_role_that_asks_for_an_external_id_is_refused_without_it(clocked_simulator):
    vendor = f"acs:ram::{PAYMENTS_UID}:role/VendorPortal"
    assert refusal(lambda: assume(clocked_simulator, vendor)) == ("NoPermission", 403)
    answer = StsClient(config(clocked_simulator, *DEV)).assume_role(
        sts_models.AssumeRoleRequest(
            role_arn=vendor, role_session_name="vendor", external_id="privatelink-portal-7f3a"
        )
    )
    assert answer.body.credentials.access_key_id.startswith("STS.")

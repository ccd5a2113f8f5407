"""The simulator's model, without HTTP: validation, lifecycle, idempotence, state on disk."""

import re

import pytest

from simulator.backend import Account, ApiError, Backend

DEV = Account("dev", "k", "s")


class Clock:
    def __init__(self):
        self.now = 1_700_000_000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def backend(clock):
    return Backend(":memory:", create_delay=3, accounts=[DEV], clock=clock)


def nlb(resource_id="nlb-hz0000000000000001", zone="cn-hangzhou-h"):
    return {"ResourceType": "nlb", "ResourceId": resource_id, "ZoneId": zone}


def create(backend, account=DEV, **params):
    base = {"RegionId": "cn-hangzhou", "ServiceResourceType": "nlb", "Resource": [nlb()]}
    base.update(params)
    return backend.call(account, "CreateVpcEndpointService", base)


def get(backend, service_id, region="cn-hangzhou"):
    return backend.call(
        DEV, "GetVpcEndpointServiceAttribute", {"RegionId": region, "ServiceId": service_id}
    )


def error_of(call, *args, **kwargs):
    with pytest.raises(ApiError) as caught:
        call(*args, **kwargs)
    return caught.value


def test_create_returns_documented_identifiers_and_starts_creating(backend):
    body = create(backend)
    service_id = body["ServiceId"]
    assert re.fullmatch(r"epsrv-[a-z0-9]{20}", service_id)
    assert body["ServiceName"] == f"com.aliyuncs.privatelink.cn-hangzhou.{service_id}"
    assert body["ServiceDomain"] == f"{service_id}.cn-hangzhou.privatelink.aliyuncs.com"
    assert body["ServiceStatus"] == "Creating"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["CreateTime"])
    assert body["AutoAcceptEnabled"] is False
    assert body["AddressIpVersion"] == "IPv4"
    assert "Payer" not in body


def test_service_becomes_active_after_the_create_delay(backend, clock):
    service_id = create(backend)["ServiceId"]
    clock.now += 2.9
    assert get(backend, service_id)["ServiceStatus"] == "Creating"
    clock.now += 0.2
    body = get(backend, service_id)
    assert body["ServiceStatus"] == "Active"
    assert body["ServiceType"] == "Interface"
    assert body["Zones"] == ["cn-hangzhou-h"]
    assert body["ConnectBandwidth"] == 3072


def test_stuck_fault_keeps_new_services_creating(backend, clock):
    backend.faults.update({"stuck_creating": True})
    service_id = create(backend)["ServiceId"]
    clock.now += 3600
    assert get(backend, service_id)["ServiceStatus"] == "Creating"


def test_delete_goes_deleting_then_not_found(backend, clock):
    service_id = create(backend)["ServiceId"]
    clock.now += 3
    backend.call(
        DEV, "DeleteVpcEndpointService", {"RegionId": "cn-hangzhou", "ServiceId": service_id}
    )
    assert get(backend, service_id)["ServiceStatus"] == "Deleting"
    clock.now += 3
    assert error_of(get, backend, service_id).code == "EndpointServiceNotFound"


def test_delete_refused_while_creating(backend):
    service_id = create(backend)["ServiceId"]
    error = error_of(
        backend.call,
        DEV,
        "DeleteVpcEndpointService",
        {"RegionId": "cn-hangzhou", "ServiceId": service_id},
    )
    assert error.code == "EndpointServiceOperationDenied"


def test_same_token_same_parameters_returns_the_same_service(backend):
    first = create(backend, ClientToken="token-1")
    again = create(backend, ClientToken="token-1")
    assert again["ServiceId"] == first["ServiceId"]
    listed = backend.call(DEV, "ListVpcEndpointServices", {"RegionId": "cn-hangzhou"})
    assert listed["TotalCount"] == 1


def test_same_token_other_parameters_is_a_mismatch(backend):
    create(backend, ClientToken="token-1")
    error = error_of(create, backend, ClientToken="token-1", AutoAcceptEnabled="true")
    assert error.code == "IdempotentParameterMismatch"


def test_failed_requests_are_not_remembered(backend):
    error = error_of(create, backend, ClientToken="t", Payer="Nobody")
    assert error.code == "IllegalParamFormat.Payer"
    assert create(backend, ClientToken="t")["ServiceStatus"] == "Creating"


def test_dry_run_creates_nothing(backend):
    error = error_of(create, backend, DryRun="true")
    assert error.code == "DryRunOperation"
    assert error.status == 400
    assert backend.snapshot() == []


def test_dry_run_reports_the_first_failing_check(backend):
    error = error_of(create, backend, DryRun="True", ServiceResourceType="alb")
    assert error.code == "Mismatch.ResourceType"


def test_booleans_are_case_insensitive(backend):
    body = create(backend, AutoAcceptEnabled="TRUE", ZoneAffinityEnabled="False")
    assert body["AutoAcceptEnabled"] is True
    assert body["ZoneAffinityEnabled"] is False


def test_quota_counts_live_services_per_region(clock):
    backend = Backend(":memory:", create_delay=0, quota=2, accounts=[DEV], clock=clock)
    for n in (1, 2):
        create(backend, Resource=[nlb(f"nlb-hzpool{n:06d}")])
    error = error_of(create, backend, Resource=[nlb("nlb-hzpool000003")])
    assert error.code == "QuotaMisMatched"


def test_resource_backing_a_live_service_cannot_back_another(backend):
    create(backend)
    assert error_of(create, backend).code == "EndpointServiceExist"


def test_payer_forbidden_for_accounts_off_the_allow_list(backend):
    restricted = backend.account_for_key("restricted-access-key-id")
    assert restricted is not None
    error = error_of(create, backend, account=restricted, Payer="EndpointService")
    assert error.code == "EndpointServicePayerForbidden"
    assert create(backend, Payer="EndpointService")["ServiceStatus"] == "Creating"


def test_list_filters_by_tag_and_resource(backend):
    create(backend, Tag=[{"Key": "env", "Value": "prod"}])
    create(backend, Resource=[nlb("nlb-hzpool000001")], Tag=[{"Key": "env", "Value": "dev"}])
    listed = backend.call(
        DEV,
        "ListVpcEndpointServices",
        {"RegionId": "cn-hangzhou", "Tag": [{"Key": "env", "Value": "dev"}]},
    )
    assert [s["Tags"] for s in listed["Services"]] == [[{"Key": "env", "Value": "dev"}]]
    by_resource = backend.call(
        DEV,
        "ListVpcEndpointServices",
        {"RegionId": "cn-hangzhou", "ResourceId": "nlb-hz0000000000000001"},
    )
    assert by_resource["TotalCount"] == 1
    assert "Zones" not in by_resource["Services"][0]


def test_state_survives_a_restart(tmp_path, clock):
    path = tmp_path / "state.sqlite3"
    first = Backend(str(path), create_delay=0, accounts=[DEV], clock=clock)
    service_id = create(first, ClientToken="keep")["ServiceId"]
    second = Backend(str(path), create_delay=0, accounts=[DEV], clock=clock)
    assert get(second, service_id)["ServiceId"] == service_id
    assert create(second, ClientToken="keep")["ServiceId"] == service_id


def test_unknown_action_is_a_gateway_error(backend):
    error = error_of(backend.call, DEV, "LaunchRocket", {})
    assert (error.code, error.status) == ("InvalidAction.NotFound", 404)


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ({"throttle_rate": 2}, "between 0 and 1"),
        ({"latency_ms": -1}, "negative"),
        ({"stuck_creating": "yes"}, "true or false"),
        ({"nonsense": 1}, "unknown fault"),
    ],
)
def test_bad_fault_settings_are_refused(backend, fault, message):
    with pytest.raises(ValueError, match=message):
        backend.faults.update(fault)

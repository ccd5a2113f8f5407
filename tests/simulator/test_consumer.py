"""The consumer side and the owner's connections, through the official SDK over HTTP:
CreateVpcEndpoint behind the allow-list, the endpoint, connection and zone state machines,
accept/reject, deletion with dependants (privatelink-day2-api.md).

`clocked_simulator` moves time only when a test says so: each transitional status lasts
exactly 10 s of its clock.
"""

import json
import re

import pytest
from alibabacloud_privatelink20200415 import models
from alibabacloud_tea_openapi.exceptions import ClientException
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.backend import Account, ApiError, Backend

R = "cn-hangzhou"
ZH, ZI, ZJ = "cn-hangzhou-h", "cn-hangzhou-i", "cn-hangzhou-j"
NLB_1 = "nlb-hz0000000000000001"  # zones h, i; DualStack
GWLB_1 = "gwlb-hz000000000000001"  # zones h, i
SLB_1 = "lb-hz00000000000000001"  # zone h
BJ_NLB = "nlb-bj0000000000000001"  # all twelve zones of cn-beijing
BJ_ZONES = [f"cn-beijing-{c}" for c in "abcdefghijkl"]
CONSUMER = ("consumer-access-key-id", "consumer-access-key-secret")
RESTRICTED = ("restricted-access-key-id", "restricted-access-key-secret")
CONSUMER_UID = 1000000000000003
DEV_UID = 1000000000000001


def pool(n):
    return f"nlb-hzpool{n:06d}"  # zones h, i, j; DualStack


def snake(action):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", action).lower()


def call(client, action, **fields):
    fields.setdefault("region_id", R)
    request = getattr(models, f"{action}Request")(**fields)
    return getattr(client, snake(action))(request).body


def error(client, action, **fields):
    with pytest.raises(ClientException) as caught:
        call(client, action, **fields)
    return caught.value


def code(client, action, **fields):
    return error(client, action, **fields).code


@pytest.fixture
def sim(clocked_simulator):
    clocked_simulator.consumer = clocked_simulator.make_client(*CONSUMER)
    return clocked_simulator


def service(sim, resources=((NLB_1, ZH), (NLB_1, ZI)), resource_type="nlb", allow=True, **fields):
    """An Active service of the dev account; the consumer account on its allow-list."""
    fields["resource"] = [
        models.CreateVpcEndpointServiceRequestResource(
            resource_type=resource_type, resource_id=resource_id, zone_id=zone_id
        )
        for resource_id, zone_id in resources
    ]
    fields.setdefault("service_resource_type", resource_type)
    service_id = call(sim.client, "CreateVpcEndpointService", **fields).service_id
    sim.clock.advance(10)
    if allow:
        call(
            sim.client,
            "AddUserToVpcEndpointService",
            service_id=service_id,
            user_id=CONSUMER_UID,
            region_id=fields.get("region_id", R),
        )
    return service_id


def endpoint_request(service_id, zones=((ZH, "vsw-h"),), vpc="vpc-c1", groups=("sg-1",), **f):
    f.setdefault("service_id", service_id)
    f.setdefault("vpc_id", vpc)
    if groups:
        f.setdefault("security_group_id", list(groups))
    f.setdefault(
        "zone",
        [
            models.CreateVpcEndpointRequestZone(zone_id=zone_id, v_switch_id=vswitch)
            for zone_id, vswitch in zones
        ],
    )
    return f


def create_endpoint(client, service_id, **fields):
    return call(client, "CreateVpcEndpoint", **endpoint_request(service_id, **fields))


def endpoint_code(client, service_id, **fields):
    return code(client, "CreateVpcEndpoint", **endpoint_request(service_id, **fields))


def attribute(client, endpoint_id):
    return call(client, "GetVpcEndpointAttribute", endpoint_id=endpoint_id)


def connection(sim, service_id, endpoint_id):
    listed = call(
        sim.client, "ListVpcEndpointConnections", service_id=service_id, endpoint_id=endpoint_id
    )
    [found] = listed.connections
    return found


def zone_states(sim, endpoint_id):
    listed = call(sim.consumer, "ListVpcEndpointZones", endpoint_id=endpoint_id)
    return {z.zone_id: z.zone_status for z in listed.zones}


def counts(sim, service_id):
    listed = call(sim.client, "ListVpcEndpointServiceResources", service_id=service_id)
    return {(r.resource_id, r.zone_id): r.related_endpoint_count for r in listed.resources}


def ready_endpoint(sim, service_id, client=None, **fields):
    """An Active, Disconnected endpoint of the consumer (or `client`)."""
    endpoint_id = create_endpoint(client or sim.consumer, service_id, **fields).endpoint_id
    sim.clock.advance(10)
    return endpoint_id


def connected_endpoint(sim, service_id, **fields):
    endpoint_id = ready_endpoint(sim, service_id, **fields)
    call(sim.client, "EnableVpcEndpointConnection", service_id=service_id, endpoint_id=endpoint_id)
    sim.clock.advance(10)
    return endpoint_id


def lock(sim, **target):
    sim.control("business-status", {**target, "BusinessStatus": "FinancialLocked"})


# --- the allow-list gates CreateVpcEndpoint ----------------------------------------------


def test_allow_list_gates_create_endpoint(sim):
    service_id = service(sim, allow=False)
    assert endpoint_code(sim.consumer, service_id) == "EndpointServiceNotAuthorized"
    answer = error(sim.consumer, "CreateVpcEndpoint", **endpoint_request(service_id))
    assert answer.data["Message"] == "The specified endpoint service is not authorized to user."
    call(sim.client, "AddUserToVpcEndpointService", service_id=service_id, user_id=CONSUMER_UID)
    created = create_endpoint(sim.consumer, service_id)
    assert re.fullmatch(r"ep-[a-z0-9]{20}", created.endpoint_id)
    assert (created.endpoint_status, created.connection_status) == ("Creating", "Disconnected")
    assert created.endpoint_business_status == "Normal"
    assert created.bandwidth == 3072
    assert created.endpoint_domain == (
        f"{created.endpoint_id}.{service_id}.{R}.privatelink.aliyuncs.com"
    )
    assert created.service_name == f"com.aliyuncs.privatelink.{R}.{service_id}"
    # The owner is implicitly allowed; removal does not disconnect what exists.
    own = create_endpoint(sim.client, service_id, vpc="vpc-owner")
    call(
        sim.client, "RemoveUserFromVpcEndpointService", service_id=service_id, user_id=CONSUMER_UID
    )
    assert endpoint_code(sim.consumer, service_id, vpc="vpc-c2") == "EndpointServiceNotAuthorized"
    sim.clock.advance(10)
    assert attribute(sim.consumer, created.endpoint_id).endpoint_status == "Active"
    assert attribute(sim.client, own.endpoint_id).resource_owner is True
    assert attribute(sim.consumer, created.endpoint_id).resource_owner is False


def test_user_arns_admit_an_account_or_every_account(sim):
    one = service(sim, allow=False)
    call(
        sim.client,
        "AddUserToVpcEndpointService",
        service_id=one,
        user_arn=f"acs:ram:*:{CONSUMER_UID}:*",
    )
    every = service(sim, resources=((pool(1), ZH),), allow=False)
    call(sim.client, "AddUserToVpcEndpointService", service_id=every, user_arn="acs:ram:*:*:*")
    restricted = sim.make_client(*RESTRICTED)
    create_endpoint(sim.consumer, one)
    assert endpoint_code(restricted, one) == "EndpointServiceNotAuthorized"
    create_endpoint(restricted, every)
    create_endpoint(sim.consumer, every)


def test_services_by_end_user_are_those_the_caller_may_connect_to(sim):
    allowed = service(sim, tag=[models.CreateVpcEndpointServiceRequestTag(key="t", value="1")])
    service(sim, resources=((pool(1), ZH),), allow=False)
    gateway = service(sim, resources=((GWLB_1, ZH),), resource_type="gwlb")
    call(sim.client, "CreateVpcEndpointService", service_resource_type="nlb")  # Creating
    listed = call(sim.consumer, "ListVpcEndpointServicesByEndUser")
    assert [s.service_id for s in listed.services] == [allowed, gateway]
    assert listed.total_count == "2"
    assert listed.to_map()["TotalCount"] == "2"
    first = listed.services[0]
    assert (first.zones, first.service_type, first.vpc_endpoint_policy_supported) == (
        [ZH, ZI],
        "Interface",
        False,
    )
    assert [t.to_map() for t in first.tags] == [{"Key": "t", "Value": "1"}]
    by_type = call(
        sim.consumer, "ListVpcEndpointServicesByEndUser", service_type="GatewayLoadBalancer"
    )
    assert [s.service_id for s in by_type.services] == [gateway]
    by_name = call(
        sim.consumer,
        "ListVpcEndpointServicesByEndUser",
        service_name=f"com.aliyuncs.privatelink.{R}.{allowed}",
    )
    assert by_name.total_count == "1"
    by_tag = call(
        sim.consumer,
        "ListVpcEndpointServicesByEndUser",
        tag=[models.ListVpcEndpointServicesByEndUserRequestTag(key="t")],
    )
    assert by_tag.total_count == "1"
    assert call(sim.client, "ListVpcEndpointServicesByEndUser").total_count == "3"
    assert call(sim.make_client(*RESTRICTED), "ListVpcEndpointServicesByEndUser").services == []


# --- CreateVpcEndpoint: every refusal, in the contract's order ------------------------------


def test_create_endpoint_parameter_refusals(sim):
    service_id = service(sim)
    Z = models.CreateVpcEndpointRequestZone
    cases = [
        ({"vpc_id": None}, "MissingParam.VpcId"),
        ({"service_id": None}, "MissingParam.ServiceId"),
        ({"region_id": "mars-1"}, "IllegalParamFormat.RegionId"),
        ({"service_region_id": "mars-1"}, "IllegalParamFormat.ServiceRegionId"),
        ({"endpoint_name": "1st"}, "IllegalParamFormat.EndpointName"),
        ({"endpoint_name": "e"}, "IllegalParamFormat.EndpointName"),
        ({"endpoint_description": "https://x"}, "IllegalParamFormat.EndpointDescription"),
        ({"zone_private_ip_address_count": 2}, "IllegalParamFormat.ZonePrivateIpAddressCount"),
        ({"endpoint_type": "Gateway"}, "IllegalParamFormat.EndpointType"),
        ({"address_ip_version": "IPv6"}, "IllegalParam.AddressIpVersion"),
        (
            {"security_group_id": [f"sg-{n}" for n in range(11)]},
            "IllegalParamFormat.SecurityGroupId",
        ),
        ({"zone": [Z(v_switch_id="vsw-1")]}, "MissingParam.Zone.ZoneId"),
        (
            {"tag": [models.CreateVpcEndpointRequestTag(key="acs:x", value="1")]},
            "IllegalParamFormat.Tag.Key",
        ),
        ({"resource_group_id": "group"}, "IllegalParamFormat.ResourceGroupId"),
        ({"client_token": "t" * 65}, "IllegalParamFormat.ClientToken"),
    ]
    for changes, expected in cases:
        fields = {**endpoint_request(service_id), **changes}
        fields = {k: v for k, v in fields.items() if v is not None}
        assert code(sim.consumer, "CreateVpcEndpoint", **fields) == expected, changes
    assert call(sim.consumer, "ListVpcEndpoints").total_count == 0


def test_create_endpoint_service_checks_in_order(sim):
    service_id = service(sim)
    # 1. No such service in ServiceRegionId (any account), or a name that is another's.
    assert endpoint_code(sim.consumer, "epsrv-nosuchservice00000000") == "EndpointServiceNotFound"
    other = service(sim, resources=((pool(1), ZH),))
    assert (
        endpoint_code(
            sim.consumer,
            service_id,
            service_name=f"com.aliyuncs.privatelink.{R}.{other}",
        )
        == "EndpointServiceNotFound"
    )
    assert endpoint_code(sim.consumer, service_id, service_region_id="cn-shanghai") == (
        "EndpointServiceNotFound"
    )
    by_name = create_endpoint(
        sim.consumer, None, service_name=f"com.aliyuncs.privatelink.{R}.{service_id}"
    )
    assert by_name.service_id == service_id
    # 2. The allow-list comes before the service's status...
    creating = call(sim.client, "CreateVpcEndpointService", service_resource_type="nlb").service_id
    assert endpoint_code(sim.consumer, creating) == "EndpointServiceNotAuthorized"
    # 3. ...which comes before the endpoint type.
    assert endpoint_code(sim.client, creating, endpoint_type="GatewayLoadBalancer") == (
        "IncorrectStatus.VpcEndpointService"
    )
    sim.clock.advance(10)
    call(sim.client, "UpdateVpcEndpointServiceAttribute", service_id=other, connect_bandwidth=200)
    pending = error(sim.consumer, "CreateVpcEndpoint", **endpoint_request(other, vpc="vpc-x"))
    assert (pending.code, pending.data["Message"]) == (
        "IncorrectStatus.VpcEndpointService",
        f"The status of VpcEndpointService [{other}] is incorrect.",
    )
    sim.clock.advance(10)
    call(sim.client, "DeleteVpcEndpointService", service_id=other)
    deleting = error(sim.consumer, "CreateVpcEndpoint", **endpoint_request(other, vpc="vpc-x"))
    assert (deleting.code, deleting.data["Message"]) == (
        "EndpointServiceDeleted",
        "The specified Service is already deleted.",
    )


def test_create_endpoint_type_zone_and_network_checks(sim):
    service_id = service(sim)
    gateway = service(sim, resources=((GWLB_1, ZH),), resource_type="gwlb")
    # 4. The endpoint type must fit the service.
    assert endpoint_code(sim.consumer, gateway) == "Mismatch.EndpointType"
    assert endpoint_code(sim.consumer, service_id, endpoint_type="GatewayLoadBalancer") == (
        "Mismatch.EndpointType"
    )
    assert endpoint_code(sim.consumer, service_id, endpoint_type="Reverse") == (
        "Mismatch.EndpointType"
    )
    # 5. Security group, zones, vSwitch, in that order.
    assert endpoint_code(sim.consumer, service_id, groups=(), zones=((ZH, "vsw-1"),) * 2) == (
        "EndpointMustContainSecurityGroup"
    )
    assert endpoint_code(sim.consumer, service_id, zones=((ZH, "vsw-1"), (ZH, "vsw-2"))) == (
        "EndpointZoneDuplicated"
    )
    assert endpoint_code(sim.consumer, service_id, zones=((ZJ, "vsw-1"),)) == (
        "EndpointServiceNotSupportedZone"
    )
    assert endpoint_code(sim.consumer, service_id, zones=((ZH, None),), vpc="bad") == (
        "MissingParam.Zone.VSwitchId"
    )
    # 6. No VPC model: ids without their prefix are not found; two zones, one ip.
    assert endpoint_code(sim.consumer, service_id, vpc="my-vpc", zones=((ZH, "bad"),)) == (
        "VpcNotFound"
    )
    assert endpoint_code(sim.consumer, service_id, zones=((ZH, "switch-1"),), groups=("x",)) == (
        "VSwitchNotFound"
    )
    assert endpoint_code(sim.consumer, service_id, groups=("group-1",)) == ("SecurityGroupNotFound")
    same_ip = [
        models.CreateVpcEndpointRequestZone(zone_id=zone, v_switch_id="vsw-1", ip="10.0.0.9")
        for zone in (ZH, ZI)
    ]
    assert endpoint_code(sim.consumer, service_id, zone=same_ip) == "EniIpUnavailable"
    # A Gateway endpoint needs no security group.
    ok = create_endpoint(
        sim.consumer, gateway, endpoint_type="GatewayLoadBalancer", groups=(), vpc="vpc-g"
    )
    assert ok.endpoint_status == "Creating"
    assert call(sim.consumer, "ListVpcEndpoints").total_count == 1


def test_create_endpoint_duplicates_and_quotas(sim):
    service_id = service(sim)
    other = service(sim, resources=((pool(1), ZH),))
    create_endpoint(sim.consumer, service_id)
    # 7. One live endpoint per VPC and service; endpoints per VPC; zones per endpoint.
    assert endpoint_code(sim.consumer, service_id) == "EndpointDuplicated"
    sim.configure(endpoints_per_vpc=1)
    quota = error(sim.consumer, "CreateVpcEndpoint", **endpoint_request(other))
    assert (quota.code, quota.data["Message"]) == (
        "QuotaExceeded.totalEpPerVpc",
        "The quota of totalEpPerVpc is exceeded, usage 1/1.",
    )
    create_endpoint(sim.consumer, other, vpc="vpc-c2")
    wide = service(
        sim,
        region_id="cn-beijing",
        resources=[(BJ_NLB, zone) for zone in BJ_ZONES[:10]],
    )
    call(
        sim.client,
        "AttachResourceToVpcEndpointService",
        region_id="cn-beijing",
        service_id=wide,
        resource_id=BJ_NLB,
        resource_type="nlb",
        zone_id=BJ_ZONES[10],
    )
    sim.clock.advance(10)
    eleven = [(zone, "vsw-1") for zone in BJ_ZONES[:11]]
    assert (
        code(
            sim.consumer,
            "CreateVpcEndpoint",
            **endpoint_request(wide, zones=eleven, region_id="cn-beijing"),
        )
        == "QuotaExceeded.epZonePerEndpoint"
    )
    ten = create_endpoint(sim.consumer, wide, zones=eleven[:10], region_id="cn-beijing")
    sim.clock.advance(10)
    assert (
        code(
            sim.consumer,
            "AddZoneToVpcEndpoint",
            region_id="cn-beijing",
            endpoint_id=ten.endpoint_id,
            zone_id=BJ_ZONES[10],
            v_switch_id="vsw-k",
        )
        == "QuotaExceeded.epZonePerEndpoint"
    )


def test_a_deleted_endpoint_frees_its_vpc_slot(sim):
    service_id = service(sim)
    endpoint_id = ready_endpoint(sim, service_id)
    call(sim.consumer, "DeleteVpcEndpoint", endpoint_id=endpoint_id)
    assert endpoint_code(sim.consumer, service_id) == "EndpointDuplicated"  # still Deleting
    sim.clock.advance(10)
    create_endpoint(sim.consumer, service_id)


def test_cross_region_endpoint_needs_a_supported_region(sim):
    service_id = service(sim, resources=((pool(1), ZH),))
    cross = {
        "region_id": "cn-shanghai",
        "service_region_id": R,
        "zones": (("cn-shanghai-e", "vsw-e"),),
    }
    assert endpoint_code(sim.consumer, service_id, **cross) == "EndpointServiceNotFound"
    call(
        sim.client,
        "UpdateVpcEndpointServiceAttribute",
        service_id=service_id,
        add_supported_region_set=["cn-shanghai"],
    )
    sim.clock.advance(10)
    created = create_endpoint(sim.consumer, service_id, **cross, cross_region_bandwidth=2048)
    assert (created.service_region_id, created.cross_region_bandwidth) == (R, 2048)
    sim.clock.advance(10)
    call(
        sim.client,
        "EnableVpcEndpointConnection",
        service_id=service_id,
        endpoint_id=created.endpoint_id,
    )
    sim.clock.advance(10)
    found = connection(sim, service_id, created.endpoint_id)
    assert (found.connection_status, found.endpoint_region_id) == ("Connected", "cn-shanghai")
    assert found.zones[0].resource_id == pool(1)


# --- state machines ----------------------------------------------------------------------


def test_endpoint_connection_and_zones_walk_their_states(sim):
    service_id = service(sim)
    created = create_endpoint(sim.consumer, service_id, zones=((ZH, "vsw-h"), (ZI, "vsw-i")))
    endpoint_id = created.endpoint_id
    assert zone_states(sim, endpoint_id) == {ZH: "Creating", ZI: "Creating"}
    listed = connection(sim, service_id, endpoint_id)
    assert (listed.connection_status, listed.endpoint_owner_id) == ("Disconnected", CONSUMER_UID)
    assert listed.to_map()["EndpointOwnerId"] == CONSUMER_UID
    assert [z.resource_id for z in listed.zones] == ["", ""]
    sim.clock.advance(9.9)
    assert attribute(sim.consumer, endpoint_id).endpoint_status == "Creating"
    sim.clock.advance(0.1)
    body = attribute(sim.consumer, endpoint_id)
    assert (body.endpoint_status, body.connection_status) == ("Active", "Disconnected")
    assert zone_states(sim, endpoint_id) == {ZH: "Wait", ZI: "Wait"}
    # Without AutoAccept the endpoint waits for the owner.
    sim.clock.advance(100)
    assert attribute(sim.consumer, endpoint_id).connection_status == "Disconnected"
    call(sim.client, "EnableVpcEndpointConnection", service_id=service_id, endpoint_id=endpoint_id)
    assert attribute(sim.consumer, endpoint_id).connection_status == "Connecting"
    assert connection(sim, service_id, endpoint_id).connection_status == "Connecting"
    assert zone_states(sim, endpoint_id) == {ZH: "Connecting", ZI: "Connecting"}
    assert counts(sim, service_id) == {(NLB_1, ZH): 1, (NLB_1, ZI): 1}
    sim.clock.advance(10)
    assert attribute(sim.consumer, endpoint_id).connection_status == "Connected"
    found = connection(sim, service_id, endpoint_id)
    assert [(z.zone_id, z.zone_status, z.resource_id) for z in found.zones] == [
        (ZH, "Connected", NLB_1),
        (ZI, "Connected", NLB_1),
    ]
    assert found.zones[0].zone_domain == (
        f"{endpoint_id}-{R}.{service_id}.{ZH}.privatelink.aliyuncs.com"
    )
    assert re.fullmatch(r"eni-[a-z0-9]{20}", found.zones[0].eni_id)
    call(sim.client, "DisableVpcEndpointConnection", service_id=service_id, endpoint_id=endpoint_id)
    assert connection(sim, service_id, endpoint_id).connection_status == "Disconnecting"
    assert zone_states(sim, endpoint_id) == {ZH: "Disconnecting", ZI: "Disconnecting"}
    assert counts(sim, service_id) == {(NLB_1, ZH): 1, (NLB_1, ZI): 1}
    sim.clock.advance(10)
    assert attribute(sim.consumer, endpoint_id).connection_status == "Disconnected"
    assert zone_states(sim, endpoint_id) == {ZH: "Disconnected", ZI: "Disconnected"}
    assert counts(sim, service_id) == {(NLB_1, ZH): 0, (NLB_1, ZI): 0}
    # And back: Disconnected -> Connecting -> Connected.
    call(sim.client, "EnableVpcEndpointConnection", service_id=service_id, endpoint_id=endpoint_id)
    assert attribute(sim.consumer, endpoint_id).connection_status == "Connecting"
    sim.clock.advance(10)
    assert attribute(sim.consumer, endpoint_id).connection_status == "Connected"


def test_auto_accept_connects_once_the_endpoint_is_active(sim):
    service_id = service(sim, auto_accept_enabled=True)
    endpoint_id = create_endpoint(sim.consumer, service_id).endpoint_id
    assert attribute(sim.consumer, endpoint_id).connection_status == "Disconnected"
    sim.clock.advance(10)
    body = attribute(sim.consumer, endpoint_id)
    assert (body.endpoint_status, body.connection_status) == ("Active", "Connecting")
    assert zone_states(sim, endpoint_id) == {ZH: "Connecting"}
    sim.clock.advance(10)
    assert attribute(sim.consumer, endpoint_id).connection_status == "Connected"
    assert zone_states(sim, endpoint_id) == {ZH: "Connected"}
    # Turning AutoAccept on later does not connect an endpoint that waits.
    manual = service(sim, resources=((pool(1), ZH),))
    waiting = ready_endpoint(sim, manual)
    call(
        sim.client, "UpdateVpcEndpointServiceAttribute", service_id=manual, auto_accept_enabled=True
    )
    sim.clock.advance(30)
    assert attribute(sim.consumer, waiting).connection_status == "Disconnected"


def test_with_no_delay_every_transition_is_immediate(sim):
    sim.configure(create_delay=0)
    service_id = service(sim, auto_accept_enabled=True)
    created = create_endpoint(sim.consumer, service_id)
    assert (created.endpoint_status, created.connection_status) == ("Active", "Connected")
    call(sim.consumer, "DeleteVpcEndpoint", endpoint_id=created.endpoint_id)
    assert code(sim.consumer, "GetVpcEndpointAttribute", endpoint_id=created.endpoint_id) == (
        "EndpointNotFound"
    )


def test_update_connection_attribute_goes_pending(sim):
    service_id = service(sim)
    endpoint_id = connected_endpoint(sim, service_id)
    update = {"service_id": service_id, "endpoint_id": endpoint_id}
    call(sim.client, "UpdateVpcEndpointConnectionAttribute", **update, bandwidth=6000)
    assert connection(sim, service_id, endpoint_id).connection_status == "Pending"
    assert attribute(sim.consumer, endpoint_id).bandwidth == 6000
    assert code(sim.client, "UpdateVpcEndpointConnectionAttribute", **update, bandwidth=7000) == (
        "EndpointConnectionOperationDenied"
    )
    sim.clock.advance(10)
    found = connection(sim, service_id, endpoint_id)
    assert (found.connection_status, found.bandwidth) == ("Connected", 6000)
    listed = call(sim.consumer, "ListVpcEndpoints")
    assert listed.endpoints[0].bandwidth == 6000
    call(sim.client, "UpdateVpcEndpointConnectionAttribute", **update, bandwidth=6000)
    assert connection(sim, service_id, endpoint_id).connection_status == "Connected"  # no-op
    call(
        sim.client,
        "UpdateVpcEndpointConnectionAttribute",
        **update,
        traffic_control_mode="BandwidthLimit",
    )
    assert connection(sim, service_id, endpoint_id).traffic_control_mode == "BandwidthLimit"


def test_update_connection_attribute_refusals(sim):
    service_id = service(sim)
    waiting = ready_endpoint(sim, service_id)
    assert (
        code(
            sim.client,
            "UpdateVpcEndpointConnectionAttribute",
            service_id=service_id,
            endpoint_id=waiting,
            bandwidth=500,
        )
        == "EndpointConnectionOperationDenied"
    )
    gateway = service(
        sim, resources=((GWLB_1, ZH),), resource_type="gwlb", auto_accept_enabled=True
    )
    gateway_endpoint = create_endpoint(
        sim.consumer, gateway, endpoint_type="GatewayLoadBalancer", vpc="vpc-g"
    ).endpoint_id
    sim.clock.advance(20)
    fields = {"service_id": gateway, "endpoint_id": gateway_endpoint}
    assert code(sim.client, "UpdateVpcEndpointConnectionAttribute", **fields, bandwidth=500) == (
        "UpdateBandWidthUnSupported"
    )
    assert (
        code(
            sim.client,
            "UpdateVpcEndpointConnectionAttribute",
            **fields,
            traffic_control_mode="BandwidthLimit",
        )
        == "IllegalParamFormat.TrafficControlMode"
    )
    assert (
        code(
            sim.client,
            "UpdateVpcEndpointConnectionAttribute",
            service_id=service_id,
            endpoint_id="ep-nosuchendpoint000000000",
        )
        == "EndpointConnectionNotFound"
    )
    assert (
        code(
            sim.client,
            "UpdateVpcEndpointConnectionAttribute",
            service_id="epsrv-nosuchservice00000000",
            endpoint_id=waiting,
        )
        == "EndpointServiceNotFound"
    )


def test_enable_refusals_and_no_op(sim):
    service_id = service(sim, resources=((SLB_1, ZH),), resource_type="slb")
    enable = {"service_id": service_id}
    creating = create_endpoint(sim.consumer, service_id).endpoint_id
    assert code(sim.client, "EnableVpcEndpointConnection", **enable, endpoint_id=creating) == (
        "EndpointOperationDenied"
    )
    sim.clock.advance(10)
    fields = {**enable, "endpoint_id": creating}
    for bandwidth in (99, 10241):
        assert code(sim.client, "EnableVpcEndpointConnection", **fields, bandwidth=bandwidth) == (
            "IllegalParamFormat.Bandwidth"
        )
    assert (
        code(
            sim.client, "EnableVpcEndpointConnection", **fields, traffic_control_mode="Scalability"
        )
        == "IllegalParamFormat.TrafficControlMode"
    )
    assert (
        code(sim.client, "EnableVpcEndpointConnection", **fields, traffic_control_mode="Fast")
        == "IllegalParamFormat.TrafficControlMode"
    )
    assert (
        code(
            sim.client,
            "EnableVpcEndpointConnection",
            **enable,
            endpoint_id="ep-nosuchendpoint000000000",
        )
        == "EndpointConnectionNotFound"
    )
    assert (
        code(
            sim.client,
            "EnableVpcEndpointConnection",
            service_id="epsrv-nosuchservice00000000",
            endpoint_id=creating,
        )
        == "EndpointServiceNotFound"
    )
    # The consumer cannot accept its own endpoint: the service is not its.
    assert code(sim.consumer, "EnableVpcEndpointConnection", **fields) == (
        "EndpointServiceNotFound"
    )
    call(sim.client, "EnableVpcEndpointConnection", **fields, bandwidth=10240)
    assert code(sim.client, "EnableVpcEndpointConnection", **fields) == (
        "EndpointConnectionOperationDenied"
    )
    assert code(sim.client, "DisableVpcEndpointConnection", **fields) == (
        "EndpointConnectionOperationDenied"
    )
    sim.clock.advance(10)
    call(sim.client, "EnableVpcEndpointConnection", **fields)  # already Connected: no-op
    found = connection(sim, service_id, creating)
    assert (found.connection_status, found.bandwidth, found.traffic_control_mode) == (
        "Connected",
        10240,
        "BandwidthLimit",
    )
    call(
        sim.client,
        "UpdateVpcEndpointServiceAttribute",
        service_id=service_id,
        service_description="x",
    )
    assert code(sim.client, "EnableVpcEndpointConnection", **fields) == (
        "EndpointServiceOperationDenied"
    )
    assert code(sim.client, "DisableVpcEndpointConnection", **fields) == (
        "EndpointServiceOperationDenied"
    )
    assert code(sim.client, "UpdateVpcEndpointConnectionAttribute", **fields, bandwidth=200) == (
        "EndpointServiceOperationDenied"
    )
    sim.clock.advance(10)
    call(sim.client, "DisableVpcEndpointConnection", **fields)
    sim.clock.advance(10)
    call(sim.client, "DisableVpcEndpointConnection", **fields)  # already Disconnected: no-op
    assert connection(sim, service_id, creating).connection_status == "Disconnected"
    assert (
        code(
            sim.client,
            "DisableVpcEndpointConnection",
            **enable,
            endpoint_id="ep-nosuchendpoint000000000",
        )
        == "EndpointConnectionNotFound"
    )
    assert (
        code(
            sim.client,
            "DisableVpcEndpointConnection",
            service_id="epsrv-nosuchservice00000000",
            endpoint_id=creating,
        )
        == "EndpointServiceNotFound"
    )


def test_bandwidth_ranges_follow_the_service_type(sim):
    service_id = service(sim)
    endpoint_id = ready_endpoint(sim, service_id)
    call(
        sim.client,
        "EnableVpcEndpointConnection",
        service_id=service_id,
        endpoint_id=endpoint_id,
        bandwidth=50000,
        traffic_control_mode="BandwidthLimit",
    )
    sim.clock.advance(10)
    assert attribute(sim.consumer, endpoint_id).bandwidth == 50000
    assert (
        code(
            sim.client,
            "UpdateVpcEndpointConnectionAttribute",
            service_id=service_id,
            endpoint_id=endpoint_id,
            bandwidth=50001,
        )
        == "IllegalParamFormat.Bandwidth"
    )


def test_allocation_takes_the_least_used_auto_allocated_row(sim):
    service_id = service(sim, resources=((pool(2), ZH), (pool(1), ZH), (NLB_1, ZI)))
    first = connected_endpoint(sim, service_id, vpc="vpc-1")
    second = connected_endpoint(sim, service_id, vpc="vpc-2")
    assert connection(sim, service_id, first).zones[0].resource_id == pool(1)  # tie: by id
    assert connection(sim, service_id, second).zones[0].resource_id == pool(2)
    call(
        sim.client,
        "UpdateVpcEndpointServiceResourceAttribute",
        service_id=service_id,
        resource_id=pool(2),
        zone_id=ZH,
        auto_allocated_enabled=False,
    )
    third = connected_endpoint(sim, service_id, vpc="vpc-3")
    assert connection(sim, service_id, third).zones[0].resource_id == pool(1)
    assert counts(sim, service_id) == {(pool(2), ZH): 1, (pool(1), ZH): 2, (NLB_1, ZI): 0}
    listed = call(
        sim.client, "ListVpcEndpointConnections", service_id=service_id, resource_id=pool(2)
    )
    assert [c.endpoint_id for c in listed.connections] == [second]


def test_no_available_service_resource(sim):
    service_id = service(sim, resources=((pool(1), ZH), (pool(2), ZH)))
    endpoint_id = ready_endpoint(sim, service_id)
    call(
        sim.client,
        "UpdateVpcEndpointServiceResourceAttribute",
        service_id=service_id,
        resource_id=pool(1),
        zone_id=ZH,
        auto_allocated_enabled=False,
    )
    call(
        sim.client,
        "DetachResourceFromVpcEndpointService",
        service_id=service_id,
        resource_id=pool(2),
        zone_id=ZH,
    )
    sim.clock.advance(10)
    assert (
        code(
            sim.client,
            "EnableVpcEndpointConnection",
            service_id=service_id,
            endpoint_id=endpoint_id,
        )
        == "OperationDenied.NoAvailableServiceResource"
    )


# --- zone-level connections ----------------------------------------------------------------


def test_zone_connections_follow_the_connection(sim):
    service_id = service(sim)
    endpoint_id = connected_endpoint(sim, service_id, zones=((ZH, "vsw-h"), (ZI, "vsw-i")))
    zone = {"service_id": service_id, "endpoint_id": endpoint_id, "zone_id": ZI}
    call(sim.client, "DisableVpcEndpointZoneConnection", **zone, replaced_resource=False)
    assert zone_states(sim, endpoint_id) == {ZH: "Connected", ZI: "Disconnecting"}
    assert code(sim.client, "EnableVpcEndpointZoneConnection", **zone) == (
        "IncorrectStatus.VpcEndpointZone"
    )
    sim.clock.advance(10)
    assert zone_states(sim, endpoint_id) == {ZH: "Connected", ZI: "Disconnected"}
    assert counts(sim, service_id) == {(NLB_1, ZH): 1, (NLB_1, ZI): 0}
    assert connection(sim, service_id, endpoint_id).connection_status == "Connected"
    assert code(sim.client, "DisableVpcEndpointZoneConnection", **zone) == (
        "IncorrectStatus.VpcEndpointZone"
    )
    call(sim.client, "EnableVpcEndpointZoneConnection", **zone)
    assert zone_states(sim, endpoint_id)[ZI] == "Connecting"
    sim.clock.advance(10)
    assert zone_states(sim, endpoint_id)[ZI] == "Connected"
    assert counts(sim, service_id) == {(NLB_1, ZH): 1, (NLB_1, ZI): 1}


def test_zone_connection_refusals(sim):
    service_id = service(sim)
    endpoint_id = ready_endpoint(sim, service_id, zones=((ZH, "vsw-h"), (ZI, "vsw-i")))
    zone = {"service_id": service_id, "endpoint_id": endpoint_id, "zone_id": ZH}
    for action in ("EnableVpcEndpointZoneConnection", "DisableVpcEndpointZoneConnection"):
        assert code(sim.client, action, **zone) == "IncorrectStatus.VpcEndpointConnection"
        missing = error(sim.client, action, **{**zone, "zone_id": ZJ})
        assert (missing.code, missing.status_code) == ("ResourceNotFound.VpcEndpointZone", 404)
        assert missing.data["Message"] == f"The specified resource {ZJ} is not found."
        assert code(sim.client, action, **{**zone, "endpoint_id": "ep-x"}) == (
            "EndpointConnectionNotFound"
        )
        assert code(sim.client, action, **{**zone, "service_id": "epsrv-x"}) == (
            "EndpointServiceNotFound"
        )
    call(sim.client, "EnableVpcEndpointConnection", service_id=service_id, endpoint_id=endpoint_id)
    for action in ("EnableVpcEndpointZoneConnection", "DisableVpcEndpointZoneConnection"):
        assert code(sim.client, action, **zone) == "EndpointConnectionOperationDenied"
    sim.clock.advance(10)
    call(
        sim.consumer, "RemoveZoneFromVpcEndpoint", endpoint_id=endpoint_id, zone_id=ZI
    )  # endpoint Pending
    assert code(sim.client, "EnableVpcEndpointZoneConnection", **zone) == "EndpointOperationDenied"
    assert code(sim.client, "DisableVpcEndpointZoneConnection", **zone) == (
        "IncorrectStatus.VpcEndpoint"
    )
    sim.clock.advance(10)
    lock(sim, EndpointId=endpoint_id)
    assert code(sim.client, "DisableVpcEndpointZoneConnection", **zone) == (
        "IncorrectBusinessStatus.VpcEndpoint"
    )
    sim.control("business-status", {"EndpointId": endpoint_id, "BusinessStatus": "Normal"})
    lock(sim, ServiceId=service_id)
    assert code(sim.client, "DisableVpcEndpointZoneConnection", **zone) == (
        "IncorrectBusinessStatus.VpcEndpointService"
    )
    sim.control("business-status", {"ServiceId": service_id, "BusinessStatus": "Normal"})
    call(
        sim.client,
        "UpdateVpcEndpointServiceAttribute",
        service_id=service_id,
        service_description="x",
    )
    message = error(sim.client, "DisableVpcEndpointZoneConnection", **zone)
    assert (message.code, message.data["Message"]) == (
        "IncorrectStatus.VpcEndpointService",
        f"The status of VpcEndpointService [{service_id}] is incorrect.",
    )
    sim.clock.advance(10)
    call(sim.client, "DisableVpcEndpointZoneConnection", **zone)


# --- the consumer's endpoint ---------------------------------------------------------------


def test_get_and_list_endpoints_of_ones_own_account_only(sim):
    service_id = service(sim)
    created = create_endpoint(
        sim.consumer,
        service_id,
        endpoint_name="orders",
        endpoint_description="to orders",
        tag=[models.CreateVpcEndpointRequestTag(key="env", value="prod")],
        protected_enabled=True,
    )
    endpoint_id = created.endpoint_id
    body = attribute(sim.consumer, endpoint_id)
    assert (body.endpoint_name, body.endpoint_description, body.endpoint_type) == (
        "orders",
        "to orders",
        "Interface",
    )
    assert (body.payer, body.zone_private_ip_address_count, body.protected_enabled) == (
        "Endpoint",
        1,
        True,
    )
    assert (body.region_id, body.vpc_id, body.service_region_id) == (R, "vpc-c1", R)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body.create_time)
    assert code(sim.client, "GetVpcEndpointAttribute", endpoint_id=endpoint_id) == (
        "EndpointNotFound"
    )
    assert code(sim.client, "ListVpcEndpointZones", endpoint_id=endpoint_id) == "EndpointNotFound"
    assert call(sim.client, "ListVpcEndpoints").total_count == 0
    listed = call(sim.consumer, "ListVpcEndpoints")
    raw = listed.to_map()
    assert raw["TotalCount"] == 1 and raw["MaxResults"] == 50
    [item] = raw["Endpoints"]
    assert item["Tags"] == [{"Key": "env", "Value": "prod"}]
    assert "Payer" not in item and "ZonePrivateIpAddressCount" not in item
    for filters, expected in (
        ({"endpoint_id": endpoint_id}, 1),
        ({"endpoint_name": "orders"}, 1),
        ({"endpoint_status": "Active"}, 0),
        ({"connection_status": "Disconnected"}, 1),
        ({"service_name": f"com.aliyuncs.privatelink.{R}.{service_id}"}, 1),
        ({"vpc_id": "vpc-other"}, 0),
        ({"endpoint_type": "Interface"}, 1),
        ({"tag": [models.ListVpcEndpointsRequestTag(key="env", value="dev")]}, 0),
        ({"tag": [models.ListVpcEndpointsRequestTag(key="env")]}, 1),
    ):
        assert call(sim.consumer, "ListVpcEndpoints", **filters).total_count == expected, filters
    zones = call(sim.consumer, "ListVpcEndpointZones", endpoint_id=endpoint_id)
    assert zones.to_map()["TotalCount"] == 1
    assert zones.zones[0].region_id == R
    assert re.fullmatch(r"172\.\d+\.\d+\.\d+", zones.zones[0].eni_ip)
    assert code(
        sim.consumer, "GetVpcEndpointAttribute", endpoint_id=endpoint_id, region_id="cn-shanghai"
    ) == ("EndpointNotFound")


def test_endpoint_tags(sim):
    service_id = service(sim)
    endpoint_id = create_endpoint(sim.consumer, service_id).endpoint_id
    call(
        sim.consumer,
        "TagResources",
        resource_type="VpcEndpoint",
        resource_id=[endpoint_id],
        tag=[models.TagResourcesRequestTag(key="team", value="a")],
    )
    listed = call(sim.consumer, "ListVpcEndpoints")
    assert [t.to_map() for t in listed.endpoints[0].tags] == [{"Key": "team", "Value": "a"}]
    rows = call(
        sim.consumer, "ListTagResources", resource_type="vpcendpoint", resource_id=[endpoint_id]
    )
    assert [(r.resource_type, r.tag_key) for r in rows.tag_resources] == [("vpcendpoint", "team")]
    assert (
        code(
            sim.client,
            "TagResources",
            resource_type="vpcendpoint",
            resource_id=[endpoint_id],
            tag=[models.TagResourcesRequestTag(key="x", value="y")],
        )
        == "InvalidResourceId.NotFound"
    )
    call(
        sim.consumer,
        "UntagResources",
        resource_type="vpcendpoint",
        resource_id=[endpoint_id],
        all=True,
    )
    assert call(sim.consumer, "ListVpcEndpoints").endpoints[0].tags == []


def test_delete_endpoint_goes_deleting_then_not_found(sim):
    service_id = service(sim)
    endpoint_id = connected_endpoint(sim, service_id)
    call(sim.consumer, "DeleteVpcEndpoint", endpoint_id=endpoint_id)
    body = attribute(sim.consumer, endpoint_id)
    assert (body.endpoint_status, body.connection_status) == ("Deleting", "Deleting")
    assert connection(sim, service_id, endpoint_id).connection_status == "Deleting"
    assert zone_states(sim, endpoint_id) == {ZH: "Deleting"}
    assert counts(sim, service_id) == {(NLB_1, ZH): 1, (NLB_1, ZI): 0}
    assert code(sim.consumer, "DeleteVpcEndpoint", endpoint_id=endpoint_id) == (
        "EndpointOperationDenied"
    )
    sim.clock.advance(10)
    for action in ("GetVpcEndpointAttribute", "DeleteVpcEndpoint", "ListVpcEndpointZones"):
        assert code(sim.consumer, action, endpoint_id=endpoint_id) == "EndpointNotFound"
    listed = call(sim.client, "ListVpcEndpointConnections", service_id=service_id)
    assert (listed.connections, listed.total_count) == ([], "0")
    assert counts(sim, service_id) == {(NLB_1, ZH): 0, (NLB_1, ZI): 0}
    creating = create_endpoint(sim.consumer, service_id).endpoint_id
    assert code(sim.consumer, "DeleteVpcEndpoint", endpoint_id=creating) == (
        "EndpointOperationDenied"
    )
    assert code(sim.client, "DeleteVpcEndpoint", endpoint_id=creating) == "EndpointNotFound"


def test_add_and_remove_zones(sim):
    service_id = service(sim, resources=((NLB_1, ZH), (NLB_1, ZI), (pool(1), ZJ)))
    endpoint_id = ready_endpoint(sim, service_id)
    add = {"endpoint_id": endpoint_id, "zone_id": ZI, "v_switch_id": "vsw-i", "ip": "10.1.1.1"}
    call(sim.consumer, "AddZoneToVpcEndpoint", **add)
    assert attribute(sim.consumer, endpoint_id).endpoint_status == "Pending"
    assert zone_states(sim, endpoint_id) == {ZH: "Wait", ZI: "Creating"}
    eni = call(sim.consumer, "ListVpcEndpointZones", endpoint_id=endpoint_id).zones[1].eni_ip
    assert eni == "10.1.1.1"
    assert code(sim.consumer, "AddZoneToVpcEndpoint", **{**add, "zone_id": ZJ}) == (
        "EndpointOperationDenied"
    )
    sim.clock.advance(10)
    assert attribute(sim.consumer, endpoint_id).endpoint_status == "Active"
    assert zone_states(sim, endpoint_id) == {ZH: "Wait", ZI: "Wait"}
    call(sim.client, "EnableVpcEndpointConnection", service_id=service_id, endpoint_id=endpoint_id)
    assert code(sim.consumer, "AddZoneToVpcEndpoint", **{**add, "zone_id": ZJ}) == (
        "EndpointConnectionOperationDenied"
    )
    assert code(sim.consumer, "RemoveZoneFromVpcEndpoint", endpoint_id=endpoint_id, zone_id=ZI) == (
        "EndpointConnectionOperationDenied"
    )
    sim.clock.advance(10)
    # With the connection Connected, a new zone goes Creating -> Connecting -> Connected.
    call(
        sim.consumer,
        "AddZoneToVpcEndpoint",
        endpoint_id=endpoint_id,
        zone_id=ZJ,
        v_switch_id="vsw-j",
    )
    assert zone_states(sim, endpoint_id)[ZJ] == "Creating"
    sim.clock.advance(10)
    assert zone_states(sim, endpoint_id)[ZJ] == "Connecting"
    sim.clock.advance(10)
    assert zone_states(sim, endpoint_id)[ZJ] == "Connected"
    assert counts(sim, service_id)[(pool(1), ZJ)] == 1
    call(sim.consumer, "RemoveZoneFromVpcEndpoint", endpoint_id=endpoint_id, zone_id=ZJ)
    assert zone_states(sim, endpoint_id)[ZJ] == "Deleting"
    assert attribute(sim.consumer, endpoint_id).endpoint_status == "Pending"
    sim.clock.advance(10)
    assert zone_states(sim, endpoint_id) == {ZH: "Connected", ZI: "Connected"}
    assert counts(sim, service_id)[(pool(1), ZJ)] == 0


def test_add_and_remove_zone_refusals(sim):
    service_id = service(sim, resources=((NLB_1, ZH), (NLB_1, ZI)))
    endpoint_id = ready_endpoint(sim, service_id, zones=((ZH, "vsw-h"),))
    add = {"endpoint_id": endpoint_id, "zone_id": ZI, "v_switch_id": "vsw-i"}
    checks = [
        ({"zone_id": ZH}, "EndpointZoneDuplicated"),
        ({"zone_id": ZJ}, "EndpointServiceNotSupportedZone"),
        ({"v_switch_id": "switch"}, "VSwitchNotFound"),
        ({"v_switch_id": None}, "MissingParam.VSwitchId"),
        ({"zone_id": None}, "MissingParam.ZoneId"),
        ({"endpoint_id": "ep-nosuchendpoint000000000"}, "EndpointNotFound"),
    ]
    for changes, expected in checks:
        fields = {k: v for k, v in {**add, **changes}.items() if v is not None}
        assert code(sim.consumer, "AddZoneToVpcEndpoint", **fields) == expected, changes
    eni_ip = call(sim.consumer, "ListVpcEndpointZones", endpoint_id=endpoint_id).zones[0].eni_ip
    assert code(sim.consumer, "AddZoneToVpcEndpoint", **add, ip=eni_ip) == "EniIpUnavailable"
    assert code(sim.client, "AddZoneToVpcEndpoint", **add) == "EndpointNotFound"
    remove = {"endpoint_id": endpoint_id, "zone_id": ZI}
    assert code(sim.consumer, "RemoveZoneFromVpcEndpoint", **remove) == "EndpointZoneNotFound"
    lock(sim, EndpointId=endpoint_id)
    locked = error(sim.consumer, "AddZoneToVpcEndpoint", **add)
    assert (locked.code, locked.data["Message"]) == (
        "EndpointLocked",
        "The specified Endpoint is locked.",
    )
    assert code(sim.consumer, "RemoveZoneFromVpcEndpoint", **{**remove, "zone_id": ZH}) == (
        "EndpointLocked"
    )
    sim.control("business-status", {"EndpointId": endpoint_id, "BusinessStatus": "Normal"})
    call(
        sim.client,
        "UpdateVpcEndpointServiceAttribute",
        service_id=service_id,
        service_description="x",
    )
    assert code(sim.consumer, "AddZoneToVpcEndpoint", **add) == "IncorrectStatus.VpcEndpointService"
    sim.clock.advance(10)
    call(sim.client, "DeleteVpcEndpointService", service_id=service_id)
    assert code(sim.consumer, "AddZoneToVpcEndpoint", **add) == "EndpointServiceDeleted"
    sim.clock.advance(10)
    assert code(sim.consumer, "AddZoneToVpcEndpoint", **add) == "EndpointServiceDeleted"


# --- the owner's view, dependants, deletion ----------------------------------------------


def test_list_connections_filters(sim):
    service_id = service(sim)
    other = service(sim, resources=((pool(1), ZH),))
    mine = ready_endpoint(sim, service_id, client=sim.client, vpc="vpc-own")
    theirs = connected_endpoint(sim, service_id)
    third = ready_endpoint(sim, other)
    everything = call(sim.client, "ListVpcEndpointConnections")
    assert [c.endpoint_id for c in everything.connections] == [mine, theirs, third]
    assert (everything.total_count, everything.to_map()["TotalCount"]) == ("3", "3")
    by_owner = call(sim.client, "ListVpcEndpointConnections", endpoint_owner_id=CONSUMER_UID)
    assert [c.endpoint_id for c in by_owner.connections] == [theirs, third]
    assert [c.resource_owner for c in everything.connections] == [True, False, False]
    by_status = call(sim.client, "ListVpcEndpointConnections", connection_status="Connected")
    assert [c.endpoint_id for c in by_status.connections] == [theirs]
    eni = everything.connections[1].zones[0].eni_id
    by_eni = call(sim.client, "ListVpcEndpointConnections", eni_id=eni)
    assert [c.endpoint_id for c in by_eni.connections] == [theirs]
    paged = call(sim.client, "ListVpcEndpointConnections", max_results=2)
    assert (len(paged.connections), bool(paged.next_token)) == (2, True)
    rest = call(
        sim.client, "ListVpcEndpointConnections", max_results=2, next_token=paged.next_token
    )
    assert [c.endpoint_id for c in rest.connections] == [third]
    assert rest.next_token == ""
    # The consumer sees no connection: the services are not its.
    assert code(sim.consumer, "ListVpcEndpointConnections", service_id=service_id) == (
        "EndpointServiceNotFound"
    )
    assert call(sim.consumer, "ListVpcEndpointConnections").connections == []


def test_detach_refuses_rows_in_use(sim):
    service_id = service(sim, resources=((NLB_1, ZH), (NLB_1, ZI), (pool(1), ZI)))
    endpoint_id = connected_endpoint(sim, service_id)  # zone h, on (NLB_1, h)
    detach = {"service_id": service_id, "resource_id": NLB_1, "zone_id": ZH}
    dependence = error(sim.client, "DetachResourceFromVpcEndpointService", **detach)
    assert (dependence.code, dependence.data["Message"]) == (
        "EndpointServiceConnectionDependence",
        "You cannot delete EndpointService with Endpoint connected.",
    )
    call(sim.client, "DisableVpcEndpointConnection", service_id=service_id, endpoint_id=endpoint_id)
    sim.clock.advance(10)
    # Disconnected, but its zone is still in zone h: the last row there stays.
    assert code(sim.client, "DetachResourceFromVpcEndpointService", **detach) == (
        "EndpointServiceResourceCannotRemove"
    )
    # Zone i has two rows and no endpoint zone: one may go.
    call(sim.client, "DetachResourceFromVpcEndpointService", **{**detach, "zone_id": ZI})
    sim.clock.advance(10)
    call(sim.consumer, "DeleteVpcEndpoint", endpoint_id=endpoint_id)
    assert code(sim.client, "DetachResourceFromVpcEndpointService", **detach) == (
        "EndpointServiceResourceCannotRemove"  # the endpoint is Deleting, not yet deleted
    )
    sim.clock.advance(10)
    call(sim.client, "DetachResourceFromVpcEndpointService", **detach)


def test_delete_service_with_dependants(sim):
    service_id = service(sim)
    connected = connected_endpoint(sim, service_id, vpc="vpc-1")
    waiting = ready_endpoint(sim, service_id, vpc="vpc-2")
    delete = {"service_id": service_id}
    dependence = error(sim.client, "DeleteVpcEndpointService", **delete)
    assert dependence.code == "EndpointServiceConnectionDependence"
    call(sim.client, "DisableVpcEndpointConnection", service_id=service_id, endpoint_id=connected)
    assert code(sim.client, "DeleteVpcEndpointService", **delete) == (
        "EndpointServiceConnectionDependence"  # Disconnecting
    )
    sim.clock.advance(10)
    call(sim.consumer, "DeleteVpcEndpoint", endpoint_id=connected)
    assert code(sim.client, "DeleteVpcEndpointService", **delete) == (
        "EndpointServiceConnectionDependence"  # its connection is Deleting
    )
    sim.clock.advance(10)
    # Only a Disconnected endpoint is left: the service may go, and the endpoint sees it.
    call(sim.client, "DeleteVpcEndpointService", **delete)
    assert attribute(sim.consumer, waiting).connection_status == "Disconnected"
    sim.clock.advance(10)
    body = attribute(sim.consumer, waiting)
    assert (body.endpoint_status, body.connection_status) == ("Active", "ServiceDeleted")
    assert (
        call(sim.consumer, "ListVpcEndpoints", connection_status="ServiceDeleted").total_count == 1
    )
    call(sim.consumer, "DeleteVpcEndpoint", endpoint_id=waiting)
    sim.clock.advance(10)
    assert call(sim.consumer, "ListVpcEndpoints").total_count == 0


def test_a_service_deleted_under_a_creating_auto_accept_endpoint_never_connects(sim):
    service_id = service(sim, auto_accept_enabled=True)
    endpoint_id = create_endpoint(sim.consumer, service_id).endpoint_id
    call(sim.client, "DeleteVpcEndpointService", service_id=service_id)
    sim.clock.advance(30)
    body = attribute(sim.consumer, endpoint_id)
    assert (body.endpoint_status, body.connection_status) == ("Active", "ServiceDeleted")
    assert zone_states(sim, endpoint_id) == {ZH: "Wait"}


def test_dual_stack_downgrade_with_a_connected_dual_stack_endpoint(sim):
    service_id = service(sim, address_ip_version="DualStack")
    endpoint_id = connected_endpoint(sim, service_id, address_ip_version="DualStack")
    downgrade = {"service_id": service_id, "address_ip_version": "IPv4"}
    refused = error(sim.client, "UpdateVpcEndpointServiceAttribute", **downgrade)
    assert (refused.code, refused.data["Message"]) == (
        "EndpointServiceDowngradeNotAllowed",
        "The EndpointService is not allowed for downgrade.",
    )
    call(sim.client, "DisableVpcEndpointConnection", service_id=service_id, endpoint_id=endpoint_id)
    sim.clock.advance(10)
    call(sim.client, "UpdateVpcEndpointServiceAttribute", **downgrade)
    assert attribute(sim.consumer, endpoint_id).address_ip_version == "DualStack"


# --- ClientToken and DryRun on the consumer's and the connections' writes --------------------


def _writes(sim):
    service_id = service(sim, resources=((NLB_1, ZH), (NLB_1, ZI)))
    waiting = ready_endpoint(sim, service_id, vpc="vpc-w")
    connected = connected_endpoint(
        sim, service_id, vpc="vpc-c", zones=((ZH, "vsw-h"), (ZI, "vsw-i"))
    )
    doomed = ready_endpoint(sim, service_id, vpc="vpc-d")
    own = {"service_id": service_id}
    return {
        "CreateVpcEndpoint": (
            sim.consumer,
            endpoint_request(service_id, vpc="vpc-new"),
            {"endpoint_name": "other"},
        ),
        "DeleteVpcEndpoint": (sim.consumer, {"endpoint_id": doomed}, {"endpoint_id": waiting}),
        "EnableVpcEndpointConnection": (
            sim.client,
            {**own, "endpoint_id": waiting, "bandwidth": 1000},
            {"bandwidth": 1001},
        ),
        "DisableVpcEndpointConnection": (
            sim.client,
            {**own, "endpoint_id": connected},
            {"endpoint_id": waiting},
        ),
        "UpdateVpcEndpointConnectionAttribute": (
            sim.client,
            {**own, "endpoint_id": connected, "bandwidth": 2000},
            {"bandwidth": 2001},
        ),
        "DisableVpcEndpointZoneConnection": (
            sim.client,
            {**own, "endpoint_id": connected, "zone_id": ZI},
            {"zone_id": ZH},
        ),
        "AddZoneToVpcEndpoint": (
            sim.consumer,
            {"endpoint_id": waiting, "zone_id": ZI, "v_switch_id": "vsw-i"},
            {"v_switch_id": "vsw-other"},
        ),
        "RemoveZoneFromVpcEndpoint": (
            sim.consumer,
            {"endpoint_id": connected, "zone_id": ZI},
            {"zone_id": ZH},
        ),
    }


WRITES = [
    "CreateVpcEndpoint",
    "DeleteVpcEndpoint",
    "EnableVpcEndpointConnection",
    "DisableVpcEndpointConnection",
    "UpdateVpcEndpointConnectionAttribute",
    "DisableVpcEndpointZoneConnection",
    "AddZoneToVpcEndpoint",
    "RemoveZoneFromVpcEndpoint",
]


def _state(sim):
    return json.dumps(sim.control("endpoints"), sort_keys=True)


@pytest.mark.parametrize("action", WRITES)
def test_consumer_and_connection_writes_dry_run(sim, action):
    client, fields, _changed = _writes(sim)[action]
    before = _state(sim)
    answer = error(client, action, **fields, dry_run=True)
    assert answer.code == "DryRunOperation"
    assert _state(sim) == before


@pytest.mark.parametrize("action", WRITES)
def test_consumer_and_connection_writes_are_idempotent(sim, action):
    client, fields, changed = _writes(sim)[action]
    first = call(client, action, **fields, client_token=f"t-{action}")
    after = _state(sim)
    again = call(client, action, **fields, client_token=f"t-{action}")
    assert _state(sim) == after
    if action == "CreateVpcEndpoint":
        assert again.endpoint_id == first.endpoint_id
    mismatch = error(client, action, **{**fields, **changed}, client_token=f"t-{action}")
    assert mismatch.code == "IdempotentParameterMismatch"
    assert _state(sim) == after


def test_enable_zone_connection_is_idempotent(sim):
    service_id = service(sim)
    endpoint_id = connected_endpoint(sim, service_id, zones=((ZH, "vsw-h"), (ZI, "vsw-i")))
    zone = {"service_id": service_id, "endpoint_id": endpoint_id, "zone_id": ZI}
    call(sim.client, "DisableVpcEndpointZoneConnection", **zone)
    sim.clock.advance(10)
    assert error(sim.client, "EnableVpcEndpointZoneConnection", **zone, dry_run=True).code == (
        "DryRunOperation"
    )
    assert zone_states(sim, endpoint_id)[ZI] == "Disconnected"
    call(sim.client, "EnableVpcEndpointZoneConnection", **zone, client_token="z")
    call(sim.client, "EnableVpcEndpointZoneConnection", **zone, client_token="z")
    assert (
        code(
            sim.client,
            "EnableVpcEndpointZoneConnection",
            **{**zone, "zone_id": ZH},
            client_token="z",
        )
        == "IdempotentParameterMismatch"
    )
    assert zone_states(sim, endpoint_id)[ZI] == "Connecting"


def test_endpoints_control_path(sim):
    service_id = service(sim)
    endpoint_id = create_endpoint(sim.consumer, service_id).endpoint_id
    [found] = sim.control("endpoints")["Endpoints"]
    assert (found["EndpointId"], found["AccountId"], found["Zones"][0]["ZoneId"]) == (
        endpoint_id,
        "consumer",
        ZH,
    )
    assert sim.control("health")["endpoints"] == 1


# --- no input breaks the backend -----------------------------------------------------------

ACCOUNT = Account("dev", "k", "s")
NAMES = [
    "RegionId",
    "ServiceId",
    "ServiceName",
    "EndpointId",
    "VpcId",
    "ZoneId",
    "VSwitchId",
    "ResourceId",
    "ResourceType",
    "UserId",
    "UserARN",
    "UserListType",
    "Bandwidth",
    "ConnectBandwidth",
    "TrafficControlMode",
    "AutoAllocatedEnabled",
    "EndpointType",
    "EndpointOwnerId",
    "MaxResults",
    "NextToken",
    "ClientToken",
    "DryRun",
    "All",
    "ip",
]
VALUES = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        ["", "cn-hangzhou", "cn-hangzhou-h", "true", "0", "-1", "99999999999999999999", "nlb"]
    ),
    st.lists(st.text(max_size=5), max_size=2),
)
LISTS_OF = st.lists(
    st.dictionaries(
        st.sampled_from(["ZoneId", "VSwitchId", "ip", "Key", "Value"]), st.text(max_size=8)
    ),
    max_size=3,
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    action=st.sampled_from(sorted(Backend.ACTIONS)),
    values=st.dictionaries(st.sampled_from(NAMES), VALUES, max_size=8),
    arrays=st.dictionaries(
        st.sampled_from(["Zone", "Tag", "Resource", "SecurityGroupId", "ResourceId", "TagKey"]),
        LISTS_OF,
        max_size=2,
    ),
)
def test_every_action_answers_or_refuses_with_a_code(action, values, arrays):
    backend = Backend(":memory:", create_delay=0, accounts=[ACCOUNT])
    service = backend.call(
        ACCOUNT,
        "CreateVpcEndpointService",
        {
            "RegionId": R,
            "ServiceResourceType": "nlb",
            "Resource": [{"ResourceType": "nlb", "ResourceId": NLB_1, "ZoneId": ZH}],
        },
    )
    params = {**values, **arrays}
    if params.get("ServiceId") == "":
        params["ServiceId"] = service["ServiceId"]
    try:
        answer = backend.call(ACCOUNT, action, params)
    except ApiError as refused:
        assert refused.code and refused.message
        assert 400 <= refused.status < 500
    else:
        json.dumps(answer)

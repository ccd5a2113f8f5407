"""Day 2 for a service owner, through the official SDK over HTTP: updates, resources, the
allow-list, tags, deletion rules, idempotence and paging (privatelink-day2-api.md).

Most tests use `clocked_simulator`: its time moves only when the test says so, and every
transitional status lasts 10 s of that clock, so each state is seen without sleeping.
"""

import json
import re
import time
import urllib.error
import urllib.request
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests.adapters
from alibabacloud_privatelink20200415 import models
from alibabacloud_tea_openapi.exceptions import ClientException

from simulator.backend import Account, Backend

R = "cn-hangzhou"
ZH, ZI, ZJ = "cn-hangzhou-h", "cn-hangzhou-i", "cn-hangzhou-j"
NLB_1 = "nlb-hz0000000000000001"  # zones h, i; DualStack
NLB_2 = "nlb-hz0000000000000002"  # zones i, j; IPv4 only
ALB_1 = "alb-hz0000000000000001"  # zones h, i
SLB_1 = "lb-hz00000000000000001"  # zone h
CONSUMER = ("consumer-access-key-id", "consumer-access-key-secret")
CONSUMER_UID = 1000000000000003
DEV_UID = 1000000000000001


def pool(n):
    return f"nlb-hzpool{n:06d}"  # zones h, i, j; DualStack


def snake(action):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", action).lower()


def call(client, action, **fields):
    """Call one operation by its API name through the SDK; return the response body."""
    fields.setdefault("region_id", R)
    request = getattr(models, f"{action}Request")(**fields)
    return getattr(client, snake(action))(request).body


def error(client, action, **fields):
    with pytest.raises(ClientException) as caught:
        call(client, action, **fields)
    return caught.value


def code(client, action, **fields):
    return error(client, action, **fields).code


def create_service(client, resources=((NLB_1, ZH),), resource_type="nlb", **fields):
    fields.setdefault("service_resource_type", resource_type)
    fields["resource"] = [
        models.CreateVpcEndpointServiceRequestResource(
            resource_type=resource_type, resource_id=resource_id, zone_id=zone_id
        )
        for resource_id, zone_id in resources
    ]
    return call(client, "CreateVpcEndpointService", **fields).service_id


def active_service(sim, resources=((NLB_1, ZH),), resource_type="nlb", **fields):
    """A service that is Active now (the clock moves past its create delay)."""
    service_id = create_service(sim.client, resources, resource_type, **fields)
    sim.clock.advance(10)
    return service_id


def get(client, service_id):
    return call(client, "GetVpcEndpointServiceAttribute", service_id=service_id)


def status(sim, service_id):
    return get(sim.client, service_id).service_status


def rows(client, service_id, **fields):
    body = call(client, "ListVpcEndpointServiceResources", service_id=service_id, **fields)
    return [(r.resource_id, r.zone_id) for r in body.resources]


def users(client, service_id, list_type="Users", **fields):
    return call(
        client,
        "ListVpcEndpointServiceUsers",
        service_id=service_id,
        user_list_type=list_type,
        **fields,
    )


def tag(client, ids, tags, resource_type="vpcendpointservice", **fields):
    return call(
        client,
        "TagResources",
        resource_type=resource_type,
        resource_id=list(ids),
        tag=[models.TagResourcesRequestTag(key=k, value=v) for k, v in tags],
        **fields,
    )


def tags_of(client, service_id):
    body = call(
        client,
        "ListTagResources",
        resource_type="vpcendpointservice",
        resource_id=[service_id],
    )
    return [(t.tag_key, t.tag_value) for t in body.tag_resources]


def lock(sim, **target):
    return sim.control("business-status", {**target, "BusinessStatus": "FinancialLocked"})


# --- accounts --------------------------------------------------------------------------


def test_accounts_have_documented_uids(clocked_simulator):
    backend = Backend(":memory:", accounts=[Account("dev", "k", "s")])
    assert backend.account_for_key("k").uid == str(DEV_UID)
    assert backend.account_for_key("restricted-access-key-id").uid == "1000000000000002"
    consumer = backend.account_for_key("consumer-access-key-id")
    assert (consumer.uid, consumer.access_key_secret) == (
        str(CONSUMER_UID),
        "consumer-access-key-secret",
    )
    assert re.fullmatch(r"[1-9]\d{15}", Account("someone", "a", "b").uid)
    with pytest.raises(ValueError, match="16 digits"):
        Account("bad", "a", "b", uid="12")


def test_control_path_lists_services_with_their_owner(clocked_simulator):
    sim = clocked_simulator
    service_id = create_service(sim.client)
    consumer = sim.make_client(*CONSUMER)
    # Its own load balancer: another account's is not found (tests/simulator/test_sts.py).
    other = create_service(consumer, resources=(("nlb-hzcon000000000000001", ZH),))
    owners = {s["ServiceId"]: (s["AccountId"], s["AccountUid"]) for s in sim.services()}
    assert owners == {
        service_id: ("dev", str(DEV_UID)),
        other: ("consumer", str(CONSUMER_UID)),
    }
    assert code(consumer, "GetVpcEndpointServiceAttribute", service_id=service_id) == (
        "EndpointServiceNotFound"
    )


# --- multi-zone resources --------------------------------------------------------------


def test_one_nlb_in_two_zones_is_two_rows_of_one_service(clocked_simulator):
    sim = clocked_simulator
    service_id = active_service(sim, resources=((NLB_1, ZH), (NLB_1, ZI)))
    assert get(sim.client, service_id).zones == [ZH, ZI]
    assert rows(sim.client, service_id) == [(NLB_1, ZH), (NLB_1, ZI)]
    repeated = error(
        sim.client,
        "CreateVpcEndpointService",
        service_resource_type="nlb",
        resource=[
            models.CreateVpcEndpointServiceRequestResource(
                resource_type="nlb", resource_id=pool(1), zone_id=zone
            )
            for zone in (ZH, ZH)
        ],
    )
    assert repeated.code == "IllegalParamFormat.Resource"
    assert (
        code(
            sim.client,
            "CreateVpcEndpointService",
            service_resource_type="nlb",
            resource=[
                models.CreateVpcEndpointServiceRequestResource(
                    resource_type="nlb", resource_id=NLB_1, zone_id=ZJ
                )
            ],
        )
        == "EndpointServiceNotSupportedZone"
    )
    assert code(
        sim.client,
        "CreateVpcEndpointService",
        service_resource_type="nlb",
        resource=[
            models.CreateVpcEndpointServiceRequestResource(
                resource_type="nlb", resource_id=NLB_1, zone_id=ZI
            )
        ],
    ) == ("EndpointServiceExist")


def test_a_repeated_slb_is_refused_whatever_the_zone(clocked_simulator):
    sim = clocked_simulator
    error_ = error(
        sim.client,
        "CreateVpcEndpointService",
        service_resource_type="slb",
        resource=[
            models.CreateVpcEndpointServiceRequestResource(resource_type="slb", resource_id=SLB_1),
            models.CreateVpcEndpointServiceRequestResource(
                resource_type="slb", resource_id=SLB_1, zone_id=ZH
            ),
        ],
    )
    assert error_.code == "IllegalParamFormat.Resource"


# --- UpdateVpcEndpointServiceAttribute --------------------------------------------------


def test_update_shows_new_values_at_once_while_pending_then_active(clocked_simulator):
    sim = clocked_simulator
    service_id = active_service(sim)
    assert get(sim.client, service_id).connect_bandwidth == 3072
    answer = call(
        sim.client,
        "UpdateVpcEndpointServiceAttribute",
        service_id=service_id,
        connect_bandwidth=5000,
        service_description="v2",
        auto_accept_enabled=True,
        zone_affinity_enabled=True,
        add_supported_region_set=["cn-shanghai"],
    )
    assert answer.to_map().keys() == {"RequestId"}
    body = get(sim.client, service_id)
    assert body.service_status == "Pending"
    assert (body.connect_bandwidth, body.service_description) == (5000, "v2")
    assert (body.auto_accept_enabled, body.zone_affinity_enabled) == (True, True)
    assert [r.supported_region_id for r in body.supported_region_set] == [R, "cn-shanghai"]
    listed = call(sim.client, "ListVpcEndpointServices", service_status="Pending")
    assert [s.connect_bandwidth for s in listed.services] == [5000]
    sim.clock.advance(9.9)
    assert status(sim, service_id) == "Pending"
    sim.clock.advance(0.1)
    assert status(sim, service_id) == "Active"
    call(
        sim.client,
        "UpdateVpcEndpointServiceAttribute",
        service_id=service_id,
        delete_supported_region_set=["cn-shanghai"],
        connect_bandwidth=5000,
    )
    body = get(sim.client, service_id)
    assert body.service_status == "Pending"
    assert [r.supported_region_id for r in body.supported_region_set] == [R]


def test_update_that_changes_nothing_leaves_the_service_active(clocked_simulator):
    sim = clocked_simulator
    service_id = active_service(sim, service_description="same")
    call(sim.client, "UpdateVpcEndpointServiceAttribute", service_id=service_id)
    call(
        sim.client,
        "UpdateVpcEndpointServiceAttribute",
        service_id=service_id,
        service_description="same",
        connect_bandwidth=3072,
        address_ip_version="IPv4",
    )
    assert status(sim, service_id) == "Active"


def test_update_to_dual_stack_and_ipv6_flag(clocked_simulator):
    sim = clocked_simulator
    service_id = active_service(sim)
    call(
        sim.client,
        "UpdateVpcEndpointServiceAttribute",
        service_id=service_id,
        service_support_ipv_6=True,
    )
    body = get(sim.client, service_id)
    assert (body.address_ip_version, body.service_support_ipv_6) == ("DualStack", True)
    sim.clock.advance(10)
    # AddressIpVersion wins over the deprecated flag when both are sent.
    call(
        sim.client,
        "UpdateVpcEndpointServiceAttribute",
        service_id=service_id,
        address_ip_version="IPv4",
        service_support_ipv_6=True,
    )
    assert get(sim.client, service_id).address_ip_version == "IPv4"


@pytest.mark.parametrize(
    ("setup", "fields", "expected"),
    [
        ({}, {"connect_bandwidth": 99}, "IllegalParamFormat.ConnectBandwidth"),
        ({}, {"connect_bandwidth": 10241}, "IllegalParamFormat.ConnectBandwidth"),
        ({}, {"address_ip_version": "IPv6"}, "IllegalParam.AddressIpVersion"),
        ({}, {"add_supported_region_set": ["moon-1"]}, "IllegalParamFormat.AddSupportedRegionSet"),
        (
            {"resource_type": "slb", "resources": ((SLB_1, ZH),)},
            {"address_ip_version": "DualStack"},
            "OperationDenied.ResourceTypeNotSupportDualStack",
        ),
        (
            {"resources": ((NLB_2, ZI),)},
            {"address_ip_version": "DualStack"},
            "OperationDenied.ServiceResourceIpVersionMismatch",
        ),
        (
            {"resources": ((NLB_2, ZI),)},
            {"service_support_ipv_6": True},
            "ServiceResourceNotSupportIpv6",
        ),
        (
            {"resource_type": "alb", "resources": ((ALB_1, ZH),)},
            {"service_support_ipv_6": True},
            "ServiceResourceNotSupportIpv6",
        ),
        ({}, {"service_id": "epsrv-nosuchservice00000000"}, "EndpointServiceNotFound"),
    ],
)
def test_update_refusals(clocked_simulator, setup, fields, expected):
    sim = clocked_simulator
    service_id = active_service(sim, **setup)
    fields = {"service_id": service_id, **fields}
    assert code(sim.client, "UpdateVpcEndpointServiceAttribute", **fields) == expected
    assert status(sim, service_id) == "Active"


def test_update_and_other_writes_follow_the_state_table(clocked_simulator):
    sim = clocked_simulator
    service_id = create_service(sim.client)
    update = {"service_id": service_id, "service_description": "x"}
    attach = {
        "service_id": service_id,
        "resource_id": pool(1),
        "resource_type": "nlb",
        "zone_id": ZH,
    }
    user = {"service_id": service_id, "user_id": CONSUMER_UID}
    writes = [
        ("UpdateVpcEndpointServiceAttribute", update),
        ("AttachResourceToVpcEndpointService", attach),
        ("DetachResourceFromVpcEndpointService", {**attach, "resource_id": NLB_1}),
        (
            "UpdateVpcEndpointServiceResourceAttribute",
            {
                "service_id": service_id,
                "resource_id": NLB_1,
                "zone_id": ZH,
                "auto_allocated_enabled": True,
            },
        ),
        ("AddUserToVpcEndpointService", user),
        ("RemoveUserFromVpcEndpointService", user),
        ("DeleteVpcEndpointService", {"service_id": service_id}),
    ]
    for action, fields in writes:  # Creating
        assert code(sim.client, action, **fields) == "EndpointServiceOperationDenied", action
    sim.clock.advance(10)
    call(sim.client, "UpdateVpcEndpointServiceAttribute", **update)
    for action, fields in writes:  # Pending
        assert code(sim.client, action, **fields) == "EndpointServiceOperationDenied", action
    sim.clock.advance(10)
    lock(sim, ServiceId=service_id)
    locked = {
        "UpdateVpcEndpointServiceAttribute": "EndpointServiceLocked",
        "UpdateVpcEndpointServiceResourceAttribute": "EndpointServiceLocked",
        "AttachResourceToVpcEndpointService": "EndpointServiceOperationDenied",
        "DetachResourceFromVpcEndpointService": "EndpointServiceOperationDenied",
    }
    for action, fields in writes:
        if action in locked:
            assert code(sim.client, action, **fields) == locked[action], action
    # FinancialLocked: the allow-list and deletion still work; tags always do.
    call(sim.client, "AddUserToVpcEndpointService", **user)
    tag(sim.client, [service_id], [("k", "v")])
    assert get(sim.client, service_id).service_business_status == "FinancialLocked"
    call(sim.client, "DeleteVpcEndpointService", service_id=service_id)
    for action, fields in writes:  # Deleting
        assert code(sim.client, action, **fields) == "EndpointServiceOperationDenied", action
    tag(sim.client, [service_id], [("k", "v2")])
    assert tags_of(sim.client, service_id) == [("k", "v2")]


def test_business_status_control_path(clocked_simulator):
    sim = clocked_simulator
    service_id = active_service(sim)
    assert lock(sim, ServiceId=service_id) == {
        "ServiceId": service_id,
        "BusinessStatus": "FinancialLocked",
    }
    listed = call(sim.client, "ListVpcEndpointServices", service_business_status="FinancialLocked")
    assert [s.service_id for s in listed.services] == [service_id]
    sim.control("business-status", {"ServiceId": service_id, "BusinessStatus": "Normal"})
    assert get(sim.client, service_id).service_business_status == "Normal"
    for payload, status_code in (
        ({"ServiceId": "epsrv-nosuchservice00000000", "BusinessStatus": "Normal"}, 404),
        ({"ServiceId": service_id, "BusinessStatus": "Broke"}, 400),
        ({"BusinessStatus": "Normal"}, 400),
    ):
        with pytest.raises(urllib.error.HTTPError) as caught:
            sim.control("business-status", payload)
        assert caught.value.code == status_code


# --- resources -------------------------------------------------------------------------


def test_attach_and_detach_rows_go_pending(clocked_simulator):
    sim = clocked_simulator
    service_id = active_service(sim)
    call(
        sim.client,
        "AttachResourceToVpcEndpointService",
        service_id=service_id,
        resource_id=NLB_1,
        resource_type="nlb",
        zone_id=ZI,
    )
    assert rows(sim.client, service_id) == [(NLB_1, ZH), (NLB_1, ZI)]
    body = get(sim.client, service_id)
    assert (body.service_status, body.zones) == ("Pending", [ZH, ZI])
    sim.clock.advance(10)
    listed = call(sim.client, "ListVpcEndpointServiceResources", service_id=service_id)
    row = listed.resources[1]
    assert (row.resource_type, row.region_id, row.auto_allocated_enabled) == ("nlb", R, True)
    assert (row.related_endpoint_count, row.related_deprecated_endpoint_count) == (0, 0)
    assert row.resource_support_ipv_6 is True
    assert row.vpc_id.startswith("vpc-") and row.v_switch_id.startswith("vsw-")
    assert re.fullmatch(r"10\.\d+\.\d+\.\d+", row.ip)
    assert listed.to_map().get("TotalCount") is None
    call(
        sim.client,
        "DetachResourceFromVpcEndpointService",
        service_id=service_id,
        resource_id=NLB_1,
        zone_id=ZH,
    )
    assert rows(sim.client, service_id) == [(NLB_1, ZI)]
    assert get(sim.client, service_id).zones == [ZI]
    assert status(sim, service_id) == "Pending"


def test_slb_attach_takes_its_first_zone(clocked_simulator):
    sim = clocked_simulator
    service_id = active_service(sim, resources=(), resource_type="slb")
    call(
        sim.client,
        "AttachResourceToVpcEndpointService",
        service_id=service_id,
        resource_id=SLB_1,
        resource_type="slb",
    )
    assert rows(sim.client, service_id) == [(SLB_1, ZH)]
    sim.clock.advance(10)
    call(
        sim.client,
        "DetachResourceFromVpcEndpointService",
        service_id=service_id,
        resource_id=SLB_1,
    )
    assert rows(sim.client, service_id) == []


def _attach(sim, service_id, resource_id, zone_id=ZH, resource_type="nlb"):
    return code(
        sim.client,
        "AttachResourceToVpcEndpointService",
        service_id=service_id,
        resource_id=resource_id,
        resource_type=resource_type,
        zone_id=zone_id,
    )


def test_attach_refusals(clocked_simulator):
    sim = clocked_simulator
    service_id = active_service(sim, resources=((NLB_1, ZH),))
    other = active_service(sim, resources=((pool(2), ZH),))
    dual = active_service(sim, resources=((pool(3), ZH),), address_ip_version="DualStack")
    alb = active_service(sim, resources=((ALB_1, ZH),), resource_type="alb")
    assert _attach(sim, service_id, NLB_1, zone_id=None) == "MissingParam.ZoneId"
    assert _attach(sim, service_id, NLB_1, resource_type="elb") == "IllegalParamFormat.ResourceType"
    assert _attach(sim, service_id, ALB_1, resource_type="alb") == (
        "EndpointServiceResourceTypeNotEqual"
    )
    assert _attach(sim, service_id, NLB_1) == "EndpointServiceResourceExist"
    assert _attach(sim, service_id, pool(2)) == "EndpointServiceExist"
    assert _attach(sim, service_id, "nlb-hz9999999999999999") == "LoadBalancerNotFound"
    assert _attach(sim, alb, "alb-hz9999999999999999", resource_type="alb") == "AlbNotFound"
    assert _attach(sim, service_id, NLB_2, zone_id=ZH) == "EndpointServiceNotSupportedZone"
    assert _attach(sim, dual, NLB_2, zone_id=ZI) == "ServiceResourceNotSupportIpv6"
    assert _attach(sim, "epsrv-nosuchservice00000000", pool(4)) == "EndpointServiceNotFound"
    assert rows(sim.client, service_id) == [(NLB_1, ZH)]
    assert rows(sim.client, other) == [(pool(2), ZH)]


def test_attach_refuses_a_load_balancer_without_privatelink(clocked_simulator):
    sim = clocked_simulator
    service_id = create_service(
        sim.client,
        resources=(("lb-hp32z1wp5peaoox2q0001", "cn-huhehaote-a"),),
        resource_type="slb",
        region_id="cn-huhehaote",
    )
    sim.clock.advance(10)
    answer = error(
        sim.client,
        "AttachResourceToVpcEndpointService",
        region_id="cn-huhehaote",
        service_id=service_id,
        resource_id="lb-hp32z1wp5peaoox2q0002",
        resource_type="slb",
    )
    assert answer.code == "LoadBalancerNotSupportPrivateLink"


def test_a_service_holds_at_most_twenty_rows(clocked_simulator):
    sim = clocked_simulator
    sim.configure(create_delay=0)
    first = [(pool(n), ZH) for n in range(1, 11)]
    service_id = create_service(sim.client, resources=first)
    for n in range(11, 21):
        call(
            sim.client,
            "AttachResourceToVpcEndpointService",
            service_id=service_id,
            resource_id=pool(n),
            resource_type="nlb",
            zone_id=ZI,
        )
    assert len(rows(sim.client, service_id, max_results=100)) == 20
    assert _attach(sim, service_id, pool(21)) == "QuotaMisMatched"
    # The same NLB in a third zone is a new row too.
    assert _attach(sim, service_id, pool(1), zone_id=ZJ) == "QuotaMisMatched"


def test_detach_refusals(clocked_simulator):
    sim = clocked_simulator
    service_id = active_service(sim, resources=((NLB_1, ZH), (NLB_1, ZI)))
    detach = {"service_id": service_id, "resource_id": NLB_1}
    assert code(sim.client, "DetachResourceFromVpcEndpointService", **detach) == (
        "MissingParam.ZoneId"
    )
    assert (
        code(sim.client, "DetachResourceFromVpcEndpointService", **detach, zone_id=ZJ)
        == "EndpointServiceResourceNotFound"
    )
    assert (
        code(
            sim.client,
            "DetachResourceFromVpcEndpointService",
            service_id=service_id,
            resource_id=pool(1),
            zone_id=ZH,
        )
        == "EndpointServiceResourceNotFound"
    )
    assert (
        code(
            sim.client,
            "DetachResourceFromVpcEndpointService",
            service_id="epsrv-nosuchservice00000000",
            resource_id=NLB_1,
            zone_id=ZH,
        )
        == "EndpointServiceNotFound"
    )


def test_resource_auto_allocation(clocked_simulator):
    sim = clocked_simulator
    service_id = active_service(sim, resources=((NLB_1, ZH), (pool(1), ZH), (NLB_1, ZI)))
    update = {"service_id": service_id, "resource_id": NLB_1, "zone_id": ZH}
    call(
        sim.client,
        "UpdateVpcEndpointServiceResourceAttribute",
        **update,
        auto_allocated_enabled=False,
    )
    listed = call(sim.client, "ListVpcEndpointServiceResources", service_id=service_id)
    assert [r.auto_allocated_enabled for r in listed.resources] == [False, True, True]
    assert status(sim, service_id) == "Active"  # synchronous: no Pending
    last = {"service_id": service_id, "resource_id": pool(1), "zone_id": ZH}
    assert (
        code(
            sim.client,
            "UpdateVpcEndpointServiceResourceAttribute",
            **last,
            auto_allocated_enabled=False,
        )
        == "ResourceAutoAllocateViolation"
    )
    assert (
        code(
            sim.client,
            "UpdateVpcEndpointServiceResourceAttribute",
            service_id=service_id,
            resource_id=NLB_1,
            zone_id=ZI,
            auto_allocated_enabled=False,
        )
        == "ResourceAutoAllocateViolation"
    )
    assert code(sim.client, "UpdateVpcEndpointServiceResourceAttribute", **update) == (
        "MissingParam.AutoAllocatedEnabled"
    )
    assert (
        code(
            sim.client,
            "UpdateVpcEndpointServiceResourceAttribute",
            service_id=service_id,
            resource_id=NLB_1,
            auto_allocated_enabled=True,
        )
        == "MissingParam.ZoneId"
    )
    assert (
        code(
            sim.client,
            "UpdateVpcEndpointServiceResourceAttribute",
            service_id=service_id,
            resource_id=NLB_1,
            zone_id=ZJ,
            auto_allocated_enabled=True,
        )
        == "EndpointServiceResourceNotFound"
    )
    assert (
        code(
            sim.client,
            "UpdateVpcEndpointServiceResourceAttribute",
            service_id="epsrv-nosuchservice00000000",
            resource_id=NLB_1,
            zone_id=ZH,
            auto_allocated_enabled=True,
        )
        == "EndpointServiceNotFound"
    )
    call(
        sim.client,
        "UpdateVpcEndpointServiceResourceAttribute",
        **update,
        auto_allocated_enabled=True,
    )


# --- allow-list ------------------------------------------------------------------------


def test_allow_list_add_list_remove(clocked_simulator):
    sim = clocked_simulator
    service_id = active_service(sim)
    add = {"service_id": service_id}
    call(sim.client, "AddUserToVpcEndpointService", **add, user_id=CONSUMER_UID)
    call(sim.client, "AddUserToVpcEndpointService", **add, user_id=CONSUMER_UID)  # no change
    call(sim.client, "AddUserToVpcEndpointService", **add, user_id=1000000000000002)
    call(sim.client, "AddUserToVpcEndpointService", **add, user_id=DEV_UID)  # the owner
    call(sim.client, "AddUserToVpcEndpointService", **add, user_arn="acs:ram:*:*:*")
    both = "acs:ram:*:1000000000000004:*"
    call(sim.client, "AddUserToVpcEndpointService", **add, user_id=1000000000000004, user_arn=both)
    listed = users(sim.client, service_id)
    assert [u.user_id for u in listed.users] == [CONSUMER_UID, 1000000000000002, 1000000000000004]
    assert (listed.total_count, listed.user_arns, listed.max_results) == ("3", [], 50)
    raw = listed.to_map()
    assert raw["TotalCount"] == "3" and raw["Users"][0]["UserId"] == CONSUMER_UID
    arns = users(sim.client, service_id, "UserARNs")
    assert ([a.user_arn for a in arns.user_arns], arns.users, arns.total_count) == (
        ["acs:ram:*:*:*"],
        [],
        "1",
    )
    filtered = users(sim.client, service_id, user_id=1000000000000002)
    assert [u.user_id for u in filtered.users] == [1000000000000002]
    assert users(sim.client, service_id, user_id=1000000000000009).users == []
    call(sim.client, "RemoveUserFromVpcEndpointService", **add, user_id=CONSUMER_UID)
    call(sim.client, "RemoveUserFromVpcEndpointService", **add, user_id=CONSUMER_UID)  # absent
    call(sim.client, "RemoveUserFromVpcEndpointService", **add, user_arn="acs:ram:*:*:*")
    assert users(sim.client, service_id).total_count == "2"
    assert users(sim.client, service_id, "UserARNs").total_count == "0"
    assert status(sim, service_id) == "Active"  # synchronous


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, "MissingParam.UserArn"),
        ({"user_id": 0}, "IllegalParamFormat.UserId"),
        ({"user_id": -5}, "IllegalParamFormat.UserId"),
        ({"user_arn": "arn:aws:iam::1:root"}, "IllegalParamFormat.UserARN"),
        ({"user_arn": "acs:ram:*:abc:*"}, "IllegalParamFormat.UserARN"),
        (
            {"user_id": CONSUMER_UID, "user_arn": "acs:ram:*:1000000000000002:*"},
            "Mismatch.UserIdAndUserArn",
        ),
        ({"user_id": CONSUMER_UID, "user_arn": "acs:ram:*:*:*"}, "Mismatch.UserIdAndUserArn"),
        (
            {"service_id": "epsrv-nosuchservice00000000", "user_id": CONSUMER_UID},
            "EndpointServiceNotFound",
        ),
    ],
)
@pytest.mark.parametrize(
    "action", ["AddUserToVpcEndpointService", "RemoveUserFromVpcEndpointService"]
)
def test_allow_list_refusals(clocked_simulator, action, fields, expected):
    sim = clocked_simulator
    service_id = active_service(sim)
    assert code(sim.client, action, **{"service_id": service_id, **fields}) == expected


def test_list_users_refusals(clocked_simulator):
    sim = clocked_simulator
    service_id = active_service(sim)
    assert code(sim.client, "ListVpcEndpointServiceUsers", service_id="epsrv-x") == (
        "EndpointServiceNotFound"
    )
    assert (
        code(sim.client, "ListVpcEndpointServiceUsers", service_id=service_id, user_list_type="All")
        == "IllegalParamFormat.UserListType"
    )
    # Any service state: Creating and Deleting services answer too.
    creating = create_service(sim.client, resources=((pool(1), ZH),))
    assert users(sim.client, creating).total_count == "0"


# --- tags ------------------------------------------------------------------------------


def test_tag_resources_sends_a_signed_form_body(clocked_simulator, monkeypatch):
    sim = clocked_simulator
    service_id = active_service(sim)
    seen = []
    original_send = requests.adapters.HTTPAdapter.send

    def capture(adapter, request, **kwargs):
        seen.append((request.headers.get("x-acs-action"), request.url, request.body))
        return original_send(adapter, request, **kwargs)

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", capture)
    tag(
        sim.client,
        [service_id],
        [("team", "payments"), ("env", "")],
        resource_type="VpcEndpointService",
    )
    [(action, url, body)] = seen
    assert action == "TagResources"
    assert urlsplit(url).query == ""
    form = dict(parse_qsl(body if isinstance(body, str) else body.decode(), keep_blank_values=True))
    assert form["ResourceId.1"] == service_id
    assert (form["Tag.1.Key"], form["Tag.2.Value"]) == ("team", "")
    listed = call(sim.client, "ListVpcEndpointServices")
    assert [t.to_map() for t in listed.services[0].tags] == [
        {"Key": "team", "Value": "payments"},
        {"Key": "env", "Value": ""},
    ]
    rows_ = call(
        sim.client, "ListTagResources", resource_type="VPCENDPOINTSERVICE", resource_id=[service_id]
    )
    assert [r.to_map() for r in rows_.tag_resources] == [
        {
            "ResourceId": service_id,
            "ResourceType": "vpcendpointservice",
            "TagKey": "team",
            "TagValue": "payments",
        },
        {
            "ResourceId": service_id,
            "ResourceType": "vpcendpointservice",
            "TagKey": "env",
            "TagValue": "",
        },
    ]
    assert rows_.next_token == ""


def test_tags_merge_replace_and_untag(clocked_simulator):
    sim = clocked_simulator
    first = active_service(sim, tag=[models.CreateVpcEndpointServiceRequestTag(key="a", value="1")])
    second = active_service(sim, resources=((pool(1), ZH),))
    tag(sim.client, [first, second], [("a", "2"), ("b", "x")])
    assert tags_of(sim.client, first) == [("a", "2"), ("b", "x")]
    assert tags_of(sim.client, second) == [("a", "2"), ("b", "x")]
    by_tag = call(
        sim.client,
        "ListTagResources",
        resource_type="vpcendpointservice",
        tag=[models.ListTagResourcesRequestTag(key="b")],
    )
    assert {r.resource_id for r in by_tag.tag_resources} == {first, second}
    by_value = call(
        sim.client,
        "ListTagResources",
        resource_type="vpcendpointservice",
        tag=[models.ListTagResourcesRequestTag(key="a", value="1")],
    )
    assert by_value.tag_resources == []
    call(
        sim.client,
        "UntagResources",
        resource_type="vpcendpointservice",
        resource_id=[first],
        tag_key=["a", "never-set"],
    )
    assert tags_of(sim.client, first) == [("b", "x")]
    call(
        sim.client,
        "UntagResources",
        resource_type="vpcendpointservice",
        resource_id=[second],
        all=True,
    )
    assert tags_of(sim.client, second) == []
    # All is ignored when TagKey.N is given.
    tag(sim.client, [second], [("c", "1"), ("d", "2")])
    call(
        sim.client,
        "UntagResources",
        resource_type="vpcendpointservice",
        resource_id=[second],
        tag_key=["c"],
        all=True,
    )
    assert tags_of(sim.client, second) == [("d", "2")]
    listed = call(
        sim.client,
        "ListVpcEndpointServices",
        tag=[models.ListVpcEndpointServicesRequestTag(key="d", value="2")],
    )
    assert [s.service_id for s in listed.services] == [second]


def _tag_code(sim, ids, tags, resource_type="vpcendpointservice"):
    return code(
        sim.client,
        "TagResources",
        resource_type=resource_type,
        resource_id=ids,
        tag=tags,
    )


def test_tag_refusals(clocked_simulator):
    sim = clocked_simulator
    service_id = active_service(sim)
    other_account = create_service(
        sim.make_client(*CONSUMER), resources=(("nlb-hzcon000000000000001", ZH),)
    )
    ids = [service_id]
    T = models.TagResourcesRequestTag
    assert _tag_code(sim, ids, [T(value="v")]) == "MissingTagKeyParam"
    assert _tag_code(sim, ids, [T(key="k")]) == "MissingTagValueParam"
    assert _tag_code(sim, ids, [T(key="aliyun-x", value="v")]) == "IllegalTagKeyParam"
    assert _tag_code(sim, ids, [T(key="k" * 65, value="v")]) == "IllegalTagKeyParam"
    assert _tag_code(sim, ids, [T(key="k", value="http://x")]) == "IllegalTagValueParam"
    assert _tag_code(sim, ids, [T(key="k", value="v" * 129)]) == "IllegalTagValueParam"
    assert _tag_code(sim, ids, [T(key="k", value="1"), T(key="k", value="2")]) == (
        "DuplicatedTagKey"
    )
    assert _tag_code(sim, ids, []) == "MissingParam.Tag"
    assert _tag_code(sim, ids, [T(key="k", value="v")], "instance") == (
        "IllegalParamFormat.ResourceType"
    )
    assert _tag_code(sim, [], [T(key="k", value="v")]) == "MissingParam.ResourceId"
    for missing in (["epsrv-nosuchservice00000000"], [other_account], [service_id, "x"]):
        assert _tag_code(sim, missing, [T(key="k", value="v")]) == "InvalidResourceId.NotFound"
    # An endpoint id is not a service: the other ResourceType.
    assert _tag_code(sim, ids, [T(key="k", value="v")], "vpcendpoint") == (
        "InvalidResourceId.NotFound"
    )
    too_many = [T(key=f"k{n}", value="v") for n in range(21)]
    assert _tag_code(sim, ids, too_many) == "QuotaExceed.TagsPerResource"
    tag(sim.client, ids, [(f"k{n}", "v") for n in range(15)])
    more = [T(key=f"n{n}", value="v") for n in range(6)]
    assert _tag_code(sim, ids, more) == "QuotaExceed.TagsPerResource"
    tag(
        sim.client,
        ids,
        [(f"k{n}", "w") for n in range(10, 15)] + [(f"n{n}", "v") for n in range(5)],
    )
    assert len(tags_of(sim.client, service_id)) == 20
    untag = {"resource_type": "vpcendpointservice", "resource_id": ids}
    assert code(sim.client, "UntagResources", **untag) == "MissingParam.TagKey"
    assert code(sim.client, "UntagResources", **untag, all=False) == "MissingParam.TagKey"
    assert code(sim.client, "ListTagResources", resource_type="vpcendpointservice") == (
        "MissingResourceIdOrTagParam"
    )
    assert (
        code(
            sim.client,
            "ListTagResources",
            resource_type="vpcendpointservice",
            tag=[models.ListTagResourcesRequestTag(value="v")],
        )
        == "MissingTagKeyParam"
    )


def test_list_tag_resources_pages_fifty_rows(clocked_simulator):
    sim = clocked_simulator
    sim.configure(create_delay=0)
    ids = [create_service(sim.client, resources=((pool(n), ZH),)) for n in range(1, 4)]
    tag(sim.client, ids, [(f"k{n:02d}", "v") for n in range(20)])
    seen, token, pages = [], None, 0
    while True:
        body = call(
            sim.client,
            "ListTagResources",
            resource_type="vpcendpointservice",
            resource_id=ids,
            next_token=token,
        )
        pages += 1
        seen += [(r.resource_id, r.tag_key) for r in body.tag_resources]
        token = body.next_token
        if not token:
            break
    assert (pages, len(seen), len(set(seen))) == (2, 60, 60)
    assert (
        code(
            sim.client,
            "ListTagResources",
            resource_type="vpcendpointservice",
            resource_id=ids,
            next_token="pl-50",
        )
        == "IllegalParamFormat.NextToken"
    )


# --- deletion --------------------------------------------------------------------------


def test_delete_drops_the_rows_and_frees_the_load_balancer(clocked_simulator):
    sim = clocked_simulator
    service_id = active_service(sim, resources=((NLB_1, ZH), (NLB_1, ZI)))
    call(sim.client, "DeleteVpcEndpointService", service_id=service_id)
    assert status(sim, service_id) == "Deleting"
    assert rows(sim.client, service_id) == [(NLB_1, ZH), (NLB_1, ZI)]  # reads work in any state
    assert (
        code(
            sim.client,
            "CreateVpcEndpointService",
            service_resource_type="nlb",
            resource=[
                models.CreateVpcEndpointServiceRequestResource(
                    resource_type="nlb", resource_id=NLB_1, zone_id=ZH
                )
            ],
        )
        == "EndpointServiceExist"
    )
    sim.clock.advance(10)
    assert code(sim.client, "GetVpcEndpointServiceAttribute", service_id=service_id) == (
        "EndpointServiceNotFound"
    )
    assert code(sim.client, "ListVpcEndpointServiceResources", service_id=service_id) == (
        "EndpointServiceNotFound"
    )
    create_service(sim.client, resources=((NLB_1, ZH),))


def test_strict_delete_refuses_a_service_with_resources(clocked_simulator):
    sim = clocked_simulator
    sim.configure(strict_delete=True)
    service_id = active_service(sim)
    assert code(sim.client, "DeleteVpcEndpointService", service_id=service_id) == (
        "EndpointServiceDependenceViolation"
    )
    call(
        sim.client,
        "DetachResourceFromVpcEndpointService",
        service_id=service_id,
        resource_id=NLB_1,
        zone_id=ZH,
    )
    assert code(sim.client, "DeleteVpcEndpointService", service_id=service_id) == (
        "EndpointServiceOperationDenied"  # Pending after the detach
    )
    sim.clock.advance(10)
    call(sim.client, "DeleteVpcEndpointService", service_id=service_id)
    assert status(sim, service_id) == "Deleting"


def test_strict_delete_is_a_command_line_flag():
    from simulator.__main__ import main

    with pytest.raises(SystemExit):
        main(["--strict-delete", "--help"])


# --- ClientToken and DryRun on every owner write -----------------------------------------


def _owner_writes(sim):
    """(action, fields, fields changed) for each owner write, on fresh Active services."""
    service_id = active_service(sim, resources=((NLB_1, ZH), (pool(1), ZH)))
    user_service = active_service(sim, resources=((pool(2), ZH),))
    call(
        sim.client, "AddUserToVpcEndpointService", service_id=user_service, user_id=1000000000000009
    )
    tagged = active_service(sim, resources=((pool(3), ZH),))
    tag(sim.client, [tagged], [("old", "1")])
    deleted = active_service(sim, resources=((pool(4), ZH),))
    T = models.TagResourcesRequestTag
    return [
        (
            "UpdateVpcEndpointServiceAttribute",
            {"service_id": service_id, "connect_bandwidth": 4000},
            {"connect_bandwidth": 4001},
        ),
        (
            "AttachResourceToVpcEndpointService",
            {"service_id": service_id, "resource_id": NLB_1, "resource_type": "nlb", "zone_id": ZI},
            {"zone_id": ZH},
        ),
        (
            "DetachResourceFromVpcEndpointService",
            {"service_id": service_id, "resource_id": pool(1), "zone_id": ZH},
            {"zone_id": ZI},
        ),
        (
            "UpdateVpcEndpointServiceResourceAttribute",
            {
                "service_id": service_id,
                "resource_id": pool(1),
                "zone_id": ZH,
                "auto_allocated_enabled": False,
            },
            {"auto_allocated_enabled": True},
        ),
        (
            "AddUserToVpcEndpointService",
            {"service_id": user_service, "user_id": CONSUMER_UID},
            {"user_id": 1000000000000002},
        ),
        (
            "RemoveUserFromVpcEndpointService",
            {"service_id": user_service, "user_id": 1000000000000009},
            {"user_id": 1000000000000002},
        ),
        (
            "TagResources",
            {
                "resource_type": "vpcendpointservice",
                "resource_id": [tagged],
                "tag": [T(key="new", value="1")],
            },
            {"tag": [T(key="new", value="2")]},
        ),
        (
            "UntagResources",
            {"resource_type": "vpcendpointservice", "resource_id": [tagged], "tag_key": ["old"]},
            {"tag_key": ["new"]},
        ),
        ("DeleteVpcEndpointService", {"service_id": deleted}, {"service_id": service_id}),
    ]


ACTIONS = [
    "UpdateVpcEndpointServiceAttribute",
    "AttachResourceToVpcEndpointService",
    "DetachResourceFromVpcEndpointService",
    "UpdateVpcEndpointServiceResourceAttribute",
    "AddUserToVpcEndpointService",
    "RemoveUserFromVpcEndpointService",
    "TagResources",
    "UntagResources",
    "DeleteVpcEndpointService",
]


def _state(sim):
    """What the owner's writes can change, read through the SDK and the control path."""
    found = {}
    for service in sim.services():
        service_id = service["ServiceId"]
        found[service_id] = (
            service["ServiceStatus"],
            service["ConnectBandwidth"],
            service["Tags"],
            call(sim.client, "ListVpcEndpointServiceResources", service_id=service_id).to_map()[
                "Resources"
            ],
            users(sim.client, service_id).to_map()["Users"],
        )
    return found


@pytest.mark.parametrize("action", ACTIONS)
def test_dry_run_checks_everything_and_changes_nothing(clocked_simulator, action):
    sim = clocked_simulator
    [(_, fields, _)] = [w for w in _owner_writes(sim) if w[0] == action]
    before = _state(sim)
    answer = error(sim.client, action, **fields, dry_run=True)
    assert (answer.code, answer.data["Message"]) == (
        "DryRunOperation",
        "Request validation has been passed with DryRun flag set.",
    )
    assert _state(sim) == before
    refused = error(sim.client, action, **{**fields, "region_id": "cn-shanghai"}, dry_run=True)
    assert refused.code in ("EndpointServiceNotFound", "InvalidResourceId.NotFound")


@pytest.mark.parametrize("action", ACTIONS)
def test_client_token_makes_each_write_idempotent(clocked_simulator, action):
    sim = clocked_simulator
    [(_, fields, changed)] = [w for w in _owner_writes(sim) if w[0] == action]
    first = call(sim.client, action, **fields, client_token=f"token-{action}")
    after_first = _state(sim)
    again = call(sim.client, action, **fields, client_token=f"token-{action}")
    assert again.request_id != first.request_id
    assert _state(sim) == after_first  # the original answer, no side effect
    mismatch = error(sim.client, action, **{**fields, **changed}, client_token=f"token-{action}")
    assert mismatch.code == "IdempotentParameterMismatch"
    assert _state(sim) == after_first


def test_only_successes_are_remembered_and_tags_without_token_repeat(clocked_simulator):
    sim = clocked_simulator
    service_id = create_service(sim.client)  # Creating: the update is refused
    update = {"service_id": service_id, "connect_bandwidth": 4000, "client_token": "t"}
    assert code(sim.client, "UpdateVpcEndpointServiceAttribute", **update) == (
        "EndpointServiceOperationDenied"
    )
    sim.clock.advance(10)
    call(sim.client, "UpdateVpcEndpointServiceAttribute", **update)
    assert get(sim.client, service_id).connect_bandwidth == 4000
    # Tagging with a token: a retry after an untag does not tag again...
    tag(sim.client, [service_id], [("k", "v")], client_token="tag-1")
    call(
        sim.client,
        "UntagResources",
        resource_type="vpcendpointservice",
        resource_id=[service_id],
        all=True,
    )
    tag(sim.client, [service_id], [("k", "v")], client_token="tag-1")
    assert tags_of(sim.client, service_id) == []
    # ...without one, every call acts.
    tag(sim.client, [service_id], [("k", "v")])
    assert tags_of(sim.client, service_id) == [("k", "v")]


# --- paging ----------------------------------------------------------------------------

LISTS = [
    ("ListVpcEndpointServices", {}),
    ("ListVpcEndpointServiceResources", {"service_id": None}),
    ("ListVpcEndpointServiceUsers", {"service_id": None}),
    ("ListVpcEndpointConnections", {}),
    ("ListVpcEndpoints", {}),
    ("ListVpcEndpointServicesByEndUser", {}),
]


@pytest.mark.parametrize(("action", "fields"), LISTS)
def test_every_list_checks_max_results_and_next_token(clocked_simulator, action, fields):
    sim = clocked_simulator
    service_id = active_service(sim)
    fields = {k: service_id if v is None else v for k, v in fields.items()}
    assert call(sim.client, action, **fields).max_results == 50
    assert call(sim.client, action, **fields, max_results=1000).max_results == 1000
    for bad in (0, 1001):
        assert code(sim.client, action, **fields, max_results=bad) == (
            "IllegalParamFormat.MaxResults"
        )
    for token in ("nonsense", "pl-1", "pl-1-000000000000"):
        assert code(sim.client, action, **fields, next_token=token) == (
            "IllegalParamFormat.NextToken"
        )


def test_users_and_resources_page(clocked_simulator):
    sim = clocked_simulator
    service_id = active_service(sim, resources=[(pool(n), ZH) for n in range(1, 6)])
    for n in range(5):
        call(
            sim.client,
            "AddUserToVpcEndpointService",
            service_id=service_id,
            user_id=1000000000000100 + n,
        )
    for lister, field in ((rows, None), (users, "users")):
        seen, token, pages = [], None, 0
        while True:
            if field:
                body = users(sim.client, service_id, max_results=2, next_token=token)
                seen += [u.user_id for u in body.users]
                assert body.total_count == "5"
            else:
                body = call(
                    sim.client,
                    "ListVpcEndpointServiceResources",
                    service_id=service_id,
                    max_results=2,
                    next_token=token,
                )
                seen += [r.resource_id for r in body.resources]
            pages += 1
            token = body.next_token
            if not token:
                break
        assert (pages, len(set(seen))) == (3, 5), lister


# --- bulk load and the drift pass's page size -------------------------------------------


def test_bulk_services_load_fast_and_page_by_a_thousand(clocked_simulator):
    sim = clocked_simulator
    started = time.monotonic()
    loaded = sim.control(
        "bulk-services",
        {"count": 10000, "region_id": R, "account": "dev-access-key-id", "resource_type": "nlb"},
    )
    load_seconds = time.monotonic() - started
    assert loaded["Count"] == len(set(loaded["ServiceIds"])) == 10000
    assert load_seconds < 10
    started = time.monotonic()
    seen, token, pages = [], None, 0
    while True:
        body = call(sim.client, "ListVpcEndpointServices", max_results=1000, next_token=token)
        pages += 1
        assert body.total_count == 10000
        seen += [s.service_id for s in body.services]
        token = body.next_token
        if not token:
            break
    list_seconds = time.monotonic() - started
    assert pages == 10
    assert seen == loaded["ServiceIds"]
    assert list_seconds < 10
    first = body.services[-1]
    assert (first.service_status, first.tags[0].to_map()) == (
        "Active",
        {"Key": "source", "Value": "bulk-load"},
    )
    health = sim.control("health")
    assert health["services"] == 10000


def test_bulk_services_options_and_refusals(clocked_simulator):
    sim = clocked_simulator
    loaded = sim.control(
        "bulk-services",
        {
            "count": 3,
            "region_id": "cn-shanghai",
            "account": "1000000000000003",
            "resource_type": "slb",
            "tags": [{"Key": "bench", "Value": "drift"}, {"Key": "n", "Value": "1"}],
            "description": "bulk",
        },
    )
    consumer = sim.make_client(*CONSUMER)
    listed = call(consumer, "ListVpcEndpointServices", region_id="cn-shanghai")
    assert [s.service_id for s in listed.services] == loaded["ServiceIds"]
    assert listed.services[0].service_description == "bulk"
    assert [t.key for t in listed.services[0].tags] == ["bench", "n"]
    assert rows(consumer, loaded["ServiceIds"][0], region_id="cn-shanghai")[0][1] == "cn-shanghai-e"
    for payload in (
        {"count": 0},
        {"count": "10"},
        {"count": 1, "region_id": "moon-1"},
        {"count": 1, "account": "nobody"},
        {"count": 1, "resource_type": "elb"},
        {"count": 1, "tags": [{"Key": "k"}]},
        {"count": 1, "extra": True},
    ):
        with pytest.raises(urllib.error.HTTPError) as caught:
            sim.control("bulk-services", payload)
        assert caught.value.code == 400, payload


# --- persistence -----------------------------------------------------------------------


def test_endpoints_tokens_and_timelines_survive_a_restart(tmp_path):
    from tests.conftest import SimulatorClock

    clock = SimulatorClock()
    dev = Account("dev", "k", "s")
    path = str(tmp_path / "state.sqlite3")
    first = Backend(path, create_delay=10, accounts=[dev], clock=clock)
    consumer = first.account_for_key("consumer-access-key-id")
    created = first.call(
        dev,
        "CreateVpcEndpointService",
        {
            "RegionId": R,
            "ServiceResourceType": "nlb",
            "AutoAcceptEnabled": "true",
            "Resource": [{"ResourceType": "nlb", "ResourceId": NLB_1, "ZoneId": ZH}],
        },
    )
    service_id = created["ServiceId"]
    clock.advance(10)
    first.call(
        dev,
        "AddUserToVpcEndpointService",
        {"RegionId": R, "ServiceId": service_id, "UserId": str(CONSUMER_UID)},
    )
    endpoint = first.call(
        consumer,
        "CreateVpcEndpoint",
        {
            "RegionId": R,
            "ServiceId": service_id,
            "VpcId": "vpc-1",
            "SecurityGroupId": ["sg-1"],
            "Zone": [{"ZoneId": ZH, "VSwitchId": "vsw-1"}],
            "ClientToken": "ep-1",
        },
    )
    second = Backend(path, create_delay=10, accounts=[dev], clock=clock)
    get_endpoint = {"RegionId": R, "EndpointId": endpoint["EndpointId"]}
    assert (
        second.call(consumer, "GetVpcEndpointAttribute", get_endpoint)["EndpointStatus"]
        == "Creating"
    )
    clock.advance(20)
    third = Backend(path, create_delay=10, accounts=[dev], clock=clock)
    assert (
        third.call(consumer, "GetVpcEndpointAttribute", get_endpoint)["ConnectionStatus"]
        == "Connected"
    )
    again = third.call(
        consumer,
        "CreateVpcEndpoint",
        {
            "RegionId": R,
            "ServiceId": service_id,
            "VpcId": "vpc-1",
            "SecurityGroupId": ["sg-1"],
            "Zone": [{"ZoneId": ZH, "VSwitchId": "vsw-1"}],
            "ClientToken": "ep-1",
        },
    )
    assert again["EndpointId"] == endpoint["EndpointId"]
    listed = third.call(
        dev, "ListVpcEndpointServiceUsers", {"RegionId": R, "ServiceId": service_id}
    )
    assert listed["Users"] == [{"UserId": CONSUMER_UID}]
    memory = Backend(":memory:", accounts=[dev])
    assert memory.snapshot() == []


def test_a_state_file_of_the_first_schema_is_imported(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE services (service_id TEXT PRIMARY KEY, account_id TEXT NOT NULL,
            region_id TEXT NOT NULL, created_at REAL NOT NULL, active_at REAL,
            deleting_at REAL, data TEXT NOT NULL);
        CREATE TABLE client_tokens (account_id TEXT NOT NULL, action TEXT NOT NULL,
            client_token TEXT NOT NULL, params_hash TEXT NOT NULL, response TEXT NOT NULL,
            PRIMARY KEY (account_id, action, client_token));
        """
    )
    data = {
        "RegionId": R,
        "ServiceDescription": "old",
        "AutoAcceptEnabled": False,
        "ZoneAffinityEnabled": False,
        "Payer": "Endpoint",
        "ServiceResourceType": "nlb",
        "AddressIpVersion": "IPv4",
        "ResourceGroupId": "rg-acfmdefault000001",
        "SupportedRegionList": [R],
        "Resources": [{"ResourceId": NLB_1, "ResourceType": "nlb", "ZoneId": ZH}],
        "Tags": [{"Key": "k", "Value": "v"}],
        "ServiceName": f"com.aliyuncs.privatelink.{R}.epsrv-old00000000000000000",
        "ServiceDomain": f"epsrv-old00000000000000000.{R}.privatelink.aliyuncs.com",
    }
    db.execute(
        "INSERT INTO services VALUES (?, ?, ?, ?, ?, NULL, ?)",
        ("epsrv-old00000000000000000", "dev", R, 1.0, 2.0, json.dumps(data)),
    )
    db.commit()
    db.close()
    backend = Backend(str(path), accounts=[Account("dev", "k", "s")])
    [service] = backend.snapshot()
    assert (service["ServiceId"], service["ServiceStatus"], service["Zones"]) == (
        "epsrv-old00000000000000000",
        "Active",
        [ZH],
    )
    assert service["Tags"] == [{"Key": "k", "Value": "v"}]
    assert Backend(str(path), accounts=[Account("dev", "k", "s")]).snapshot() == [service]


def test_config_settings_are_checked(clocked_simulator):
    sim = clocked_simulator
    assert sim.configure(strict_delete=True, endpoints_per_vpc=3)["strict_delete"] is True
    assert sim.control("health")["endpoints_per_vpc"] == 3
    for bad in ({"strict_delete": "yes"}, {"endpoints_per_vpc": -1}, {"nonsense": 1}):
        with pytest.raises(urllib.error.HTTPError) as caught:
            sim.configure(**bad)
        assert caught.value.code == 400, bad

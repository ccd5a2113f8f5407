"""The cloud module's load balancer listings (the picker's), and refusals that name the row at
fault, through the official SDKs against the simulator over HTTP."""

import pytest
from django.core.cache import cache

from portal.cloud import services as cloud

FIELDS = {
    "region_id": "cn-hangzhou",
    "service_description": "Orders",
    "auto_accept_enabled": False,
    "payer": "Endpoint",
    "zone_affinity_enabled": False,
    "service_resource_type": "nlb",
    "resource_group_id": "",
    "address_ip_version": "IPv4",
    "supported_region_list": [],
}


def nlb(resource_id, zone_id):
    return {"resource_type": "nlb", "resource_id": resource_id, "zone_id": zone_id}


def listed(resource_type, region_id="cn-hangzhou"):
    found, warning = cloud.load_balancers(resource_type=resource_type, region_id=region_id)
    assert warning == ""
    return found["total"], {lb["id"]: lb for lb in found["load_balancers"]}


def test_nlbs_with_their_zones_first_page_only():
    total, nlbs = listed("nlb")
    assert total == 1002
    assert len(nlbs) == cloud.PICKER_PAGE
    assert nlbs["nlb-hz0000000000000002"] == {
        "id": "nlb-hz0000000000000002",
        "name": "hz-ipv4-nlb",
        "zones": ["cn-hangzhou-i", "cn-hangzhou-j"],
        "privatelink": True,
        "why_not": "",
    }


def test_clbs_with_master_and_slave_zones_and_why_privatelink_refuses_one():
    total, clbs = listed("slb")
    assert total == 1002
    assert clbs["lb-hzpool000001"]["zones"] == ["cn-hangzhou-h", "cn-hangzhou-i"]
    assert clbs["lb-hz00000000000000001"]["zones"] == ["cn-hangzhou-h"]
    public = clbs["lb-hz00000000000000002"]
    assert public["privatelink"] is False
    assert public["why_not"].startswith("Internet-facing")


def test_albs_with_zones_read_from_each_attribute():
    total, albs = listed("alb")
    assert total == 2
    assert albs["alb-hz0000000000000001"]["zones"] == ["cn-hangzhou-h", "cn-hangzhou-i"]
    assert albs["alb-hz0000000000000001"]["privatelink"] is True
    assert albs["alb-hz0000000000000002"]["why_not"].startswith("Internet-facing")


def test_the_region_is_the_one_asked_for_alb_too():
    total, albs = listed("alb", "cn-shanghai")
    assert (total, albs) == (0, {})
    _total, clbs = listed("slb", "cn-huhehaote")
    assert clbs["lb-hp32z1wp5peaoox2q0002"]["privatelink"] is False


@pytest.mark.parametrize(
    ("item", "why"),
    [
        ({"AddressType": "intranet", "NetworkType": "vpc", "PayType": "PayOnDemand"}, ""),
        ({"AddressType": "internet", "NetworkType": "vpc", "PayType": "PayOnDemand"}, "Internet"),
        ({"AddressType": "intranet", "NetworkType": "classic", "PayType": "PayOnDemand"}, "Class"),
        ({"AddressType": "intranet", "NetworkType": "vpc", "PayType": "PrePay"}, "Subscription"),
    ],
)
def test_the_documented_clb_limits(item, why):
    assert cloud._clb_problem(item).startswith(why) and bool(cloud._clb_problem(item)) == bool(why)


def test_an_alb_with_a_dynamic_address_is_refused():
    problem = cloud._alb_problem({"AddressType": "Intranet", "AddressAllocatedMode": "Dynamic"})
    assert problem.startswith("Dynamic IP")


def test_listings_are_cached_for_a_while(simulator):
    first = cloud.load_balancers(resource_type="nlb", region_id="cn-hangzhou")
    simulator.faults(error_next=5)
    assert cloud.load_balancers(resource_type="nlb", region_id="cn-hangzhou") == first


def test_a_product_that_does_not_answer_gives_the_last_list_or_says_so(settings):
    settings.PRIVATELINK_ENDPOINT = "127.0.0.1:9"
    found, warning = cloud.load_balancers(resource_type="alb", region_id="cn-hangzhou")
    assert found == {"load_balancers": [], "total": 0}
    assert warning == (
        "The ALB API did not answer (Unreachable); no list is available yet, try again shortly."
    )


def test_the_last_good_list_stands_in_while_the_product_is_down(settings, simulator):
    good, _ = cloud.load_balancers(resource_type="slb", region_id="cn-hangzhou")
    cache.delete("load-balancers::slb:cn-hangzhou")  # the portal's own account: no uid
    simulator.faults(error_next=5)
    found, warning = cloud.load_balancers(resource_type="slb", region_id="cn-hangzhou")
    assert found == good
    assert warning.startswith("The CLB API did not answer (")
    assert warning.endswith("showing the last list it gave.")


def test_the_products_are_called_where_privatelink_is_unless_that_is_the_cloud(settings):
    assert cloud.load_balancer_endpoint() == settings.PRIVATELINK_ENDPOINT
    settings.PRIVATELINK_ENDPOINT = "privatelink.cn-shanghai.aliyuncs.com"
    assert cloud.load_balancer_endpoint() is None
    # Each product's SDK then picks its own regional endpoint, and ALB is told no RegionId.
    alb = cloud.load_balancer_client("alb", "cn-beijing")
    assert alb._endpoint == "alb.cn-beijing.aliyuncs.com"
    assert alb._global_parameters is None
    assert cloud.load_balancer_client("nlb", "cn-beijing")._endpoint == (
        "nlb.cn-beijing.aliyuncs.com"
    )


# --- refusals that say which resource row is at fault ------------------------------------


def dry_run(resources, **fields):
    return cloud.endpoint_service_dry_run(fields={**FIELDS, **fields}, resources=resources, tags=[])


def test_a_refused_zone_names_its_row():
    rows = [
        nlb("nlb-hz0000000000000001", "cn-hangzhou-h"),
        nlb("nlb-hz0000000000000002", "cn-hangzhou-h"),
    ]
    result = dry_run(rows)
    assert result.code == "EndpointServiceNotSupportedZone"
    assert result.at_fault == [rows[1]]
    assert result.message == (
        "Resource 2 (nlb-hz0000000000000002 in cn-hangzhou-h): "
        "A resource is not deployed in the zone given for it."
    )


def test_every_row_refused_for_the_same_reason_is_named():
    rows = [
        nlb("nlb-hz9999999999999998", "cn-hangzhou-h"),
        nlb("nlb-hz0000000000000001", "cn-hangzhou-h"),
        nlb("nlb-hz9999999999999999", "cn-hangzhou-i"),
    ]
    result = dry_run(rows)
    assert result.code == "LoadBalancerNotFound"
    assert result.at_fault == [rows[0], rows[2]]
    assert result.message.startswith(
        "Resource 1 (nlb-hz9999999999999998 in cn-hangzhou-h); "
        "resource 3 (nlb-hz9999999999999999 in cn-hangzhou-i): "
    )


def test_a_dual_stack_refusal_names_the_ipv4_only_row():
    rows = [
        nlb("nlb-hz0000000000000001", "cn-hangzhou-i"),
        nlb("nlb-hz0000000000000002", "cn-hangzhou-i"),
    ]
    result = dry_run(rows, address_ip_version="DualStack")
    assert result.code == "OperationDenied.ServiceResourceIpVersionMismatch"
    assert result.field == "address_ip_version"
    assert result.at_fault == [rows[1]]


def test_a_refusal_of_the_whole_request_names_no_row():
    rows = [nlb("nlb-hz0000000000000001", "cn-hangzhou-h")]
    result = dry_run(rows, service_resource_type="slb")
    assert result.code == "Mismatch.ResourceType"
    assert result.at_fault == rows  # one row: it is that one
    tags = cloud.endpoint_service_dry_run(
        fields=FIELDS, resources=rows, tags=[{"key": "acs:x", "value": ""}]
    )
    assert tags.field == "tags" and tags.at_fault == []


def test_a_passing_dry_run_blames_nothing():
    rows = [
        nlb("nlb-hz0000000000000001", "cn-hangzhou-h"),
        nlb("nlb-hz0000000000000001", "cn-hangzhou-i"),
    ]
    result = dry_run(rows)
    assert result.ok and result.at_fault == []


def test_a_create_refused_for_a_row_says_which(simulator):
    rows = [
        nlb("nlb-hz0000000000000001", "cn-hangzhou-h"),
        nlb("nlb-hz0000000000000002", "cn-hangzhou-h"),
    ]
    with pytest.raises(cloud.CloudError) as caught:
        cloud.endpoint_service_create(fields=FIELDS, resources=rows, tags=[], client_token="t-1")
    assert caught.value.code == "EndpointServiceNotSupportedZone"
    assert caught.value.message.startswith("Resource 2 (nlb-hz0000000000000002 in cn-hangzhou-h): ")
    assert simulator.services() == []


def test_a_busy_cloud_is_not_asked_about_each_row(simulator):
    simulator.faults(throttle_next=1)
    rows = [
        nlb("nlb-hz0000000000000001", "cn-hangzhou-h"),
        nlb("nlb-hz0000000000000002", "cn-hangzhou-h"),
    ]
    result = dry_run(rows)
    assert result.code == "Throttling.User"
    assert result.at_fault == [] and not result.message.startswith("Resource")

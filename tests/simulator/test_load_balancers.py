"""The load balancer products' official SDKs (CLB, ALB, NLB) against the simulator over HTTP:
their listings, in those products' shapes, of the inventory PrivateLink checks against."""

import pytest
from alibabacloud_alb20200616 import models as alb
from alibabacloud_alb20200616.client import Client as AlbClient
from alibabacloud_nlb20220430 import models as nlb
from alibabacloud_nlb20220430.client import Client as NlbClient
from alibabacloud_privatelink20200415 import models as privatelink
from alibabacloud_slb20140515 import models as slb
from alibabacloud_slb20140515.client import Client as SlbClient
from alibabacloud_tea_openapi.exceptions import ClientException, ThrottlingException
from alibabacloud_tea_openapi.models import Config, GlobalParameters

from tests.conftest import DEV_KEY_ID, DEV_KEY_SECRET


def client(kind, simulator, region_id="cn-hangzhou", secret=DEV_KEY_SECRET):
    config = Config(
        access_key_id=DEV_KEY_ID,
        access_key_secret=secret,
        endpoint=simulator.endpoint,
        protocol="http",
        region_id=region_id,
    )
    if kind is AlbClient:
        # ALB takes its region from the regional endpoint; the simulator has one endpoint.
        config.global_parameters = GlobalParameters(queries={"RegionId": region_id})
    return kind(config)


def clbs(simulator, **kwargs):
    request = slb.DescribeLoadBalancersRequest(region_id="cn-hangzhou", **kwargs)
    return client(SlbClient, simulator).describe_load_balancers(request).body


def test_clb_listing_has_names_zones_and_what_privatelink_needs(simulator):
    body = clbs(simulator, page_size=100)
    assert body.total_count == 1002  # lb-hz...1, lb-hz...2 and the pool of 1,000
    assert body.page_size == 100 and body.page_number == 1
    listed = {lb.load_balancer_id: lb for lb in body.load_balancers.load_balancer}
    assert len(listed) == 100
    legacy = listed["lb-hz00000000000000001"]
    assert legacy.load_balancer_name == "hz-legacy-clb"
    assert (legacy.master_zone_id, legacy.slave_zone_id) == ("cn-hangzhou-h", "")
    assert (legacy.address_type, legacy.network_type, legacy.pay_type) == (
        "intranet",
        "vpc",
        "PayOnDemand",
    )
    assert listed["lb-hz00000000000000002"].address_type == "internet"
    pooled = listed["lb-hzpool000001"]
    assert (pooled.master_zone_id, pooled.slave_zone_id) == ("cn-hangzhou-h", "cn-hangzhou-i")
    assert pooled.load_balancer_name == "hz-pool-clb-000001"
    assert pooled.region_id == "cn-hangzhou" and pooled.vpc_id.startswith("vpc-")


def test_clb_listing_pages_and_filters_by_id(simulator):
    second = clbs(simulator, page_size=10, page_number=2).load_balancers.load_balancer
    assert [lb.load_balancer_id for lb in second][:2] == ["lb-hzpool000009", "lb-hzpool000010"]
    some = clbs(simulator, load_balancer_id="lb-hzpool000002,lb-hz00000000000000001")
    assert sorted(lb.load_balancer_id for lb in some.load_balancers.load_balancer) == [
        "lb-hz00000000000000001",
        "lb-hzpool000002",
    ]
    other_region = client(SlbClient, simulator, "cn-huhehaote").describe_load_balancers(
        slb.DescribeLoadBalancersRequest(region_id="cn-huhehaote")
    )
    assert [lb.load_balancer_id for lb in other_region.body.load_balancers.load_balancer] == [
        "lb-hp32z1wp5peaoox2q0001",
        "lb-hp32z1wp5peaoox2q0002",
    ]


def test_alb_listing_then_its_zones_from_get_load_balancer_attribute(simulator):
    albs = client(AlbClient, simulator)
    body = albs.list_load_balancers(alb.ListLoadBalancersRequest(max_results=100)).body
    assert body.total_count == 2 and body.next_token == ""
    listed = {lb.load_balancer_id: lb for lb in body.load_balancers}
    assert listed["alb-hz0000000000000001"].load_balancer_name == "hz-web-alb"
    assert listed["alb-hz0000000000000001"].address_type == "Intranet"
    assert listed["alb-hz0000000000000001"].address_allocated_mode == "Fixed"
    assert listed["alb-hz0000000000000002"].address_type == "Internet"
    # ListLoadBalancers says nothing of zones (as the ALB API): the attribute does.
    assert "ZoneMappings" not in body.to_map()["LoadBalancers"][0]
    attribute = albs.get_load_balancer_attribute(
        alb.GetLoadBalancerAttributeRequest(load_balancer_id="alb-hz0000000000000001")
    ).body
    assert [z.zone_id for z in attribute.zone_mappings] == ["cn-hangzhou-h", "cn-hangzhou-i"]
    assert attribute.zone_mappings[0].v_switch_id.startswith("vsw-")


def test_alb_attribute_of_an_unknown_id_is_not_found(simulator):
    with pytest.raises(ClientException) as caught:
        client(AlbClient, simulator).get_load_balancer_attribute(
            alb.GetLoadBalancerAttributeRequest(load_balancer_id="alb-hz9999999999999999")
        )
    assert caught.value.code == "ResourceNotFound.LoadBalancer"
    assert caught.value.status_code == 404


def test_nlb_listing_has_zone_mappings_and_pages_with_next_token(simulator):
    nlbs = client(NlbClient, simulator)
    first = nlbs.list_load_balancers(
        nlb.ListLoadBalancersRequest(region_id="cn-hangzhou", max_results=2)
    ).body
    assert first.total_count == 1002 and first.next_token
    assert [lb.load_balancer_id for lb in first.load_balancers] == [
        "nlb-hz0000000000000001",
        "nlb-hz0000000000000002",
    ]
    ipv4 = first.load_balancers[1]
    assert ipv4.load_balancer_name == "hz-ipv4-nlb"
    assert [z.zone_id for z in ipv4.zone_mappings] == ["cn-hangzhou-i", "cn-hangzhou-j"]
    assert ipv4.address_type == "Intranet" and ipv4.address_ip_version == "ipv4"
    following = nlbs.list_load_balancers(
        nlb.ListLoadBalancersRequest(
            region_id="cn-hangzhou", max_results=2, next_token=first.next_token
        )
    ).body
    assert [lb.load_balancer_id for lb in following.load_balancers] == [
        "nlb-hzpool000001",
        "nlb-hzpool000002",
    ]
    twelve = nlbs.list_load_balancers(nlb.ListLoadBalancersRequest(region_id="cn-beijing")).body
    assert len(twelve.load_balancers[0].zone_mappings) == 12


def test_what_is_listed_is_what_attach_accepts_in_its_zones(simulator):
    """The listings and CreateVpcEndpointService read one inventory: a listed zone is taken,
    a zone not listed for that load balancer is EndpointServiceNotSupportedZone."""
    listed = (
        client(NlbClient, simulator)
        .list_load_balancers(
            nlb.ListLoadBalancersRequest(
                region_id="cn-hangzhou", load_balancer_ids=["nlb-hz0000000000000002"]
            )
        )
        .body.load_balancers[0]
    )
    zones = [z.zone_id for z in listed.zone_mappings]

    def dry_run(zone_id):
        request = privatelink.CreateVpcEndpointServiceRequest(
            region_id="cn-hangzhou",
            service_resource_type="nlb",
            dry_run=True,
            resource=[
                privatelink.CreateVpcEndpointServiceRequestResource(
                    resource_type="nlb", resource_id=listed.load_balancer_id, zone_id=zone_id
                )
            ],
        )
        with pytest.raises(ClientException) as caught:
            simulator.client.create_vpc_endpoint_service(request)
        return caught.value.code

    assert [dry_run(zone) for zone in zones] == ["DryRunOperation"] * 2
    assert dry_run("cn-hangzhou-h") == "EndpointServiceNotSupportedZone"


def test_an_internet_facing_load_balancer_is_listed_and_refused_by_privatelink(simulator):
    request = privatelink.CreateVpcEndpointServiceRequest(
        region_id="cn-hangzhou",
        service_resource_type="slb",
        dry_run=True,
        resource=[
            privatelink.CreateVpcEndpointServiceRequestResource(
                resource_type="slb", resource_id="lb-hz00000000000000002"
            )
        ],
    )
    with pytest.raises(ClientException) as caught:
        simulator.client.create_vpc_endpoint_service(request)
    assert caught.value.code == "LoadBalancerNotSupportPrivateLink"


def test_listings_check_signatures_as_privatelink_does(simulator):
    with pytest.raises(ClientException) as caught:
        client(SlbClient, simulator, secret="wrong").describe_load_balancers(
            slb.DescribeLoadBalancersRequest(region_id="cn-hangzhou")
        )
    assert caught.value.code == "SignatureDoesNotMatch"


def test_a_privatelink_action_under_a_load_balancer_version_is_not_found(simulator):
    from alibabacloud_tea_openapi.utils_models import OpenApiRequest, Params

    sdk = client(SlbClient, simulator)
    params = Params(
        action="DescribeZones",
        version="2014-05-15",
        protocol="HTTP",
        pathname="/",
        method="POST",
        auth_type="AK",
        style="RPC",
        req_body_type="formData",
        body_type="json",
    )
    with pytest.raises(ClientException) as caught:
        sdk.call_api(params, OpenApiRequest(query={"RegionId": "cn-hangzhou"}), _runtime())
    assert caught.value.code == "InvalidAction.NotFound"


def test_faults_reach_the_listings_too(simulator):
    simulator.faults(throttle_next=1, actions=["ListLoadBalancers"])
    with pytest.raises(ThrottlingException) as caught:
        client(NlbClient, simulator).list_load_balancers(
            nlb.ListLoadBalancersRequest(region_id="cn-hangzhou")
        )
    assert caught.value.code == "Throttling.User"


def _runtime():
    from darabonba.runtime import RuntimeOptions

    return RuntimeOptions(autoretry=False)


def test_gwlb_lists_its_gateway_load_balancers_through_the_official_sdk(simulator):
    from alibabacloud_gwlb20240415 import models as gwlb_models
    from alibabacloud_gwlb20240415.client import Client as GwlbClient
    from alibabacloud_tea_openapi.models import Config, GlobalParameters

    config = Config(
        access_key_id="dev-access-key-id",
        access_key_secret="dev-access-key-secret",
        endpoint=simulator.endpoint,
        protocol="http",
        region_id="cn-hangzhou",
    )
    # Its calls name no region (the cloud reads the endpoint's): told it as RegionId here.
    config.global_parameters = GlobalParameters(queries={"RegionId": "cn-hangzhou"})
    body = GwlbClient(config).list_load_balancers(gwlb_models.ListLoadBalancersRequest()).body
    assert body.total_count == 1
    [found] = body.load_balancers
    assert found.load_balancer_id == "gwlb-hz000000000000001"
    assert [z.zone_id for z in found.zone_mappings] == ["cn-hangzhou-h", "cn-hangzhou-i"]
    assert found.address_ip_version == "DualStack"

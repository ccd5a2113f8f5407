"""The official SDK, configured as a user would, against the simulator over HTTP."""

import threading
import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import requests.adapters
from alibabacloud_privatelink20200415 import models
from alibabacloud_tea_openapi.exceptions import (
    ClientException,
    ServerException,
    ThrottlingException,
)
from darabonba.exceptions import UnretryableException

NLB_1 = "nlb-hz0000000000000001"


def resource(resource_id=NLB_1, resource_type="nlb", zone="cn-hangzhou-h"):
    return models.CreateVpcEndpointServiceRequestResource(
        resource_type=resource_type, resource_id=resource_id, zone_id=zone
    )


def create_request(**kwargs):
    params = {
        "region_id": "cn-hangzhou",
        "service_resource_type": "nlb",
        "resource": [resource()],
    }
    params.update(kwargs)
    return models.CreateVpcEndpointServiceRequest(**params)


def get(client, service_id, region="cn-hangzhou"):
    return client.get_vpc_endpoint_service_attribute(
        models.GetVpcEndpointServiceAttributeRequest(region_id=region, service_id=service_id)
    ).body


def list_services(client, **kwargs):
    return client.list_vpc_endpoint_services(
        models.ListVpcEndpointServicesRequest(region_id="cn-hangzhou", **kwargs)
    ).body


def sdk_error(call, *args):
    with pytest.raises(ClientException) as caught:
        call(*args)
    return caught.value


def test_create_then_active_then_list_then_delete(simulator):
    client = simulator.client
    created = client.create_vpc_endpoint_service(
        create_request(
            client_token="demo-1",
            service_description="Orders API",
            tag=[models.CreateVpcEndpointServiceRequestTag(key="team", value="payments")],
        )
    ).body
    assert created.service_status == "Creating"
    assert created.request_id
    assert get(client, created.service_id).service_status == "Creating"
    time.sleep(0.25)
    attribute = get(client, created.service_id)
    assert attribute.service_status == "Active"
    assert attribute.service_domain == f"{created.service_id}.cn-hangzhou.privatelink.aliyuncs.com"
    listed = list_services(client)
    assert [s.service_id for s in listed.services] == [created.service_id]
    assert listed.services[0].tags[0].to_map() == {"Key": "team", "Value": "payments"}
    client.delete_vpc_endpoint_service(
        models.DeleteVpcEndpointServiceRequest(
            region_id="cn-hangzhou", service_id=created.service_id
        )
    )
    assert get(client, created.service_id).service_status == "Deleting"
    time.sleep(0.25)
    error = sdk_error(get, client, created.service_id)
    assert (error.code, error.status_code) == ("EndpointServiceNotFound", 400)


def test_error_envelope_has_request_id_and_recommend(simulator):
    error = sdk_error(get, simulator.client, "epsrv-doesnotexist0000000")
    assert error.request_id and error.request_id == error.request_id.upper()
    assert error.data["Recommend"].startswith(
        "https://api.aliyun.com/troubleshoot?q=EndpointServiceNotFound&product=Privatelink"
    )
    assert error.data["statusCode"] == 400


def test_describe_regions_and_zones_have_the_wrapper_objects(simulator):
    client = simulator.client
    regions = client.describe_regions(
        models.DescribeRegionsRequest(region_id="cn-hangzhou", service_resource_type="gwlb")
    ).body
    assert [r.region_id for r in regions.regions.region] == ["cn-hangzhou"]
    assert regions.regions.region[0].region_endpoint == "privatelink.cn-hangzhou.aliyuncs.com"
    default = client.describe_regions(models.DescribeRegionsRequest(region_id="cn-hangzhou")).body
    assert {r.region_id for r in default.regions.region} >= {"cn-huhehaote", "ap-southeast-1"}
    zones = client.describe_zones(models.DescribeZonesRequest(region_id="cn-huhehaote")).body
    assert [z.zone_id for z in zones.zones.zone] == ["cn-huhehaote-a", "cn-huhehaote-b"]


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"region_id": None}, "MissingParam.RegionId"),
        ({"region_id": "mars-north-1"}, "IllegalParamFormat.RegionId"),
        ({"payer": "Someone"}, "IllegalParamFormat.Payer"),
        ({"service_resource_type": "elb"}, "IllegalParamFormat.ServiceResourceType"),
        ({"address_ip_version": "IPv6"}, "IllegalParam.AddressIpVersion"),
        ({"service_description": "x" * 257}, "IllegalParamFormat.ServiceDescription"),
        ({"client_token": "t" * 65}, "IllegalParamFormat.ClientToken"),
        ({"resource_group_id": "group-1"}, "IllegalParamFormat.ResourceGroupId"),
        ({"supported_region_list": ["moon-1"]}, "IllegalParamFormat.SupportedRegionList"),
        (
            {"resource": [resource(f"nlb-hzpool{n:06d}") for n in range(1, 12)]},
            "IllegalParamFormat.Resource",
        ),
        (
            {"resource": [resource(resource_id=None)]},
            "MissingParam.Resource.ResourceId",
        ),
        ({"resource": [resource(zone=None)]}, "MissingParam.Resource.ZoneId"),
        (
            {"tag": [models.CreateVpcEndpointServiceRequestTag(key=f"k{n}") for n in range(21)]},
            "IllegalParamFormat.Tag",
        ),
        (
            {"tag": [models.CreateVpcEndpointServiceRequestTag(key="", value="v")]},
            "MissingParam.Tag.Key",
        ),
        (
            {"tag": [models.CreateVpcEndpointServiceRequestTag(key="k" * 65)]},
            "IllegalParamFormat.Tag.Key",
        ),
        (
            {"tag": [models.CreateVpcEndpointServiceRequestTag(key="k", value="v" * 129)]},
            "IllegalParamFormat.Tag.Value",
        ),
        (
            {"tag": [models.CreateVpcEndpointServiceRequestTag(key="aliyun:team")]},
            "IllegalParamFormat.Tag.Key",
        ),
        (
            {"tag": [models.CreateVpcEndpointServiceRequestTag(key="ACS:x")]},
            "IllegalParamFormat.Tag.Key",
        ),
        (
            {"tag": [models.CreateVpcEndpointServiceRequestTag(key="k", value="https://x")]},
            "IllegalParamFormat.Tag.Value",
        ),
        (
            {
                "tag": [
                    models.CreateVpcEndpointServiceRequestTag(key="k", value="1"),
                    models.CreateVpcEndpointServiceRequestTag(key="k", value="2"),
                ]
            },
            "IllegalParamFormat.Tag.Key",
        ),
        (
            {"resource": [resource("nlb-hz9999999999999999")]},
            "LoadBalancerNotFound",
        ),
        (
            {
                "service_resource_type": "alb",
                "resource": [resource("alb-hz9999999999999999", "alb")],
            },
            "AlbNotFound",
        ),
        (
            {
                "region_id": "cn-huhehaote",
                "service_resource_type": "slb",
                "resource": [resource("lb-hp32z1wp5peaoox2q0002", "slb", "cn-huhehaote-a")],
            },
            "LoadBalancerNotSupportPrivateLink",
        ),
        ({"service_resource_type": "slb"}, "Mismatch.ResourceType"),
        ({"resource": [resource(zone="cn-hangzhou-j")]}, "EndpointServiceNotSupportedZone"),
        (
            {
                "service_resource_type": "alb",
                "address_ip_version": "DualStack",
                "resource": [resource("alb-hz0000000000000001", "alb")],
            },
            "OperationDenied.ResourceTypeNotSupportDualStack",
        ),
        (
            {
                "address_ip_version": "DualStack",
                "resource": [resource("nlb-hz0000000000000002", zone="cn-hangzhou-i")],
            },
            "OperationDenied.ServiceResourceIpVersionMismatch",
        ),
    ],
)
def test_create_refuses_bad_input_with_the_documented_code(simulator, changes, code):
    error = sdk_error(simulator.client.create_vpc_endpoint_service, create_request(**changes))
    assert error.code == code
    assert error.status_code == 400
    assert error.message.startswith("code: 400, ")
    assert simulator.services() == []


def test_bad_boolean_is_refused(simulator):
    # The SDK types booleans, so only a hand-built request can send a bad one; the request
    # is signed by the SDK all the same, by routing through its generic call_api.
    from alibabacloud_tea_openapi import utils_models
    from darabonba.runtime import RuntimeOptions

    params = utils_models.Params(
        action="CreateVpcEndpointService",
        version="2020-04-15",
        protocol="HTTP",
        pathname="/",
        method="POST",
        auth_type="AK",
        style="RPC",
        req_body_type="formData",
        body_type="json",
    )
    request = utils_models.OpenApiRequest(
        query={"RegionId": "cn-hangzhou", "AutoAcceptEnabled": "yes"}
    )
    error = sdk_error(simulator.client.call_api, params, request, RuntimeOptions())
    assert error.code == "IllegalParamFormat.AutoAcceptEnabled"


def test_payer_forbidden_for_the_restricted_account(simulator):
    client = simulator.make_client("restricted-access-key-id", "restricted-access-key-secret")
    error = sdk_error(client.create_vpc_endpoint_service, create_request(payer="EndpointService"))
    assert error.code == "EndpointServicePayerForbidden"


def test_quota_and_existing_resource(simulator):
    simulator.configure(quota=1)
    client = simulator.client
    client.create_vpc_endpoint_service(create_request())
    assert sdk_error(client.create_vpc_endpoint_service, create_request()).code == (
        "EndpointServiceExist"
    )
    other = create_request(resource=[resource("nlb-hzpool000001")])
    assert sdk_error(client.create_vpc_endpoint_service, other).code == "QuotaMisMatched"


def test_dry_run_creates_nothing(simulator):
    error = sdk_error(simulator.client.create_vpc_endpoint_service, create_request(dry_run=True))
    assert error.code == "DryRunOperation"
    assert error.data["Message"] == "Request validation has been passed with DryRun flag set."
    assert list_services(simulator.client).total_count == 0


def test_idempotent_client_token(simulator):
    client = simulator.client
    first = client.create_vpc_endpoint_service(create_request(client_token="abc")).body
    again = client.create_vpc_endpoint_service(create_request(client_token="abc")).body
    assert again.service_id == first.service_id
    assert again.request_id != first.request_id
    changed = create_request(client_token="abc", auto_accept_enabled=True)
    assert sdk_error(client.create_vpc_endpoint_service, changed).code == (
        "IdempotentParameterMismatch"
    )
    assert list_services(client).total_count == 1


def test_racing_creates_with_one_token_make_one_service(simulator):
    clients = [simulator.make_client() for _ in range(8)]
    results, barrier = [], threading.Barrier(len(clients))

    def race(client):
        barrier.wait()
        body = client.create_vpc_endpoint_service(create_request(client_token="race")).body
        results.append(body.service_id)

    threads = [threading.Thread(target=race, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8
    assert len(set(results)) == 1
    assert list_services(simulator.client).total_count == 1


def test_list_pages_with_next_token(simulator):
    simulator.configure(quota=100)
    client = simulator.client
    created = [
        client.create_vpc_endpoint_service(
            create_request(resource=[resource(f"nlb-hzpool{n:06d}")])
        ).body.service_id
        for n in range(1, 6)
    ]
    seen, token, pages = [], None, 0
    while True:
        page = list_services(client, max_results=2, next_token=token)
        pages += 1
        assert page.total_count == 5
        seen += [s.service_id for s in page.services]
        token = page.next_token
        if not token:
            break
    assert pages == 3
    assert seen == created
    assert list_services(client, service_id=created[2]).total_count == 1
    assert list_services(client, service_status="Creating").total_count == 5
    assert list_services(client, auto_accept_enabled=True).total_count == 0
    with pytest.raises(ClientException) as caught:
        list_services(client, max_results=1001)
    assert caught.value.code == "IllegalParamFormat.MaxResults"


def test_unknown_access_key(simulator):
    client = simulator.make_client("nobody", "secret")
    error = sdk_error(client.describe_regions, models.DescribeRegionsRequest(region_id="x"))
    assert (error.code, error.status_code) == ("InvalidAccessKeyId.NotFound", 404)


def test_wrong_secret(simulator):
    client = simulator.make_client(secret="not-the-secret")
    error = sdk_error(client.describe_regions, models.DescribeRegionsRequest(region_id="x"))
    assert (error.code, error.status_code) == ("SignatureDoesNotMatch", 400)


def test_tampered_query_fails_the_signature(simulator, monkeypatch):
    original_send = requests.adapters.HTTPAdapter.send

    def tamper(adapter, request, **kwargs):
        url = urlsplit(request.url)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        query["RegionId"] = "cn-shanghai"
        request.url = urlunsplit(url._replace(query=urlencode(query)))
        return original_send(adapter, request, **kwargs)

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", tamper)
    error = sdk_error(
        simulator.client.describe_zones, models.DescribeZonesRequest(region_id="cn-hangzhou")
    )
    assert error.code == "SignatureDoesNotMatch"


def test_replayed_nonce_is_refused(simulator, monkeypatch):
    original_send = requests.adapters.HTTPAdapter.send
    answers = []

    def send_twice(adapter, request, **kwargs):
        answers.append(original_send(adapter, request.copy(), **kwargs).status_code)
        return original_send(adapter, request, **kwargs)

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", send_twice)
    error = sdk_error(
        simulator.client.describe_zones, models.DescribeZonesRequest(region_id="cn-hangzhou")
    )
    assert answers == [200]
    assert error.code == "SignatureNonceUsed"


def test_unknown_action_gets_the_gateway_error(simulator):
    from alibabacloud_tea_openapi import utils_models
    from darabonba.runtime import RuntimeOptions

    params = utils_models.Params(
        action="LaunchRocket",
        version="2020-04-15",
        protocol="HTTP",
        pathname="/",
        method="POST",
        auth_type="AK",
        style="RPC",
        req_body_type="formData",
        body_type="json",
    )
    error = sdk_error(
        simulator.client.call_api, params, utils_models.OpenApiRequest(query={}), RuntimeOptions()
    )
    assert (error.code, error.status_code) == ("InvalidAction.NotFound", 404)


def test_throttling_fault_carries_retry_after(simulator):
    simulator.faults(throttle_next=1, retry_after=2)
    with pytest.raises(ThrottlingException) as caught:
        simulator.client.describe_regions(models.DescribeRegionsRequest(region_id="cn-hangzhou"))
    assert caught.value.code == "Throttling.User"
    assert caught.value.retry_after == 2
    simulator.client.describe_regions(models.DescribeRegionsRequest(region_id="cn-hangzhou"))


def test_server_error_fault_only_for_chosen_actions(simulator):
    simulator.faults(error_next=2, actions=["DescribeZones"])
    simulator.client.describe_regions(models.DescribeRegionsRequest(region_id="cn-hangzhou"))
    for _ in range(2):
        with pytest.raises(ServerException) as caught:
            simulator.client.describe_zones(models.DescribeZonesRequest(region_id="cn-hangzhou"))
        assert caught.value.code in ("ServiceUnavailable", "InternalError")
        assert caught.value.status_code in (500, 503)
    simulator.client.describe_zones(models.DescribeZonesRequest(region_id="cn-hangzhou"))


def test_latency_fault_delays_answers(simulator):
    simulator.faults(latency_ms=150)
    started = time.monotonic()
    simulator.client.describe_regions(models.DescribeRegionsRequest(region_id="cn-hangzhou"))
    assert time.monotonic() - started >= 0.15


def test_stuck_fault_over_http(simulator):
    simulator.faults(stuck_creating=True)
    body = simulator.client.create_vpc_endpoint_service(create_request()).body
    time.sleep(0.3)
    assert get(simulator.client, body.service_id).service_status == "Creating"


def test_control_path_health_and_bad_input(simulator):
    assert simulator.control("health")["status"] == "ok"
    import urllib.error

    with pytest.raises(urllib.error.HTTPError) as caught:
        simulator.faults(throttle_rate=5)
    assert caught.value.code == 400


def test_refused_connection_raises_unretryable(simulator):
    from alibabacloud_privatelink20200415.client import Client
    from alibabacloud_tea_openapi.models import Config

    client = Client(
        Config(
            access_key_id="dev-access-key-id",
            access_key_secret="dev-access-key-secret",
            endpoint="127.0.0.1:9",
            protocol="http",
        )
    )
    with pytest.raises(UnretryableException):
        client.describe_regions(models.DescribeRegionsRequest(region_id="cn-hangzhou"))

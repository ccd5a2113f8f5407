"""The legacy RPC signature (version 1.0, HMAC-SHA1: how the aliyun CLI, Terraform and older
scripts sign) against the simulator, with the legacy Python SDK from PyPI
(aliyun-python-sdk-core, aliyun-python-sdk-privatelink) and the new SDK's v2 signing."""

import json
import time

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.client import AcsClient
from aliyunsdkprivatelink.request.v20200415 import (
    AddUserToVpcEndpointServiceRequest,
    CreateVpcEndpointServiceRequest,
    DeleteVpcEndpointServiceRequest,
    GetVpcEndpointServiceAttributeRequest,
    ListVpcEndpointServicesRequest,
    ListVpcEndpointServiceUsersRequest,
    RemoveUserFromVpcEndpointServiceRequest,
)

from tests.conftest import DEV_KEY_ID, DEV_KEY_SECRET

REGION = "cn-hangzhou"
NLB = "nlb-hz0000000000000001"


def legacy(module, sim, method=None, **params):
    """A legacy SDK request of `module`, pointed at the simulator over HTTP."""
    request = getattr(module, module.__name__.rsplit(".", 1)[1])()
    request.set_endpoint(sim.endpoint)
    request.set_protocol_type("http")
    request.set_accept_format("json")
    if method:
        request.set_method(method)
    for name, value in params.items():
        getattr(request, f"set_{name}")(value)
    return request


def send(request, key_id=DEV_KEY_ID, secret=DEV_KEY_SECRET):
    return json.loads(AcsClient(key_id, secret, REGION).do_action_with_exception(request))


def refused(request, **keys):
    with pytest.raises(ServerException) as error:
        send(request, **keys)
    return error.value.get_error_code(), error.value.get_http_status()


def make_service(sim):
    request = legacy(
        CreateVpcEndpointServiceRequest,
        sim,
        ServiceResourceType="nlb",
        Resources=[{"ResourceType": "nlb", "ResourceId": NLB, "ZoneId": "cn-hangzhou-h"}],
        ClientToken="legacy-1",
    )
    return send(request)


def test_create_get_list_allow_list_and_delete(simulator):
    created = make_service(simulator)
    service_id = created["ServiceId"]
    assert created["ServiceStatus"] == "Creating"
    deadline = time.monotonic() + 10
    while True:
        got = send(legacy(GetVpcEndpointServiceAttributeRequest, simulator, ServiceId=service_id))
        if got["ServiceStatus"] == "Active" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert got["ServiceStatus"] == "Active"
    assert got["ServiceResourceType"] == "nlb"
    listed = send(legacy(ListVpcEndpointServicesRequest, simulator))
    assert [s["ServiceId"] for s in listed["Services"]] == [service_id]
    # The same token again: the same service, nothing new.
    assert make_service(simulator)["ServiceId"] == service_id
    send(
        legacy(
            AddUserToVpcEndpointServiceRequest,
            simulator,
            ServiceId=service_id,
            UserId=1000000000000003,
        )
    )
    users = send(legacy(ListVpcEndpointServiceUsersRequest, simulator, ServiceId=service_id))
    assert [u["UserId"] for u in users["Users"]] == [1000000000000003]
    send(
        legacy(
            RemoveUserFromVpcEndpointServiceRequest,
            simulator,
            ServiceId=service_id,
            UserId=1000000000000003,
        )
    )
    users = send(legacy(ListVpcEndpointServiceUsersRequest, simulator, ServiceId=service_id))
    assert users["Users"] == []
    send(legacy(DeleteVpcEndpointServiceRequest, simulator, ServiceId=service_id))
    assert simulator.services()[0]["ServiceStatus"] == "Deleting"


def test_get_and_a_form_body_sign_as_well(simulator):
    service_id = make_service(simulator)["ServiceId"]
    by_get = legacy(
        GetVpcEndpointServiceAttributeRequest, simulator, method="GET", ServiceId=service_id
    )
    assert send(by_get)["ServiceId"] == service_id
    # Parameters in a form body rather than the query string, as some clients send them.
    in_body = legacy(GetVpcEndpointServiceAttributeRequest, simulator, ServiceId=service_id)
    in_body.add_body_params("ServiceId", service_id)
    in_body._params.pop("ServiceId", None)
    assert "ServiceId" not in in_body.get_query_params()
    assert send(in_body)["ServiceId"] == service_id


def test_an_error_answer_is_the_apis(simulator):
    request = legacy(
        GetVpcEndpointServiceAttributeRequest, simulator, ServiceId="epsrv-nosuchservice00000"
    )
    assert refused(request) == ("EndpointServiceNotFound", 400)


def test_a_wrong_secret_and_an_unknown_key_are_refused(simulator):
    listing = legacy(ListVpcEndpointServicesRequest, simulator)
    # The gateway answers SignatureDoesNotMatch with the string it signed; the legacy SDK,
    # finding it equal to its own, tells the caller the secret is wrong (as against the cloud).
    assert refused(listing, secret="not-the-secret") == ("InvalidAccessKeySecret", 400)
    listing = legacy(ListVpcEndpointServicesRequest, simulator)
    assert refused(listing, key_id="nobody-key") == ("InvalidAccessKeyId.NotFound", 404)


def test_a_replayed_request_is_refused(simulator):
    """The same signed URL twice (the nonce is in it): the second is a replay."""
    import urllib.error
    import urllib.request

    from aliyunsdkcore.auth.composer import rpc_signature_composer

    params = {
        "Action": "ListVpcEndpointServices",
        "Version": "2020-04-15",
        "RegionId": REGION,
        "Format": "JSON",
    }
    url, _string_to_sign = rpc_signature_composer.get_signed_url(
        params, DEV_KEY_ID, DEV_KEY_SECRET, "JSON", "GET", {}
    )
    address = f"http://{simulator.endpoint}/{url}"
    with urllib.request.urlopen(address, timeout=10) as first:
        assert json.loads(first.read())["TotalCount"] == 0
    with pytest.raises(urllib.error.HTTPError) as again:
        urllib.request.urlopen(address, timeout=10)
    assert json.loads(again.value.read())["Code"] == "SignatureNonceUsed"


def test_the_new_sdk_signing_v2_works_too(simulator):
    from alibabacloud_privatelink20200415 import models
    from alibabacloud_privatelink20200415.client import Client
    from alibabacloud_tea_openapi.models import Config

    client = Client(
        Config(
            access_key_id=DEV_KEY_ID,
            access_key_secret=DEV_KEY_SECRET,
            endpoint=simulator.endpoint,
            protocol="http",
            region_id=REGION,
            signature_algorithm="v2",
        )
    )
    created = client.create_vpc_endpoint_service(
        models.CreateVpcEndpointServiceRequest(
            region_id=REGION,
            service_resource_type="nlb",
            resource=[
                models.CreateVpcEndpointServiceRequestResource(
                    resource_type="nlb", resource_id=NLB, zone_id="cn-hangzhou-h"
                )
            ],
        )
    ).body
    got = client.get_vpc_endpoint_service_attribute(
        models.GetVpcEndpointServiceAttributeRequest(
            region_id=REGION, service_id=created.service_id
        )
    ).body
    assert got.service_id == created.service_id


def test_the_gateway_says_which_string_it_signed(simulator):
    """On the wire: SignatureDoesNotMatch, with the server's string to sign."""
    import urllib.error
    import urllib.request

    from aliyunsdkcore.auth.composer import rpc_signature_composer

    params = {"Action": "ListVpcEndpointServices", "Version": "2020-04-15", "RegionId": REGION}
    url, signed = rpc_signature_composer.get_signed_url(
        params, DEV_KEY_ID, "not-the-secret", "JSON", "GET", {}
    )
    with pytest.raises(urllib.error.HTTPError) as refused_call:
        urllib.request.urlopen(f"http://{simulator.endpoint}/{url}", timeout=10)
    answer = json.loads(refused_call.value.read())
    assert answer["Code"] == "SignatureDoesNotMatch"
    assert answer["Message"].endswith(f"server string to sign is:{signed}")


def test_a_role_session_signs_the_legacy_way_with_its_token(simulator):
    from alibabacloud_sts20150401 import models as sts_models
    from alibabacloud_sts20150401.client import Client as StsClient
    from alibabacloud_tea_openapi.models import Config
    from aliyunsdkcore.auth.credentials import StsTokenCredential

    credentials = (
        StsClient(
            Config(
                access_key_id=DEV_KEY_ID,
                access_key_secret=DEV_KEY_SECRET,
                endpoint=simulator.endpoint,
                protocol="http",
                region_id=REGION,
            )
        )
        .assume_role(
            sts_models.AssumeRoleRequest(
                role_arn="acs:ram::1000000000000004:role/PrivateLinkPortal",
                role_session_name="terraform",
            )
        )
        .body.credentials
    )
    session = StsTokenCredential(
        credentials.access_key_id, credentials.access_key_secret, credentials.security_token
    )
    client = AcsClient(region_id="cn-shanghai", credential=session)
    request = legacy(CreateVpcEndpointServiceRequest, simulator)
    request.set_ServiceResourceType("slb")
    request.set_Resources([{"ResourceType": "slb", "ResourceId": "lb-shpay0000000000000001"}])
    request.add_query_param("RegionId", "cn-shanghai")
    created = json.loads(client.do_action_with_exception(request))
    owners = {s["ServiceId"]: s["AccountUid"] for s in simulator.services()}
    assert owners[created["ServiceId"]] == "1000000000000004"


def signed_url(params, secret=DEV_KEY_SECRET, method="GET"):
    """A URL the legacy SDK signed, for the wire-level tests."""
    from aliyunsdkcore.auth.composer import rpc_signature_composer

    url, _signed = rpc_signature_composer.get_signed_url(
        dict(params), DEV_KEY_ID, secret, "JSON", method, {}
    )
    return url


def test_a_non_ascii_signature_is_a_mismatch_not_a_crash(simulator):
    import urllib.error
    import urllib.parse
    import urllib.request

    url = signed_url(
        {"Action": "ListVpcEndpointServices", "Version": "2020-04-15", "RegionId": REGION}
    )
    forged = url.split("&Signature=")[0] + "&Signature=" + urllib.parse.quote("é")
    with pytest.raises(urllib.error.HTTPError) as refused_call:
        urllib.request.urlopen(f"http://{simulator.endpoint}{forged}", timeout=10)
    assert refused_call.value.code == 400
    assert json.loads(refused_call.value.read())["Code"] == "SignatureDoesNotMatch"


def test_the_signed_action_runs_not_an_unsigned_header(simulator):
    """The version 1.0 signature covers the parameters, not the x-acs-* headers that some
    clients (Terraform's, the new SDK's) send beside them: the signed Action is the one run."""
    import urllib.request

    url = signed_url(
        {"Action": "ListVpcEndpointServices", "Version": "2020-04-15", "RegionId": REGION}
    )
    request = urllib.request.Request(
        f"http://{simulator.endpoint}{url}",
        headers={"x-acs-action": "DeleteVpcEndpointService", "x-acs-version": "2020-04-15"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert json.loads(answer.read())["TotalCount"] == 0


def active(sim, service_id):
    deadline = time.monotonic() + 10
    while True:
        got = send(legacy(GetVpcEndpointServiceAttributeRequest, sim, ServiceId=service_id))
        if got["ServiceStatus"] == "Active" or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def test_values_the_encoding_treats_apart_sign_alike(simulator):
    """Space, `*`, `~`, `/`, `+`, `&`, `=`, `%` and non-ASCII text: the legacy SDK encodes
    them its own way (urlencode, then fixes), the gateway RFC 3986's; in the query (POST and
    GET) and in a form body."""
    from aliyunsdkprivatelink.request.v20200415 import UpdateVpcEndpointServiceAttributeRequest

    text = "a b*c~d/e+f&g=h%20 ü 中文 'x' (y)!"
    service_id = make_service(simulator)["ServiceId"]
    for method in ("POST", "GET"):
        active(simulator, service_id)
        update = legacy(
            UpdateVpcEndpointServiceAttributeRequest,
            simulator,
            method=method,
            ServiceId=service_id,
            ServiceDescription=f"{text} {method}",
        )
        send(update)
        assert active(simulator, service_id)["ServiceDescription"] == f"{text} {method}"
    in_body = legacy(UpdateVpcEndpointServiceAttributeRequest, simulator, ServiceId=service_id)
    in_body.add_body_params("ServiceDescription", f"{text} body")
    send(in_body)
    assert active(simulator, service_id)["ServiceDescription"] == f"{text} body"

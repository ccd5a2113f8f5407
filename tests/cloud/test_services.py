"""The service module against the simulator, through the official SDK over HTTP."""

import pytest

from portal.cloud import services as cloud

CONTRACT_CODES = [
    "EndpointServiceExist",
    "AlbNotFound",
    "LoadBalancerNotFound",
    "LoadBalancerNotSupportPrivateLink",
    "GenerateResourceIdFailed",
    "QuotaMisMatched",
    "VSwitchNotFound",
    "EndpointServicePayerForbidden",
    "NeedOpenProduct",
    "EndpointServiceNotSupportedZone",
    "ResourceNotFound.NatGateway",
    "Mismatch.ResourceType",
    "EndpointServiceNotSupportIpv6",
    "OperationDenied.PrivateDomainNotSupport",
    "Conflict.ServiceName",
    "InvalidParam.PrivateDnsName",
    "OperationDenied.ZoneAffinityNotSupport",
    "OperationDenied.RamPolicyNotSupport",
    "OperationDenied.ResourceTypeNotSupportDualStack",
    "OperationDenied.ServiceResourceIpVersionMismatch",
    "IllegalParam.AddressIpVersion",
    "SpecifiedAlbNotSupport",
    "IdempotentParameterMismatch",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId.NotFound",
    "Throttling.User",
    "ServiceUnavailable",
    "InternalError",
    "EndpointServiceLocked",
    "ConcurrentCallNotSupported",
    "EndpointServiceNotFound",
    "EndpointServiceOperationDenied",
    "EndpointServiceDependenceViolation",
    "EndpointServiceConnectionDependence",
    "DeleteFailedDueToEndpointExist",
]

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
NLB = {"resource_type": "nlb", "resource_id": "nlb-hz0000000000000001", "zone_id": "cn-hangzhou-h"}


@pytest.mark.parametrize("code", CONTRACT_CODES)
def test_every_contract_code_has_its_own_plain_message(code):
    message, _field = cloud.describe(code)
    assert code in cloud.ERRORS
    assert not message.startswith("The cloud refused the request")


@pytest.mark.parametrize(
    ("code", "field"),
    [
        ("MissingParam.RegionId", "region_id"),
        ("IllegalParamFormat.Payer", "payer"),
        ("MissingParam.Resource.ZoneId", "resources"),
        ("IllegalParamFormat.Tag.Key", "tags"),
        ("IllegalParamFormat.SupportedRegionList", "supported_region_list"),
        ("IllegalParamFormat.ClientToken", None),
        ("SomethingNew", None),
    ],
)
def test_parameter_codes_map_to_their_field(code, field):
    assert cloud.describe(code)[1] == field


def test_dry_run_passes_for_a_valid_request(simulator):
    result = cloud_dry_run()
    assert result.ok
    assert result.code == "DryRunOperation"
    assert result.request_id
    assert result.record.duration_ms >= 0
    assert simulator.services() == []


def cloud_dry_run(fields=None, resources=None, tags=()):
    return cloud.endpoint_service_dry_run(
        fields={**FIELDS, **(fields or {})}, resources=resources or [NLB], tags=list(tags)
    )


def test_dry_run_maps_errors_to_fields(settings):
    tags = [{"key": "env", "value": "https://x"}]
    assert cloud_dry_run(tags=tags).field == "tags"
    settings.ALIBABA_CLOUD_ACCESS_KEY_ID = "restricted-access-key-id"
    settings.ALIBABA_CLOUD_ACCESS_KEY_SECRET = "restricted-access-key-secret"
    refused = cloud_dry_run(fields={"payer": "EndpointService"})
    assert (refused.ok, refused.code, refused.field) == (
        False,
        "EndpointServicePayerForbidden",
        "payer",
    )
    assert refused.message.startswith("This account may not pay")


def test_wrong_secret_is_a_configuration_error(settings):
    settings.ALIBABA_CLOUD_ACCESS_KEY_SECRET = "wrong"
    result = cloud_dry_run()
    assert result.code == "SignatureDoesNotMatch"
    assert "configuration" in result.message
    assert not result.transient


def test_transient_errors_are_marked(simulator):
    simulator.faults(throttle_next=1)
    throttled = cloud_dry_run()
    assert (throttled.code, throttled.transient) == ("Throttling.User", True)
    simulator.faults(error_next=1)
    assert cloud_dry_run().transient


def test_unreachable_api_is_transient(settings):
    settings.PRIVATELINK_ENDPOINT = "127.0.0.1:9"
    result = cloud_dry_run()
    assert (result.code, result.transient) == ("Unreachable", True)


def test_regions_are_cached(simulator):
    regions, warning = cloud.regions()
    assert ("cn-hangzhou", "China (Hangzhou)") in regions
    assert warning == ""
    simulator.faults(error_next=5)
    assert cloud.regions() == (regions, "")


def test_regions_fall_back_to_the_last_good_list(settings):
    from django.core.cache import cache

    regions, _ = cloud.regions()
    cache.delete("privatelink:regions")
    settings.PRIVATELINK_ENDPOINT = "127.0.0.1:9"
    fallback, warning = cloud.regions()
    assert fallback == regions
    assert "showing the last list it gave" in warning


def test_regions_without_any_list_say_so(settings):
    settings.PRIVATELINK_ENDPOINT = "127.0.0.1:9"
    regions, warning = cloud.regions()
    assert regions == []
    assert "try again shortly" in warning


@pytest.mark.django_db
def test_form_still_works_when_the_api_is_down(login, requester, settings):
    settings.PRIVATELINK_ENDPOINT = "127.0.0.1:9"
    html = login(requester).get("/requests/new/").content.decode()
    assert "PrivateLink did not answer" in html


def test_zones_for_a_region():
    zones, warning = cloud.zones("cn-hangzhou")
    assert [zone_id for zone_id, _ in zones] == ["cn-hangzhou-h", "cn-hangzhou-i", "cn-hangzhou-j"]
    assert warning == ""


def test_call_records_leave_out_secrets(settings):
    result = cloud_dry_run()
    recorded = repr(result.record.as_dict())
    assert settings.ALIBABA_CLOUD_ACCESS_KEY_SECRET not in recorded
    assert result.record.parameters["RegionId"] == "cn-hangzhou"


def test_a_failed_list_is_not_asked_again_for_a_minute(settings, simulator):
    settings.PRIVATELINK_ENDPOINT = "127.0.0.1:9"
    assert cloud.regions()[0] == []
    settings.PRIVATELINK_ENDPOINT = simulator.endpoint
    regions, warning = cloud.regions()
    assert regions == [] and "try again shortly" in warning
    from django.core.cache import cache

    cache.delete("privatelink:regions:failed")
    assert cloud.regions()[1] == ""

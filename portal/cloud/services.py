"""Alibaba Cloud PrivateLink through the official SDK: the only module that imports it.

Everything here speaks plain Python data (dicts of the request's snake_case fields) and
returns plain data, so that the rest of the portal never sees an SDK type. Every call returns
or raises with a `CallRecord` (action, parameters without secrets, outcome, RequestId,
duration) for the audit trail.
"""

import dataclasses
import logging
import threading
import time
from dataclasses import asdict, dataclass

from alibabacloud_privatelink20200415 import models as sdk
from alibabacloud_privatelink20200415.client import Client
from alibabacloud_tea_openapi.exceptions import (
    AlibabaCloudException,
    ServerException,
    ThrottlingException,
)
from alibabacloud_tea_openapi.models import Config
from darabonba.exceptions import UnretryableException
from darabonba.runtime import RuntimeOptions
from django.conf import settings
from django.core.cache import cache

log = logging.getLogger(__name__)

DRY_RUN_PASSED = "DryRunOperation"
FAILURE_SECONDS = 60
TRANSIENT_CODES = {
    "Throttling",
    "Throttling.User",
    "Throttling.Api",
    "ServiceUnavailable",
    "InternalError",
    "EndpointServiceLocked",
    "ConcurrentCallNotSupported",
    "GenerateResourceIdFailed",
}

# Every error code of the contract: the plain message a person reads, and the form field at
# fault ("resources" and "tags" are the formsets). Codes with a parameter suffix
# (MissingParam.X, IllegalParamFormat.X) are mapped through PARAMETER_FIELDS below.
ERRORS = {
    "EndpointServiceExist": (
        "A load balancer in this request already backs another endpoint service.",
        "resources",
    ),
    "AlbNotFound": ("An ALB instance in this request does not exist in this region.", "resources"),
    "LoadBalancerNotFound": (
        "A load balancer in this request does not exist in this region.",
        "resources",
    ),
    "LoadBalancerNotSupportPrivateLink": (
        "A load balancer in this request does not have PrivateLink enabled.",
        "resources",
    ),
    "GenerateResourceIdFailed": ("The cloud could not allocate an id; try again shortly.", None),
    "QuotaMisMatched": (
        "The endpoint service quota of this region is used up; ask the platform team to raise it.",
        "region_id",
    ),
    "VSwitchNotFound": ("A resource's vSwitch no longer exists.", "resources"),
    "EndpointServicePayerForbidden": (
        "This account may not pay for consumers' traffic: choose Endpoint as the payer.",
        "payer",
    ),
    "NeedOpenProduct": ("PrivateLink is not activated for the cloud account.", None),
    "EndpointServiceNotSupportedZone": (
        "A resource is not deployed in the zone given for it.",
        "resources",
    ),
    "ResourceNotFound.NatGateway": (
        "A NAT gateway the resource needs does not exist.",
        "resources",
    ),
    "Mismatch.ResourceType": (
        "Every resource must be of the service resource type.",
        "resources",
    ),
    "EndpointServiceNotSupportIpv6": (
        "This endpoint service cannot support IPv6.",
        "address_ip_version",
    ),
    "OperationDenied.PrivateDomainNotSupport": (
        "A private domain is not supported for this service.",
        None,
    ),
    "Conflict.ServiceName": ("The service name is already taken.", None),
    "InvalidParam.PrivateDnsName": ("The private DNS name is not valid.", None),
    "OperationDenied.ZoneAffinityNotSupport": (
        "Zone affinity is not supported for this service.",
        "zone_affinity_enabled",
    ),
    "OperationDenied.RamPolicyNotSupport": (
        "The cloud account's RAM policy does not allow this.",
        None,
    ),
    "OperationDenied.ResourceTypeNotSupportDualStack": (
        "DualStack needs an nlb or gwlb service resource type.",
        "address_ip_version",
    ),
    "OperationDenied.ServiceResourceIpVersionMismatch": (
        "A resource of this request does not support DualStack: choose IPv4 or another resource.",
        "address_ip_version",
    ),
    "IllegalParam.AddressIpVersion": (
        "The IP version must be IPv4 or DualStack.",
        "address_ip_version",
    ),
    "SpecifiedAlbNotSupport": ("This ALB instance cannot back an endpoint service.", "resources"),
    "IdempotentParameterMismatch": (
        "The cloud already holds a request with this request's token but other parameters.",
        None,
    ),
    "EndpointServiceNotFound": ("The endpoint service no longer exists in the cloud.", None),
    "EndpointServiceOperationDenied": ("The endpoint service cannot be changed now.", None),
    "EndpointServiceDependenceViolation": ("Other resources still depend on the service.", None),
    "EndpointServiceConnectionDependence": ("Endpoints are still connected to the service.", None),
    "DeleteFailedDueToEndpointExist": ("Endpoints still use the service.", None),
    "SignatureDoesNotMatch": (
        "The portal's AccessKey secret is wrong: the platform team must fix the configuration.",
        None,
    ),
    "InvalidAccessKeyId.NotFound": (
        "The portal's AccessKey is unknown to the cloud: the platform team must fix the "
        "configuration.",
        None,
    ),
    "Throttling.User": ("The cloud is throttling the portal's calls; it will retry.", None),
    "ServiceUnavailable": ("The cloud is unavailable for a moment; it will retry.", None),
    "InternalError": ("The cloud had an internal error; it will retry.", None),
    "EndpointServiceLocked": ("The service is locked by another operation; it will retry.", None),
    "ConcurrentCallNotSupported": ("Another call is in progress; it will retry.", None),
    "Unreachable": ("The PrivateLink API cannot be reached; it will retry.", None),
}

PARAMETER_FIELDS = {
    "RegionId": "region_id",
    "ServiceDescription": "service_description",
    "AutoAcceptEnabled": "auto_accept_enabled",
    "Payer": "payer",
    "ZoneAffinityEnabled": "zone_affinity_enabled",
    "ServiceResourceType": "service_resource_type",
    "ResourceGroupId": "resource_group_id",
    "AddressIpVersion": "address_ip_version",
    "SupportedRegionList": "supported_region_list",
    "Resource": "resources",
    "Tag": "tags",
}


@dataclass
class CallRecord:
    """What the audit trail keeps of one cloud call."""

    action: str
    parameters: dict
    outcome: str = "ok"
    request_id: str = ""
    duration_ms: int = 0
    status: int | None = None

    def as_dict(self):
        return asdict(self)


class CloudError(Exception):
    """A PrivateLink answer other than success, in the portal's words."""

    def __init__(self, code, cloud_message, *, record, status=None, retry_after=None):
        plain, field_name = describe(code)
        super().__init__(f"{code}: {plain}")
        self.code = code
        self.cloud_message = cloud_message
        self.message = plain
        self.field = field_name
        self.record = record
        self.status = status
        self.retry_after = retry_after
        self.request_id = record.request_id
        self.transient = (
            code in TRANSIENT_CODES
            or code.startswith("Throttling")
            or (status is not None and status >= 500)
            or code == "Unreachable"
        )


def describe(code):
    """Return (plain message, form field or None) for a cloud error code."""
    if code in ERRORS:
        return ERRORS[code]
    for prefix, verb in (("MissingParam.", "is missing"), ("IllegalParamFormat.", "is not valid")):
        if code.startswith(prefix):
            parameter = code.removeprefix(prefix)
            field_name = PARAMETER_FIELDS.get(parameter.split(".")[0])
            return f"The cloud says {parameter} {verb}.", field_name
    return f"The cloud refused the request ({code}).", None


@dataclass
class DryRunResult:
    ok: bool
    code: str
    message: str
    field: str | None = None
    request_id: str = ""
    transient: bool = False
    retry_after: int | None = None
    record: CallRecord = dataclasses.field(default=None, repr=False)


_clients = threading.local()


def get_client():
    """Return this thread's SDK client for the configured endpoint and credentials."""
    key = (
        settings.PRIVATELINK_ENDPOINT,
        settings.PRIVATELINK_PROTOCOL,
        settings.ALIBABA_CLOUD_ACCESS_KEY_ID,
        settings.ALIBABA_CLOUD_ACCESS_KEY_SECRET,
    )
    if getattr(_clients, "key", None) != key:
        config = Config(
            endpoint=settings.PRIVATELINK_ENDPOINT,
            protocol=settings.PRIVATELINK_PROTOCOL,
            region_id=settings.PRIVATELINK_REGION_ID,
        )
        if settings.ALIBABA_CLOUD_ACCESS_KEY_ID:
            config.access_key_id = settings.ALIBABA_CLOUD_ACCESS_KEY_ID
            config.access_key_secret = settings.ALIBABA_CLOUD_ACCESS_KEY_SECRET
        else:
            from alibabacloud_credentials.client import Client as CredentialClient

            config.credential = CredentialClient()
        _clients.client, _clients.key = Client(config), key
    return _clients.client


def _runtime():
    timeout = settings.PRIVATELINK_TIMEOUT_MS
    return RuntimeOptions(read_timeout=timeout, connect_timeout=min(timeout, 5000), autoretry=False)


def call(action, sdk_request):
    """Call one PrivateLink operation; return (body as a dict, CallRecord) or raise CloudError."""
    method = getattr(get_client(), f"{_snake(action)}_with_options")
    record = CallRecord(action=action, parameters=sdk_request.to_map())
    started = time.monotonic()
    try:
        response = method(sdk_request, _runtime())
    except AlibabaCloudException as error:
        record.duration_ms = round((time.monotonic() - started) * 1000)
        record.outcome = error.code or "Error"
        record.request_id = error.request_id if error.request_id not in (None, "None") else ""
        record.status = error.status_code
        retry_after = error.retry_after if isinstance(error, ThrottlingException) else None
        status = error.status_code or (500 if isinstance(error, ServerException) else None)
        data = error.data if isinstance(error.data, dict) else {}
        raise CloudError(
            record.outcome,
            data.get("Message", ""),
            record=record,
            status=status,
            retry_after=retry_after,
        ) from error
    except (UnretryableException, OSError) as error:
        record.duration_ms = round((time.monotonic() - started) * 1000)
        record.outcome = "Unreachable"
        raise CloudError("Unreachable", str(error)[:500], record=record) from error
    record.duration_ms = round((time.monotonic() - started) * 1000)
    body = response.body.to_map()
    record.request_id = body.get("RequestId", "")
    record.status = response.status_code
    log.info("%s %s in %d ms", action, record.request_id, record.duration_ms)
    return body, record


def _snake(action):
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in action).lstrip("_")


def build_create_request(fields, resources, tags, *, client_token=None, dry_run=False):
    """Make the SDK's CreateVpcEndpointService request from the portal's plain fields."""
    return sdk.CreateVpcEndpointServiceRequest(
        region_id=fields["region_id"],
        service_description=fields.get("service_description") or None,
        auto_accept_enabled=bool(fields.get("auto_accept_enabled")),
        payer=fields.get("payer") or None,
        zone_affinity_enabled=bool(fields.get("zone_affinity_enabled")),
        service_resource_type=fields.get("service_resource_type") or None,
        resource_group_id=fields.get("resource_group_id") or None,
        address_ip_version=fields.get("address_ip_version") or None,
        supported_region_list=list(fields.get("supported_region_list") or []) or None,
        resource=[
            sdk.CreateVpcEndpointServiceRequestResource(
                resource_type=r["resource_type"],
                resource_id=r["resource_id"],
                zone_id=r.get("zone_id") or None,
            )
            for r in resources
        ]
        or None,
        tag=[sdk.CreateVpcEndpointServiceRequestTag(key=t["key"], value=t["value"]) for t in tags]
        or None,
        client_token=client_token,
        dry_run=True if dry_run else None,
    )


def endpoint_service_dry_run(*, fields, resources, tags):
    """Ask the cloud whether it would create this service: DryRunOperation means yes."""
    request = build_create_request(fields, resources, tags, dry_run=True)
    try:
        _body, record = call("CreateVpcEndpointService", request)
    except CloudError as error:
        if error.code == DRY_RUN_PASSED:
            return DryRunResult(
                True,
                error.code,
                "The cloud would accept this request.",
                request_id=error.request_id,
                record=error.record,
            )
        return DryRunResult(
            False,
            error.code,
            error.message,
            field=error.field,
            request_id=error.request_id,
            transient=error.transient,
            retry_after=error.retry_after,
            record=error.record,
        )
    # A cloud that creates on DryRun would be a broken contract; say so rather than hide it.
    return DryRunResult(
        False,
        "UnexpectedSuccess",
        "The cloud answered a dry run with success; nothing was expected to be created.",
        request_id=record.request_id,
        record=record,
    )


def _cached(key, fetch):
    """Return (value, warning): fresh from the cache or the API, else the last good value.

    A failure is remembered for a minute, so that pages do not each wait on a cloud that is
    down (a connect timeout is seconds).
    """
    value = cache.get(key)
    if value is not None:
        return value, ""
    failure = cache.get(f"{key}:failed")
    if failure is None:
        try:
            value = fetch()
        except CloudError as error:
            failure = error.message
            cache.set(f"{key}:failed", failure, FAILURE_SECONDS)
        else:
            cache.set(key, value, settings.PRIVATELINK_CACHE_SECONDS)
            cache.set(f"{key}:last-good", value, None)
            return value, ""
    last_good = cache.get(f"{key}:last-good")
    warning = f"PrivateLink did not answer ({failure}); "
    if last_good is not None:
        return last_good, warning + "showing the last list it gave."
    return [], warning + "no list is available yet, try again shortly."


def regions():
    """Return ([(region id, local name)], warning) from DescribeRegions, cached."""

    def fetch():
        body, _record = call(
            "DescribeRegions",
            sdk.DescribeRegionsRequest(
                region_id=settings.PRIVATELINK_REGION_ID, service_resource_type="ALL"
            ),
        )
        return [
            (r["RegionId"], r.get("LocalName") or r["RegionId"])
            for r in body.get("Regions", {}).get("Region", [])
        ]

    return _cached("privatelink:regions", fetch)


def zones(region_id):
    """Return ([(zone id, local name)], warning) from DescribeZones for a region, cached."""

    def fetch():
        body, _record = call("DescribeZones", sdk.DescribeZonesRequest(region_id=region_id))
        return [
            (z["ZoneId"], z.get("LocalName") or z["ZoneId"])
            for z in body.get("Zones", {}).get("Zone", [])
        ]

    return _cached(f"privatelink:zones:{region_id}", fetch)


def endpoint_service_create(*, fields, resources, tags, client_token):
    """Create the endpoint service; the same ClientToken always means the same service."""
    request = build_create_request(fields, resources, tags, client_token=client_token)
    return call("CreateVpcEndpointService", request)


def endpoint_service_get(*, region_id, service_id):
    """Return (attributes, CallRecord) of an endpoint service."""
    request = sdk.GetVpcEndpointServiceAttributeRequest(region_id=region_id, service_id=service_id)
    return call("GetVpcEndpointServiceAttribute", request)

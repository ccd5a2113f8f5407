"""Alibaba Cloud PrivateLink through the official SDK: the only module that imports it (and
the SDKs of the load balancer products, whose listings the request form's picker shows).

Everything here speaks plain Python data (dicts of the request's snake_case fields) and
returns plain data, so that the rest of the portal never sees an SDK type. Every call returns
or raises with a `CallRecord` (action, parameters without secrets, outcome, RequestId,
duration) for the audit trail.
"""

import dataclasses
import hashlib
import logging
import re
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from alibabacloud_alb20200616 import models as alb
from alibabacloud_alb20200616.client import Client as AlbClient
from alibabacloud_credentials.client import Client as CredentialClient
from alibabacloud_credentials.models import CredentialModel
from alibabacloud_gwlb20240415 import models as gwlb
from alibabacloud_gwlb20240415.client import Client as GwlbClient
from alibabacloud_nlb20220430 import models as nlb
from alibabacloud_nlb20220430.client import Client as NlbClient
from alibabacloud_privatelink20200415 import models as sdk
from alibabacloud_privatelink20200415.client import Client
from alibabacloud_slb20140515 import models as slb
from alibabacloud_slb20140515.client import Client as SlbClient
from alibabacloud_sts20150401 import models as sts
from alibabacloud_sts20150401.client import Client as StsClient
from alibabacloud_tea_openapi.exceptions import (
    AlibabaCloudException,
    ServerException,
    ThrottlingException,
)
from alibabacloud_tea_openapi.models import Config, GlobalParameters
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
    "AllowListNotCleared",
    "InvalidSecurityToken.Expired",
    # The contract's retryable codes (Terraform retries exactly these): the service or an
    # endpoint is busy with another operation and will accept this one shortly.
    "EndpointServiceOperationDenied",
    "EndpointConnectionOperationDenied",
    "EndpointOperationDenied",
    "EndpointLocked",
}
# Transient only for these operations: endpoints are still disconnecting.
TRANSIENT_FOR = {
    "EndpointServiceConnectionDependence": {"DetachResourceFromVpcEndpointService"},
}
# A write whose answer means the service is already as the operation would leave it.
ALREADY_DONE = {
    "AttachResourceToVpcEndpointService": {"EndpointServiceResourceExist"},
    "DetachResourceFromVpcEndpointService": {"EndpointServiceResourceNotFound"},
    "DeleteVpcEndpointService": {"EndpointServiceNotFound"},
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
    "EndpointServiceOperationDenied": (
        "The endpoint service is busy with another operation; it will retry.",
        None,
    ),
    "EndpointServiceDependenceViolation": ("Other resources still depend on the service.", None),
    "EndpointServiceConnectionDependence": ("Endpoints are still connected to the service.", None),
    "DeleteFailedDueToEndpointExist": ("Endpoints still use the service.", None),
    "EndpointServiceResourceTypeNotEqual": (
        "Every resource must be of the service resource type.",
        "resources",
    ),
    "EndpointServiceResourceExist": ("This resource is already attached.", "resources"),
    "EndpointServiceResourceNotFound": ("This resource is not attached.", "resources"),
    "EndpointServiceResourceCannotRemove": (
        "This is the last resource of a zone that an endpoint still uses.",
        "resources",
    ),
    "ServiceResourceNotSupportIpv6": (
        "A resource does not support IPv6: the service cannot be DualStack with it.",
        "address_ip_version",
    ),
    "EndpointServiceDowngradeNotAllowed": (
        "A DualStack endpoint is connected: the service cannot go back to IPv4.",
        "address_ip_version",
    ),
    "QuotaExceed.TagsPerResource": ("A service holds at most 20 tags.", "tags"),
    "IllegalTagKeyParam": ("A tag key is not valid.", "tags"),
    "IllegalTagValueParam": ("A tag value is not valid.", "tags"),
    "DuplicatedTagKey": ("A tag key appears twice.", "tags"),
    "InvalidResourceId.NotFound": ("The endpoint service no longer exists in the cloud.", None),
    "EndpointServiceConnectionOperationDenied": ("The connection is busy; it will retry.", None),
    "EndpointConnectionOperationDenied": ("The connection is busy; it will retry.", None),
    "EndpointOperationDenied": ("The endpoint is busy; it will retry.", None),
    "EndpointLocked": ("The endpoint is locked by another operation; it will retry.", None),
    "EndpointConnectionNotFound": ("No endpoint of this service has that id.", None),
    "Mismatch.UserIdAndUserArn": ("The account id and the ARN name different accounts.", None),
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
    "AllowListNotCleared": (
        "The allow-list still admits the account after its removal; it will retry.",
        None,
    ),
    "NoPermission": (
        "The account's role does not trust the portal: add the portal's account to the "
        "role's trust policy (cloud_preflight says which).",
        None,
    ),
    "EntityNotExist.Role": (
        "The RAM role the portal assumes in this account does not exist.",
        None,
    ),
    "Forbidden.RAM": (
        "The account's role does not allow this call: attach docs/ram-policy.json to it.",
        None,
    ),
    "InvalidSecurityToken.Expired": ("The role session expired; it will retry.", None),
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
    "ConnectBandwidth": "connect_bandwidth",
    "AddSupportedRegionSet": "supported_region_list",
    "DeleteSupportedRegionSet": "supported_region_list",
    "ResourceId": "resources",
    "ZoneId": "resources",
    "TagKey": "tags",
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
    # The account's uid when the call was made in an account through its role.
    account: str = ""

    def as_dict(self):
        return asdict(self)


class CloudError(Exception):
    """A PrivateLink answer other than success, in the portal's words."""

    def __init__(self, code, cloud_message, *, record, status=None, retry_after=None, action=""):
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
        self.transient = transient(code, action) or (status is not None and status >= 500)
        self.already_done = code in ALREADY_DONE.get(action, ())
        # The dry runs that found which resource rows a refusal of Create is about.
        self.row_checks = []


def transient(code, action=""):
    """Whether an answer with `code` to `action` is one the worker retries by itself."""
    return (
        code in TRANSIENT_CODES
        or action in TRANSIENT_FOR.get(code, ())
        or code.startswith("Throttling")
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
    # Every call behind the answer, when it took several (a plan's operations).
    records: list = dataclasses.field(default_factory=list, repr=False)
    # The resources ({resource_type, resource_id, zone_id}) the refusal is about, when known.
    at_fault: list = dataclasses.field(default_factory=list)


# --- clients: one per product, account and region -----------------------------------------


@dataclass(frozen=True)
class Reach:
    """As whom the portal calls the cloud: an account's uid and the RAM role it assumes there.

    The empty Reach is the portal's own identity (its AccessKey pair from settings, else the
    SDK's default credential chain), with no role: the single account of older set-ups.
    """

    uid: str = ""
    role_arn: str = ""
    # What the role's trust policy asks the portal to present (sts:ExternalId), if anything:
    # against the confused deputy, another party that may assume roles cannot name this one.
    external_id: str = ""


HOME = Reach()
# A role session is renewed this long before the cloud says it expires, so that no call
# carries a token that lapses on the way.
SESSION_MARGIN_SECONDS = 300
# A role session's key or token the cloud no longer takes (expired early, revoked, or a
# restarted simulator): assumed afresh, once.
SESSION_REFUSED = {
    "InvalidSecurityToken.Expired",
    "InvalidSecurityToken.MismatchWithAccessKey",
    "InvalidSecurityToken.Malformed",
    "InvalidAccessKeyId.NotFound",
}

_clients = threading.local()
_sessions: dict = {}
_sessions_lock = threading.Lock()


def _configuration():
    """What every client is made from, as settings say now: a change of any makes new ones."""
    return (
        settings.PRIVATELINK_ENDPOINT,
        settings.PRIVATELINK_PROXY,
        settings.PRIVATELINK_PROTOCOL,
        settings.ALIBABA_CLOUD_ACCESS_KEY_ID,
        settings.ALIBABA_CLOUD_ACCESS_KEY_SECRET,
    )


def _own_identity():
    """The portal's own credentials: the configured pair, else the SDK's default chain
    (environment, an instance's RAM role, a profile): never a key from the database."""
    if settings.ALIBABA_CLOUD_ACCESS_KEY_ID:
        return StaticCredential(
            settings.ALIBABA_CLOUD_ACCESS_KEY_ID, settings.ALIBABA_CLOUD_ACCESS_KEY_SECRET
        )
    return CredentialClient()


class StaticCredential:
    """The configured AccessKey pair, as the SDK's credential interface hands it out."""

    def __init__(self, access_key_id, access_key_secret):
        self._model = CredentialModel(
            access_key_id=access_key_id,
            access_key_secret=access_key_secret,
            type="access_key",
            provider_name="portal-settings",
        )

    def get_credential(self):
        return self._model


class RoleSession:
    """A RAM role's session in one account, as the SDK's credential interface: AssumeRole
    through STS with the portal's own identity, once, and again shortly before it expires.

    One per role and process, shared by every thread's clients: a worker assumes each role
    about once an hour, whatever number of calls it makes.
    """

    def __init__(self, role_arn, external_id=""):
        self.role_arn = role_arn
        self.external_id = external_id
        self._lock = threading.Lock()
        self._credential = None
        self._expires = 0.0
        self.assumed = 0  # how many times this process assumed the role (the benchmark reads it)

    def get_credential(self):
        with self._lock:
            if self._credential is None or _now() >= self._expires - SESSION_MARGIN_SECONDS:
                self._assume()
            return self._credential

    def forget(self):
        """Drop the session (the cloud refused its token): the next call assumes the role."""
        with self._lock:
            self._credential = None

    def _assume(self):
        request = sts.AssumeRoleRequest(
            role_arn=self.role_arn,
            role_session_name=settings.CLOUD_ROLE_SESSION_NAME,
            duration_seconds=settings.CLOUD_ROLE_SESSION_SECONDS,
            external_id=self.external_id or None,
        )
        body, _record = call("AssumeRole", request, client=_sts_client())
        credentials = body.get("Credentials") or {}
        expiration = credentials.get("Expiration") or ""
        try:
            expires = datetime.strptime(expiration, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            raise CloudError(
                "InvalidAnswer",
                f"AssumeRole answered no usable Expiration ({expiration[:40]!r})",
                record=_record,
                action="AssumeRole",
            ) from None
        self._credential = CredentialModel(
            access_key_id=credentials.get("AccessKeyId"),
            access_key_secret=credentials.get("AccessKeySecret"),
            security_token=credentials.get("SecurityToken"),
            type="sts",
            provider_name="portal-assume-role",
        )
        self._expires = expires.timestamp()
        self.assumed += 1
        log.info("assumed %s until %s", self.role_arn, expiration)


def _now():
    return time.time()


def role_session(role_arn, external_id=""):
    """This process's session of a role (made on first use, shared by threads)."""
    with _sessions_lock:
        key = (role_arn, external_id, *_configuration())
        session = _sessions.get(key)
        if session is None:
            session = _sessions[key] = RoleSession(role_arn, external_id)
        return session


class RoleCredential:
    """What a client of an account holds: its role's current session, looked up at each call,
    so that a session dropped (refused, renewed) is never pinned by a cached client."""

    def __init__(self, role_arn, external_id=""):
        self.role_arn = role_arn
        self.external_id = external_id

    def get_credential(self):
        return role_session(self.role_arn, self.external_id).get_credential()


def _credential(reach):
    if reach.role_arn:
        return RoleCredential(reach.role_arn, reach.external_id)
    return _own_identity()


def _config(*, reach, region_id, endpoint):
    config = Config(
        endpoint=endpoint,
        protocol=settings.PRIVATELINK_PROTOCOL,
        region_id=region_id,
        credential=_credential(reach),
    )
    return config


def _forced_endpoint():
    """The one endpoint that answers for every product and region (the simulator), or None:
    each product's SDK then calls its own regional endpoint from the SDK's map. A cloud
    endpoint (`*.aliyuncs.com`, as older set-ups were told to set) is one region's: not forced
    on the others."""
    endpoint = settings.PRIVATELINK_ENDPOINT
    return None if not endpoint or endpoint.endswith(".aliyuncs.com") else endpoint


def _client(sdk_class, *, reach, region_id):
    """This thread's client of a product's SDK for an account and region (made once)."""
    key = (sdk_class, reach, region_id, *_configuration())
    clients = _clients.__dict__.setdefault("clients", {})
    if key not in clients:
        if len(clients) > 256:
            clients.clear()  # settings changed under a long-lived thread (tests)
        endpoint = _forced_endpoint()
        config = _config(reach=reach, region_id=region_id, endpoint=endpoint)
        if endpoint and sdk_class in (AlbClient, GwlbClient):
            # ALB's and GWLB's calls carry no region: the cloud reads it from the regional
            # endpoint.
            # One endpoint answering for every region is told it as RegionId.
            config.global_parameters = GlobalParameters(queries={"RegionId": region_id})
        clients[key] = sdk_class(config)
    return clients[key]


def get_client(reach=HOME, region_id=None):
    """This thread's PrivateLink client for an account and region: the region's own endpoint
    (privatelink.<region>.aliyuncs.com, from the SDK's map) unless one is forced."""
    return _client(Client, reach=reach, region_id=region_id or settings.PRIVATELINK_REGION_ID)


def _sts_client(reach=HOME):
    """An STS client: the portal's own identity assumes roles (never a role's session)."""
    return _client(StsClient, reach=reach, region_id=settings.PRIVATELINK_REGION_ID)


def caller_identity(reach=HOME):
    """Return ({account_id, arn, identity_type}, CallRecord): who the cloud takes a call as
    (the portal's own identity, or a role's session), from STS GetCallerIdentity."""
    body, record = call("GetCallerIdentity", None, _sts_client(reach), reach=reach)
    return {
        "account_id": str(body.get("AccountId", "")),
        "arn": body.get("Arn", ""),
        "identity_type": body.get("IdentityType", ""),
    }, record


LOAD_BALANCER_SDKS = {"slb": SlbClient, "alb": AlbClient, "nlb": NlbClient, "gwlb": GwlbClient}


def load_balancer_endpoint():
    """Where the load balancer products are called: the forced endpoint when there is one (the
    simulator answering for every product), else None: each product's regional endpoint."""
    return _forced_endpoint()


def load_balancer_client(resource_type, region_id, reach=HOME):
    """This thread's SDK client of a load balancer product for an account and region."""
    return _client(LOAD_BALANCER_SDKS[resource_type], reach=reach, region_id=region_id)


def _runtime():
    timeout = settings.PRIVATELINK_TIMEOUT_MS
    return RuntimeOptions(
        read_timeout=timeout,
        connect_timeout=min(timeout, 5000),
        autoretry=False,
        http_proxy=settings.PRIVATELINK_PROXY or None,
    )


def call(action, sdk_request, client=None, *, reach=HOME):
    """Call one operation as `reach`; return (body as a dict, CallRecord) or raise CloudError.

    PrivateLink's, at the region the request names, unless another product's `client` is
    given. A role session whose token the cloud refuses is assumed afresh, once.
    """
    if client is None:
        client = get_client(reach, getattr(sdk_request, "region_id", None))
    try:
        return _call(action, sdk_request, client, reach)
    except CloudError as error:
        if not (reach.role_arn and error.code in SESSION_REFUSED):
            raise
        role_session(reach.role_arn, reach.external_id).forget()
        return _call(action, sdk_request, client, reach)


def _call(action, sdk_request, client, reach):
    method = getattr(client, f"{_snake(action)}_with_options")
    parameters = sdk_request.to_map() if sdk_request is not None else {}
    record = CallRecord(action=action, parameters=parameters, account=reach.uid)
    started = time.monotonic()
    try:
        # An operation with no parameters (STS GetCallerIdentity) takes no request.
        response = (
            method(sdk_request, _runtime()) if sdk_request is not None else method(_runtime())
        )
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
            action=action,
        ) from error
    except (UnretryableException, OSError) as error:
        inner = getattr(error, "inner_exception", None)
        if isinstance(inner, CloudError):
            raise inner from error  # the role's session could not be had (AssumeRole refused)
        record.duration_ms = round((time.monotonic() - started) * 1000)
        record.outcome = "Unreachable"
        raise CloudError("Unreachable", str(error)[:500], record=record, action=action) from error
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


# Refusals about one resource of a request whose field is not "resources".
RESOURCE_CODES = {
    "OperationDenied.ServiceResourceIpVersionMismatch",
    "ServiceResourceNotSupportIpv6",
}


def about_a_resource(code, field_name):
    """Whether a refusal is about some resource of the request (which one, it may not say)."""
    return field_name == "resources" or code in RESOURCE_CODES


def resources_refused(*, fields, resources, tags, code, reach=HOME):
    """Return ([indexes], [CallRecord]): the resources the cloud refuses with `code` on their
    own, and the calls that asked.

    The cloud's message may name no resource (or name it in words that change); a dry run of
    each resource alone says which rows of the request the refusal is about, whatever the
    wording. Only asked after a refusal, so at most one call per row (ten at creation).
    """
    if len(resources) == 1:
        return [0], []
    rows, records = [], []
    for i, row in enumerate(resources):
        alone = _create_dry_run(fields, [row], tags, reach)
        records.append(alone.record)
        if alone.code == code:
            rows.append(i)
    return rows, [record for record in records if record is not None]


def resource_named(position, row):
    """How a message names a resource row: "resource 2 (nlb-… in cn-hangzhou-h)"."""
    where = f" in {row['zone_id']}" if row.get("zone_id") else ""
    return f"resource {position} ({row['resource_id']}{where})"


def _blame(message, rows, resources):
    named = "; ".join(resource_named(i + 1, resources[i]) for i in rows)
    return f"{named[0].upper()}{named[1:]}: {message}"


def endpoint_service_dry_run(*, fields, resources, tags, reach=HOME):
    """Ask the cloud whether it would create this service: DryRunOperation means yes.

    A refusal about a resource names the rows at fault (`at_fault`, and in the message).
    """
    result = _create_dry_run(fields, resources, tags, reach)
    if not result.ok and not result.transient and about_a_resource(result.code, result.field):
        rows, records = resources_refused(
            fields=fields, resources=resources, tags=tags, code=result.code, reach=reach
        )
        if records:
            result.records = [r.as_dict() for r in (result.record, *records) if r is not None]
        if rows:
            result.message = _blame(result.message, rows, resources)
            result.at_fault = [resources[i] for i in rows]
    return result


def _create_dry_run(fields, resources, tags, reach):
    request = build_create_request(fields, resources, tags, dry_run=True)
    try:
        _body, record = call("CreateVpcEndpointService", request, reach=reach)
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


def _cached(key, fetch, *, seconds=None, source="PrivateLink", empty=None):
    """Return (value, warning): fresh from the cache or the API, else the last good value
    (else `empty`, by default []).

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
            cache.set(key, value, seconds or settings.PRIVATELINK_CACHE_SECONDS)
            cache.set(f"{key}:last-good", value, None)
            return value, ""
    last_good = cache.get(f"{key}:last-good")
    warning = f"{source} did not answer ({failure}); "
    if last_good is not None:
        return last_good, warning + "showing the last list it gave."
    return (
        [] if empty is None else empty
    ), warning + "no list is available yet, try again shortly."


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


# --- the account's load balancers, for the request form's picker --------------------------

# How many load balancers of a type and region the picker lists (the first page of the
# product's listing); the others are typed by id.
PICKER_PAGE = 50
# A load balancer made in the console shows in the picker within a minute.
LOAD_BALANCER_CACHE_SECONDS = 60
PRODUCT_NAMES = {"slb": "CLB", "alb": "ALB", "nlb": "NLB", "gwlb": "GWLB"}


def _is(value, expected):
    return str(value or "").lower() == expected.lower()


def _clb_problem(item):
    """Why PrivateLink refuses this CLB, from its documented limits; "" if it takes it."""
    if not _is(item.get("AddressType"), "intranet"):
        return "Internet-facing: PrivateLink takes only internal-facing CLB instances."
    if not _is(item.get("NetworkType"), "vpc"):
        return "Classic network: PrivateLink takes only CLB instances in a VPC."
    if not _is(item.get("PayType"), "PayOnDemand"):
        return "Subscription: PrivateLink takes only pay-as-you-go CLB instances."
    return ""


def _alb_problem(item):
    """Why PrivateLink refuses this ALB, from its documented limits; "" if it takes it."""
    if not _is(item.get("AddressType"), "Intranet"):
        return "Internet-facing: PrivateLink takes only internal-facing ALB instances."
    if not _is(item.get("AddressAllocatedMode"), "Fixed"):
        return "Dynamic IP: PrivateLink takes only ALB instances with a fixed IP address."
    return ""


def _load_balancer(item, zones, problem):
    return {
        "id": item.get("LoadBalancerId", ""),
        "name": item.get("LoadBalancerName") or "",
        "zones": [zone for zone in zones if zone],
        "privatelink": not problem,
        "why_not": problem,
    }


def _clbs(region_id, reach):
    body, _record = call(
        "DescribeLoadBalancers",
        slb.DescribeLoadBalancersRequest(region_id=region_id, page_size=PICKER_PAGE),
        load_balancer_client("slb", region_id, reach),
        reach=reach,
    )
    items = (body.get("LoadBalancers") or {}).get("LoadBalancer") or []
    found = [
        _load_balancer(
            item, [item.get("MasterZoneId"), item.get("SlaveZoneId")], _clb_problem(item)
        )
        for item in items
    ]
    return found, body.get("TotalCount", len(found))


def _albs(region_id, reach):
    client = load_balancer_client("alb", region_id, reach)
    body, _record = call(
        "ListLoadBalancers",
        alb.ListLoadBalancersRequest(max_results=PICKER_PAGE),
        client,
        reach=reach,
    )
    found = []
    for item in body.get("LoadBalancers") or []:
        # ALB's listing has no zones: each instance's attribute has them (as Terraform reads).
        try:
            attribute, _record = call(
                "GetLoadBalancerAttribute",
                alb.GetLoadBalancerAttributeRequest(load_balancer_id=item["LoadBalancerId"]),
                client,
                reach=reach,
            )
        except CloudError as error:
            if error.code == "ResourceNotFound.LoadBalancer":
                continue  # deleted since it was listed
            raise
        zones = [z.get("ZoneId") for z in attribute.get("ZoneMappings") or []]
        found.append(_load_balancer(item, zones, _alb_problem(item)))
    return found, body.get("TotalCount", len(found))


def _nlbs(region_id, reach):
    body, _record = call(
        "ListLoadBalancers",
        nlb.ListLoadBalancersRequest(region_id=region_id, max_results=PICKER_PAGE),
        load_balancer_client("nlb", region_id, reach),
        reach=reach,
    )
    found = [
        # No documented limit of NLB service resources shows in the listing: the dry run says.
        _load_balancer(item, [z.get("ZoneId") for z in item.get("ZoneMappings") or []], "")
        for item in body.get("LoadBalancers") or []
    ]
    return found, body.get("TotalCount", len(found))


def _gwlbs(region_id, reach):
    body, _record = call(
        "ListLoadBalancers",
        gwlb.ListLoadBalancersRequest(max_results=PICKER_PAGE),
        load_balancer_client("gwlb", region_id, reach),
        reach=reach,
    )
    found = [
        _load_balancer(item, [z.get("ZoneId") for z in item.get("ZoneMappings") or []], "")
        for item in body.get("LoadBalancers") or []
    ]
    return found, body.get("TotalCount", len(found))


LISTINGS = {"slb": _clbs, "alb": _albs, "nlb": _nlbs, "gwlb": _gwlbs}


def load_balancers(*, resource_type, region_id, reach=HOME):
    """Return ({"load_balancers": [...], "total": n}, warning): the first page of the
    account's load balancers of a type in a region, each {id, name, zones, privatelink,
    why_not}; cached for a minute, the last good list while the product does not answer.
    """

    def fetch():
        try:
            found, total = LISTINGS[resource_type](region_id, reach)
        except CloudError as error:
            error.message = error.code  # the plain messages speak of PrivateLink
            raise
        return {"load_balancers": found, "total": total}

    return _cached(
        # Per account: each account lists its own load balancers.
        f"load-balancers:{reach.uid}:{resource_type}:{region_id}",
        fetch,
        seconds=LOAD_BALANCER_CACHE_SECONDS,
        source=f"The {PRODUCT_NAMES[resource_type]} API",
        empty={"load_balancers": [], "total": 0},
    )


def endpoint_service_create(*, fields, resources, tags, client_token, reach=HOME):
    """Create the endpoint service; the same ClientToken always means the same service.

    A refusal about a resource names the rows at fault in its message.
    """
    request = build_create_request(fields, resources, tags, client_token=client_token)
    try:
        return call("CreateVpcEndpointService", request, reach=reach)
    except CloudError as error:
        if not error.transient and about_a_resource(error.code, error.field):
            rows, error.row_checks = resources_refused(
                fields=fields, resources=resources, tags=tags, code=error.code, reach=reach
            )
            if rows:
                error.message = _blame(error.message, rows, resources)
        raise


def endpoint_service_get(*, region_id, service_id, reach=HOME):
    """Return (attributes, CallRecord) of an endpoint service."""
    request = sdk.GetVpcEndpointServiceAttributeRequest(region_id=region_id, service_id=service_id)
    return call("GetVpcEndpointServiceAttribute", request, reach=reach)


# --- day 2: reading a service, and the operations of a plan ------------------------------

TAG_RESOURCE_TYPE = "vpcendpointservice"


def _update_request(params):
    return sdk.UpdateVpcEndpointServiceAttributeRequest(
        service_description=params.get("service_description"),
        auto_accept_enabled=params.get("auto_accept_enabled"),
        zone_affinity_enabled=params.get("zone_affinity_enabled"),
        connect_bandwidth=params.get("connect_bandwidth"),
        address_ip_version=params.get("address_ip_version"),
        add_supported_region_set=params.get("add_supported_region_set") or None,
        delete_supported_region_set=params.get("delete_supported_region_set") or None,
    )


def _resource_request(model):
    def build(params):
        return model(
            resource_type=params["resource_type"],
            resource_id=params["resource_id"],
            zone_id=params.get("zone_id") or None,
        )

    return build


def _tag_request(params):
    return sdk.TagResourcesRequest(
        resource_type=TAG_RESOURCE_TYPE,
        tag=[sdk.TagResourcesRequestTag(key=t["key"], value=t["value"]) for t in params["tags"]],
    )


def _untag_request(params):
    return sdk.UntagResourcesRequest(
        resource_type=TAG_RESOURCE_TYPE, tag_key=list(params["tag_keys"])
    )


def _user_request(model):
    def build(params):
        return (
            model(user_id=int(params["user_id"]))
            if params.get("user_id") != "*"
            else model(user_arn="acs:ram:*:*:*")
        )

    return build


# Each write a plan can hold: how to build its SDK request from the plan's parameters.
OPERATIONS = {
    "UpdateVpcEndpointServiceAttribute": _update_request,
    "AttachResourceToVpcEndpointService": _resource_request(
        sdk.AttachResourceToVpcEndpointServiceRequest
    ),
    "DetachResourceFromVpcEndpointService": _resource_request(
        sdk.DetachResourceFromVpcEndpointServiceRequest
    ),
    "TagResources": _tag_request,
    "UntagResources": _untag_request,
    "DeleteVpcEndpointService": lambda params: sdk.DeleteVpcEndpointServiceRequest(),
    "AddUserToVpcEndpointService": _user_request(sdk.AddUserToVpcEndpointServiceRequest),
    "RemoveUserFromVpcEndpointService": _user_request(sdk.RemoveUserFromVpcEndpointServiceRequest),
}


def endpoint_service_operation(
    *, action, region_id, service_id, params, client_token=None, dry_run=False, reach=HOME
):
    """Call one write of a plan on a service; return (body, CallRecord) or raise CloudError."""
    if action == "RemoveUserFromVpcEndpointService" and not dry_run and params["user_id"] != "*":
        return endpoint_service_account_remove(
            region_id=region_id,
            service_id=service_id,
            user_id=params["user_id"],
            client_token=client_token,
            reach=reach,
        )
    request = OPERATIONS[action](params)
    request.region_id = region_id
    if action in ("TagResources", "UntagResources"):
        request.resource_id = [service_id]
    else:
        request.service_id = service_id
    request.client_token = client_token
    request.dry_run = True if dry_run else None
    return call(action, request, reach=reach)


def endpoint_service_operation_dry_run(*, action, region_id, service_id, params, reach=HOME):
    """Ask the cloud whether it would accept one operation now: DryRunOperation means yes."""
    try:
        _body, record = endpoint_service_operation(
            action=action,
            region_id=region_id,
            service_id=service_id,
            params=params,
            dry_run=True,
            reach=reach,
        )
    except CloudError as error:
        ok = error.code == DRY_RUN_PASSED
        return DryRunResult(
            ok,
            error.code,
            "The cloud would accept this operation." if ok else error.message,
            field=None if ok else error.field,
            request_id=error.request_id,
            # Only a busy or unreachable cloud is worth trying again; a dependency is an answer.
            transient=error.transient and error.code not in TRANSIENT_FOR,
            retry_after=error.retry_after,
            record=error.record,
        )
    return DryRunResult(
        False,
        "UnexpectedSuccess",
        "The cloud answered a dry run with success; nothing was expected to change.",
        request_id=record.request_id,
        record=record,
    )


def endpoint_services_page(
    *, region_id, next_token=None, max_results=1000, service_id=None, reach=HOME
):
    """Return (body, CallRecord) of one page of ListVpcEndpointServices, tags included."""
    request = sdk.ListVpcEndpointServicesRequest(
        region_id=region_id,
        max_results=max_results,
        next_token=next_token or None,
        service_id=service_id,
    )
    return call("ListVpcEndpointServices", request, reach=reach)


def _pages(action, make_request, key, reach=HOME):
    """Yield (items, CallRecord) of every page of a NextToken-paged list."""
    next_token = None
    while True:
        body, record = call(action, make_request(next_token), reach=reach)
        yield body.get(key) or [], record
        next_token = body.get("NextToken")
        if not next_token:
            return


def endpoint_service_resources(*, region_id, service_id, reach=HOME):
    """Return ([resource rows], [CallRecord]) of ListVpcEndpointServiceResources, all pages."""
    rows, records = [], []
    for items, record in _pages(
        "ListVpcEndpointServiceResources",
        lambda token: sdk.ListVpcEndpointServiceResourcesRequest(
            region_id=region_id, service_id=service_id, max_results=50, next_token=token
        ),
        "Resources",
        reach,
    ):
        records.append(record)
        rows += [
            {
                "resource_type": item.get("ResourceType", ""),
                "resource_id": item.get("ResourceId", ""),
                "zone_id": item.get("ZoneId", ""),
                "vpc_id": item.get("VpcId", ""),
                "vswitch_id": item.get("VSwitchId", ""),
                "ip": item.get("Ip", ""),
                "related_endpoint_count": item.get("RelatedEndpointCount", 0),
                "auto_allocated": item.get("AutoAllocatedEnabled", True),
            }
            for item in items
        ]
    return rows, records


def endpoint_service_users(*, region_id, service_id, reach=HOME):
    """Return ([entries], [CallRecord]) of the allow-list, each entry as the cloud keeps it:
    {"user_id": uid} or {"user_arn": arn}, plus "account": the account it admits ("*" for
    every account). An ARN names an account, or a principal in it (acs:ram:*:<uid>:*)."""
    entries, records = [], []
    for list_type in ("Users", "UserARNs"):
        for items, record in _pages(
            "ListVpcEndpointServiceUsers",
            lambda token, list_type=list_type: sdk.ListVpcEndpointServiceUsersRequest(
                region_id=region_id,
                service_id=service_id,
                user_list_type=list_type,
                max_results=1000,
                next_token=token,
            ),
            list_type,
            reach,
        ):
            records.append(record)
            for item in items:
                if "UserId" in item:
                    entries.append({"user_id": str(item["UserId"]), "account": str(item["UserId"])})
                elif item.get("UserARN"):
                    arn = item["UserARN"]
                    parts = arn.split(":")
                    account = parts[3] if len(parts) >= 5 and parts[3] else arn
                    entries.append({"user_arn": arn, "account": account})
    unique = {(e.get("user_id"), e.get("user_arn")): e for e in entries}
    return sorted(unique.values(), key=lambda e: (e["account"], e.get("user_arn", ""))), records


def allowed_accounts(entries):
    """The accounts an allow-list admits ("*": every account), from its entries."""
    return sorted({entry["account"] for entry in entries})


def endpoint_service_account_remove(
    *, region_id, service_id, user_id, client_token=None, reach=HOME
):
    """Take an account off the allow-list: every entry that admits it (its UserId, and each
    UserARN in it, which the console or Terraform may have added), then read the list back.

    Returns (body, CallRecord) like one call: the record names each entry removed and the
    RequestId of every call. Raises CloudError `AllowListNotCleared` (retried) if the list
    still admits the account afterwards.
    """
    entries, reads = endpoint_service_users(region_id=region_id, service_id=service_id, reach=reach)
    mine = [e for e in entries if e["account"] == user_id] or [{"user_id": user_id}]
    started = time.monotonic()
    removed, request_ids, body = [], [], {}
    for entry in mine:
        request = sdk.RemoveUserFromVpcEndpointServiceRequest(
            region_id=region_id,
            service_id=service_id,
            user_id=int(entry["user_id"]) if "user_id" in entry else None,
            user_arn=entry.get("user_arn"),
            # One token per entry: a retried revoke repeats each removal, never mixes them.
            client_token=_derived_token(client_token, entry),
        )
        body, record = call("RemoveUserFromVpcEndpointService", request, reach=reach)
        removed.append(entry.get("user_arn") or entry["user_id"])
        request_ids.append(record.request_id)
    after, more = endpoint_service_users(region_id=region_id, service_id=service_id, reach=reach)
    record = CallRecord(
        action="RemoveUserFromVpcEndpointService",
        parameters={
            "RegionId": region_id,
            "ServiceId": service_id,
            "UserId": user_id,
            "Removed": removed,
            "ListedBy": [r.request_id for r in (*reads, *more)],
        },
        request_id=",".join(request_ids),
        duration_ms=round((time.monotonic() - started) * 1000),
        status=200,
        account=reach.uid,
    )
    still = [e.get("user_arn") or e["user_id"] for e in after if e["account"] == user_id]
    if still:
        record.outcome = "AllowListNotCleared"
        raise CloudError(
            "AllowListNotCleared",
            f"after the removal the allow-list still admits {user_id}: {', '.join(still)}",
            record=record,
            action="RemoveUserFromVpcEndpointService",
        )
    return body, record


def _derived_token(client_token, entry):
    if not client_token:
        return None
    which = entry.get("user_arn") or entry["user_id"]
    return hashlib.sha256(f"{client_token}:{which}".encode()).hexdigest()[:40]


def endpoint_connections(*, region_id, service_id, reach=HOME):
    """Return ([connection rows], [CallRecord]) of ListVpcEndpointConnections for a service."""
    rows, records = [], []
    for items, record in _pages(
        "ListVpcEndpointConnections",
        lambda token: sdk.ListVpcEndpointConnectionsRequest(
            region_id=region_id, service_id=service_id, max_results=1000, next_token=token
        ),
        "Connections",
        reach,
    ):
        records.append(record)
        rows += [
            {
                "endpoint_id": item.get("EndpointId", ""),
                "endpoint_owner_id": str(item.get("EndpointOwnerId", "")),
                "endpoint_vpc_id": item.get("EndpointVpcId", ""),
                "connection_status": item.get("ConnectionStatus", ""),
                "bandwidth": item.get("Bandwidth"),
                "zones": [z.get("ZoneId", "") for z in item.get("Zones") or []],
                # Zones still Creating: the endpoint is not ready to be accepted yet.
                "ready": not any(
                    z.get("ZoneStatus") == "Creating" for z in item.get("Zones") or []
                ),
                "resource_owner": bool(item.get("ResourceOwner")),
                "modified_time": item.get("ModifiedTime", ""),
            }
            for item in items
        ]
    return rows, records


def endpoint_connection_decide(
    *, accept, region_id, service_id, endpoint_id, client_token, reach=HOME
):
    """Accept (EnableVpcEndpointConnection) or reject (DisableVpcEndpointConnection) one
    endpoint's connection to a service; return (body, CallRecord) or raise CloudError."""
    model = (
        sdk.EnableVpcEndpointConnectionRequest
        if accept
        else sdk.DisableVpcEndpointConnectionRequest
    )
    request = model(
        region_id=region_id,
        service_id=service_id,
        endpoint_id=endpoint_id,
        client_token=client_token,
    )
    action = "EnableVpcEndpointConnection" if accept else "DisableVpcEndpointConnection"
    return call(action, request, reach=reach)


def service_attributes(item):
    """Return the portal's view of one service as Get or List describes it."""
    attributes = {
        "service_id": item.get("ServiceId", ""),
        "service_name": item.get("ServiceName", ""),
        "service_domain": item.get("ServiceDomain", ""),
        "cloud_status": item.get("ServiceStatus", ""),
        "business_status": item.get("ServiceBusinessStatus", ""),
        "service_description": item.get("ServiceDescription") or "",
        "service_resource_type": item.get("ServiceResourceType") or "",
        "payer": item.get("Payer") or "",
        "auto_accept_enabled": bool(item.get("AutoAcceptEnabled")),
        "zone_affinity_enabled": bool(item.get("ZoneAffinityEnabled")),
        "connect_bandwidth": item.get("ConnectBandwidth"),
        "address_ip_version": item.get("AddressIpVersion") or "IPv4",
        "resource_group_id": item.get("ResourceGroupId") or "",
        "supported_region_list": sorted(
            r.get("SupportedRegionId", "") for r in item.get("SupportedRegionSet") or []
        ),
        "cloud_created_at": item.get("CreateTime") or "",
    }
    if "Tags" in item:  # Get has no tags; only a listing says what they are.
        attributes["tags"] = sorted(
            ({"key": t.get("Key", ""), "value": t.get("Value") or ""} for t in item["Tags"]),
            key=lambda t: t["key"],
        )
        attributes["listing_digest"] = listing_digest(item)
    return attributes


def listing_digest(item):
    """Return a digest of all that ListVpcEndpointServices says of one service.

    A drift pass computes 10,000s of them, so it is cheap: the repr of the SDK's map, whose
    keys the SDK's generated code always writes in the same order, rather than canonical
    JSON (a third of the cost). Should an SDK upgrade reorder them, every digest differs
    once and one pass re-reads every service's resources.
    """
    return hashlib.blake2b(repr(item).encode(), digest_size=16).hexdigest()


SERVICE_ID = re.compile(r"^epsrv-[a-z0-9]{20}$")
SERVICE_STATUSES = {"Creating", "Active", "Pending", "Deleting"}


def answer_problem(action, body):
    """Say what is wrong with an answer the contract does not allow, or None if it is sound.

    The SDK checks nothing: a cloud (or a proxy in front of it) that answers a success with a
    body missing its ServiceId, or a status no contract names, must not be taken at its word.
    """
    if action in ("CreateVpcEndpointService", "GetVpcEndpointServiceAttribute"):
        service_id = body.get("ServiceId")
        if not isinstance(service_id, str) or not SERVICE_ID.match(service_id):
            shown = repr(service_id)[:80]
            return f"the answer carries no valid ServiceId (got {shown})"
        status = body.get("ServiceStatus")
        if status not in SERVICE_STATUSES:
            return f"the answer's ServiceStatus {str(status)[:40]!r} is not one the API knows"
    return None

"""The simulated PrivateLink control plane: accounts, their services and endpoints, errors.

Pure Python, no HTTP: the protocol layer turns requests into `Backend.call()`. Parameters
arrive as strings (lists and dicts for the flattened arrays), exactly as the wire carries
them, so that type errors are the backend's to report. The operations live in three mixins:
`owner.py` (a service owner's calls), `connections.py` (the owner's view of the endpoints
connected to its services) and `consumer.py` (endpoints, from the consumer's account);
`load_balancers.py` answers the load balancer products' listings, under their own API versions.
"""

import copy
import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .connections import ConnectionOperations
from .consumer import EndpointOperations
from .load_balancers import (
    ALB_VERSION,
    GWLB_VERSION,
    NLB_VERSION,
    SLB_VERSION,
    LoadBalancerOperations,
)
from .model import (
    DEFAULT_RESOURCE_GROUP,
    GONE,
    SERVICE_RESOURCE_TYPES,
    Service,
    Store,
    allocated,
    iso,
    random_id,
    status_at,
)
from .owner import ServiceOperations
from .params import ApiError, illegal, missing, parse_bool, parse_client_token, scalar
from .sts import STS_VERSION, StsOperations, load_roles

__all__ = [
    "API_VERSION",
    "DEFAULT_RESOURCE_GROUP",
    "SERVICE_RESOURCE_TYPES",
    "Account",
    "ApiError",
    "Backend",
    "Faults",
    "iso",
    "load_inventory",
    "missing",
]

API_VERSION = "2020-04-15"
DEFAULT_INVENTORY = Path(__file__).with_name("inventory.json")
# Fixed uids of the documented accounts; any other account gets one derived from its name.
KNOWN_UIDS = {
    "dev": "1000000000000001",
    "restricted": "1000000000000002",
    "consumer": "1000000000000003",
}
# Actions whose remembered ClientTokens keep the names of the simulator's first schema.
TOKEN_SCOPES = {"CreateVpcEndpointService": "Create", "DeleteVpcEndpointService": "Delete"}
BUSINESS_STATES = ("Normal", "FinancialLocked")


def derived_uid(account_id):
    """A stable 16-digit uid for an account: the documented one, or one from its name."""
    if account_id in KNOWN_UIDS:
        return KNOWN_UIDS[account_id]
    digest = int(hashlib.sha256(account_id.encode()).hexdigest(), 16)
    return str(2 * 10**15 + digest % 10**15)


@dataclass
class Account:
    account_id: str
    access_key_id: str
    access_key_secret: str
    payer_allowed: bool = True
    uid: str = ""
    # Live endpoint services per region; None: the simulator's --quota.
    quota: int | None = None

    def __post_init__(self):
        if not self.uid:
            self.uid = derived_uid(self.account_id)
        if not (len(self.uid) == 16 and self.uid.isdigit() and self.uid[0] != "0"):
            raise ValueError(f"uid of {self.account_id} must be 16 digits: {self.uid!r}")


@dataclass
class Faults:
    """What the gateway does wrong on purpose; see docs/simulator.md."""

    throttle_rate: float = 0.0
    error_rate: float = 0.0
    latency_ms: int = 0
    stuck_creating: bool = False
    throttle_next: int = 0
    error_next: int = 0
    actions: list = field(default_factory=list)
    retry_after: int = 1

    FIELDS = {
        "throttle_rate": float,
        "error_rate": float,
        "latency_ms": int,
        "stuck_creating": bool,
        "throttle_next": int,
        "error_next": int,
        "actions": list,
        "retry_after": int,
    }

    def update(self, values):
        for name, value in values.items():
            kind = self.FIELDS.get(name)
            if kind is None:
                raise ValueError(f"unknown fault {name!r}")
            if kind is bool and not isinstance(value, bool):
                raise ValueError(f"{name} must be true or false")
            if kind is list and not (
                isinstance(value, list) and all(isinstance(v, str) for v in value)
            ):
                raise ValueError(f"{name} must be a list of action names")
            is_number = isinstance(value, int | float) and not isinstance(value, bool)
            if kind in (int, float) and not is_number:
                raise ValueError(f"{name} must be a number")
            if kind is float and not 0 <= value <= 1:
                raise ValueError(f"{name} must be between 0 and 1")
            if kind is int and value < 0:
                raise ValueError(f"{name} must not be negative")
            setattr(self, name, kind(value))

    def as_dict(self):
        return {name: getattr(self, name) for name in self.FIELDS}


def load_inventory(path=DEFAULT_INVENTORY):
    data = json.loads(Path(path).read_text())
    resources = {}
    for item in data["resources"]:
        resources[(item["RegionId"], item["ResourceId"])] = item
    for pool in data.get("resource_pools", []):
        for n in range(1, pool["count"] + 1):
            item = {k: v for k, v in pool.items() if k not in ("prefix", "name_prefix", "count")}
            item["ResourceId"] = f"{pool['prefix']}{n:06d}"
            item["LoadBalancerName"] = f"{pool.get('name_prefix', pool['prefix'])}{n:06d}"
            resources[(item["RegionId"], item["ResourceId"])] = item
    return {
        "regions": {r["RegionId"]: r for r in data["regions"]},
        "resources": resources,
        "accounts": data.get("accounts", []),
        "roles": data.get("roles", []),
    }


# The RAM product name of each API version, for a session's policy.
PRODUCT_NAMES = {
    API_VERSION: "privatelink",
    SLB_VERSION: "slb",
    ALB_VERSION: "alb",
    NLB_VERSION: "nlb",
    GWLB_VERSION: "gwlb",
    STS_VERSION: "sts",
}


class Backend(
    ServiceOperations,
    ConnectionOperations,
    EndpointOperations,
    LoadBalancerOperations,
    StsOperations,
):
    """The state of every simulated account, in memory and written through to SQLite."""

    def __init__(
        self,
        state=":memory:",
        *,
        create_delay=3.0,
        quota=20,
        inventory=None,
        accounts=(),
        clock=time.time,
        strict_delete=False,
        endpoints_per_vpc=50,
    ):
        self.inventory = inventory or load_inventory()
        self.create_delay = create_delay
        self.quota = quota
        self.strict_delete = strict_delete
        self.endpoints_per_vpc = endpoints_per_vpc
        self.clock = clock
        self.faults = Faults()
        self.accounts = {a.access_key_id: a for a in accounts}
        for item in self.inventory["accounts"]:
            account = Account(
                item["account_id"],
                item["access_key_id"],
                item["access_key_secret"],
                item.get("payer_allowed", True),
                item.get("uid", ""),
                item.get("quota"),
            )
            self.accounts.setdefault(account.access_key_id, account)
        self.accounts_by_id = {}
        for account in self.accounts.values():
            self.accounts_by_id.setdefault(account.account_id, account)
        self.roles = load_roles(self.inventory.get("roles", []))
        # One lock over the whole model: every operation is short, and this makes racing
        # calls with one ClientToken trivially safe within the simulator's process.
        self._lock = threading.RLock()
        self.store = Store(state, legacy_delay=create_delay)
        # Who the call under the lock is made by (the operations read it to scope what an
        # account sees, such as its own load balancers): set by call().
        self._acting = None
        self._calling_session = None

    # --- accounts ----------------------------------------------------------------------

    def account_for_key(self, access_key_id):
        return self.accounts.get(access_key_id)

    def uid_of(self, account_id):
        account = self.accounts_by_id.get(account_id)
        return account.uid if account else derived_uid(account_id)

    def find_account(self, name):
        """An account by AccessKey id, account id or uid (for the control path)."""
        if name in self.accounts:
            return self.accounts[name]
        if name in self.accounts_by_id:
            return self.accounts_by_id[name]
        for account in self.accounts.values():
            if account.uid == name:
                return account
        return None

    # --- dispatch ----------------------------------------------------------------------

    def quota_of(self, account):
        return self.quota if account.quota is None else account.quota

    def owns_load_balancer(self, item):
        """Whether the account making the call owns an inventory load balancer (an item with
        no "Account" is the default account's); outside a call (control paths), any does."""
        if self._acting is None:
            return True
        return item.get("Account", "dev") == self._acting.account_id

    def reset(self):
        with self._lock:
            self.store.clear()
            self._forget_sessions()
            self.faults = Faults()

    def actions_for(self, version):
        """The operations answered under an API version: a load balancer product's or STS's,
        else PrivateLink's (whose version the gateway checks)."""
        if version == STS_VERSION:
            return self.STS_ACTIONS
        return self.PRODUCTS.get(version, self.ACTIONS)

    def product_of(self, version):
        return PRODUCT_NAMES.get(version, "privatelink")

    def call(self, account, action, params, version=API_VERSION, session=None):
        handler = self.actions_for(version).get(action)
        if handler is None:
            raise ApiError(
                "InvalidAction.NotFound",
                "Specified api is not found, please check your url and method.",
                status=404,
            )
        with self._lock:
            self._acting, self._calling_session = account, session
            try:
                return handler(self, account, params)
            finally:
                self._acting = self._calling_session = None

    def _once(self, account, action, params, act, spec=None):
        """Run a write `act(dry_run)` under ClientToken idempotence.

        The same token with the same parameters answers what the first call answered and
        does nothing; other parameters are IdempotentParameterMismatch. Only successes are
        remembered, and a DryRun never looks at or stores the token. `act` runs every check,
        raises DryRunOperation when dry_run, and only then changes anything.
        """
        dry_run = parse_bool(params, "DryRun")
        token = parse_client_token(params)
        key = digest = None
        if token and not dry_run:
            if spec is None:
                spec = {k: v for k, v in params.items() if k not in ("ClientToken", "DryRun")}
            key = (account.account_id, TOKEN_SCOPES.get(action, action), token)
            digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
            found = self.store.tokens.get(key)
            if found is not None:
                if found[0] != digest:
                    raise ApiError(
                        "IdempotentParameterMismatch",
                        "The request uses the same client token as a previous, but "
                        "non-identical request.",
                    )
                return copy.deepcopy(found[1])
        answer = act(dry_run)
        if key is not None:
            self.store.remember(key, digest, copy.deepcopy(answer))
        return answer

    # --- shared lookups ----------------------------------------------------------------

    def _region(self, params, name="RegionId"):
        region_id = scalar(params, name, required=True)
        if region_id not in self.inventory["regions"]:
            raise illegal(name, f"does not name a supported region ({region_id})")
        return region_id

    def _required(self, params, name):
        return scalar(params, name, required=True)

    def service_status(self, service, now):
        """A service's status at `now`; a service that is gone is dropped from the store."""
        status = status_at(service.timeline, now)
        if status is GONE:
            self.store.drop_service(service)
        return status

    def _live_services(self, account_id, region_id, now):
        """[(service, status)] of an account's services in a region, oldest first."""
        owned = self.store.owned.get((account_id, region_id))
        if not owned:
            return []
        live, gone = [], []
        for service in owned.values():
            status = status_at(service.timeline, now)
            if status is GONE:
                gone.append(service)
            else:
                live.append((service, status))
        for service in gone:
            self.store.drop_service(service)
        return live

    def _owned_service(self, account, region_id, service_id, now):
        """(service, status) of one of the caller's live services, or EndpointServiceNotFound."""
        service = self.store.services.get(service_id)
        if (
            service is not None
            and service.account_id == account.account_id
            and service.region_id == region_id
        ):
            status = self.service_status(service, now)
            if status is not GONE:
                return service, status
        raise ApiError(
            "EndpointServiceNotFound", f"The specified endpoint service {service_id} is not found."
        )

    def _any_service(self, service_id, now):
        """(service, status) of any account's live service, or (None, None)."""
        service = self.store.services.get(service_id)
        if service is None:
            return None, None
        status = self.service_status(service, now)
        return (None, None) if status is GONE else (service, status)

    def endpoint_state(self, endpoint, now):
        """(endpoint status, connection status) at `now`; gone endpoints and zones are dropped."""
        status = status_at(endpoint.timeline, now)
        if status is GONE:
            self.store.drop_endpoint(endpoint)
            return GONE, GONE
        live = [z for z in endpoint.zones if status_at(z["timeline"], now) is not GONE]
        if len(live) < len(endpoint.zones):
            endpoint.zones = live
            self.store.save_endpoint(endpoint)
        return status, status_at(endpoint.connection, now)

    def _endpoints_of(self, service_id, now):
        """[(endpoint, status, connection status)] of the live endpoints of a service."""
        found = []
        for endpoint in list(self.store.endpoints_of.get(service_id, {}).values()):
            status, connection = self.endpoint_state(endpoint, now)
            if status is not GONE:
                found.append((endpoint, status, connection))
        return found

    def related_count(self, service_id, resource_id, zone_id, now):
        """Endpoint zones allocated to a service row at `now` (RelatedEndpointCount)."""
        count = 0
        for endpoint, _status, _connection in self._endpoints_of(service_id, now):
            for zone in endpoint.zones:
                if allocated(zone, now) == (resource_id, zone_id):
                    count += 1
        return count

    # --- control path ------------------------------------------------------------------

    def snapshot(self):
        """Every live service of every account, for the loopback inspection path."""
        with self._lock:
            now = self.clock()
            found = []
            for service in list(self.store.services.values()):
                status = self.service_status(service, now)
                if status is not GONE:
                    body = self._describe_service(service, status, tags=True)
                    body["AccountId"] = service.account_id
                    body["AccountUid"] = self.uid_of(service.account_id)
                    found.append(body)
            return found

    def endpoint_snapshot(self):
        """Every live endpoint of every account, with its zones."""
        with self._lock:
            now = self.clock()
            found = []
            for endpoint in list(self.store.endpoints.values()):
                status, connection = self.endpoint_state(endpoint, now)
                if status is not GONE:
                    body = self._describe_endpoint(endpoint, status, connection, now)
                    body["AccountId"] = endpoint.account_id
                    body["Zones"] = [self._describe_zone(endpoint, z, now) for z in endpoint.zones]
                    found.append(body)
            return found

    def counts(self):
        with self._lock:
            now = self.clock()
            services = sum(
                1
                for s in list(self.store.services.values())
                if self.service_status(s, now) is not GONE
            )
            endpoints = sum(
                1
                for e in list(self.store.endpoints.values())
                if self.endpoint_state(e, now)[0] is not GONE
            )
            return services, endpoints

    def set_business_status(self, payload):
        """Fault injection: FinancialLocked (or back to Normal) for a service or an endpoint."""
        status = payload.get("BusinessStatus")
        if status not in BUSINESS_STATES:
            raise ValueError(f"BusinessStatus must be one of {', '.join(BUSINESS_STATES)}")
        with self._lock:
            now = self.clock()
            if payload.get("ServiceId"):
                service, _ = self._any_service(payload["ServiceId"], now)
                if service is None:
                    raise LookupError(f"no live service {payload['ServiceId']}")
                service.business_status = status
                self.store.save_service(service)
                return {"ServiceId": service.service_id, "BusinessStatus": status}
            if payload.get("EndpointId"):
                endpoint = self.store.endpoints.get(payload["EndpointId"])
                if endpoint is None or self.endpoint_state(endpoint, now)[0] is GONE:
                    raise LookupError(f"no live endpoint {payload['EndpointId']}")
                endpoint.business_status = status
                self.store.save_endpoint(endpoint)
                return {"EndpointId": endpoint.endpoint_id, "BusinessStatus": status}
        raise ValueError("give ServiceId or EndpointId")

    BULK_PREFIXES = {"slb": "lb", "alb": "alb", "nlb": "nlb", "gwlb": "gwlb"}

    def bulk_services(self, payload):
        """Create `count` Active services at once for benchmarks; return their ServiceIds."""
        unknown = set(payload) - {
            "count",
            "region_id",
            "account",
            "resource_type",
            "zone_id",
            "tags",
            "description",
            "auto_accept",
        }
        if unknown:
            raise ValueError(f"unknown field(s) {', '.join(sorted(unknown))}")
        count = payload.get("count")
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 100_000:
            raise ValueError("count must be an integer from 1 to 100000")
        region_id = payload.get("region_id", "cn-hangzhou")
        region = self.inventory["regions"].get(region_id)
        if region is None:
            raise ValueError(f"unknown region {region_id!r}")
        account = self.find_account(payload.get("account", "dev"))
        if account is None:
            raise ValueError(f"unknown account {payload.get('account')!r}")
        resource_type = payload.get("resource_type", "nlb")
        if resource_type not in self.BULK_PREFIXES:
            raise ValueError("resource_type must be slb, alb, nlb or gwlb")
        zone_id = payload.get("zone_id", region["Zones"][0]["ZoneId"])
        if zone_id not in {z["ZoneId"] for z in region["Zones"]}:
            raise ValueError(f"unknown zone {zone_id!r} in {region_id}")
        tags = payload.get("tags", [{"Key": "source", "Value": "bulk-load"}])
        if not (
            isinstance(tags, list)
            and len(tags) <= 20
            and all(
                isinstance(t, dict)
                and set(t) == {"Key", "Value"}
                and all(isinstance(v, str) for v in t.values())
                for t in tags
            )
        ):
            raise ValueError('tags must be a list of at most 20 {"Key": ..., "Value": ...}')
        description = payload.get("description", "")
        auto_accept = payload.get("auto_accept", False)
        if not isinstance(description, str) or not isinstance(auto_accept, bool):
            raise ValueError("description must be a string and auto_accept a boolean")
        prefix = self.BULK_PREFIXES[resource_type]
        with self._lock:
            now = self.clock()
            services = []
            for _ in range(count):
                seq = self.store.next_seq()
                service_id = random_id("epsrv-")
                services.append(
                    Service(
                        service_id=service_id,
                        account_id=account.account_id,
                        region_id=region_id,
                        created_at=now,
                        seq=seq,
                        timeline=[[now, "Active"]],
                        name=f"com.aliyuncs.privatelink.{region_id}.{service_id}",
                        domain=f"{service_id}.{region_id}.privatelink.aliyuncs.com",
                        description=description,
                        auto_accept=auto_accept,
                        payer="Endpoint",
                        resource_type=resource_type,
                        resource_group_id=DEFAULT_RESOURCE_GROUP,
                        supported_regions=[region_id],
                        tags=[dict(t) for t in tags],
                        resources=[
                            {
                                "ResourceId": f"{prefix}-bulk{seq:012d}",
                                "ResourceType": resource_type,
                                "ZoneId": zone_id,
                                "AutoAllocatedEnabled": True,
                            }
                        ],
                    )
                )
            self.store.add_services(services)
        return {"ServiceIds": [s.service_id for s in services], "Count": len(services)}

    ACTIONS = {
        **ServiceOperations.ACTIONS,
        **ConnectionOperations.ACTIONS,
        **EndpointOperations.ACTIONS,
    }

"""The simulated PrivateLink control plane: accounts' services, validation, lifecycle, errors.

Pure Python and SQLite, no HTTP: the protocol layer turns requests into `Backend.call()`.
Parameters arrive as strings (lists and dicts for the flattened arrays), exactly as the
wire carries them, so that type errors are the backend's to report.
"""

import hashlib
import json
import random
import sqlite3
import string
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

API_VERSION = "2020-04-15"
DEFAULT_INVENTORY = Path(__file__).with_name("inventory.json")
SERVICE_RESOURCE_TYPES = ("slb", "alb", "nlb", "gwlb")
ZONE_REQUIRED_TYPES = ("alb", "nlb", "gwlb")
DUAL_STACK_TYPES = ("nlb", "gwlb")
PAYERS = ("Endpoint", "EndpointService")
IP_VERSIONS = ("IPv4", "DualStack")
MAX_RESOURCES_AT_CREATION = 10
MAX_TAGS = 20
DEFAULT_RESOURCE_GROUP = "rg-acfmdefault000001"


class ApiError(Exception):
    """An error answer of the API: HTTP status, code and message."""

    def __init__(self, code, message, status=400, headers=None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.headers = headers or {}


def missing(param):
    return ApiError(f"MissingParam.{param}", f"The parameter {param} is mandatory for this action.")


def illegal(param, detail="is not valid"):
    return ApiError(f"IllegalParamFormat.{param}", f"The parameter {param} {detail}.")


@dataclass
class Account:
    account_id: str
    access_key_id: str
    access_key_secret: str
    payer_allowed: bool = True


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
            item = {k: v for k, v in pool.items() if k not in ("prefix", "count")}
            item["ResourceId"] = f"{pool['prefix']}{n:06d}"
            resources[(item["RegionId"], item["ResourceId"])] = item
    return {
        "regions": {r["RegionId"]: r for r in data["regions"]},
        "resources": resources,
        "accounts": data.get("accounts", []),
    }


def parse_bool(params, name, default=False):
    """Read a boolean the way the gateway does: true/false in any case."""
    value = params.get(name)
    if value is None:
        return default
    if not isinstance(value, str) or value.lower() not in ("true", "false"):
        raise illegal(name, "must be true or false")
    return value.lower() == "true"


def parse_choice(params, name, choices, default, code=None):
    value = params.get(name)
    if value is None:
        return default
    if value not in choices:
        if code:
            raise ApiError(code, f"The parameter {name} must be one of {', '.join(choices)}.")
        raise illegal(name, f"must be one of {', '.join(choices)}")
    return value


def parse_string(params, name, max_length, required=False):
    value = params.get(name)
    if value is None or (required and value == ""):
        if required:
            raise missing(name)
        return None
    if not isinstance(value, str) or len(value) > max_length:
        raise illegal(name, f"must be a string of at most {max_length} characters")
    return value


def parse_list(params, name, kind):
    """Return the 1-based flattened array `name`, or [] when absent."""
    value = params.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, kind) for v in value):
        raise illegal(name, "is not a valid list")
    return value


def check_tag(key, value):
    if key is None or key == "":
        raise missing("Tag.Key")
    if len(key) > 64:
        raise illegal("Tag.Key", "must be at most 64 characters")
    if value is not None and len(value) > 128:
        raise illegal("Tag.Value", "must be at most 128 characters")
    for part, text in (("Key", key), ("Value", value or "")):
        lowered = text.lower()
        if lowered.startswith(("aliyun", "acs:")):
            raise illegal(f"Tag.{part}", "must not start with aliyun or acs:")
        if "http://" in lowered or "https://" in lowered:
            raise illegal(f"Tag.{part}", "must not contain http:// or https://")


def new_service_id():
    alphabet = string.ascii_lowercase + string.digits
    return "epsrv-" + "".join(random.choices(alphabet, k=20))


def iso(timestamp):
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


SCHEMA = """
CREATE TABLE IF NOT EXISTS services (
    service_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    region_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    active_at REAL,
    deleting_at REAL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS client_tokens (
    account_id TEXT NOT NULL,
    action TEXT NOT NULL,
    client_token TEXT NOT NULL,
    params_hash TEXT NOT NULL,
    response TEXT NOT NULL,
    PRIMARY KEY (account_id, action, client_token)
);
"""


class Backend:
    """The state of every simulated account, kept in one SQLite database."""

    def __init__(
        self,
        state=":memory:",
        *,
        create_delay=3.0,
        quota=20,
        inventory=None,
        accounts=(),
        clock=time.time,
    ):
        self.inventory = inventory or load_inventory()
        self.create_delay = create_delay
        self.quota = quota
        self.clock = clock
        self.faults = Faults()
        self.accounts = {a.access_key_id: a for a in accounts}
        for item in self.inventory["accounts"]:
            account = Account(
                item["account_id"],
                item["access_key_id"],
                item["access_key_secret"],
                item.get("payer_allowed", True),
            )
            self.accounts.setdefault(account.access_key_id, account)
        if state != ":memory:":
            Path(state).parent.mkdir(parents=True, exist_ok=True)
        # One connection behind one lock: every operation is short, and this makes racing
        # Creates with one ClientToken trivially safe within the simulator's process.
        self._lock = threading.RLock()
        self._db = sqlite3.connect(state, check_same_thread=False, isolation_level=None)
        if state != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)

    def account_for_key(self, access_key_id):
        return self.accounts.get(access_key_id)

    def reset(self):
        with self._lock:
            self._db.execute("DELETE FROM services")
            self._db.execute("DELETE FROM client_tokens")
            self.faults = Faults()

    def call(self, account, action, params):
        handler = self.ACTIONS.get(action)
        if handler is None:
            raise ApiError(
                "InvalidAction.NotFound",
                "Specified api is not found, please check your url and method.",
                status=404,
            )
        with self._lock:
            return handler(self, account, params)

    # --- state -----------------------------------------------------------------------

    def _status(self, row, now):
        if row["deleting_at"] is not None:
            if now >= row["deleting_at"] + self.create_delay:
                return None
            return "Deleting"
        if row["active_at"] is None or now < row["active_at"]:
            return "Creating"
        return "Active"

    def _services(self, account, region_id):
        """Yield (row, status) for the account's live services in a region, oldest first."""
        now = self.clock()
        cursor = self._db.execute(
            "SELECT * FROM services WHERE account_id = ? AND region_id = ? "
            "ORDER BY created_at, service_id",
            (account.account_id, region_id),
        )
        cursor.row_factory = sqlite3.Row
        gone = []
        for row in cursor.fetchall():
            status = self._status(row, now)
            if status is None:
                gone.append(row["service_id"])
                continue
            yield row, status
        for service_id in gone:
            self._db.execute("DELETE FROM services WHERE service_id = ?", (service_id,))

    def _find(self, account, region_id, service_id):
        for row, status in self._services(account, region_id):
            if row["service_id"] == service_id:
                return row, status
        raise ApiError(
            "EndpointServiceNotFound", f"The specified endpoint service {service_id} is not found."
        )

    def _describe(self, row, status, *, zones=True, tags=False):
        data = json.loads(row["data"])
        body = {
            "ServiceId": row["service_id"],
            "ServiceName": data["ServiceName"],
            "ServiceDomain": data["ServiceDomain"],
            "ServiceStatus": status,
            "ServiceBusinessStatus": "Normal",
            "ServiceDescription": data["ServiceDescription"],
            "CreateTime": iso(row["created_at"]),
            "AutoAcceptEnabled": data["AutoAcceptEnabled"],
            "ZoneAffinityEnabled": data["ZoneAffinityEnabled"],
            "ServiceSupportIPv6": data["AddressIpVersion"] == "DualStack",
            "ResourceGroupId": data["ResourceGroupId"],
            "AddressIpVersion": data["AddressIpVersion"],
            "SupportedRegionSet": [
                {
                    "SupportedRegionId": region,
                    "ServiceRegionId": row["region_id"],
                    "RegionServiceStatus": "Active" if status == "Active" else status,
                    "RegionBusinessStatus": "Normal",
                }
                for region in data["SupportedRegionList"]
            ],
            "Payer": data["Payer"],
            "RegionId": row["region_id"],
            "ServiceResourceType": data["ServiceResourceType"],
            "ServiceType": "GatewayLoadBalancer"
            if data["ServiceResourceType"] == "gwlb"
            else "Interface",
            "ConnectBandwidth": 3072,
            "MaxBandwidth": 10240,
            "MinBandwidth": 100,
        }
        if zones:
            body["Zones"] = sorted({r["ZoneId"] for r in data["Resources"] if r["ZoneId"]})
        if tags:
            body["Tags"] = [{"Key": t["Key"], "Value": t["Value"]} for t in data["Tags"]]
        return body

    # --- validation ------------------------------------------------------------------

    def _region(self, params, name="RegionId"):
        region_id = params.get(name)
        if not region_id:
            raise missing(name)
        if region_id not in self.inventory["regions"]:
            raise illegal(name, f"does not name a supported region ({region_id})")
        return region_id

    def _validate_create(self, account, params):
        """Check a CreateVpcEndpointService request; return its normalised parameters."""
        region_id = self._region(params)
        spec = {
            "RegionId": region_id,
            "ServiceDescription": parse_string(params, "ServiceDescription", 256) or "",
            "AutoAcceptEnabled": parse_bool(params, "AutoAcceptEnabled"),
            "ZoneAffinityEnabled": parse_bool(params, "ZoneAffinityEnabled"),
            "Payer": parse_choice(params, "Payer", PAYERS, "Endpoint"),
            "ServiceResourceType": parse_choice(
                params, "ServiceResourceType", SERVICE_RESOURCE_TYPES, "slb"
            ),
            "AddressIpVersion": parse_choice(
                params,
                "AddressIpVersion",
                IP_VERSIONS,
                "IPv4",
                code="IllegalParam.AddressIpVersion",
            ),
            "ResourceGroupId": parse_string(params, "ResourceGroupId", 64)
            or DEFAULT_RESOURCE_GROUP,
        }
        parse_bool(params, "ServiceSupportIPv6")
        token = params.get("ClientToken")
        if token is not None and (len(token) > 64 or not token.isascii() or token == ""):
            raise illegal("ClientToken", "must be 1 to 64 ASCII characters")
        if not spec["ResourceGroupId"].startswith("rg-"):
            raise illegal("ResourceGroupId", "must start with rg-")

        regions = parse_list(params, "SupportedRegionList", str)
        for region in regions:
            if region not in self.inventory["regions"]:
                raise illegal("SupportedRegionList", f"names an unknown region ({region})")
        spec["SupportedRegionList"] = list(dict.fromkeys(regions)) or [region_id]

        resources = parse_list(params, "Resource", dict)
        if len(resources) > MAX_RESOURCES_AT_CREATION:
            raise illegal("Resource", f"must hold at most {MAX_RESOURCES_AT_CREATION} resources")
        spec["Resources"] = []
        for item in resources:
            resource_id = item.get("ResourceId")
            resource_type = item.get("ResourceType")
            zone_id = item.get("ZoneId") or None
            if not resource_id:
                raise missing("Resource.ResourceId")
            if not resource_type:
                raise missing("Resource.ResourceType")
            if resource_type not in SERVICE_RESOURCE_TYPES:
                raise illegal(
                    "Resource.ResourceType", f"must be one of {', '.join(SERVICE_RESOURCE_TYPES)}"
                )
            if resource_type in ZONE_REQUIRED_TYPES and not zone_id:
                raise missing("Resource.ZoneId")
            spec["Resources"].append(
                {"ResourceId": resource_id, "ResourceType": resource_type, "ZoneId": zone_id}
            )
        if len({r["ResourceId"] for r in spec["Resources"]}) < len(spec["Resources"]):
            raise illegal("Resource", "names a resource twice")

        tags = parse_list(params, "Tag", dict)
        if len(tags) > MAX_TAGS:
            raise illegal("Tag", f"must hold at most {MAX_TAGS} tags")
        for item in tags:
            check_tag(item.get("Key"), item.get("Value"))
        keys = [t["Key"] for t in tags]
        if len(set(keys)) < len(keys):
            raise illegal("Tag.Key", "must not repeat a key")
        spec["Tags"] = [{"Key": t["Key"], "Value": t.get("Value") or ""} for t in tags]

        service_type = spec["ServiceResourceType"]
        if spec["AddressIpVersion"] == "DualStack" and service_type not in DUAL_STACK_TYPES:
            raise ApiError(
                "OperationDenied.ResourceTypeNotSupportDualStack",
                f"The resource type {service_type} does not support DualStack.",
            )
        if spec["Payer"] == "EndpointService" and not account.payer_allowed:
            raise ApiError(
                "EndpointServicePayerForbidden",
                "The account is not allowed to set the endpoint service as payer.",
            )
        region_zones = {z["ZoneId"] for z in self.inventory["regions"][region_id]["Zones"]}
        for item in spec["Resources"]:
            self._check_resource(spec, item, region_zones)
        return spec

    def _check_resource(self, spec, item, region_zones):
        resource_id, resource_type = item["ResourceId"], item["ResourceType"]
        if resource_type != spec["ServiceResourceType"]:
            raise ApiError(
                "Mismatch.ResourceType",
                f"The resource type {resource_type} does not match the service resource type "
                f"{spec['ServiceResourceType']}.",
            )
        found = self.inventory["resources"].get((spec["RegionId"], resource_id))
        if found is None or found["ResourceType"] != resource_type:
            if resource_type == "alb":
                raise ApiError("AlbNotFound", f"The ALB instance {resource_id} is not found.")
            raise ApiError("LoadBalancerNotFound", f"The load balancer {resource_id} is not found.")
        if not found.get("PrivateLink", True):
            raise ApiError(
                "LoadBalancerNotSupportPrivateLink",
                f"The load balancer {resource_id} does not support PrivateLink.",
            )
        zone_id = item["ZoneId"]
        if zone_id and (zone_id not in region_zones or zone_id not in found["Zones"]):
            raise ApiError(
                "EndpointServiceNotSupportedZone",
                f"The zone {zone_id} is not supported by resource {resource_id}.",
            )
        if not zone_id:
            item["ZoneId"] = found["Zones"][0]
        if spec["AddressIpVersion"] == "DualStack" and not found.get("DualStack", False):
            raise ApiError(
                "OperationDenied.ServiceResourceIpVersionMismatch",
                f"The resource {resource_id} does not support DualStack.",
            )

    def _check_state(self, account, spec):
        live = list(self._services(account, spec["RegionId"]))
        wanted = {r["ResourceId"] for r in spec["Resources"]}
        for row, _status in live:
            used = {r["ResourceId"] for r in json.loads(row["data"])["Resources"]}
            clash = sorted(wanted & used)
            if clash:
                raise ApiError(
                    "EndpointServiceExist",
                    f"The resource {clash[0]} already backs the endpoint service "
                    f"{row['service_id']}.",
                )
        if len(live) >= self.quota:
            raise ApiError(
                "QuotaMisMatched",
                f"The quota of {self.quota} endpoint services in {spec['RegionId']} is used up.",
            )

    def _remembered(self, account, action, params, spec):
        """Return the stored answer for a repeated ClientToken, or None for a new one."""
        token = params.get("ClientToken")
        if not token:
            return None, None
        digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
        row = self._db.execute(
            "SELECT params_hash, response FROM client_tokens "
            "WHERE account_id = ? AND action = ? AND client_token = ?",
            (account.account_id, action, token),
        ).fetchone()
        if row is None:
            return None, digest
        if row[0] != digest:
            raise ApiError(
                "IdempotentParameterMismatch",
                "The request uses the same client token as a previous, but non-identical request.",
            )
        return json.loads(row[1]), digest

    def _remember(self, account, action, params, digest, response):
        if digest:
            self._db.execute(
                "INSERT INTO client_tokens VALUES (?, ?, ?, ?, ?)",
                (account.account_id, action, params["ClientToken"], digest, json.dumps(response)),
            )

    # --- operations ------------------------------------------------------------------

    def create_vpc_endpoint_service(self, account, params):
        spec = self._validate_create(account, params)
        dry_run = parse_bool(params, "DryRun")
        digest = None
        if not dry_run:
            previous, digest = self._remembered(account, "Create", params, spec)
            if previous is not None:
                return previous
        self._check_state(account, spec)
        if dry_run:
            raise ApiError(
                "DryRunOperation", "Request validation has been passed with DryRun flag set."
            )
        now = self.clock()
        service_id = new_service_id()
        region_id = spec["RegionId"]
        data = dict(
            spec,
            ServiceName=f"com.aliyuncs.privatelink.{region_id}.{service_id}",
            ServiceDomain=f"{service_id}.{region_id}.privatelink.aliyuncs.com",
        )
        active_at = None if self.faults.stuck_creating else now + self.create_delay
        self._db.execute(
            "INSERT INTO services VALUES (?, ?, ?, ?, ?, NULL, ?)",
            (service_id, account.account_id, region_id, now, active_at, json.dumps(data)),
        )
        row = {
            "service_id": service_id,
            "region_id": region_id,
            "created_at": now,
            "active_at": active_at,
            "deleting_at": None,
            "data": json.dumps(data),
        }
        body = self._describe(row, self._status(row, now), zones=False)
        for key in ("Payer", "RegionId", "ServiceResourceType", "ServiceType"):
            body.pop(key)
        for key in ("ConnectBandwidth", "MaxBandwidth", "MinBandwidth"):
            body.pop(key)
        self._remember(account, "Create", params, digest, body)
        return body

    def get_vpc_endpoint_service_attribute(self, account, params):
        region_id = self._region(params)
        service_id = params.get("ServiceId")
        if not service_id:
            raise missing("ServiceId")
        row, status = self._find(account, region_id, service_id)
        return self._describe(row, status)

    LIST_FILTERS = {
        "ServiceId": lambda s: s["ServiceId"],
        "ServiceName": lambda s: s["ServiceName"],
        "ServiceResourceType": lambda s: s["ServiceResourceType"],
        "ServiceStatus": lambda s: s["ServiceStatus"],
        "ServiceBusinessStatus": lambda s: s["ServiceBusinessStatus"],
        "AddressIpVersion": lambda s: s["AddressIpVersion"],
        "ResourceGroupId": lambda s: s["ResourceGroupId"],
    }

    def list_vpc_endpoint_services(self, account, params):
        region_id = self._region(params)
        max_results = params.get("MaxResults", "50")
        if not max_results.isdigit() or not 1 <= int(max_results) <= 1000:
            raise illegal("MaxResults", "must be an integer from 1 to 1000")
        max_results = int(max_results)
        start = 0
        if params.get("NextToken"):
            token = params["NextToken"]
            if not (token.startswith("pl-") and token[3:].isdigit()):
                raise illegal("NextToken", "is not a token this API issued")
            start = int(token[3:])
        wanted_bools = {
            name: parse_bool(params, name)
            for name in ("AutoAcceptEnabled", "ZoneAffinityEnabled")
            if params.get(name) is not None
        }
        wanted_tags = parse_list(params, "Tag", dict)
        resource_id = params.get("ResourceId")
        matches = []
        for row, status in self._services(account, region_id):
            service = self._describe(row, status, zones=False, tags=True)
            if any(
                params.get(name) not in (None, "") and getter(service) != params[name]
                for name, getter in self.LIST_FILTERS.items()
            ):
                continue
            if any(service[name] != value for name, value in wanted_bools.items()):
                continue
            if resource_id:
                resources = json.loads(row["data"])["Resources"]
                if resource_id not in {r["ResourceId"] for r in resources}:
                    continue
            have = {(t["Key"], t["Value"]) for t in service["Tags"]}
            have_keys = {t["Key"] for t in service["Tags"]}
            if not all(
                (t.get("Key"), t.get("Value")) in have
                if t.get("Value") is not None
                else t.get("Key") in have_keys
                for t in wanted_tags
            ):
                continue
            matches.append(service)
        page = matches[start : start + max_results]
        end = start + len(page)
        return {
            "Services": page,
            "NextToken": f"pl-{end}" if end < len(matches) else "",
            "MaxResults": max_results,
            "TotalCount": len(matches),
        }

    def delete_vpc_endpoint_service(self, account, params):
        region_id = self._region(params)
        service_id = params.get("ServiceId")
        if not service_id:
            raise missing("ServiceId")
        token = params.get("ClientToken")
        if token is not None and (len(token) > 64 or not token.isascii() or token == ""):
            raise illegal("ClientToken", "must be 1 to 64 ASCII characters")
        dry_run = parse_bool(params, "DryRun")
        spec = {"RegionId": region_id, "ServiceId": service_id}
        digest = None
        if not dry_run:
            previous, digest = self._remembered(account, "Delete", params, spec)
            if previous is not None:
                return previous
        _row, status = self._find(account, region_id, service_id)
        if status != "Active":
            raise ApiError(
                "EndpointServiceOperationDenied",
                f"The endpoint service {service_id} is {status} and cannot be deleted now.",
            )
        if dry_run:
            raise ApiError(
                "DryRunOperation", "Request validation has been passed with DryRun flag set."
            )
        self._db.execute(
            "UPDATE services SET deleting_at = ? WHERE service_id = ?", (self.clock(), service_id)
        )
        self._remember(account, "Delete", params, digest, {})
        return {}

    def describe_regions(self, account, params):
        wanted = params.get("ServiceResourceType") or "slb"
        if wanted not in (*SERVICE_RESOURCE_TYPES, "ALL"):
            raise illegal("ServiceResourceType", "must be slb, alb, nlb, gwlb or ALL")
        regions = [
            {
                "RegionId": region["RegionId"],
                "LocalName": region["LocalName"],
                "RegionEndpoint": f"privatelink.{region['RegionId']}.aliyuncs.com",
                "ServiceResourceTypes": {"ServiceResourceType": region["ServiceResourceTypes"]},
            }
            for region in self.inventory["regions"].values()
            if wanted == "ALL" or wanted in region["ServiceResourceTypes"]
        ]
        return {"Regions": {"Region": regions}}

    def describe_zones(self, account, params):
        region_id = self._region(params)
        wanted = params.get("ServiceResourceType")
        if wanted is not None and wanted not in SERVICE_RESOURCE_TYPES:
            raise illegal("ServiceResourceType", "must be slb, alb, nlb or gwlb")
        parse_bool(params, "CrossRegion")
        zones = [
            {"ZoneId": zone["ZoneId"], "LocalName": zone["LocalName"]}
            for zone in self.inventory["regions"][region_id]["Zones"]
        ]
        return {"Zones": {"Zone": zones}}

    ACTIONS = {
        "CreateVpcEndpointService": create_vpc_endpoint_service,
        "GetVpcEndpointServiceAttribute": get_vpc_endpoint_service_attribute,
        "ListVpcEndpointServices": list_vpc_endpoint_services,
        "DeleteVpcEndpointService": delete_vpc_endpoint_service,
        "DescribeRegions": describe_regions,
        "DescribeZones": describe_zones,
    }

    def snapshot(self):
        """Return every service of every account, for the loopback inspection path."""
        with self._lock:
            cursor = self._db.execute("SELECT * FROM services ORDER BY created_at")
            cursor.row_factory = sqlite3.Row
            now = self.clock()
            return [
                dict(self._describe(row, status, tags=True), AccountId=row["account_id"])
                for row in cursor.fetchall()
                if (status := self._status(row, now)) is not None
            ]

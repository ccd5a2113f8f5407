"""The simulator's objects, their status timelines, and the store that keeps them.

Everything lives in memory (one lock in the backend guards it) and is written through to
SQLite on every change, so a `--state` file survives restarts while `:memory:` keeps nothing.

A status is never advanced by a background task: each object keeps a timeline, a list of
`[timestamp, status]` in time order, and its status at any moment is the last entry at or
before it. Creating a service writes `[[t, "Creating"], [t + delay, "Active"]]`; a status of
None means gone. Reads therefore see transitions exactly when they are due, and a fake clock
in tests moves every object at once.
"""

import json
import random
import sqlite3
import string
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

GONE = None
SERVICE_RESOURCE_TYPES = ("slb", "alb", "nlb", "gwlb")
ZONE_REQUIRED_TYPES = ("alb", "nlb", "gwlb")
DUAL_STACK_TYPES = ("nlb", "gwlb")
PAYERS = ("Endpoint", "EndpointService")
IP_VERSIONS = ("IPv4", "DualStack")
DEFAULT_RESOURCE_GROUP = "rg-acfmdefault000001"
MAX_RESOURCES_AT_CREATION = 10
MAX_RESOURCES_PER_SERVICE = 20


def random_id(prefix):
    alphabet = string.ascii_lowercase + string.digits
    return prefix + "".join(random.choices(alphabet, k=20))


def iso(timestamp):
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_at(timeline, now):
    """The status of a timeline at `now`."""
    current = timeline[0][1]
    for at, status in timeline:
        if at > now:
            break
        current = status
    return current


def changed_at(timeline, now):
    """When the status current at `now` began."""
    current = timeline[0][0]
    for at, _status in timeline:
        if at > now:
            break
        current = at
    return current


def schedule(timeline, now, *steps):
    """Forget what was still to come, keep the current status, then add `(offset, status)` steps."""
    current = [changed_at(timeline, now), status_at(timeline, now)]
    timeline[:] = [current] + [[now + offset, status] for offset, status in steps]


def pending(timeline, now):
    """Whether the timeline still has a change to come after `now`."""
    return timeline[-1][0] > now


@dataclass
class Service:
    service_id: str
    account_id: str
    region_id: str
    created_at: float
    seq: int
    timeline: list
    name: str
    domain: str
    description: str = ""
    auto_accept: bool = False
    zone_affinity: bool = False
    payer: str = "Endpoint"
    resource_type: str = "slb"
    ip_version: str = "IPv4"
    resource_group_id: str = ""
    supported_regions: list = field(default_factory=list)
    connect_bandwidth: int = 3072
    business_status: str = "Normal"
    # [{"Key", "Value"}] in the order they were set.
    tags: list = field(default_factory=list)
    # One row per (ResourceId, ZoneId): {"ResourceId", "ResourceType", "ZoneId",
    # "AutoAllocatedEnabled"}.
    resources: list = field(default_factory=list)
    users: list = field(default_factory=list)
    user_arns: list = field(default_factory=list)

    def zones(self):
        return sorted({r["ZoneId"] for r in self.resources if r["ZoneId"]})


@dataclass
class Endpoint:
    endpoint_id: str
    account_id: str
    region_id: str
    service_id: str
    service_name: str
    service_region_id: str
    service_account_id: str
    payer: str
    created_at: float
    seq: int
    timeline: list
    # The connection's own timeline (ConnectionStatus), one per endpoint.
    connection: list
    vpc_id: str
    name: str = ""
    description: str = ""
    endpoint_type: str = "Interface"
    security_groups: list = field(default_factory=list)
    ip_version: str = "IPv4"
    zone_affinity: bool = False
    protected: bool = False
    policy_document: str = ""
    resource_group_id: str = ""
    bandwidth: int = 3072
    traffic_control_mode: str = "BandwidthLimit"
    cross_region_bandwidth: int = 0
    business_status: str = "Normal"
    tags: list = field(default_factory=list)
    # {"ZoneId", "VSwitchId", "EniId", "EniIp", "Ipv6Address", "timeline", "alloc"}: alloc is
    # the service row the zone is connected through, {"ResourceId", "ZoneId", "From",
    # "Until"} (Until None: for as long as it lasts), or None.
    zones: list = field(default_factory=list)


def allocated(zone, now):
    """The service row (ResourceId, ZoneId) a zone uses at `now`, or None."""
    alloc = zone.get("alloc")
    if not alloc or alloc["From"] > now or (alloc["Until"] is not None and now >= alloc["Until"]):
        return None
    return alloc["ResourceId"], alloc["ZoneId"]


def reserved(zone, now):
    """The row a zone uses now or will use from a moment to come (for allocating), or None."""
    alloc = zone.get("alloc")
    if not alloc or (alloc["Until"] is not None and now >= alloc["Until"]):
        return None
    return alloc["ResourceId"], alloc["ZoneId"]


def allocate(zone, row, start):
    zone["alloc"] = {
        "ResourceId": row["ResourceId"],
        "ZoneId": row["ZoneId"],
        "From": start,
        "Until": None,
    }


def release(zone, at):
    """End the zone's allocation at `at` (if it would last longer)."""
    alloc = zone.get("alloc")
    if alloc and (alloc["Until"] is None or alloc["Until"] > at):
        alloc["Until"] = at


SCHEMA = """
CREATE TABLE IF NOT EXISTS service_state (
    service_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS endpoint_state (
    endpoint_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
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


class Store:
    """Services, endpoints and remembered ClientTokens: in memory, written through to SQLite."""

    def __init__(self, path=":memory:", *, legacy_delay=0.0):
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        if path != ":memory:":
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self.services = {}  # service_id -> Service, oldest first
        self.owned = {}  # (account_id, region_id) -> {service_id: Service}, oldest first
        self.endpoints = {}  # endpoint_id -> Endpoint, oldest first
        self.endpoints_of = {}  # service_id -> {endpoint_id: Endpoint}
        self.tokens = {}  # (account_id, action, token) -> (params hash, response)
        self.seq = 0
        self._import_legacy(legacy_delay)
        self._load()

    # --- loading -----------------------------------------------------------------------

    def _load(self):
        for (data,) in self.db.execute("SELECT data FROM service_state ORDER BY seq"):
            self._index_service(Service(**json.loads(data)))
        for (data,) in self.db.execute("SELECT data FROM endpoint_state ORDER BY seq"):
            self._index_endpoint(Endpoint(**json.loads(data)))
        for account_id, action, token, digest, response in self.db.execute(
            "SELECT * FROM client_tokens"
        ):
            self.tokens[(account_id, action, token)] = (digest, json.loads(response))

    def _import_legacy(self, delay):
        """Bring services from the simulator's first schema (table `services`) over, once."""
        found = self.db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'services'"
        ).fetchone()
        if not found:
            return
        rows = self.db.execute(
            "SELECT service_id, account_id, region_id, created_at, active_at, deleting_at, data "
            "FROM services ORDER BY created_at, service_id"
        ).fetchall()
        self.db.execute("BEGIN")
        for n, (service_id, account_id, region_id, created, active, deleting, data) in enumerate(
            rows, 1
        ):
            old = json.loads(data)
            timeline = [[created, "Creating"]]
            if active is not None:
                timeline.append([active, "Active"])
            if deleting is not None:
                timeline += [[deleting, "Deleting"], [deleting + delay, GONE]]
            service = Service(
                service_id=service_id,
                account_id=account_id,
                region_id=region_id,
                created_at=created,
                seq=n,
                timeline=timeline,
                name=old["ServiceName"],
                domain=old["ServiceDomain"],
                description=old.get("ServiceDescription", ""),
                auto_accept=old.get("AutoAcceptEnabled", False),
                zone_affinity=old.get("ZoneAffinityEnabled", False),
                payer=old.get("Payer", "Endpoint"),
                resource_type=old.get("ServiceResourceType", "slb"),
                ip_version=old.get("AddressIpVersion", "IPv4"),
                resource_group_id=old.get("ResourceGroupId", ""),
                supported_regions=old.get("SupportedRegionList") or [region_id],
                tags=old.get("Tags", []),
                resources=[dict(r, AutoAllocatedEnabled=True) for r in old.get("Resources", [])],
            )
            self.db.execute(
                "INSERT OR REPLACE INTO service_state VALUES (?, ?, ?)",
                (service_id, n, json.dumps(asdict(service))),
            )
        self.db.execute("DROP TABLE services")
        self.db.execute("COMMIT")

    # --- indexes -----------------------------------------------------------------------

    def _index_service(self, service):
        self.seq = max(self.seq, service.seq)
        self.services[service.service_id] = service
        key = (service.account_id, service.region_id)
        self.owned.setdefault(key, {})[service.service_id] = service

    def _index_endpoint(self, endpoint):
        self.seq = max(self.seq, endpoint.seq)
        self.endpoints[endpoint.endpoint_id] = endpoint
        self.endpoints_of.setdefault(endpoint.service_id, {})[endpoint.endpoint_id] = endpoint

    def next_seq(self):
        self.seq += 1
        return self.seq

    # --- writes ------------------------------------------------------------------------

    def add_service(self, service):
        self._index_service(service)
        self.save_service(service)

    def add_services(self, services):
        """Add many services in one transaction (the bulk-load control path)."""
        for service in services:
            self._index_service(service)
        self.db.execute("BEGIN")
        self.db.executemany(
            "INSERT OR REPLACE INTO service_state VALUES (?, ?, ?)",
            [(s.service_id, s.seq, json.dumps(asdict(s))) for s in services],
        )
        self.db.execute("COMMIT")

    def save_service(self, service):
        self.db.execute(
            "INSERT OR REPLACE INTO service_state VALUES (?, ?, ?)",
            (service.service_id, service.seq, json.dumps(asdict(service))),
        )

    def drop_service(self, service):
        self.services.pop(service.service_id, None)
        owned = self.owned.get((service.account_id, service.region_id), {})
        owned.pop(service.service_id, None)
        self.db.execute("DELETE FROM service_state WHERE service_id = ?", (service.service_id,))

    def add_endpoint(self, endpoint):
        self._index_endpoint(endpoint)
        self.save_endpoint(endpoint)

    def save_endpoint(self, endpoint):
        self.db.execute(
            "INSERT OR REPLACE INTO endpoint_state VALUES (?, ?, ?)",
            (endpoint.endpoint_id, endpoint.seq, json.dumps(asdict(endpoint))),
        )

    def drop_endpoint(self, endpoint):
        self.endpoints.pop(endpoint.endpoint_id, None)
        self.endpoints_of.get(endpoint.service_id, {}).pop(endpoint.endpoint_id, None)
        self.db.execute("DELETE FROM endpoint_state WHERE endpoint_id = ?", (endpoint.endpoint_id,))

    def remember(self, key, digest, response):
        self.tokens[key] = (digest, response)
        self.db.execute(
            "INSERT OR REPLACE INTO client_tokens VALUES (?, ?, ?, ?, ?)",
            (*key, digest, json.dumps(response)),
        )

    def clear(self):
        self.services.clear()
        self.owned.clear()
        self.endpoints.clear()
        self.endpoints_of.clear()
        self.tokens.clear()
        self.db.execute("BEGIN")
        for table in ("service_state", "endpoint_state", "client_tokens"):
            self.db.execute(f"DELETE FROM {table}")
        self.db.execute("COMMIT")

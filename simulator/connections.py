"""The service owner's side of endpoint connections: list, accept, reject, update, per zone.

A connection is one per endpoint, keyed `<ServiceId>:<EndpointId>`; it lives on the
endpoint (its `connection` timeline and its zones' timelines and allocations) and is seen
here from the account that owns the service.
"""

from .model import (
    GONE,
    allocate,
    allocated,
    changed_at,
    iso,
    release,
    reserved,
    schedule,
    status_at,
)
from .params import (
    ApiError,
    Paging,
    dry_run_passed,
    illegal,
    parse_bool,
    parse_int,
    scalar,
)

# Bandwidth (Mbit/s) of a connection per service type, and the traffic control modes.
MAX_BANDWIDTH = {"slb": 10240, "alb": 25000, "nlb": 50000, "gwlb": 25000}
TRAFFIC_MODES = {
    "slb": ("BandwidthLimit",),
    "alb": ("BandwidthLimit", "Scalability"),
    "nlb": ("BandwidthLimit", "Scalability"),
    "gwlb": ("Scalability",),
}
DEFAULT_TRAFFIC_MODE = {
    "slb": "BandwidthLimit",
    "alb": "BandwidthLimit",
    "nlb": "Scalability",
    "gwlb": "Scalability",
}
# Connection statuses in which nothing else may happen to the connection.
CONNECTION_BUSY = ("Connecting", "Disconnecting", "Pending", "Deleting")


def incorrect_status(kind, name):
    return ApiError(f"IncorrectStatus.{kind}", f"The status of {kind} [{name}] is incorrect.")


def connection_busy():
    return ApiError("EndpointConnectionOperationDenied", "The endpoint is being connected.")


def endpoint_denied(endpoint_id, status):
    return ApiError(
        "EndpointOperationDenied",
        f"The specified operation of endpoint is not allowed ({endpoint_id} is {status}).",
    )


def zone_domain(endpoint, zone_id):
    return (
        f"{endpoint.endpoint_id}-{endpoint.region_id}.{endpoint.service_id}.{zone_id}"
        ".privatelink.aliyuncs.com"
    )


class ConnectionOperations:
    """Owner-side operations on the connections of endpoints to the caller's services."""

    # --- shared ------------------------------------------------------------------------

    def _connection(self, service, endpoint_id, now):
        """(endpoint, status, connection status) of an endpoint connected to `service`."""
        endpoint = self.store.endpoints_of.get(service.service_id, {}).get(endpoint_id)
        if endpoint is not None:
            status, connection = self.endpoint_state(endpoint, now)
            if status is not GONE:
                return endpoint, status, connection
        raise ApiError(
            "EndpointConnectionNotFound",
            f"The endpoint connection {service.service_id}:{endpoint_id} is not found.",
        )

    def _pick_row(self, service, zone_id, now):
        """The auto-allocated row with the fewest endpoint zones (ties by ResourceId) in a zone,
        or in any zone when `zone_id` is None (a cross-region endpoint); None if there is none.
        """
        rows = [
            r
            for r in service.resources
            if r["AutoAllocatedEnabled"] and (zone_id is None or r["ZoneId"] == zone_id)
        ]
        if not rows:
            return None
        load = {}
        for endpoint in self.store.endpoints_of.get(service.service_id, {}).values():
            for zone in endpoint.zones:
                row = reserved(zone, now)
                if row is not None:
                    load[row] = load.get(row, 0) + 1
        return min(
            rows,
            key=lambda r: (
                load.get((r["ResourceId"], r["ZoneId"]), 0),
                r["ResourceId"],
                r["ZoneId"],
            ),
        )

    def _allocations(self, service, endpoint, zones, now):
        """{ZoneId: service row} of zones to connect, or NoAvailableServiceResource."""
        same_region = endpoint.region_id == service.region_id
        chosen = {}
        for zone in zones:
            row = self._pick_row(service, zone["ZoneId"] if same_region else None, now)
            if row is None:
                raise ApiError(
                    "OperationDenied.NoAvailableServiceResource",
                    f"No service resource can be allocated in zone {zone['ZoneId']}.",
                )
            chosen[zone["ZoneId"]] = row
        return chosen

    def _bandwidth_and_mode(self, service, bandwidth, mode):
        if bandwidth is not None and not 100 <= bandwidth <= MAX_BANDWIDTH[service.resource_type]:
            raise illegal(
                "Bandwidth",
                f"must be from 100 to {MAX_BANDWIDTH[service.resource_type]} for "
                f"{service.resource_type}",
            )
        if mode is not None and mode not in TRAFFIC_MODES[service.resource_type]:
            raise illegal(
                "TrafficControlMode",
                f"must be one of {', '.join(TRAFFIC_MODES[service.resource_type])} for "
                f"{service.resource_type}",
            )

    def _connection_params(self, params):
        region_id = self._region(params)
        service_id = self._required(params, "ServiceId")
        endpoint_id = self._required(params, "EndpointId")
        return region_id, service_id, endpoint_id

    def _describe_zone(self, endpoint, zone, now):
        return {
            "ZoneId": zone["ZoneId"],
            "VSwitchId": zone["VSwitchId"],
            "EniId": zone["EniId"],
            "EniIp": zone["EniIp"],
            "ZoneDomain": zone_domain(endpoint, zone["ZoneId"]),
            "ZoneStatus": status_at(zone["timeline"], now),
            "ZoneIpv6Address": zone.get("Ipv6Address") or "",
            "RegionId": endpoint.region_id,
        }

    # --- ListVpcEndpointConnections ----------------------------------------------------

    CONNECTION_FILTERS = (
        "EndpointId",
        "ConnectionStatus",
        "EniId",
        "ResourceId",
        "ReplacedResourceId",
        "ResourceGroupId",
    )

    def list_vpc_endpoint_connections(self, account, params):
        region_id = self._region(params)
        service_id = scalar(params, "ServiceId") or None
        filters = {name: scalar(params, name) for name in self.CONNECTION_FILTERS}
        filters = {name: value for name, value in filters.items() if value not in (None, "")}
        owner_id = scalar(params, "EndpointOwnerId")
        if owner_id:
            if not (owner_id.isascii() and owner_id.isdigit()) or len(owner_id) > 19:
                raise illegal("EndpointOwnerId", "must be an account id")
            owner_id = str(int(owner_id))
        paging = Paging(params, f"ListVpcEndpointConnections:{service_id or ''}")
        now = self.clock()
        if service_id:
            services = [self._owned_service(account, region_id, service_id, now)[0]]
        else:
            services = [s for s, _ in self._live_services(account.account_id, region_id, now)]
        found = []
        for service in services:
            for endpoint, _status, connection in self._endpoints_of(service.service_id, now):
                if owner_id and self.uid_of(endpoint.account_id) != owner_id:
                    continue
                body = self._describe_connection(service, endpoint, connection, now)
                if filters and not self._connection_matches(body, filters):
                    continue
                found.append((endpoint.seq, body))
        found.sort(key=lambda item: item[0])
        page, next_token = paging.cut([body for _seq, body in found])
        return {
            "Connections": page,
            "TotalCount": str(len(found)),
            "NextToken": next_token,
            "MaxResults": paging.max_results,
        }

    @staticmethod
    def _connection_matches(body, filters):
        for name, value in filters.items():
            if name in ("EndpointId", "ConnectionStatus", "ResourceGroupId"):
                if body[name] != value:
                    return False
            elif not any(zone[name] == value for zone in body["Zones"]):
                return False
        return True

    def _describe_connection(self, service, endpoint, connection, now):
        return {
            "ServiceId": service.service_id,
            "ServiceRegionId": service.region_id,
            "EndpointId": endpoint.endpoint_id,
            "EndpointOwnerId": int(self.uid_of(endpoint.account_id)),
            "EndpointRegionId": endpoint.region_id,
            "EndpointVpcId": endpoint.vpc_id,
            "ResourceGroupId": endpoint.resource_group_id,
            "ResourceOwner": endpoint.account_id == service.account_id,
            "ConnectionStatus": connection,
            "Bandwidth": endpoint.bandwidth,
            "TrafficControlMode": endpoint.traffic_control_mode,
            "ModifiedTime": iso(changed_at(endpoint.connection, now)),
            "Zones": [
                {
                    "ZoneId": zone["ZoneId"],
                    "VSwitchId": zone["VSwitchId"],
                    "EniId": zone["EniId"],
                    "ZoneDomain": zone_domain(endpoint, zone["ZoneId"]),
                    "ZoneStatus": status_at(zone["timeline"], now),
                    "ResourceId": (allocated(zone, now) or ("",))[0],
                    "ReplacedResourceId": "",
                    "ReplacedEniId": "",
                }
                for zone in endpoint.zones
            ],
        }

    # --- Enable / Disable / Update -------------------------------------------------------

    def _connect_zones(self, service, endpoint, zones, now):
        """Zones go Connecting -> Connected, each on an allocated service row."""
        chosen = self._allocations(service, endpoint, zones, now)
        for zone in zones:
            schedule(zone["timeline"], now, (0, "Connecting"), (self.create_delay, "Connected"))
            allocate(zone, chosen[zone["ZoneId"]], now)

    def _disconnect_zones(self, zones, now):
        delay = self.create_delay
        for zone in zones:
            schedule(zone["timeline"], now, (0, "Disconnecting"), (delay, "Disconnected"))
            release(zone, now + delay)

    def enable_vpc_endpoint_connection(self, account, params):
        region_id, service_id, endpoint_id = self._connection_params(params)
        bandwidth = parse_int(params, "Bandwidth")
        mode = scalar(params, "TrafficControlMode")
        if mode is not None and mode not in ("BandwidthLimit", "Scalability"):
            raise illegal("TrafficControlMode", "must be BandwidthLimit or Scalability")

        def act(dry_run):
            now = self.clock()
            service, status = self._owned_service(account, region_id, service_id, now)
            endpoint, endpoint_status, connection = self._connection(service, endpoint_id, now)
            if status != "Active":
                raise ApiError(
                    "EndpointServiceOperationDenied",
                    "The specified operation of endpoint service is not allowed "
                    f"({service_id} is {status}).",
                )
            if connection in CONNECTION_BUSY:
                raise connection_busy()
            self._bandwidth_and_mode(service, bandwidth, mode)
            if connection == "Connected":
                if dry_run:
                    raise dry_run_passed()
                return {}
            if endpoint_status != "Active":
                raise endpoint_denied(endpoint_id, endpoint_status)
            zones = [z for z in endpoint.zones if status_at(z["timeline"], now) != "Deleting"]
            self._allocations(service, endpoint, zones, now)
            if dry_run:
                raise dry_run_passed()
            if bandwidth is not None:
                endpoint.bandwidth = bandwidth
            if mode is not None:
                endpoint.traffic_control_mode = mode
            delay = self.create_delay
            schedule(endpoint.connection, now, (0, "Connecting"), (delay, "Connected"))
            self._connect_zones(service, endpoint, zones, now)
            self.store.save_endpoint(endpoint)
            return {}

        return self._once(account, "EnableVpcEndpointConnection", params, act)

    def disable_vpc_endpoint_connection(self, account, params):
        region_id, service_id, endpoint_id = self._connection_params(params)

        def act(dry_run):
            now = self.clock()
            service, status = self._owned_service(account, region_id, service_id, now)
            endpoint, _endpoint_status, connection = self._connection(service, endpoint_id, now)
            if status != "Active":
                raise ApiError(
                    "EndpointServiceOperationDenied",
                    "The specified operation of endpoint service is not allowed "
                    f"({service_id} is {status}).",
                )
            if connection in CONNECTION_BUSY:
                raise connection_busy()
            if dry_run:
                raise dry_run_passed()
            if connection != "Connected":
                return {}
            delay = self.create_delay
            schedule(endpoint.connection, now, (0, "Disconnecting"), (delay, "Disconnected"))
            zones = [z for z in endpoint.zones if status_at(z["timeline"], now) != "Deleting"]
            self._disconnect_zones(zones, now)
            self.store.save_endpoint(endpoint)
            return {}

        return self._once(account, "DisableVpcEndpointConnection", params, act)

    def update_vpc_endpoint_connection_attribute(self, account, params):
        region_id, service_id, endpoint_id = self._connection_params(params)
        bandwidth = parse_int(params, "Bandwidth")
        mode = scalar(params, "TrafficControlMode")
        if mode is not None and mode not in ("BandwidthLimit", "Scalability"):
            raise illegal("TrafficControlMode", "must be BandwidthLimit or Scalability")

        def act(dry_run):
            now = self.clock()
            service, status = self._owned_service(account, region_id, service_id, now)
            endpoint, _endpoint_status, connection = self._connection(service, endpoint_id, now)
            if status != "Active":
                raise ApiError(
                    "EndpointServiceOperationDenied",
                    "The specified operation of endpoint service is not allowed "
                    f"({service_id} is {status}).",
                )
            if connection != "Connected":
                raise connection_busy()
            if bandwidth is not None and service.resource_type == "gwlb":
                raise ApiError(
                    "UpdateBandWidthUnSupported",
                    "Bandwidth updates are not supported for this service.",
                )
            self._bandwidth_and_mode(service, bandwidth, mode)
            if dry_run:
                raise dry_run_passed()
            changes = {"bandwidth": bandwidth, "traffic_control_mode": mode}
            changes = {
                name: value
                for name, value in changes.items()
                if value is not None and getattr(endpoint, name) != value
            }
            if not changes:
                return {}
            for name, value in changes.items():
                setattr(endpoint, name, value)
            schedule(endpoint.connection, now, (0, "Pending"), (self.create_delay, "Connected"))
            self.store.save_endpoint(endpoint)
            return {}

        return self._once(account, "UpdateVpcEndpointConnectionAttribute", params, act)

    # --- zone level ----------------------------------------------------------------------

    def _zone_connection(self, account, params, dry_run, enable):
        region_id, service_id, endpoint_id = self._connection_params(params)
        zone_id = self._required(params, "ZoneId")
        now = self.clock()
        service, status = self._owned_service(account, region_id, service_id, now)
        endpoint, endpoint_status, connection = self._connection(service, endpoint_id, now)
        zone = next((z for z in endpoint.zones if z["ZoneId"] == zone_id), None)
        if zone is None:
            raise ApiError(
                "ResourceNotFound.VpcEndpointZone",
                f"The specified resource {zone_id} is not found.",
                status=404,
            )
        if status != "Active":
            raise incorrect_status("VpcEndpointService", service_id)
        if service.business_status != "Normal":
            raise ApiError(
                "IncorrectBusinessStatus.VpcEndpointService",
                f"The business status of VpcEndpointService [{service_id}] is incorrect.",
            )
        if endpoint.business_status != "Normal":
            raise ApiError(
                "IncorrectBusinessStatus.VpcEndpoint",
                f"The business status of VpcEndpoint [{endpoint_id}] is incorrect.",
            )
        if endpoint_status != "Active":
            if enable:
                raise endpoint_denied(endpoint_id, endpoint_status)
            raise incorrect_status("VpcEndpoint", endpoint_id)
        if connection in CONNECTION_BUSY:
            raise connection_busy()
        if connection != "Connected":
            raise incorrect_status("VpcEndpointConnection", f"{service_id}:{endpoint_id}")
        if status_at(zone["timeline"], now) != ("Disconnected" if enable else "Connected"):
            raise incorrect_status("VpcEndpointZone", zone_id)
        if enable:
            self._allocations(service, endpoint, [zone], now)
        if dry_run:
            raise dry_run_passed()
        if enable:
            self._connect_zones(service, endpoint, [zone], now)
        else:
            self._disconnect_zones([zone], now)
        self.store.save_endpoint(endpoint)
        return {}

    def enable_vpc_endpoint_zone_connection(self, account, params):
        self._connection_params(params)
        self._required(params, "ZoneId")
        return self._once(
            account,
            "EnableVpcEndpointZoneConnection",
            params,
            lambda dry_run: self._zone_connection(account, params, dry_run, enable=True),
        )

    def disable_vpc_endpoint_zone_connection(self, account, params):
        self._connection_params(params)
        self._required(params, "ZoneId")
        parse_bool(params, "ReplacedResource")
        return self._once(
            account,
            "DisableVpcEndpointZoneConnection",
            params,
            lambda dry_run: self._zone_connection(account, params, dry_run, enable=False),
        )

    ACTIONS = {
        "ListVpcEndpointConnections": list_vpc_endpoint_connections,
        "EnableVpcEndpointConnection": enable_vpc_endpoint_connection,
        "DisableVpcEndpointConnection": disable_vpc_endpoint_connection,
        "UpdateVpcEndpointConnectionAttribute": update_vpc_endpoint_connection_attribute,
        "EnableVpcEndpointZoneConnection": enable_vpc_endpoint_zone_connection,
        "DisableVpcEndpointZoneConnection": disable_vpc_endpoint_zone_connection,
    }

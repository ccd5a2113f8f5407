"""The consumer side: endpoints to a service, from the account that makes them.

An endpoint is seen only by its own account (`EndpointNotFound` for any other); its
connection is seen by the service owner through connections.py.
"""

import hashlib

from .model import (
    DEFAULT_RESOURCE_GROUP,
    GONE,
    IP_VERSIONS,
    Endpoint,
    allocate,
    iso,
    random_id,
    release,
    schedule,
    status_at,
)
from .params import (
    ApiError,
    Paging,
    dry_run_passed,
    illegal,
    missing,
    parse_bool,
    parse_choice,
    parse_int,
    parse_list,
    parse_string,
    parse_tags,
    scalar,
    tags_match,
)

ENDPOINT_TYPES = ("Interface", "Reverse", "GatewayLoadBalancer")
MAX_ZONES_PER_ENDPOINT = 10
MAX_SECURITY_GROUPS = 10
CONNECTION_BUSY = ("Connecting", "Disconnecting", "Pending", "Deleting")


def endpoint_not_found(endpoint_id):
    return ApiError("EndpointNotFound", f"The specified Endpoint does not exist ({endpoint_id}).")


def quota_exceeded(name, usage, limit):
    return ApiError(
        f"QuotaExceeded.{name}", f"The quota of {name} is exceeded, usage {usage}/{limit}."
    )


def service_deleted():
    return ApiError("EndpointServiceDeleted", "The specified Service is already deleted.")


def eni_ip(endpoint_id, zone_id):
    """A stable private address for an endpoint zone that was given no `ip`."""
    digest = hashlib.sha256(f"{endpoint_id}:{zone_id}".encode()).digest()
    return f"172.{16 + digest[0] % 16}.{digest[1]}.{digest[2] % 250 + 4}"


class EndpointOperations:
    """CreateVpcEndpoint and the other calls of an endpoint's own account."""

    # --- shared ------------------------------------------------------------------------

    def _own_endpoint(self, account, region_id, endpoint_id, now):
        """(endpoint, status, connection status) of one of the caller's live endpoints."""
        endpoint = self.store.endpoints.get(endpoint_id)
        if (
            endpoint is not None
            and endpoint.account_id == account.account_id
            and endpoint.region_id == region_id
        ):
            status, connection = self.endpoint_state(endpoint, now)
            if status is not GONE:
                return endpoint, status, connection
        raise endpoint_not_found(endpoint_id)

    def _describe_endpoint(self, endpoint, status, connection, now, *, listed=False):
        body = {
            "EndpointId": endpoint.endpoint_id,
            "EndpointName": endpoint.name,
            "EndpointDescription": endpoint.description,
            "EndpointDomain": (
                f"{endpoint.endpoint_id}.{endpoint.service_id}.{endpoint.service_region_id}"
                ".privatelink.aliyuncs.com"
            ),
            "EndpointStatus": status,
            "EndpointBusinessStatus": endpoint.business_status,
            "EndpointType": endpoint.endpoint_type,
            "ConnectionStatus": connection,
            "Bandwidth": endpoint.bandwidth,
            "CrossRegionBandwidth": endpoint.cross_region_bandwidth,
            "ServiceId": endpoint.service_id,
            "ServiceName": endpoint.service_name,
            "ServiceRegionId": endpoint.service_region_id,
            "RegionId": endpoint.region_id,
            "VpcId": endpoint.vpc_id,
            "Payer": endpoint.payer,
            "ResourceOwner": endpoint.account_id == endpoint.service_account_id,
            "ZoneAffinityEnabled": endpoint.zone_affinity,
            "ZonePrivateIpAddressCount": 1,
            "AddressIpVersion": endpoint.ip_version,
            "ResourceGroupId": endpoint.resource_group_id,
            "PolicyDocument": endpoint.policy_document,
            "ProtectedEnabled": endpoint.protected,
            "CreateTime": iso(endpoint.created_at),
        }
        if listed:
            del body["Payer"], body["ZonePrivateIpAddressCount"]
            body["Tags"] = [{"Key": t["Key"], "Value": t["Value"]} for t in endpoint.tags]
        return body

    def _caller_endpoints(self, account, region_id, now):
        """[(endpoint, status, connection)] of the caller's live endpoints in a region."""
        found = []
        for endpoint in list(self.store.endpoints.values()):
            if endpoint.account_id != account.account_id or endpoint.region_id != region_id:
                continue
            status, connection = self.endpoint_state(endpoint, now)
            if status is not GONE:
                found.append((endpoint, status, connection))
        return found

    def _service_for_endpoint(self, endpoint, connection, now):
        """The endpoint's service for AddZone: gone or Deleting is EndpointServiceDeleted."""
        service, status = self._any_service(endpoint.service_id, now)
        if service is None or status == "Deleting" or connection == "ServiceDeleted":
            raise service_deleted()
        if status != "Active":
            raise ApiError(
                "IncorrectStatus.VpcEndpointService",
                f"The status of VpcEndpointService [{service.service_id}] is incorrect.",
            )
        return service

    def _endpoint_writable(self, endpoint, status, connection):
        if endpoint.business_status != "Normal":
            raise ApiError("EndpointLocked", "The specified Endpoint is locked.")
        if status != "Active":
            raise ApiError(
                "EndpointOperationDenied",
                "The specified operation of endpoint is not allowed "
                f"({endpoint.endpoint_id} is {status}).",
            )
        if connection in CONNECTION_BUSY:
            raise ApiError("EndpointConnectionOperationDenied", "The endpoint is being connected.")

    @staticmethod
    def _check_vswitches(zones):
        for zone in zones:
            if not zone["VSwitchId"].startswith("vsw-"):
                raise ApiError(
                    "VSwitchNotFound", f"The specified vSwitch {zone['VSwitchId']} is not found."
                )

    @staticmethod
    def _check_ips(ips):
        ips = [ip for ip in ips if ip]
        if len(set(ips)) < len(ips):
            raise ApiError("EniIpUnavailable", "The specified private IP address is not available.")

    def _service_region(self, params, region_id):
        service_region_id = scalar(params, "ServiceRegionId") or region_id
        if service_region_id not in self.inventory["regions"]:
            raise illegal("ServiceRegionId", f"names an unknown region ({service_region_id})")
        return service_region_id

    # --- CreateVpcEndpoint -------------------------------------------------------------

    def _validate_endpoint(self, params):
        region_id = self._region(params)
        vpc_id = self._required(params, "VpcId")
        service_id = scalar(params, "ServiceId") or None
        service_name = scalar(params, "ServiceName") or None
        if service_id is None and service_name is None:
            raise missing("ServiceId")
        service_region_id = scalar(params, "ServiceRegionId") or region_id
        if service_region_id not in self.inventory["regions"]:
            raise illegal(
                "ServiceRegionId", f"does not name a supported region ({service_region_id})"
            )
        name = scalar(params, "EndpointName")
        if name is not None and not (2 <= len(name) <= 128 and name[:1].isalpha()):
            raise illegal("EndpointName", "must be 2 to 128 characters and start with a letter")
        description = scalar(params, "EndpointDescription")
        if description is not None and (
            not 2 <= len(description) <= 256 or description.startswith(("http://", "https://"))
        ):
            raise illegal(
                "EndpointDescription",
                "must be 2 to 256 characters and not start with http:// or https://",
            )
        count = parse_int(params, "ZonePrivateIpAddressCount")
        if count is not None and count != 1:
            raise illegal("ZonePrivateIpAddressCount", "must be 1")
        resource_group_id = parse_string(params, "ResourceGroupId", 64) or DEFAULT_RESOURCE_GROUP
        if not resource_group_id.startswith("rg-"):
            raise illegal("ResourceGroupId", "must start with rg-")
        security_groups = parse_list(params, "SecurityGroupId", str)
        if len(security_groups) > MAX_SECURITY_GROUPS:
            raise illegal("SecurityGroupId", f"must hold at most {MAX_SECURITY_GROUPS} groups")
        zones = []
        for item in parse_list(params, "Zone", dict):
            if not item.get("ZoneId"):
                raise missing("Zone.ZoneId")
            zones.append(
                {
                    "ZoneId": item["ZoneId"],
                    "VSwitchId": item.get("VSwitchId") or "",
                    "ip": item.get("ip") or "",
                    "Ipv6Address": item.get("Ipv6Address") or "",
                }
            )
        return {
            "RegionId": region_id,
            "VpcId": vpc_id,
            "ServiceId": service_id,
            "ServiceName": service_name,
            "ServiceRegionId": service_region_id,
            "EndpointType": parse_choice(params, "EndpointType", ENDPOINT_TYPES, "Interface"),
            "EndpointName": name or "",
            "EndpointDescription": description or "",
            "AddressIpVersion": parse_choice(
                params,
                "AddressIpVersion",
                IP_VERSIONS,
                "IPv4",
                code="IllegalParam.AddressIpVersion",
            ),
            "ZoneAffinityEnabled": parse_bool(params, "ZoneAffinityEnabled"),
            "ProtectedEnabled": parse_bool(params, "ProtectedEnabled"),
            "PolicyDocument": parse_string(params, "PolicyDocument", 32768) or "",
            "ResourceGroupId": resource_group_id,
            "CrossRegionBandwidth": parse_int(params, "CrossRegionBandwidth", 1, 100000),
            "Tags": parse_tags(params),
            "SecurityGroupId": security_groups,
            "Zones": zones,
        }

    def _service_to_connect(self, account, spec, now):
        """Steps 1-3 of CreateVpcEndpoint's checks: (service, status)."""
        wanted = spec["ServiceId"] or spec["ServiceName"].rsplit(".", 1)[-1]
        service, status = self._any_service(wanted, now)
        if (
            service is None
            or service.region_id != spec["ServiceRegionId"]
            or (spec["ServiceId"] and service.service_id != spec["ServiceId"])
            or (spec["ServiceName"] and service.name != spec["ServiceName"])
            or (
                service.region_id != spec["RegionId"]
                and spec["RegionId"] not in service.supported_regions
            )
        ):
            raise ApiError(
                "EndpointServiceNotFound",
                f"The specified endpoint service {spec['ServiceId'] or spec['ServiceName']} "
                "is not found.",
            )
        if not self.admits(service, account):
            raise ApiError(
                "EndpointServiceNotAuthorized",
                "The specified endpoint service is not authorized to user.",
            )
        if status == "Deleting":
            raise service_deleted()
        if status != "Active":
            raise ApiError(
                "IncorrectStatus.VpcEndpointService",
                f"The status of VpcEndpointService [{service.service_id}] is incorrect.",
            )
        return service

    def _zones_supported(self, service, region_id, zone_ids):
        if region_id == service.region_id:
            supported = set(service.zones())
        else:
            supported = {z["ZoneId"] for z in self.inventory["regions"][region_id]["Zones"]}
        for zone_id in zone_ids:
            if zone_id not in supported:
                raise ApiError(
                    "EndpointServiceNotSupportedZone",
                    f"The endpoint service does not support zone {zone_id}.",
                )

    def create_vpc_endpoint(self, account, params):
        spec = self._validate_endpoint(params)

        def act(dry_run):
            now = self.clock()
            service = self._service_to_connect(account, spec, now)
            wanted_type = "GatewayLoadBalancer" if service.resource_type == "gwlb" else "Interface"
            if spec["EndpointType"] != wanted_type:
                raise ApiError(
                    "Mismatch.EndpointType",
                    f"The endpoint type {spec['EndpointType']} does not match the endpoint "
                    f"service (it needs {wanted_type}).",
                )
            zones = spec["Zones"]
            if spec["EndpointType"] == "Interface" and not spec["SecurityGroupId"]:
                raise ApiError(
                    "EndpointMustContainSecurityGroup",
                    "An endpoint of the Interface type must have a security group.",
                )
            zone_ids = [z["ZoneId"] for z in zones]
            if len(set(zone_ids)) < len(zone_ids):
                raise ApiError("EndpointZoneDuplicated", "The endpoint zones are duplicated.")
            self._zones_supported(service, spec["RegionId"], zone_ids)
            if any(not z["VSwitchId"] for z in zones):
                raise missing("Zone.VSwitchId")
            if not spec["VpcId"].startswith("vpc-"):
                raise ApiError("VpcNotFound", f"The specified VPC {spec['VpcId']} is not found.")
            self._check_vswitches(zones)
            for group in spec["SecurityGroupId"]:
                if not group.startswith("sg-"):
                    raise ApiError(
                        "SecurityGroupNotFound",
                        f"The specified security group {group} is not found.",
                    )
            self._check_ips([z["ip"] for z in zones])
            in_vpc = [
                e
                for e, _status, _connection in self._caller_endpoints(
                    account, spec["RegionId"], now
                )
                if e.vpc_id == spec["VpcId"]
            ]
            if any(e.service_id == service.service_id for e in in_vpc):
                raise ApiError(
                    "EndpointDuplicated",
                    "The endpoint of the service already exists and cannot be created again.",
                )
            if len(in_vpc) >= self.endpoints_per_vpc:
                raise quota_exceeded("totalEpPerVpc", len(in_vpc), self.endpoints_per_vpc)
            if len(zones) > MAX_ZONES_PER_ENDPOINT:
                raise quota_exceeded("epZonePerEndpoint", len(zones), MAX_ZONES_PER_ENDPOINT)
            if dry_run:
                raise dry_run_passed()
            endpoint = self._new_endpoint(account, spec, service, now)
            status, connection = self.endpoint_state(endpoint, now)
            body = self._describe_endpoint(endpoint, status, connection, now)
            for key in (
                "EndpointType",
                "RegionId",
                "Payer",
                "ResourceOwner",
                "ZonePrivateIpAddressCount",
                "ResourceGroupId",
                "PolicyDocument",
                "ProtectedEnabled",
            ):
                del body[key]
            return body

        return self._once(account, "CreateVpcEndpoint", params, act)

    def _new_endpoint(self, account, spec, service, now):
        delay = self.create_delay
        endpoint_id = random_id("ep-")
        cross_region = spec["RegionId"] != service.region_id
        connection = [[now, "Disconnected"]]
        if service.auto_accept:
            connection += [[now + delay, "Connecting"], [now + 2 * delay, "Connected"]]
        zones = []
        for item in spec["Zones"]:
            zone = {
                "ZoneId": item["ZoneId"],
                "VSwitchId": item["VSwitchId"],
                "EniId": random_id("eni-"),
                "EniIp": item["ip"] or eni_ip(endpoint_id, item["ZoneId"]),
                "Ipv6Address": item["Ipv6Address"],
                "timeline": [[now, "Creating"], [now + delay, "Wait"]],
                "alloc": None,
            }
            if service.auto_accept:
                # Decided now, in effect once the endpoint is Active; a zone without an
                # auto-allocated row stays Wait.
                row = self._pick_row(service, None if cross_region else item["ZoneId"], now)
                if row is not None:
                    zone["timeline"] += [
                        [now + delay, "Connecting"],
                        [now + 2 * delay, "Connected"],
                    ]
                    allocate(zone, row, now + delay)
            zones.append(zone)
        bandwidth = spec["CrossRegionBandwidth"]
        if bandwidth is None:
            bandwidth = 1024 if cross_region else 0
        endpoint = Endpoint(
            endpoint_id=endpoint_id,
            account_id=account.account_id,
            region_id=spec["RegionId"],
            service_id=service.service_id,
            service_name=service.name,
            service_region_id=service.region_id,
            service_account_id=service.account_id,
            payer=service.payer,
            created_at=now,
            seq=self.store.next_seq(),
            timeline=[[now, "Creating"], [now + delay, "Active"]],
            connection=connection,
            vpc_id=spec["VpcId"],
            name=spec["EndpointName"],
            description=spec["EndpointDescription"],
            endpoint_type=spec["EndpointType"],
            security_groups=list(spec["SecurityGroupId"]),
            ip_version=spec["AddressIpVersion"],
            zone_affinity=spec["ZoneAffinityEnabled"],
            protected=spec["ProtectedEnabled"],
            policy_document=spec["PolicyDocument"],
            resource_group_id=spec["ResourceGroupId"],
            bandwidth=service.connect_bandwidth,
            traffic_control_mode=self._default_mode(service),
            cross_region_bandwidth=bandwidth
            if bandwidth is not None
            else (1024 if cross_region else 0),
            tags=[dict(t) for t in spec["Tags"]],
            zones=zones,
        )
        self.store.add_endpoint(endpoint)
        return endpoint

    @staticmethod
    def _default_mode(service):
        return "BandwidthLimit" if service.resource_type in ("slb", "alb") else "Scalability"

    # --- Get / List / Delete -----------------------------------------------------------

    def get_vpc_endpoint_attribute(self, account, params):
        region_id = self._region(params)
        endpoint_id = self._required(params, "EndpointId")
        now = self.clock()
        endpoint, status, connection = self._own_endpoint(account, region_id, endpoint_id, now)
        return self._describe_endpoint(endpoint, status, connection, now)

    ENDPOINT_FILTERS = (
        "EndpointId",
        "EndpointName",
        "EndpointStatus",
        "ConnectionStatus",
        "EndpointType",
        "ServiceName",
        "ServiceRegionId",
        "VpcId",
        "AddressIpVersion",
        "ResourceGroupId",
    )

    def list_vpc_endpoints(self, account, params):
        region_id = self._region(params)
        filters = {name: scalar(params, name) for name in self.ENDPOINT_FILTERS}
        filters = {name: value for name, value in filters.items() if value not in (None, "")}
        wanted_tags = parse_list(params, "Tag", dict)
        paging = Paging(params, "ListVpcEndpoints")
        now = self.clock()
        found = []
        for endpoint, status, connection in self._caller_endpoints(account, region_id, now):
            body = self._describe_endpoint(endpoint, status, connection, now, listed=True)
            if any(body[name] != value for name, value in filters.items()):
                continue
            if wanted_tags and not tags_match(endpoint.tags, wanted_tags):
                continue
            found.append(body)
        page, next_token = paging.cut(found)
        return {
            "Endpoints": page,
            "TotalCount": len(found),
            "NextToken": next_token,
            "MaxResults": paging.max_results,
        }

    def delete_vpc_endpoint(self, account, params):
        region_id = self._region(params)
        endpoint_id = self._required(params, "EndpointId")

        def act(dry_run):
            now = self.clock()
            endpoint, status, _connection = self._own_endpoint(account, region_id, endpoint_id, now)
            if status != "Active":
                raise ApiError(
                    "EndpointOperationDenied",
                    f"The specified operation of endpoint is not allowed ({endpoint_id} is "
                    f"{status}).",
                )
            if dry_run:
                raise dry_run_passed()
            delay = self.create_delay
            schedule(endpoint.timeline, now, (0, "Deleting"), (delay, GONE))
            schedule(endpoint.connection, now, (0, "Deleting"), (delay, GONE))
            for zone in endpoint.zones:
                schedule(zone["timeline"], now, (0, "Deleting"), (delay, GONE))
                release(zone, now + delay)
            self.store.save_endpoint(endpoint)
            return {}

        return self._once(account, "DeleteVpcEndpoint", params, act)

    # --- ListVpcEndpointServicesByEndUser ---------------------------------------------

    def list_vpc_endpoint_services_by_end_user(self, account, params):
        region_id = self._region(params)
        service_region_id = scalar(params, "ServiceRegionId") or region_id
        if service_region_id not in self.inventory["regions"]:
            raise illegal(
                "ServiceRegionId", f"does not name a supported region ({service_region_id})"
            )
        filters = {
            name: scalar(params, name)
            for name in ("ServiceId", "ServiceName", "ServiceType", "ResourceGroupId")
        }
        filters = {name: value for name, value in filters.items() if value not in (None, "")}
        wanted_tags = parse_list(params, "Tag", dict)
        paging = Paging(params, f"ListVpcEndpointServicesByEndUser:{service_region_id}")
        now = self.clock()
        found = []
        for service in list(self.store.services.values()):
            if service.region_id != service_region_id:
                continue
            if service_region_id != region_id and region_id not in service.supported_regions:
                continue
            if self.service_status(service, now) != "Active" or not self.admits(service, account):
                continue
            body = {
                "ServiceId": service.service_id,
                "ServiceName": service.name,
                "ServiceDomain": service.domain,
                "ServiceType": "GatewayLoadBalancer"
                if service.resource_type == "gwlb"
                else "Interface",
                "ServiceResourceType": service.resource_type,
                "Payer": service.payer,
                "AutoAcceptEnabled": service.auto_accept,
                "ZoneAffinityEnabled": service.zone_affinity,
                "AddressIpVersion": service.ip_version,
                "ServiceSupportIPv6": service.ip_version == "DualStack",
                "ResourceGroupId": service.resource_group_id,
                "VpcEndpointPolicySupported": False,
                "Zones": service.zones(),
                "Tags": [{"Key": t["Key"], "Value": t["Value"]} for t in service.tags],
            }
            if any(body[name] != value for name, value in filters.items()):
                continue
            if wanted_tags and not tags_match(service.tags, wanted_tags):
                continue
            found.append(body)
        page, next_token = paging.cut(found)
        return {
            "Services": page,
            "TotalCount": str(len(found)),
            "NextToken": next_token,
            "MaxResults": paging.max_results,
        }

    # --- endpoint zones ----------------------------------------------------------------

    def list_vpc_endpoint_zones(self, account, params):
        region_id = self._region(params)
        endpoint_id = self._required(params, "EndpointId")
        paging = Paging(params, f"ListVpcEndpointZones:{endpoint_id}")
        now = self.clock()
        endpoint, _status, _connection = self._own_endpoint(account, region_id, endpoint_id, now)
        zones = [self._describe_zone(endpoint, zone, now) for zone in endpoint.zones]
        page, next_token = paging.cut(zones)
        return {
            "Zones": page,
            "TotalCount": len(zones),
            "NextToken": next_token,
            "MaxResults": paging.max_results,
        }

    def add_zone_to_vpc_endpoint(self, account, params):
        region_id = self._region(params)
        endpoint_id = self._required(params, "EndpointId")
        zone_id = self._required(params, "ZoneId")
        vswitch_id = self._required(params, "VSwitchId")
        ip = scalar(params, "ip") or ""
        ipv6 = scalar(params, "Ipv6Address") or ""

        def act(dry_run):
            now = self.clock()
            endpoint, status, connection = self._own_endpoint(account, region_id, endpoint_id, now)
            self._endpoint_writable(endpoint, status, connection)
            service = self._service_for_endpoint(endpoint, connection, now)
            if any(z["ZoneId"] == zone_id for z in endpoint.zones):
                raise ApiError("EndpointZoneDuplicated", "The endpoint zones are duplicated.")
            self._zones_supported(service, region_id, [zone_id])
            if len(endpoint.zones) >= MAX_ZONES_PER_ENDPOINT:
                raise quota_exceeded(
                    "epZonePerEndpoint", len(endpoint.zones), MAX_ZONES_PER_ENDPOINT
                )
            self._check_vswitches([{"VSwitchId": vswitch_id}])
            if ip:
                self._check_ips([ip, *(z["EniIp"] for z in endpoint.zones)])
            zone = {
                "ZoneId": zone_id,
                "VSwitchId": vswitch_id,
                "EniId": random_id("eni-"),
                "EniIp": ip or eni_ip(endpoint_id, zone_id),
                "Ipv6Address": ipv6,
                "timeline": [[now, "Creating"]],
                "alloc": None,
            }
            connected = connection == "Connected"
            if connected:
                chosen = self._allocations(service, endpoint, [zone], now)
            if dry_run:
                raise dry_run_passed()
            delay = self.create_delay
            if connected:
                zone["timeline"] += [[now + delay, "Connecting"], [now + 2 * delay, "Connected"]]
                allocate(zone, chosen[zone_id], now + delay)
            else:
                zone["timeline"].append([now + delay, "Wait"])
            endpoint.zones.append(zone)
            schedule(endpoint.timeline, now, (0, "Pending"), (delay, "Active"))
            self.store.save_endpoint(endpoint)
            return {}

        return self._once(account, "AddZoneToVpcEndpoint", params, act)

    def remove_zone_from_vpc_endpoint(self, account, params):
        region_id = self._region(params)
        endpoint_id = self._required(params, "EndpointId")
        zone_id = self._required(params, "ZoneId")

        def act(dry_run):
            now = self.clock()
            endpoint, status, connection = self._own_endpoint(account, region_id, endpoint_id, now)
            self._endpoint_writable(endpoint, status, connection)
            zone = next(
                (
                    z
                    for z in endpoint.zones
                    if z["ZoneId"] == zone_id and status_at(z["timeline"], now) != "Deleting"
                ),
                None,
            )
            if zone is None:
                raise ApiError("EndpointZoneNotFound", f"The endpoint zone {zone_id} is not found.")
            if dry_run:
                raise dry_run_passed()
            delay = self.create_delay
            schedule(zone["timeline"], now, (0, "Deleting"), (delay, GONE))
            release(zone, now + delay)
            schedule(endpoint.timeline, now, (0, "Pending"), (delay, "Active"))
            self.store.save_endpoint(endpoint)
            return {}

        return self._once(account, "RemoveZoneFromVpcEndpoint", params, act)

    ACTIONS = {
        "CreateVpcEndpoint": create_vpc_endpoint,
        "GetVpcEndpointAttribute": get_vpc_endpoint_attribute,
        "ListVpcEndpoints": list_vpc_endpoints,
        "DeleteVpcEndpoint": delete_vpc_endpoint,
        "ListVpcEndpointServicesByEndUser": list_vpc_endpoint_services_by_end_user,
        "ListVpcEndpointZones": list_vpc_endpoint_zones,
        "AddZoneToVpcEndpoint": add_zone_to_vpc_endpoint,
        "RemoveZoneFromVpcEndpoint": remove_zone_from_vpc_endpoint,
    }

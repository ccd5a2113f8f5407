"""What a service owner calls: services, their resources, allow-list, tags; regions and zones.

A mixin of `Backend`: every method takes (account, params) and runs under the backend's lock.
Check order in each operation: parameters (format only), ClientToken, lookups, state, the
operation's own rules, DryRun, then the change (see docs/simulator.md).
"""

import hashlib
import re

from .model import (
    DEFAULT_RESOURCE_GROUP,
    DUAL_STACK_TYPES,
    GONE,
    IP_VERSIONS,
    MAX_RESOURCES_AT_CREATION,
    MAX_RESOURCES_PER_SERVICE,
    PAYERS,
    SERVICE_RESOURCE_TYPES,
    ZONE_REQUIRED_TYPES,
    Service,
    iso,
    random_id,
    schedule,
    status_at,
)
from .params import (
    MAX_TAGS,
    ApiError,
    Paging,
    dry_run_passed,
    illegal,
    missing,
    parse_bool,
    parse_choice,
    parse_int,
    parse_list,
    parse_optional_bool,
    parse_string,
    parse_tags,
    scalar,
    tag_problem,
    tags_match,
)

USER_ARN = re.compile(r"^acs:ram:\*:(\d+|\*):.+$")
TAG_RESOURCE_TYPES = ("vpcendpoint", "vpcendpointservice")
# Connection statuses that keep a service from being deleted.
BUSY_CONNECTIONS = ("Connecting", "Connected", "Pending", "Disconnecting", "Deleting")


def operation_denied(service_id, status):
    return ApiError(
        "EndpointServiceOperationDenied",
        f"The specified operation of endpoint service is not allowed ({service_id} is {status}).",
    )


def service_locked():
    return ApiError("EndpointServiceLocked", "The specified Service is locked.")


def resource_not_found(resource_id):
    return ApiError(
        "EndpointServiceResourceNotFound",
        f"The specified service resource is not found ({resource_id}).",
    )


def parse_user(params):
    """(UserId, UserARN) of an allow-list call, checked; at least one of them."""
    user_id = scalar(params, "UserId")
    user_arn = scalar(params, "UserARN")
    if user_id is not None:
        if not (user_id.isascii() and user_id.isdigit()) or len(user_id) > 19 or int(user_id) <= 0:
            raise illegal("UserId", "must be a positive account id")
        user_id = str(int(user_id))
    if user_arn is not None and not USER_ARN.match(user_arn):
        raise illegal("UserARN", "must look like acs:ram:*:<account id>:*")
    if user_id is None and user_arn is None:
        raise ApiError("MissingParam.UserArn", "The param of UserArn is missing.")
    if user_id is not None and user_arn is not None and USER_ARN.match(user_arn)[1] != user_id:
        raise ApiError("Mismatch.UserIdAndUserArn", "The UserId and UserARN are mismatched.")
    return user_id, user_arn


def network_of(region_id, resource_id, zone_id, found):
    """VpcId, VSwitchId and Ip of a service row: from the inventory, else derived stably."""
    found = found or {}
    lb = hashlib.sha256(f"{region_id}:{resource_id}".encode()).hexdigest()
    row = hashlib.sha256(f"{region_id}:{resource_id}:{zone_id}".encode()).hexdigest()
    return (
        found.get("VpcId") or f"vpc-{lb[:20]}",
        (found.get("VSwitchIds") or {}).get(zone_id) or f"vsw-{row[:20]}",
        f"10.{int(row[20:22], 16)}.{int(row[22:24], 16)}.{int(row[24:26], 16) % 250 + 4}",
    )


class ServiceOperations:
    """Owner-side operations on endpoint services."""

    # --- describing --------------------------------------------------------------------

    def _describe_service(self, service, status, *, zones=True, tags=False):
        body = {
            "ServiceId": service.service_id,
            "ServiceName": service.name,
            "ServiceDomain": service.domain,
            "ServiceStatus": status,
            "ServiceBusinessStatus": service.business_status,
            "ServiceDescription": service.description,
            "CreateTime": iso(service.created_at),
            "AutoAcceptEnabled": service.auto_accept,
            "ZoneAffinityEnabled": service.zone_affinity,
            "ServiceSupportIPv6": service.ip_version == "DualStack",
            "ResourceGroupId": service.resource_group_id,
            "AddressIpVersion": service.ip_version,
            "SupportedRegionSet": [
                {
                    "SupportedRegionId": region,
                    "ServiceRegionId": service.region_id,
                    "RegionServiceStatus": status,
                    "RegionBusinessStatus": service.business_status,
                }
                for region in service.supported_regions
            ],
            "Payer": service.payer,
            "RegionId": service.region_id,
            "ServiceResourceType": service.resource_type,
            "ServiceType": "GatewayLoadBalancer"
            if service.resource_type == "gwlb"
            else "Interface",
            "ConnectBandwidth": service.connect_bandwidth,
            "MaxBandwidth": 10240,
            "MinBandwidth": 100,
        }
        if zones:
            body["Zones"] = service.zones()
        if tags:
            body["Tags"] = [{"Key": t["Key"], "Value": t["Value"]} for t in service.tags]
        return body

    def _lb(self, region_id, resource_id):
        return self.inventory["resources"].get((region_id, resource_id))

    def _pending(self, service, now):
        """Active -> Pending -> Active after an effective change."""
        schedule(service.timeline, now, (0, "Pending"), (self.create_delay, "Active"))

    def _writable(self, service, status, *, locked_code=True):
        """The state rule of Update and UpdateResourceAttribute (Locked), or Attach/Detach."""
        if status != "Active":
            raise operation_denied(service.service_id, status)
        if service.business_status == "FinancialLocked":
            if locked_code:
                raise service_locked()
            raise operation_denied(service.service_id, "FinancialLocked")

    # --- CreateVpcEndpointService -------------------------------------------------------

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
        seen = set()
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
            # A multi-zone alb/nlb/gwlb is one row per zone: only a repeated pair is wrong.
            identity = (
                (resource_id, zone_id) if resource_type in ZONE_REQUIRED_TYPES else resource_id
            )
            if identity in seen:
                raise illegal("Resource", "names a resource twice")
            seen.add(identity)
            spec["Resources"].append(
                {"ResourceId": resource_id, "ResourceType": resource_type, "ZoneId": zone_id}
            )
        spec["Tags"] = parse_tags(params)

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
        for item in spec["Resources"]:
            self._check_resource(spec, item)
        return spec

    def _check_resource(self, spec, item):
        resource_id, resource_type = item["ResourceId"], item["ResourceType"]
        if resource_type != spec["ServiceResourceType"]:
            raise ApiError(
                "Mismatch.ResourceType",
                f"The resource type {resource_type} does not match the service resource type "
                f"{spec['ServiceResourceType']}.",
            )
        found = self._find_lb(spec["RegionId"], resource_id, resource_type, item["ZoneId"])
        if not item["ZoneId"]:
            item["ZoneId"] = found["Zones"][0]
        if spec["AddressIpVersion"] == "DualStack" and not found.get("DualStack", False):
            raise ApiError(
                "OperationDenied.ServiceResourceIpVersionMismatch",
                f"The resource {resource_id} does not support DualStack.",
            )

    def _find_lb(self, region_id, resource_id, resource_type, zone_id):
        """The inventory's load balancer, checked as Create and Attach check it."""
        found = self._lb(region_id, resource_id)
        if found is not None and not self.owns_load_balancer(found):
            found = None  # another account's: as the cloud answers, it is not found
        if found is None or found["ResourceType"] != resource_type:
            if resource_type == "alb":
                raise ApiError("AlbNotFound", f"The ALB instance {resource_id} is not found.")
            raise ApiError("LoadBalancerNotFound", f"The load balancer {resource_id} is not found.")
        if not found.get("PrivateLink", True):
            raise ApiError(
                "LoadBalancerNotSupportPrivateLink",
                f"The load balancer {resource_id} does not support PrivateLink.",
            )
        region_zones = {z["ZoneId"] for z in self.inventory["regions"][region_id]["Zones"]}
        if zone_id and (zone_id not in region_zones or zone_id not in found["Zones"]):
            raise ApiError(
                "EndpointServiceNotSupportedZone",
                f"The zone {zone_id} is not supported by resource {resource_id}.",
            )
        return found

    def _backing(self, account, region_id, resource_id, now, exclude=None):
        """The caller's live service (other than `exclude`) that a load balancer backs."""
        for service, _status in self._live_services(account.account_id, region_id, now):
            if service.service_id == exclude:
                continue
            if any(r["ResourceId"] == resource_id for r in service.resources):
                return service
        return None

    def create_vpc_endpoint_service(self, account, params):
        spec = self._validate_create(account, params)

        def act(dry_run):
            now = self.clock()
            region_id = spec["RegionId"]
            for resource_id in dict.fromkeys(r["ResourceId"] for r in spec["Resources"]):
                other = self._backing(account, region_id, resource_id, now)
                if other is not None:
                    raise ApiError(
                        "EndpointServiceExist",
                        f"The resource {resource_id} already backs the endpoint service "
                        f"{other.service_id}.",
                    )
            if len(self._live_services(account.account_id, region_id, now)) >= self.quota_of(
                account
            ):
                raise ApiError(
                    "QuotaMisMatched",
                    f"The quota of {self.quota_of(account)} endpoint services in {region_id} is "
                    "used up.",
                )
            if dry_run:
                raise dry_run_passed()
            service_id = random_id("epsrv-")
            timeline = [[now, "Creating"]]
            if not self.faults.stuck_creating:
                timeline.append([now + self.create_delay, "Active"])
            service = Service(
                service_id=service_id,
                account_id=account.account_id,
                region_id=region_id,
                created_at=now,
                seq=self.store.next_seq(),
                timeline=timeline,
                name=f"com.aliyuncs.privatelink.{region_id}.{service_id}",
                domain=f"{service_id}.{region_id}.privatelink.aliyuncs.com",
                description=spec["ServiceDescription"],
                auto_accept=spec["AutoAcceptEnabled"],
                zone_affinity=spec["ZoneAffinityEnabled"],
                payer=spec["Payer"],
                resource_type=spec["ServiceResourceType"],
                ip_version=spec["AddressIpVersion"],
                resource_group_id=spec["ResourceGroupId"],
                supported_regions=spec["SupportedRegionList"],
                tags=[dict(t) for t in spec["Tags"]],
                resources=[dict(r, AutoAllocatedEnabled=True) for r in spec["Resources"]],
            )
            self.store.add_service(service)
            body = self._describe_service(service, status_at(timeline, now), zones=False)
            for key in ("Payer", "RegionId", "ServiceResourceType", "ServiceType"):
                body.pop(key)
            for key in ("ConnectBandwidth", "MaxBandwidth", "MinBandwidth"):
                body.pop(key)
            return body

        return self._once(account, "CreateVpcEndpointService", params, act, spec=spec)

    # --- Get / List / Delete ------------------------------------------------------------

    def get_vpc_endpoint_service_attribute(self, account, params):
        region_id = self._region(params)
        service_id = self._required(params, "ServiceId")
        service, status = self._owned_service(account, region_id, service_id, self.clock())
        return self._describe_service(service, status)

    LIST_FILTERS = {
        "ServiceId": lambda s, status: s.service_id,
        "ServiceName": lambda s, status: s.name,
        "ServiceResourceType": lambda s, status: s.resource_type,
        "ServiceStatus": lambda s, status: status,
        "ServiceBusinessStatus": lambda s, status: s.business_status,
        "AddressIpVersion": lambda s, status: s.ip_version,
        "ResourceGroupId": lambda s, status: s.resource_group_id,
        "ResourceId": None,
    }

    def list_vpc_endpoint_services(self, account, params):
        region_id = self._region(params)
        paging = Paging(params, "ListVpcEndpointServices")
        filters = {}
        for name in self.LIST_FILTERS:
            value = scalar(params, name)
            if value not in (None, ""):
                filters[name] = value
        resource_id = filters.pop("ResourceId", None)
        wanted_bools = {
            name: parse_bool(params, name)
            for name in ("AutoAcceptEnabled", "ZoneAffinityEnabled")
            if params.get(name) is not None
        }
        wanted_tags = parse_list(params, "Tag", dict)
        now = self.clock()
        matches = []
        for service, status in self._live_services(account.account_id, region_id, now):
            if filters and any(
                self.LIST_FILTERS[name](service, status) != value for name, value in filters.items()
            ):
                continue
            if wanted_bools and (
                wanted_bools.get("AutoAcceptEnabled", service.auto_accept) != service.auto_accept
                or wanted_bools.get("ZoneAffinityEnabled", service.zone_affinity)
                != service.zone_affinity
            ):
                continue
            if resource_id and not any(r["ResourceId"] == resource_id for r in service.resources):
                continue
            if wanted_tags and not tags_match(service.tags, wanted_tags):
                continue
            matches.append((service, status))
        page, next_token = paging.cut(matches)
        return {
            "Services": [self._describe_service(s, st, zones=False, tags=True) for s, st in page],
            "NextToken": next_token,
            "MaxResults": paging.max_results,
            "TotalCount": len(matches),
        }

    def delete_vpc_endpoint_service(self, account, params):
        region_id = self._region(params)
        service_id = self._required(params, "ServiceId")

        def act(dry_run):
            now = self.clock()
            service, status = self._owned_service(account, region_id, service_id, now)
            if status != "Active":
                raise ApiError(
                    "EndpointServiceOperationDenied",
                    f"The endpoint service {service_id} is {status} and cannot be deleted now.",
                )
            endpoints = self._endpoints_of(service_id, now)
            if any(connection in BUSY_CONNECTIONS for _e, _s, connection in endpoints):
                raise ApiError(
                    "EndpointServiceConnectionDependence",
                    "You cannot delete EndpointService with Endpoint connected.",
                )
            if self.strict_delete and service.resources:
                raise ApiError(
                    "EndpointServiceDependenceViolation",
                    "The specified EndpointService already contains a resource.",
                )
            if dry_run:
                raise dry_run_passed()
            delay = self.create_delay
            schedule(service.timeline, now, (0, "Deleting"), (delay, GONE))
            self.store.save_service(service)
            # Endpoints left Disconnected see the service go: ServiceDeleted, for good. A
            # connection an endpoint still in Creating would have made (AutoAccept) is off.
            for endpoint, _status, _connection in endpoints:
                schedule(endpoint.connection, now, (delay, "ServiceDeleted"))
                for zone in endpoint.zones:
                    zone["timeline"] = [
                        entry
                        for entry in zone["timeline"]
                        if entry[0] <= now or entry[1] not in ("Connecting", "Connected")
                    ]
                    zone["alloc"] = None
                self.store.save_endpoint(endpoint)
            return {}

        spec = {"RegionId": region_id, "ServiceId": service_id}
        return self._once(account, "DeleteVpcEndpointService", params, act, spec=spec)

    # --- UpdateVpcEndpointServiceAttribute ---------------------------------------------

    def update_vpc_endpoint_service_attribute(self, account, params):
        region_id = self._region(params)
        service_id = self._required(params, "ServiceId")
        description = parse_string(params, "ServiceDescription", 256)
        auto_accept = parse_optional_bool(params, "AutoAcceptEnabled")
        zone_affinity = parse_optional_bool(params, "ZoneAffinityEnabled")
        bandwidth = parse_int(params, "ConnectBandwidth", 100, 10240)
        ip_version = parse_choice(
            params, "AddressIpVersion", IP_VERSIONS, None, code="IllegalParam.AddressIpVersion"
        )
        support_ipv6 = parse_optional_bool(params, "ServiceSupportIPv6")
        regions = {}
        for name in ("AddSupportedRegionSet", "DeleteSupportedRegionSet"):
            regions[name] = parse_list(params, name, str)
            for region in regions[name]:
                if region not in self.inventory["regions"]:
                    raise illegal(name, f"names an unknown region ({region})")

        def act(dry_run):
            now = self.clock()
            service, status = self._owned_service(account, region_id, service_id, now)
            self._writable(service, status)
            wanted_ip = ip_version
            if wanted_ip is None and support_ipv6 is not None:
                wanted_ip = "DualStack" if support_ipv6 else "IPv4"
                if support_ipv6:
                    self._check_ipv6(service, "ServiceResourceNotSupportIpv6")
            elif wanted_ip == "DualStack":
                if service.resource_type not in DUAL_STACK_TYPES:
                    raise ApiError(
                        "OperationDenied.ResourceTypeNotSupportDualStack",
                        f"The resource type {service.resource_type} does not support DualStack.",
                    )
                self._check_ipv6(service, "OperationDenied.ServiceResourceIpVersionMismatch")
            if wanted_ip == "IPv4" and service.ip_version == "DualStack":
                for endpoint, _status, connection in self._endpoints_of(service_id, now):
                    if endpoint.ip_version == "DualStack" and connection in (
                        "Connecting",
                        "Connected",
                        "Pending",
                    ):
                        raise ApiError(
                            "EndpointServiceDowngradeNotAllowed",
                            "The EndpointService is not allowed for downgrade.",
                        )
            supported = [
                r for r in service.supported_regions if r not in regions["DeleteSupportedRegionSet"]
            ]
            supported += [r for r in regions["AddSupportedRegionSet"] if r not in supported]
            changes = {
                "description": description,
                "auto_accept": auto_accept,
                "zone_affinity": zone_affinity,
                "connect_bandwidth": bandwidth,
                "ip_version": wanted_ip,
                "supported_regions": supported,
            }
            changes = {
                name: value
                for name, value in changes.items()
                if value is not None and getattr(service, name) != value
            }
            if dry_run:
                raise dry_run_passed()
            if not changes:
                return {}
            for name, value in changes.items():
                setattr(service, name, value)
            self._pending(service, now)
            self.store.save_service(service)
            return {}

        return self._once(account, "UpdateVpcEndpointServiceAttribute", params, act)

    def _check_ipv6(self, service, code):
        if service.resource_type not in DUAL_STACK_TYPES:
            raise ApiError(code, "The resource is not support ipv6.")
        for row in service.resources:
            found = self._lb(service.region_id, row["ResourceId"]) or {}
            if not found.get("DualStack", False):
                raise ApiError(code, f"The resource {row['ResourceId']} is not support ipv6.")

    # --- service resources --------------------------------------------------------------

    def _find_row(self, service, resource_id, zone_id, resource_type=None):
        for row in service.resources:
            if row["ResourceId"] != resource_id:
                continue
            if resource_type is not None and row["ResourceType"] != resource_type:
                continue
            if row["ResourceType"] in ZONE_REQUIRED_TYPES and row["ZoneId"] != zone_id:
                continue
            return row
        return None

    def attach_resource_to_vpc_endpoint_service(self, account, params):
        region_id = self._region(params)
        service_id = self._required(params, "ServiceId")
        resource_id = self._required(params, "ResourceId")
        resource_type = self._required(params, "ResourceType")
        if resource_type not in SERVICE_RESOURCE_TYPES:
            raise illegal("ResourceType", f"must be one of {', '.join(SERVICE_RESOURCE_TYPES)}")
        zone_id = scalar(params, "ZoneId") or None
        if resource_type in ZONE_REQUIRED_TYPES and not zone_id:
            raise missing("ZoneId")

        def act(dry_run):
            now = self.clock()
            service, status = self._owned_service(account, region_id, service_id, now)
            self._writable(service, status, locked_code=False)
            if resource_type != service.resource_type:
                raise ApiError(
                    "EndpointServiceResourceTypeNotEqual",
                    "the service resource type not equal request type.",
                )
            if self._find_row(service, resource_id, zone_id) is not None:
                raise ApiError(
                    "EndpointServiceResourceExist", "The specified resource already exists."
                )
            other = self._backing(account, region_id, resource_id, now, exclude=service_id)
            if other is not None:
                raise ApiError(
                    "EndpointServiceExist",
                    f"The resource {resource_id} already backs the endpoint service "
                    f"{other.service_id}.",
                )
            found = self._find_lb(region_id, resource_id, resource_type, zone_id)
            if service.ip_version == "DualStack" and not found.get("DualStack", False):
                raise ApiError(
                    "ServiceResourceNotSupportIpv6",
                    f"The resource {resource_id} is not support ipv6.",
                )
            if len(service.resources) >= MAX_RESOURCES_PER_SERVICE:
                raise ApiError(
                    "QuotaMisMatched",
                    f"An endpoint service holds at most {MAX_RESOURCES_PER_SERVICE} resources.",
                )
            if dry_run:
                raise dry_run_passed()
            service.resources.append(
                {
                    "ResourceId": resource_id,
                    "ResourceType": resource_type,
                    "ZoneId": zone_id or found["Zones"][0],
                    "AutoAllocatedEnabled": True,
                }
            )
            self._pending(service, now)
            self.store.save_service(service)
            return {}

        return self._once(account, "AttachResourceToVpcEndpointService", params, act)

    def detach_resource_from_vpc_endpoint_service(self, account, params):
        region_id = self._region(params)
        service_id = self._required(params, "ServiceId")
        resource_id = self._required(params, "ResourceId")
        resource_type = scalar(params, "ResourceType") or None
        if resource_type is not None and resource_type not in SERVICE_RESOURCE_TYPES:
            raise illegal("ResourceType", f"must be one of {', '.join(SERVICE_RESOURCE_TYPES)}")
        zone_id = scalar(params, "ZoneId") or None

        def act(dry_run):
            now = self.clock()
            service, status = self._owned_service(account, region_id, service_id, now)
            self._writable(service, status, locked_code=False)
            if service.resource_type in ZONE_REQUIRED_TYPES and not zone_id:
                raise missing("ZoneId")
            row = self._find_row(service, resource_id, zone_id, resource_type)
            if row is None:
                raise resource_not_found(resource_id)
            if self.related_count(service_id, resource_id, row["ZoneId"], now):
                raise ApiError(
                    "EndpointServiceConnectionDependence",
                    "You cannot delete EndpointService with Endpoint connected.",
                )
            others = [r for r in service.resources if r is not row and r["ZoneId"] == row["ZoneId"]]
            if not others and self._zone_in_use(service_id, row["ZoneId"], now):
                raise ApiError(
                    "EndpointServiceResourceCannotRemove", "The service resource cannot be removed."
                )
            if dry_run:
                raise dry_run_passed()
            service.resources.remove(row)
            self._pending(service, now)
            self.store.save_service(service)
            return {}

        return self._once(account, "DetachResourceFromVpcEndpointService", params, act)

    def _zone_in_use(self, service_id, zone_id, now):
        """Whether an endpoint of the service still has a zone (any status) in `zone_id`."""
        return any(
            zone["ZoneId"] == zone_id
            for endpoint, _status, _connection in self._endpoints_of(service_id, now)
            for zone in endpoint.zones
        )

    def list_vpc_endpoint_service_resources(self, account, params):
        region_id = self._region(params)
        service_id = self._required(params, "ServiceId")
        paging = Paging(params, f"ListVpcEndpointServiceResources:{service_id}")
        now = self.clock()
        service, _status = self._owned_service(account, region_id, service_id, now)
        page, next_token = paging.cut(service.resources)
        rows = []
        for row in page:
            found = self._lb(region_id, row["ResourceId"])
            vpc_id, vswitch_id, ip = network_of(region_id, row["ResourceId"], row["ZoneId"], found)
            rows.append(
                {
                    "ResourceId": row["ResourceId"],
                    "ResourceType": row["ResourceType"],
                    "ZoneId": row["ZoneId"],
                    "RegionId": region_id,
                    "VpcId": vpc_id,
                    "VSwitchId": vswitch_id,
                    "Ip": ip,
                    "RelatedEndpointCount": self.related_count(
                        service_id, row["ResourceId"], row["ZoneId"], now
                    ),
                    "RelatedDeprecatedEndpointCount": 0,
                    "AutoAllocatedEnabled": row["AutoAllocatedEnabled"],
                    "ResourceSupportIPv6": bool((found or {}).get("DualStack", False)),
                }
            )
        return {"Resources": rows, "NextToken": next_token, "MaxResults": paging.max_results}

    def update_vpc_endpoint_service_resource_attribute(self, account, params):
        region_id = self._region(params)
        service_id = self._required(params, "ServiceId")
        resource_id = self._required(params, "ResourceId")
        if params.get("AutoAllocatedEnabled") is None:
            raise missing("AutoAllocatedEnabled")
        auto = parse_bool(params, "AutoAllocatedEnabled")
        zone_id = scalar(params, "ZoneId") or None

        def act(dry_run):
            now = self.clock()
            service, status = self._owned_service(account, region_id, service_id, now)
            self._writable(service, status)
            if service.resource_type in ZONE_REQUIRED_TYPES and not zone_id:
                raise missing("ZoneId")
            row = self._find_row(service, resource_id, zone_id)
            if row is None:
                raise resource_not_found(resource_id)
            if row["AutoAllocatedEnabled"] and not auto:
                others = [
                    r
                    for r in service.resources
                    if r is not row and r["ZoneId"] == row["ZoneId"] and r["AutoAllocatedEnabled"]
                ]
                if not others:
                    raise ApiError(
                        "ResourceAutoAllocateViolation",
                        "The specified endpoint service must have at least one automatically "
                        "allocated resource in one zone.",
                    )
            if dry_run:
                raise dry_run_passed()
            if row["AutoAllocatedEnabled"] != auto:
                row["AutoAllocatedEnabled"] = auto
                self.store.save_service(service)
            return {}

        return self._once(account, "UpdateVpcEndpointServiceResourceAttribute", params, act)

    # --- allow-list ---------------------------------------------------------------------

    def _change_user(self, account, params, action, add):
        region_id = self._region(params)
        service_id = self._required(params, "ServiceId")
        user_id, user_arn = parse_user(params)

        def act(dry_run):
            now = self.clock()
            service, status = self._owned_service(account, region_id, service_id, now)
            if status != "Active":
                raise operation_denied(service_id, status)
            if dry_run:
                raise dry_run_passed()
            entries, value = (
                (service.users, user_id) if user_id is not None else (service.user_arns, user_arn)
            )
            if add and value not in entries and value != account.uid:
                entries.append(value)
                self.store.save_service(service)
            elif not add and value in entries:
                entries.remove(value)
                self.store.save_service(service)
            return {}

        return self._once(account, action, params, act)

    def add_user_to_vpc_endpoint_service(self, account, params):
        return self._change_user(account, params, "AddUserToVpcEndpointService", add=True)

    def remove_user_from_vpc_endpoint_service(self, account, params):
        return self._change_user(account, params, "RemoveUserFromVpcEndpointService", add=False)

    def list_vpc_endpoint_service_users(self, account, params):
        region_id = self._region(params)
        service_id = self._required(params, "ServiceId")
        list_type = parse_choice(params, "UserListType", ("Users", "UserARNs"), "Users")
        user_id = scalar(params, "UserId")
        if user_id is not None:
            if not (user_id.isascii() and user_id.isdigit()) or len(user_id) > 19:
                raise illegal("UserId", "must be an account id")
            user_id = str(int(user_id))
        paging = Paging(params, f"ListVpcEndpointServiceUsers:{service_id}:{list_type}")
        service, _status = self._owned_service(account, region_id, service_id, self.clock())
        if list_type == "Users":
            entries = [u for u in service.users if user_id is None or u == user_id]
        else:
            entries = list(service.user_arns)
        page, next_token = paging.cut(entries)
        return {
            "Users": [{"UserId": int(u)} for u in page] if list_type == "Users" else [],
            "UserARNs": [{"UserARN": a} for a in page] if list_type == "UserARNs" else [],
            "TotalCount": str(len(entries)),
            "NextToken": next_token,
            "MaxResults": paging.max_results,
        }

    def admits(self, service, account):
        """Whether an account may connect to a service: its owner, or on its allow-list."""
        if service.account_id == account.account_id or account.uid in service.users:
            return True
        return any(USER_ARN.match(arn).group(1) in (account.uid, "*") for arn in service.user_arns)

    # --- tags ---------------------------------------------------------------------------

    def _tag_resource_type(self, params):
        value = self._required(params, "ResourceType")
        if value.lower() not in TAG_RESOURCE_TYPES:
            raise illegal("ResourceType", "must be vpcendpoint or vpcendpointservice")
        return value.lower()

    def _tag_resource_ids(self, params, required=True):
        ids = parse_list(params, "ResourceId", str)
        if not ids and required:
            raise missing("ResourceId")
        if len(ids) > 50:
            raise illegal("ResourceId", "must hold at most 50 ids")
        return ids

    def _taggable(self, account, region_id, resource_type, now):
        """{id: (object, save)} of the caller's live resources of a tag ResourceType."""
        if resource_type == "vpcendpointservice":
            return {
                s.service_id: (s, self.store.save_service)
                for s, _status in self._live_services(account.account_id, region_id, now)
            }
        found = {}
        for endpoint in list(self.store.endpoints.values()):
            if endpoint.account_id != account.account_id or endpoint.region_id != region_id:
                continue
            if self.endpoint_state(endpoint, now)[0] is not GONE:
                found[endpoint.endpoint_id] = (endpoint, self.store.save_endpoint)
        return found

    def _resolve_tagged(self, account, region_id, resource_type, ids, now):
        taggable = self._taggable(account, region_id, resource_type, now)
        if any(i not in taggable for i in ids):
            raise ApiError(
                "InvalidResourceId.NotFound",
                "The specified ResourceIds are not found in our records.",
            )
        return [taggable[i] for i in dict.fromkeys(ids)]

    def tag_resources(self, account, params):
        region_id = self._region(params)
        resource_type = self._tag_resource_type(params)
        ids = self._tag_resource_ids(params)
        tags = parse_list(params, "Tag", dict)
        if not tags:
            raise missing("Tag")
        if len(tags) > MAX_TAGS:
            raise ApiError(
                "QuotaExceed.TagsPerResource",
                "The maximum number of tags for each resource is exceeded",
            )
        for item in tags:
            key, value = item.get("Key"), item.get("Value")
            if not key:
                raise ApiError("MissingTagKeyParam", "The parameter Tag.N.Key is mandatory.")
            if value is None:
                raise ApiError("MissingTagValueParam", "The parameter Tag.N.Value is mandatory.")
            problem = tag_problem(key, value)
            if problem is not None:
                part, reason = problem
                raise ApiError(f"IllegalTag{part}Param", f"The tag {part.lower()} {reason}.")
        keys = [t["Key"] for t in tags]
        if len(set(keys)) < len(keys):
            raise ApiError("DuplicatedTagKey", "The tag keys must not repeat.")

        def act(dry_run):
            now = self.clock()
            targets = self._resolve_tagged(account, region_id, resource_type, ids, now)
            for obj, _save in targets:
                present = {t["Key"] for t in obj.tags}
                if len(present | set(keys)) > MAX_TAGS:
                    raise ApiError(
                        "QuotaExceed.TagsPerResource",
                        "The maximum number of tags for each resource is exceeded",
                    )
            if dry_run:
                raise dry_run_passed()
            for obj, save in targets:
                for item in tags:
                    existing = next((t for t in obj.tags if t["Key"] == item["Key"]), None)
                    if existing is None:
                        obj.tags.append({"Key": item["Key"], "Value": item["Value"]})
                    else:
                        existing["Value"] = item["Value"]
                save(obj)
            return {}

        return self._once(account, "TagResources", params, act)

    def untag_resources(self, account, params):
        region_id = self._region(params)
        resource_type = self._tag_resource_type(params)
        ids = self._tag_resource_ids(params)
        keys = parse_list(params, "TagKey", str)
        if len(keys) > MAX_TAGS:
            raise illegal("TagKey", f"must hold at most {MAX_TAGS} keys")
        if any(key == "" for key in keys):
            raise ApiError("MissingTagKeyParam", "The parameter TagKey.N is empty.")
        remove_all = parse_bool(params, "All")
        if not keys and not remove_all:
            raise missing("TagKey")

        def act(dry_run):
            now = self.clock()
            targets = self._resolve_tagged(account, region_id, resource_type, ids, now)
            if dry_run:
                raise dry_run_passed()
            for obj, save in targets:
                kept = [t for t in obj.tags if keys and t["Key"] not in keys]
                if len(kept) < len(obj.tags):
                    obj.tags = kept
                    save(obj)
            return {}

        return self._once(account, "UntagResources", params, act)

    def list_tag_resources(self, account, params):
        region_id = self._region(params)
        resource_type = self._tag_resource_type(params)
        ids = self._tag_resource_ids(params, required=False)
        wanted = parse_list(params, "Tag", dict)
        for item in wanted:
            if not item.get("Key"):
                raise ApiError("MissingTagKeyParam", "The parameter Tag.N.Key is mandatory.")
        if not ids and not wanted:
            raise ApiError(
                "MissingResourceIdOrTagParam", "Either ResourceId.N or Tag.N must be given."
            )
        scalar(params, "ClientToken")
        paging = Paging(params, f"ListTagResources:{resource_type}", max_results=50)
        now = self.clock()
        rows = []
        for resource_id, (obj, _save) in self._taggable(
            account, region_id, resource_type, now
        ).items():
            if ids and resource_id not in ids:
                continue
            if not tags_match(obj.tags, wanted):
                continue
            rows += [
                {
                    "ResourceId": resource_id,
                    "ResourceType": resource_type,
                    "TagKey": t["Key"],
                    "TagValue": t["Value"],
                }
                for t in obj.tags
            ]
        page, next_token = paging.cut(rows)
        return {"TagResources": page, "NextToken": next_token}

    # --- regions and zones --------------------------------------------------------------

    def describe_regions(self, account, params):
        wanted = scalar(params, "ServiceResourceType") or "slb"
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
        wanted = scalar(params, "ServiceResourceType")
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
        "UpdateVpcEndpointServiceAttribute": update_vpc_endpoint_service_attribute,
        "AttachResourceToVpcEndpointService": attach_resource_to_vpc_endpoint_service,
        "DetachResourceFromVpcEndpointService": detach_resource_from_vpc_endpoint_service,
        "ListVpcEndpointServiceResources": list_vpc_endpoint_service_resources,
        "UpdateVpcEndpointServiceResourceAttribute": update_vpc_endpoint_service_resource_attribute,
        "AddUserToVpcEndpointService": add_user_to_vpc_endpoint_service,
        "RemoveUserFromVpcEndpointService": remove_user_from_vpc_endpoint_service,
        "ListVpcEndpointServiceUsers": list_vpc_endpoint_service_users,
        "TagResources": tag_resources,
        "UntagResources": untag_resources,
        "ListTagResources": list_tag_resources,
        "DescribeRegions": describe_regions,
        "DescribeZones": describe_zones,
    }

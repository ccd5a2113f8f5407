"""The load balancer products, as far as a picker reads them: their listings.

CLB (`slb`, API 2014-05-15) DescribeLoadBalancers, ALB (2020-06-16) ListLoadBalancers and
GetLoadBalancerAttribute, NLB (2022-04-30) and GWLB (2024-04-15) ListLoadBalancers, answered
in those products' own shapes from the inventory that CreateVpcEndpointService and Attach
check resources against, so what they list is what PrivateLink accepts. The products have no
PrivateLink flag: a load balancer PrivateLink refuses is listed as the cloud would show why (an
internet-facing address), per the documented limits of service resources.

A mixin of `Backend`: every method takes (account, params) and runs under the backend's lock.
Each load balancer belongs to one account (the inventory's "Account", else the default `dev`):
an account lists its own, and Create and Attach take no other account's.
"""

import hashlib

from .owner import network_of
from .params import ApiError, Paging, illegal, parse_int, parse_list, scalar

SLB_VERSION = "2014-05-15"
ALB_VERSION = "2020-06-16"
NLB_VERSION = "2022-04-30"
GWLB_VERSION = "2024-04-15"
CREATED = "2024-01-02T03:04:05Z"
# ALB and NLB page with MaxResults 1-100 (default 20); CLB with PageSize 1-100 (default 10).
MAX_PAGE = 100


def _address(region_id, resource_id, zone_id=""):
    return network_of(region_id, resource_id, zone_id, None)[2]


def _dns_name(item):
    digest = hashlib.sha256(item["ResourceId"].encode()).hexdigest()[:12]
    return f"{item['ResourceId']}.{digest}.{item['RegionId']}.{item['ResourceType']}.aliyuncs.com"


class LoadBalancerOperations:
    """Listings of the CLB, ALB and NLB products."""

    def _load_balancers(self, region_id, resource_type):
        return [
            item
            for (region, _id), item in self.inventory["resources"].items()
            if region == region_id
            and item["ResourceType"] == resource_type
            and self.owns_load_balancer(item)
        ]

    # --- CLB -----------------------------------------------------------------------------

    def _describe_clb(self, item):
        region_id, resource_id, zones = item["RegionId"], item["ResourceId"], item["Zones"]
        vpc_id, vswitch_id, _ip = network_of(region_id, resource_id, zones[0], item)
        private = item.get("PrivateLink", True)
        return {
            "LoadBalancerId": resource_id,
            "LoadBalancerName": item.get("LoadBalancerName", resource_id),
            "LoadBalancerStatus": "active",
            "Address": _address(region_id, resource_id),
            "AddressType": "intranet" if private else "internet",
            "AddressIPVersion": "ipv4",
            "NetworkType": "vpc",
            "VpcId": vpc_id,
            "VSwitchId": vswitch_id,
            "RegionId": region_id,
            "RegionIdAlias": region_id,
            "MasterZoneId": zones[0],
            "SlaveZoneId": zones[1] if len(zones) > 1 else "",
            "PayType": "PayOnDemand",
            "InstanceChargeType": "PayBySpec",
            "InternetChargeType": "paybytraffic",
            "LoadBalancerSpec": "slb.s1.small",
            "CreateTime": "2024-01-02T03:04Z",
            "CreateTimeStamp": 1704164645000,
            "DeleteProtection": "off",
            "ModificationProtectionStatus": "NonProtection",
            "ResourceGroupId": "rg-acfmxazb4ph6aiy",
            "Tags": {"Tag": []},
        }

    def describe_load_balancers(self, account, params):
        region_id = self._region(params)
        page_number = parse_int(params, "PageNumber", 1, 10**9) or 1
        page_size = parse_int(params, "PageSize", 1, MAX_PAGE) or 10
        ids = scalar(params, "LoadBalancerId")
        name = scalar(params, "LoadBalancerName")
        wanted = set(ids.split(",")) if ids else None
        if wanted is not None and len(wanted) > 20:
            raise illegal("LoadBalancerId", "names at most 20 load balancers")
        found = [
            item
            for item in self._load_balancers(region_id, "slb")
            if (wanted is None or item["ResourceId"] in wanted)
            and (not name or item.get("LoadBalancerName", "") == name)
        ]
        start = (page_number - 1) * page_size
        return {
            "LoadBalancers": {
                "LoadBalancer": [
                    self._describe_clb(item) for item in found[start : start + page_size]
                ]
            },
            "PageNumber": page_number,
            "PageSize": page_size,
            "TotalCount": len(found),
        }

    # --- ALB and NLB ---------------------------------------------------------------------

    def _zone_mappings(self, item, address_key):
        mappings = []
        region_id, resource_id = item["RegionId"], item["ResourceId"]
        for zone_id in item["Zones"]:
            _vpc_id, vswitch_id, ip = network_of(region_id, resource_id, zone_id, item)
            mappings.append(
                {
                    "ZoneId": zone_id,
                    "VSwitchId": vswitch_id,
                    "Status": "Active",
                    "LoadBalancerAddresses": [{address_key: ip}],
                }
            )
        return mappings

    def _describe_alb(self, item, *, zones):
        vpc_id = network_of(item["RegionId"], item["ResourceId"], item["Zones"][0], item)[0]
        private = item.get("PrivateLink", True)
        body = {
            "LoadBalancerId": item["ResourceId"],
            "LoadBalancerName": item.get("LoadBalancerName", item["ResourceId"]),
            "LoadBalancerStatus": "Active",
            "LoadBalancerBussinessStatus": "Normal",
            "LoadBalancerEdition": "Standard",
            "AddressType": "Intranet" if private else "Internet",
            "AddressAllocatedMode": "Fixed",
            "AddressIpVersion": "IPv4",
            "DNSName": _dns_name(item),
            "VpcId": vpc_id,
            "CreateTime": CREATED,
            "ResourceGroupId": "rg-acfmxazb4ph6aiy",
            "LoadBalancerBillingConfig": {"PayType": "PostPay"},
            "DeletionProtectionConfig": {"Enabled": False},
            "ModificationProtectionConfig": {"Status": "NonProtection"},
            "LoadBalancerOperationLocks": [],
            "Tags": [],
        }
        if zones:  # GetLoadBalancerAttribute says which zones; ListLoadBalancers does not.
            body["RegionId"] = item["RegionId"]
            body["ZoneMappings"] = self._zone_mappings(item, "IntranetAddress")
        return body

    def _describe_nlb(self, item):
        vpc_id = network_of(item["RegionId"], item["ResourceId"], item["Zones"][0], item)[0]
        return {
            "LoadBalancerId": item["ResourceId"],
            "LoadBalancerName": item.get("LoadBalancerName", item["ResourceId"]),
            "LoadBalancerStatus": "Active",
            "LoadBalancerBusinessStatus": "Normal",
            "LoadBalancerType": "Network",
            "AddressType": "Intranet" if item.get("PrivateLink", True) else "Internet",
            "AddressIpVersion": "DualStack" if item.get("DualStack") else "ipv4",
            "DNSName": _dns_name(item),
            "VpcId": vpc_id,
            "RegionId": item["RegionId"],
            "CreateTime": CREATED,
            "CrossZoneEnabled": True,
            "ResourceGroupId": "rg-acfmxazb4ph6aiy",
            "LoadBalancerBillingConfig": {"PayType": "PostPay"},
            "DeletionProtectionConfig": {"Enabled": False},
            "ModificationProtectionConfig": {"Status": "NonProtection"},
            "OperationLocks": [],
            "Tags": [],
            "ZoneMappings": self._zone_mappings(item, "PrivateIPv4Address"),
        }

    def _listed(self, params, region_id, resource_type, describe):
        """One page of ListLoadBalancers (ALB and NLB share its shape and paging)."""
        max_results = parse_int(params, "MaxResults", 1, MAX_PAGE) or 20
        paging = Paging(params, f"{resource_type}:ListLoadBalancers:{region_id}", max_results)
        ids = set(parse_list(params, "LoadBalancerIds", str))
        names = set(parse_list(params, "LoadBalancerNames", str))
        if len(ids) > 20 or len(names) > 20:
            raise illegal("LoadBalancerIds", "names at most 20 load balancers")
        found = [
            item
            for item in self._load_balancers(region_id, resource_type)
            if (not ids or item["ResourceId"] in ids)
            and (not names or item.get("LoadBalancerName") in names)
        ]
        page, next_token = paging.cut(found)
        return {
            "LoadBalancers": [describe(item) for item in page],
            "MaxResults": paging.max_results,
            "NextToken": next_token,
            "TotalCount": len(found),
        }

    def list_alb_load_balancers(self, account, params):
        # The cloud takes an ALB call's region from its regional endpoint; the simulator has
        # one endpoint for every region, so the region comes as RegionId (docs/simulator.md).
        region_id = self._region(params)
        return self._listed(
            params, region_id, "alb", lambda item: self._describe_alb(item, zones=False)
        )

    def get_alb_load_balancer_attribute(self, account, params):
        region_id = self._region(params)
        resource_id = scalar(params, "LoadBalancerId", required=True)
        item = self.inventory["resources"].get((region_id, resource_id))
        if item is None or item["ResourceType"] != "alb" or not self.owns_load_balancer(item):
            raise ApiError(
                "ResourceNotFound.LoadBalancer",
                f"The specified resource {resource_id} is not found.",
                status=404,
            )
        return self._describe_alb(item, zones=True)

    def list_nlb_load_balancers(self, account, params):
        region_id = self._region(params)
        return self._listed(params, region_id, "nlb", self._describe_nlb)

    def _describe_gwlb(self, item):
        vpc_id = network_of(item["RegionId"], item["ResourceId"], item["Zones"][0], item)[0]
        return {
            "LoadBalancerId": item["ResourceId"],
            "LoadBalancerName": item.get("LoadBalancerName", item["ResourceId"]),
            "LoadBalancerStatus": "Active",
            "LoadBalancerBusinessStatus": "Normal",
            "AddressIpVersion": "DualStack" if item.get("DualStack") else "IPv4",
            "VpcId": vpc_id,
            "CreateTime": CREATED,
            "ResourceGroupId": "rg-acfmxazb4ph6aiy",
            "Tags": [],
            "ZoneMappings": [
                {
                    "ZoneId": zone,
                    "VSwitchId": network_of(item["RegionId"], item["ResourceId"], zone, item)[1],
                    "LoadBalancerAddresses": [
                        {
                            "EniId": f"eni-{item['ResourceId'][-12:]}{index:02d}",
                            "PrivateIpv4Address": _address(
                                item["RegionId"], item["ResourceId"], zone
                            ),
                        }
                    ],
                }
                for index, zone in enumerate(item["Zones"])
            ],
        }

    def list_gwlb_load_balancers(self, account, params):
        # Like ALB's, a GWLB call names no region: the cloud takes it from the endpoint.
        region_id = self._region(params)
        return self._listed(params, region_id, "gwlb", self._describe_gwlb)

    # The operations of each product, by the API version its SDK sends.
    PRODUCTS = {
        SLB_VERSION: {"DescribeLoadBalancers": describe_load_balancers},
        ALB_VERSION: {
            "ListLoadBalancers": list_alb_load_balancers,
            "GetLoadBalancerAttribute": get_alb_load_balancer_attribute,
        },
        NLB_VERSION: {"ListLoadBalancers": list_nlb_load_balancers},
        GWLB_VERSION: {"ListLoadBalancers": list_gwlb_load_balancers},
    }

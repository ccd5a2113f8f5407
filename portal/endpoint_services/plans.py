"""Configurations of an endpoint service: compare two, and plan the cloud calls from one to another.

A configuration is plain data: the attributes of CONFIG_FIELDS, `resources` (rows of
resource_type, resource_id, zone_id), `tags` (rows of key, value) and, where the portal has
said, `allowed_users` (the account ids on the allow-list, "*" for every account). An
alb/nlb/gwlb resource is the pair (ResourceId, ZoneId), an slb resource its ResourceId alone
(privatelink-day2-api.md).
"""

from dataclasses import dataclass, field

ZONED_TYPES = {"alb", "nlb", "gwlb"}
MAX_RESOURCES = 20  # rows a service holds
ASYNC_ACTIONS = {
    "UpdateVpcEndpointServiceAttribute",
    "AttachResourceToVpcEndpointService",
    "DetachResourceFromVpcEndpointService",
    "DeleteVpcEndpointService",
}
UPDATE = "UpdateVpcEndpointServiceAttribute"
ATTACH = "AttachResourceToVpcEndpointService"
DETACH = "DetachResourceFromVpcEndpointService"
TAG = "TagResources"
UNTAG = "UntagResources"
DELETE = "DeleteVpcEndpointService"
ADD_USER = "AddUserToVpcEndpointService"
REMOVE_USER = "RemoveUserFromVpcEndpointService"
EVERY_ACCOUNT = "*"
ATTRIBUTE_LABELS = {
    "service_description": "description",
    "auto_accept_enabled": "auto-accept",
    "zone_affinity_enabled": "zone affinity",
    "connect_bandwidth": "connection bandwidth",
    "address_ip_version": "IP version",
}


@dataclass
class Operation:
    """One planned cloud call: the API action, its snake_case parameters, and what it changes."""

    action: str
    params: dict
    summary: list = field(default_factory=list)

    @property
    def asynchronous(self):
        return self.action in ASYNC_ACTIONS

    def content(self):
        """What an approver approves of it, as a request's plan keeps it."""
        return {"action": self.action, "params": self.params}


def resource_key(row):
    if row.get("resource_type") in ZONED_TYPES:
        return (row["resource_type"], row["resource_id"], row.get("zone_id") or "")
    return (row["resource_type"], row["resource_id"], "")


def normalize(config):
    """Return `config` with its lists in a stable order, so that equal means the same."""
    config = dict(config)
    config["supported_region_list"] = sorted(config.get("supported_region_list") or [])
    config["resources"] = sorted(
        (
            {k: r.get(k) or "" for k in ("resource_type", "resource_id", "zone_id")}
            for r in config.get("resources") or []
        ),
        key=lambda r: (r["resource_id"], r["zone_id"]),
    )
    config["tags"] = sorted(
        ({"key": t["key"], "value": t.get("value") or ""} for t in config.get("tags") or []),
        key=lambda t: t["key"],
    )
    if config.get("allowed_users") is not None:
        config["allowed_users"] = sorted({str(u) for u in config["allowed_users"]})
    return config


def account_line(sign, account):
    who = "every account" if account == EVERY_ACCOUNT else f"account {account}"
    return f"{sign} allow-list: {who}"


def _shown(name, value):
    if isinstance(value, bool):
        return "on" if value else "off"
    if name == "service_description":
        return f"“{value}”" if value else "(none)"
    if name == "connect_bandwidth":
        return f"{value} Mbit/s" if value is not None else "(default)"
    return str(value)


def _resource_line(sign, row):
    zone = f" in {row['zone_id']}" if row.get("zone_id") else ""
    return f"{sign} {row['resource_type']} {row['resource_id']}{zone}"


def differences(expected, actual):
    """Return what `actual` changes of `expected`, one line each ("description: A → B").

    An attribute `expected` leaves unset (None) is not compared: the portal never said.
    """
    actual = {
        **actual,
        **{name: None for name in ATTRIBUTE_LABELS if expected.get(name) is None},
    }
    return [line for op in change_plan(expected, actual) for line in op.summary]


def _resource_changes(current, desired):
    have = {resource_key(r): r for r in current}
    # An slb row without a zone matches that slb in whatever zone the cloud gave it.
    for row in desired:
        if row["resource_type"] not in ZONED_TYPES and not row.get("zone_id"):
            row["zone_id"] = next(
                (r["zone_id"] for r in current if resource_key(r) == resource_key(row)), ""
            )
    want = {resource_key(r): r for r in desired}
    added = [want[k] for k in want if k not in have]
    removed = [have[k] for k in have if k not in want]
    return added, removed


def change_plan(current, desired):
    """Return the operations that turn configuration `current` into `desired`, in order.

    Order keeps the service usable and the cloud willing: attributes first, except an upgrade
    to DualStack, which waits until the resources that support it are attached; attach before
    detach, unless that would pass the 20 resources a service holds; tags last (they never
    make the service Pending), untagging before tagging.
    """
    current, desired = normalize(current), normalize(desired)
    operations = []
    params, summary = {}, []
    upgrade = None
    for name, label in ATTRIBUTE_LABELS.items():
        before, after = current.get(name), desired.get(name)
        if after is None or after == before:
            continue
        line = f"{label}: {_shown(name, before)} → {_shown(name, after)}"
        if name == "address_ip_version" and after == "DualStack":
            upgrade = Operation(UPDATE, {name: after}, [line])
            continue
        params[name] = after
        summary.append(line)
    added_regions = [
        r for r in desired["supported_region_list"] if r not in current["supported_region_list"]
    ]
    removed_regions = [
        r for r in current["supported_region_list"] if r not in desired["supported_region_list"]
    ]
    if added_regions:
        params["add_supported_region_set"] = added_regions
        summary += [f"+ supported region {r}" for r in added_regions]
    if removed_regions:
        params["delete_supported_region_set"] = removed_regions
        summary += [f"- supported region {r}" for r in removed_regions]
    if params:
        operations.append(Operation(UPDATE, params, summary))
    added, removed = _resource_changes(current["resources"], desired["resources"])
    attaches = [Operation(ATTACH, dict(row), [_resource_line("+", row)]) for row in added]
    detaches = [Operation(DETACH, dict(row), [_resource_line("-", row)]) for row in removed]
    if len(current["resources"]) + len(added) > MAX_RESOURCES:
        # Attaching first would pass the service's limit: make room first.
        operations += detaches + attaches
    else:
        # Attach first, so that the service keeps serving every zone throughout.
        operations += attaches + detaches
    if upgrade:
        operations.append(upgrade)
    have_tags = {t["key"]: t["value"] for t in current["tags"]}
    want_tags = {t["key"]: t["value"] for t in desired["tags"]}
    set_tags, tag_lines = [], []
    for key, value in want_tags.items():
        if key not in have_tags:
            set_tags.append({"key": key, "value": value})
            tag_lines.append(f"+ tag {key}={value}")
        elif have_tags[key] != value:
            set_tags.append({"key": key, "value": value})
            tag_lines.append(f"~ tag {key}: {have_tags[key]} → {value}")
    removed_keys = [key for key in have_tags if key not in want_tags]
    # Untag first: a renamed tag on a service with 20 would pass the limit the other way.
    if removed_keys:
        operations.append(
            Operation(UNTAG, {"tag_keys": removed_keys}, [f"- tag {k}" for k in removed_keys])
        )
    if set_tags:
        operations.append(Operation(TAG, {"tags": set_tags}, tag_lines))
    # The allow-list, only where both sides say what it is (a change request does not).
    have_users, want_users = current.get("allowed_users"), desired.get("allowed_users")
    if have_users is not None and want_users is not None:
        operations += [
            Operation(ADD_USER, {"user_id": u}, [account_line("+", u)])
            for u in want_users
            if u not in have_users
        ]
        operations += [
            Operation(REMOVE_USER, {"user_id": u}, [account_line("-", u)])
            for u in have_users
            if u not in want_users
        ]
    return operations


def risks(operations):
    """Return why a plan needs the risky number of approvals (empty when it does not)."""
    reasons = []
    for op in operations:
        action, params = op["action"], op["params"]
        if action == UPDATE and params.get("auto_accept_enabled") is True:
            reasons.append("it turns auto-accept on")
        if action == UPDATE and params.get("add_supported_region_set"):
            reasons.append("it opens the service to more regions")
        if action == DETACH and "it detaches a resource" not in reasons:
            reasons.append("it detaches a resource")
        if action == ADD_USER and params.get("user_id") == EVERY_ACCOUNT:
            reasons.append("it lets every Alibaba Cloud account connect")
    return reasons


def apply_operations(config, operations):
    """Return `config` as it is once `operations` (their content(): action, params) apply."""
    config = normalize(config)
    for op in operations:
        action, params = op["action"], op["params"]
        if action == UPDATE:
            for name in ATTRIBUTE_LABELS:
                if name in params:
                    config[name] = params[name]
            regions = [
                r
                for r in config["supported_region_list"]
                if r not in params.get("delete_supported_region_set", [])
            ]
            regions += [r for r in params.get("add_supported_region_set", []) if r not in regions]
            config["supported_region_list"] = regions
        elif action == ATTACH:
            keys = {resource_key(r) for r in config["resources"]}
            if resource_key(params) not in keys:
                config["resources"] = [*config["resources"], dict(params)]
        elif action == DETACH:
            config["resources"] = [
                r for r in config["resources"] if resource_key(r) != resource_key(params)
            ]
        elif action == TAG:
            tags = {t["key"]: t["value"] for t in config["tags"]}
            tags.update({t["key"]: t["value"] for t in params["tags"]})
            config["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
        elif action == UNTAG:
            config["tags"] = [t for t in config["tags"] if t["key"] not in params["tag_keys"]]
        elif action == ADD_USER:
            config["allowed_users"] = [*(config.get("allowed_users") or []), params["user_id"]]
        elif action == REMOVE_USER:
            config["allowed_users"] = [
                u for u in config.get("allowed_users") or [] if u != params["user_id"]
            ]
    return normalize(config)

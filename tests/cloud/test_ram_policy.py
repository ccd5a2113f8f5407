"""The RAM policies the docs ship are exactly what the cloud layer calls.

docs/ram-policy.json is the permission policy of the role the portal assumes in each account;
docs/ram-policy-portal.json is the portal's own identity's (assume the roles, read regions and
zones). An action the code calls that no policy allows would fail in production only; an
action a policy allows that the code never calls is a right given for nothing.
"""

import ast
import json
import re
from pathlib import Path

from portal.cloud import services as cloud

ROOT = Path(__file__).resolve().parents[2]
PRODUCTS = {
    "sdk": "privatelink",
    "slb": "slb",
    "alb": "alb",
    "nlb": "nlb",
    "gwlb": "gwlb",
    "sts": "sts",
}


def actions_called():
    """Every `<product>:<Action>` whose SDK request the cloud layer can build."""
    tree = ast.parse(Path(cloud.__file__).read_text())
    return {
        f"{PRODUCTS[node.value.id]}:{node.attr.removesuffix('Request')}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id in PRODUCTS
        and re.fullmatch(r"[A-Z][A-Za-z]+Request", node.attr)
    }


def allowed(name):
    document = json.loads((ROOT / "docs" / name).read_text())
    assert document["Version"] == "1"
    return {
        action
        for statement in document["Statement"]
        if statement["Effect"] == "Allow"
        for action in statement["Action"]
    }


def test_the_extraction_sees_the_calls_it_must():
    called = actions_called()
    # One of each product, and one built outside the OPERATIONS table.
    assert {
        "privatelink:CreateVpcEndpointService",
        "privatelink:RemoveUserFromVpcEndpointService",
        "slb:DescribeLoadBalancers",
        "alb:GetLoadBalancerAttribute",
        "nlb:ListLoadBalancers",
        "gwlb:ListLoadBalancers",
        "sts:AssumeRole",
    } <= called


def test_the_policies_allow_exactly_what_the_code_calls():
    role, portal = allowed("ram-policy.json"), allowed("ram-policy-portal.json")
    assert role | portal == actions_called()


def test_the_role_needs_no_sts_and_the_portal_only_assumes_and_reads_regions():
    role, portal = allowed("ram-policy.json"), allowed("ram-policy-portal.json")
    assert not {action for action in role if action.startswith("sts:")}
    assert portal == {
        "sts:AssumeRole",
        "privatelink:DescribeRegions",
        "privatelink:DescribeZones",
    }

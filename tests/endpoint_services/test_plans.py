"""Plans: the ordered cloud operations from one configuration of a service to another."""

import pytest

from portal.endpoint_services import plans

NLB = "nlb-hz0000000000000001"
NLB_H = {"resource_type": "nlb", "resource_id": NLB, "zone_id": "cn-hangzhou-h"}
NLB_I = {"resource_type": "nlb", "resource_id": NLB, "zone_id": "cn-hangzhou-i"}
NLB_J = {"resource_type": "nlb", "resource_id": "nlb-hzpool000001", "zone_id": "cn-hangzhou-j"}


def config(**changes):
    base = {
        "service_description": "Orders API",
        "auto_accept_enabled": False,
        "zone_affinity_enabled": False,
        "connect_bandwidth": 3072,
        "address_ip_version": "IPv4",
        "supported_region_list": ["cn-hangzhou"],
        "resources": [NLB_H, NLB_I],
        "tags": [{"key": "team", "value": "orders"}],
    }
    return {**base, **changes}


def actions(operations):
    return [op.action for op in operations]


def test_the_same_configuration_needs_no_operation():
    assert plans.change_plan(config(), config()) == []


def test_list_order_does_not_matter():
    reordered = config(resources=[NLB_I, NLB_H], supported_region_list=["cn-hangzhou"])
    assert plans.change_plan(config(), reordered) == []


def test_the_issue_example_description_tag_and_zone():
    desired = config(
        service_description="Orders API v2",
        tags=[{"key": "team", "value": "orders"}, {"key": "env", "value": "prod"}],
        resources=[NLB_H, NLB_I, NLB_J],
    )
    operations = plans.change_plan(config(), desired)
    assert actions(operations) == [plans.UPDATE, plans.ATTACH, plans.TAG]
    assert operations[0].params == {"service_description": "Orders API v2"}
    assert operations[0].summary == ["description: “Orders API” → “Orders API v2”"]
    assert operations[1].summary == ["+ nlb nlb-hzpool000001 in cn-hangzhou-j"]
    assert operations[2].summary == ["+ tag env=prod"]
    assert plans.risks([{"action": op.action, "params": op.params} for op in operations]) == []


def test_one_load_balancer_in_two_zones_is_two_resources():
    operations = plans.change_plan(config(resources=[NLB_H]), config())
    assert actions(operations) == [plans.ATTACH]
    assert operations[0].params == NLB_I


def test_attach_comes_before_detach_and_tags_last():
    desired = config(resources=[NLB_J], tags=[{"key": "team", "value": "payments"}])
    operations = plans.change_plan(config(), desired)
    assert actions(operations) == [plans.ATTACH, plans.DETACH, plans.DETACH, plans.TAG]
    assert operations[3].summary == ["~ tag team: orders → payments"]


def test_a_renamed_tag_is_untagged_before_the_new_one_is_set():
    """On a service with 20 tags, tagging first would pass the limit."""
    operations = plans.change_plan(config(), config(tags=[{"key": "owner", "value": "orders"}]))
    assert [op.action for op in operations] == [plans.UNTAG, plans.TAG]


def test_replacing_a_resource_at_the_limit_detaches_first():
    full = [
        {"resource_type": "nlb", "resource_id": f"nlb-hzpool{n:06d}", "zone_id": "cn-hangzhou-h"}
        for n in range(1, 21)
    ]
    replaced = [*full[:19], NLB_J]
    operations = plans.change_plan(config(resources=full), config(resources=replaced))
    assert [op.action for op in operations] == [plans.DETACH, plans.ATTACH]


def test_removed_tags_are_untagged():
    operations = plans.change_plan(config(), config(tags=[]))
    assert actions(operations) == [plans.UNTAG]
    assert operations[0].params == {"tag_keys": ["team"]}
    assert operations[0].summary == ["- tag team"]


def test_upgrade_to_dual_stack_waits_for_the_resources():
    operations = plans.change_plan(
        config(), config(address_ip_version="DualStack", resources=[NLB_H, NLB_I, NLB_J])
    )
    assert actions(operations) == [plans.ATTACH, plans.UPDATE]
    assert operations[1].params == {"address_ip_version": "DualStack"}


def test_downgrade_to_ipv4_goes_first():
    operations = plans.change_plan(
        config(address_ip_version="DualStack"), config(resources=[NLB_H, NLB_I, NLB_J])
    )
    assert actions(operations) == [plans.UPDATE, plans.ATTACH]


def test_supported_regions_added_and_removed():
    operations = plans.change_plan(
        config(supported_region_list=["cn-hangzhou", "cn-shanghai"]),
        config(supported_region_list=["cn-hangzhou", "ap-southeast-1"]),
    )
    assert operations[0].params == {
        "add_supported_region_set": ["ap-southeast-1"],
        "delete_supported_region_set": ["cn-shanghai"],
    }


def test_an_slb_without_a_zone_matches_the_zone_the_cloud_gave_it():
    slb = {"resource_type": "slb", "resource_id": "lb-hz00000000000000001", "zone_id": ""}
    placed = {**slb, "zone_id": "cn-hangzhou-h"}
    assert plans.change_plan(config(resources=[placed]), config(resources=[slb])) == []


@pytest.mark.parametrize(
    ("desired", "reason"),
    [
        (config(auto_accept_enabled=True), "it turns auto-accept on"),
        (
            config(supported_region_list=["cn-hangzhou", "cn-shanghai"]),
            "it opens the service to more regions",
        ),
        (config(resources=[NLB_H]), "it detaches a resource"),
    ],
)
def test_risky_changes_say_why(desired, reason):
    operations = plans.change_plan(config(), desired)
    assert plans.risks([{"action": op.action, "params": op.params} for op in operations]) == [
        reason
    ]


def test_turning_auto_accept_off_is_not_risky():
    operations = plans.change_plan(config(auto_accept_enabled=True), config())
    assert plans.risks([{"action": op.action, "params": op.params} for op in operations]) == []


def test_applying_a_plan_gives_the_desired_configuration():
    desired = config(
        service_description="v2",
        connect_bandwidth=5120,
        supported_region_list=["cn-hangzhou", "cn-shanghai"],
        resources=[NLB_H, NLB_J],
        tags=[{"key": "env", "value": "prod"}],
    )
    operations = plans.change_plan(config(), desired)
    applied = plans.apply_operations(config(), [op.content() for op in operations])
    assert applied == plans.normalize(desired)


def test_differences_read_as_approved_then_cloud():
    approved = config()
    cloud = config(service_description="changed in the console", tags=[])
    assert plans.differences(approved, cloud) == [
        "description: “Orders API” → “changed in the console”",
        "- tag team",
    ]


def test_an_attribute_the_portal_never_set_is_not_drift():
    assert plans.differences(config(connect_bandwidth=None), config(connect_bandwidth=5120)) == []

"""What the day-2 tests share: a service made by the portal, the change form, the worker's
steps run in-process, and the SDK as someone at the console would use it."""

import time
from pathlib import Path

from alibabacloud_privatelink20200415 import models

from portal.endpoint_services.services import endpoint_service_refresh
from portal.provisioning import services as provisioning
from portal.service_requests.models import State
from tests.support.factories import ServiceRequestFactory

ROOT = Path(__file__).resolve().parents[2]
REGION = "cn-hangzhou"
NLB = "nlb-hzpool000002"  # zones h, i and j
TWO_ZONES = [
    {"resource_type": "nlb", "resource_id": NLB, "zone_id": "cn-hangzhou-h"},
    {"resource_type": "nlb", "resource_id": NLB, "zone_id": "cn-hangzhou-i"},
]


def run(step_function, pk, timeout=20):
    """Run a worker's steps in-process until it has nothing left to do."""
    deadline = time.monotonic() + timeout
    step = step_function(pk=pk)
    while step is not None:
        assert time.monotonic() < deadline, "the worker's steps did not finish"
        time.sleep(min(step.delay, 0.2))
        task = {
            "provision": provisioning.service_request_provision,
            "poll": provisioning.service_request_poll,
            "apply": provisioning.service_request_apply,
        }[step.task]
        step = task(pk=pk, attempt=step.attempt)


def form(service, **changes):
    """The change form as posted: the service's state, with `changes`."""
    data = {
        "service_description": service.service_description,
        "address_ip_version": service.address_ip_version,
        "connect_bandwidth": service.connect_bandwidth,
        "supported_region_list": service.supported_region_list,
        "justification": "The team asked for it.",
        "action": "submit",
    }
    if service.auto_accept_enabled:
        data["auto_accept_enabled"] = "on"
    resources = changes.pop("resources", service.resources)
    tags = changes.pop("tags", service.tags)
    data.update(
        {"resources-TOTAL_FORMS": len(resources), "resources-INITIAL_FORMS": 0},
    )
    for i, row in enumerate(resources):
        for name in ("resource_type", "resource_id", "zone_id"):
            data[f"resources-{i}-{name}"] = row[name]
    data.update({"tags-TOTAL_FORMS": len(tags), "tags-INITIAL_FORMS": 0})
    for i, row in enumerate(tags):
        data[f"tags-{i}-key"], data[f"tags-{i}-value"] = row["key"], row["value"]
    data.update(changes)
    return data


def sdk(simulator, action, **fields):
    fields.setdefault("region_id", REGION)
    name = "".join(f"_{c.lower()}" if c.isupper() else c for c in action).lstrip("_")
    return getattr(simulator.client, name)(getattr(models, f"{action}Request")(**fields)).body


def cloud_state(simulator, service_id):
    listed = sdk(simulator, "ListVpcEndpointServices", service_id=service_id).services
    if not listed:
        return None, []
    resources = sdk(simulator, "ListVpcEndpointServiceResources", service_id=service_id).resources
    return listed[0] if listed else None, sorted((r.resource_id, r.zone_id) for r in resources)


def make_service(requester):
    """An active nlb service in two zones, owned by `requester`, as the portal made it."""
    request = ServiceRequestFactory(
        requester=requester,
        state=State.APPROVED,
        service_description="Orders API",
        resources=TWO_ZONES,
        tags=[("team", "orders")],
    )
    run(provisioning.service_request_provision, request.pk)
    request.refresh_from_db()
    assert request.state == State.ACTIVE
    return endpoint_service_refresh(pk=request.endpoint_service_id)

"""A change applied by real Celery workers, including one killed in the middle of the plan."""

import time

import pytest

from portal.approvals import services as approval_services
from portal.provisioning import tasks
from portal.requests import services as request_services
from portal.service_requests.models import CHANGE_FIELDS, OperationState, ServiceRequest, State
from tests.support.day2 import NLB, cloud_state
from tests.support.workers import running_worker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def file_change(record, requester, approver, **desired):
    """File, submit and approve a change of service `record`; the commit enqueues `apply`."""
    current = record.config()
    fields = {name: current[name] for name in CHANGE_FIELDS}
    fields.update(justification="Zone j for the new racks.", **desired.pop("fields", {}))
    change = request_services.change_request_create(
        requester=requester,
        service=record,
        fields=fields,
        resources=desired.get("resources", current["resources"]),
        tags=desired.get("tags", current["tags"]),
    )
    request_services.service_request_submit(service_request=change, actor=requester)
    change.refresh_from_db()
    assert change.state == State.PENDING_APPROVAL, change.dry_run_message
    approval_services.service_request_decide(
        pk=change.pk, approver=approver, decision="approve", revision=change.revision
    )
    return change


def state_of(pk):
    return ServiceRequest.objects.get(pk=pk).state


def zone_j(record):
    row = {"resource_type": "nlb", "resource_id": NLB, "zone_id": "cn-hangzhou-j"}
    return [*record.config()["resources"], row]


def test_a_worker_applies_a_change(service, requester, approver, simulator, tmp_path):
    with running_worker(simulator.endpoint, tmp_path) as worker:
        change = file_change(
            service,
            requester,
            approver,
            fields={"service_description": "Orders API v2"},
            resources=zone_j(service),
            tags=[*service.config()["tags"], {"key": "env", "value": "prod"}],
        )
        wait_for(lambda: state_of(change.pk) == State.APPLIED, worker=worker)
    listed, resources = cloud_state(simulator, service.service_id)
    assert listed.service_description == "Orders API v2"
    assert len(resources) == 3
    service.refresh_from_db()
    assert service.status == "active"
    assert not service.drifted, service.drift


@pytest.mark.slow
def test_a_worker_killed_mid_plan_is_resumed_and_applies_nothing_twice(
    service,
    requester,
    approver,
    simulator,
    tmp_path,
):
    # The Attach is slow: the worker dies after sending it, before writing its answer down.
    simulator.faults(latency_ms=2000, actions=["AttachResourceToVpcEndpointService"])
    with running_worker(simulator.endpoint, tmp_path) as first:
        change = file_change(
            service,
            requester,
            approver,
            fields={"service_description": "Orders API v2"},
            resources=zone_j(service),
        )
        wait_for(
            lambda: (
                ServiceRequest.objects.get(pk=change.pk).last_cloud_action
                == "GetVpcEndpointServiceAttribute"
                and change.operations.get(position=0).state == OperationState.APPLIED
            ),
            worker=first,
        )
        time.sleep(0.7)
        first.kill()
    wait_for(lambda: len(cloud_state(simulator, service.service_id)[1]) == 3, message="attach")
    attach = change.operations.get(position=1)
    assert attach.state == OperationState.PENDING  # the worker never heard the answer
    simulator.faults(latency_ms=0)
    with running_worker(simulator.endpoint, tmp_path) as second:
        time.sleep(1.1)  # RECONCILE_AFTER is 1 s for test workers
        tasks.reconcile.delay()
        wait_for(lambda: state_of(change.pk) == State.APPLIED, worker=second)
    change.refresh_from_db()
    assert change.events.filter(action="reconciled").exists()
    _listed, resources = cloud_state(simulator, service.service_id)
    assert resources == [
        (NLB, "cn-hangzhou-h"),
        (NLB, "cn-hangzhou-i"),
        (NLB, "cn-hangzhou-j"),
    ]
    updates = change.events.filter(
        action="cloud_call", details__cloud_call__action="UpdateVpcEndpointServiceAttribute"
    )
    assert [e.details["cloud_call"]["outcome"] for e in updates] == ["ok"]

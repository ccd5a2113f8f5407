"""Real Celery worker processes on the configured broker, the simulator over HTTP, and faults.

Under `make test` the broker is the embedded file-system one and the database a SQLite file;
under `make test-services` (see test_worker_services.py) the same scenarios run on Redis and
PostgreSQL.
"""

import threading
import time

import pytest

from portal.approvals import services as approval_services
from portal.provisioning import tasks
from portal.service_requests.models import ServiceRequest, State
from simulator.backend import Account, Backend
from simulator.server import SimulatorServer, start_in_thread
from tests.conftest import DEV_KEY_ID, DEV_KEY_SECRET
from tests.support.factories import ServiceRequestFactory
from tests.support.workers import running_worker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def state_of(pk):
    return ServiceRequest.objects.get(pk=pk).state


def approve(request, approver):
    """Approve through the service layer; the commit enqueues `provision` on the broker."""
    request.refresh_from_db()
    approval_services.service_request_decide(
        pk=request.pk, approver=approver, decision="approve", revision=request.revision
    )


@pytest.fixture
def pending(requester):
    return ServiceRequestFactory(requester=requester, state=State.PENDING_APPROVAL)


def test_worker_takes_an_approved_request_to_active(pending, approver, simulator, tmp_path):
    with running_worker(simulator.endpoint, tmp_path) as worker:
        approve(pending, approver)
        wait_for(lambda: state_of(pending.pk) == State.ACTIVE, message="active", worker=worker)
    request = ServiceRequest.objects.get(pk=pending.pk)
    [service] = simulator.services()
    assert request.service_id == service["ServiceId"]
    assert service["ServiceStatus"] == "Active"
    assert request.service_domain == service["ServiceDomain"]
    states = [
        e.to_state for e in request.events.exclude(action__in=("cloud_call", "created", "submit"))
    ]
    assert states == ["approved", "provisioning", "creating", "active"]


def test_throttling_and_server_errors_still_end_active_once(pending, approver, simulator, tmp_path):
    simulator.faults(throttle_next=3, error_next=3)
    with running_worker(simulator.endpoint, tmp_path) as worker:
        approve(pending, approver)
        wait_for(lambda: state_of(pending.pk) == State.ACTIVE, message="active", worker=worker)
    assert len(simulator.services()) == 1
    outcomes = [
        e.details["cloud_call"]["outcome"]
        for e in ServiceRequest.objects.get(pk=pending.pk).events.filter(action="cloud_call")
    ]
    assert outcomes.count("Throttling.User") == 3
    assert sum(o in ("ServiceUnavailable", "InternalError") for o in outcomes) == 3


def test_permanent_error_fails_the_request(requester, approver, simulator, tmp_path):
    request = ServiceRequestFactory(
        requester=requester,
        state=State.PENDING_APPROVAL,
        resources=[
            {
                "resource_type": "nlb",
                "resource_id": "nlb-hz0000000000000002",
                "zone_id": "cn-hangzhou-h",
            }
        ],
    )
    with running_worker(simulator.endpoint, tmp_path) as worker:
        approve(request, approver)
        wait_for(lambda: state_of(request.pk) == State.FAILED, worker=worker)
    request.refresh_from_db()
    assert request.error_code == "EndpointServiceNotSupportedZone"
    assert request.error_message == (
        "Resource 1 (nlb-hz0000000000000002 in cn-hangzhou-h): "
        "A resource is not deployed in the zone given for it."
    )
    assert request.cloud_request_id
    assert simulator.services() == []


def test_stuck_in_creating_fails_at_the_deadline(pending, approver, simulator, tmp_path):
    simulator.faults(stuck_creating=True)
    with running_worker(simulator.endpoint, tmp_path, PROVISION_DEADLINE=3) as worker:
        approve(pending, approver)
        wait_for(lambda: state_of(pending.pk) == State.FAILED, timeout=20, worker=worker)
    request = ServiceRequest.objects.get(pk=pending.pk)
    assert request.error_code == "ProvisioningTimeout"
    assert request.service_id
    assert len(simulator.services()) == 1


@pytest.mark.slow
def test_worker_killed_mid_create_is_resumed_by_reconcile(pending, approver, simulator, tmp_path):
    # The Create is slow, so the worker dies after sending it and before saving its answer.
    simulator.faults(latency_ms=2000, actions=["CreateVpcEndpointService"])
    with running_worker(simulator.endpoint, tmp_path) as first:
        approve(pending, approver)
        wait_for(lambda: state_of(pending.pk) == State.PROVISIONING, worker=first)
        time.sleep(0.5)
        first.kill()
    wait_for(lambda: len(simulator.services()) == 1, message="the create to land")
    request = ServiceRequest.objects.get(pk=pending.pk)
    assert request.state == State.PROVISIONING
    assert request.service_id == ""
    simulator.faults(latency_ms=0)
    with running_worker(simulator.endpoint, tmp_path) as second:
        time.sleep(1.1)  # RECONCILE_AFTER is 1 s for test workers
        tasks.reconcile.delay()
        wait_for(lambda: state_of(pending.pk) == State.ACTIVE, message="active", worker=second)
    [service] = simulator.services()
    request.refresh_from_db()
    assert request.service_id == service["ServiceId"]
    assert request.events.filter(action="reconciled").exists()


def test_simulator_down_for_a_while_then_back(pending, approver, tmp_path):
    backend = Backend(
        ":memory:", create_delay=0.2, accounts=[Account("dev", DEV_KEY_ID, DEV_KEY_SECRET)]
    )
    server = start_in_thread(backend)
    host, port = server.server_address[:2]
    server.shutdown()
    server.server_close()
    with running_worker(f"{host}:{port}", tmp_path) as worker:
        approve(pending, approver)
        wait_for(
            lambda: ServiceRequest.objects.get(pk=pending.pk).last_cloud_outcome == "Unreachable",
            worker=worker,
        )
        time.sleep(1)
        server = SimulatorServer((host, port), backend)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            wait_for(lambda: state_of(pending.pk) == State.ACTIVE, message="active", worker=worker)
        finally:
            server.shutdown()
            server.server_close()
    assert len(backend.snapshot()) == 1

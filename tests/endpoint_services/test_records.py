"""A create request makes the service's record, which outlives it."""

import time

import pytest

from portal.endpoint_services.models import EndpointService, ServiceStatus
from portal.endpoint_services.services import endpoint_service_refresh
from portal.provisioning import services as provisioning
from portal.service_requests.models import State
from tests.support.factories import ServiceRequestFactory

pytestmark = pytest.mark.django_db

TWO_ZONES = [
    {"resource_type": "nlb", "resource_id": "nlb-hz0000000000000001", "zone_id": "cn-hangzhou-h"},
    {"resource_type": "nlb", "resource_id": "nlb-hz0000000000000001", "zone_id": "cn-hangzhou-i"},
]


def provision_to_active(request):
    step = provisioning.service_request_provision(pk=request.pk)
    request.refresh_from_db()
    if step is None and request.state == State.CREATING:
        step = provisioning.Step("poll", 0, 0)
    while step:
        time.sleep(min(step.delay, 0.05))
        step = provisioning.service_request_poll(pk=request.pk, attempt=step.attempt)
    request.refresh_from_db()


def test_create_answer_makes_the_record_and_active_approves_its_configuration(
    requester, simulator, django_capture_on_commit_callbacks, monkeypatch
):
    from portal.endpoint_services import tasks

    refreshes = []
    monkeypatch.setattr(tasks.refresh_service, "delay", lambda pk: refreshes.append(pk))
    request = ServiceRequestFactory(
        requester=requester, state=State.APPROVED, tags=[("team", "orders")]
    )
    with django_capture_on_commit_callbacks(execute=True):
        provisioning.service_request_provision(pk=request.pk)
    request.refresh_from_db()
    service = request.endpoint_service
    assert service.service_id == request.service_id
    assert service.status == ServiceStatus.CREATING
    assert service.owner == requester
    assert service.events.filter(request_id__isnull=True).get().action == "created"
    with django_capture_on_commit_callbacks(execute=True):
        provision_to_active(request)
    service.refresh_from_db()
    assert request.state == State.ACTIVE
    assert service.status == ServiceStatus.ACTIVE
    assert service.approved["tags"] == [{"key": "team", "value": "orders"}]
    assert service.approved["connect_bandwidth"] == 3072
    # Going Active enqueues a full reading; it finds the service as approved.
    assert refreshes == [service.pk]
    service = endpoint_service_refresh(pk=service.pk)
    assert service.resources_read_at is not None
    assert not service.drifted, service.drift


def test_a_failed_create_leaves_no_record(requester, simulator):
    request = ServiceRequestFactory(
        requester=requester,
        state=State.APPROVED,
        resources=[
            {
                "resource_type": "nlb",
                "resource_id": "nlb-hz9999999999999999",
                "zone_id": "cn-hangzhou-h",
            }
        ],
    )
    provisioning.service_request_provision(pk=request.pk)
    request.refresh_from_db()
    assert request.state == State.FAILED
    assert not EndpointService.objects.exists()


def test_the_service_page_shows_status_and_drift_flag(login, requester, requester2, simulator):
    request = ServiceRequestFactory(requester=requester, state=State.APPROVED)
    provision_to_active(request)
    service = endpoint_service_refresh(pk=request.endpoint_service_id)
    html = login(requester2).get(f"/services/{service.service_id}/").content.decode()
    assert 'data-status="active"' in html
    assert 'data-drift="false"' in html
    assert service.service_name in html
    assert "/change/" not in html  # requester2 neither owns it nor approves
    # Who asked what of it, and who may connect, is for its keepers.
    assert f'href="/requests/{request.pk}/"' not in html
    assert "Allow-list" not in html
    owner = login(requester).get(f"/services/{service.service_id}/").content.decode()
    assert f'href="/requests/{request.pk}/"' in owner
    assert "Allow-list" in owner

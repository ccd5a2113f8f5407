"""Decommissioning asks first: the service's page links to a form that says what deleting the
service cuts off, needs a justification, and files one request however often it is posted."""

import pytest
from django.utils import timezone

from portal.endpoint_services.models import EndpointConnection, EndpointService
from portal.service_requests.models import Kind, ServiceRequest, State

pytestmark = pytest.mark.django_db


def decommission(client, service, action="submit", justification="Replaced by orders-v2."):
    return client.post(
        f"/services/{service.service_id}/decommission/",
        {"justification": justification, "action": action},
    )


def test_the_service_page_asks_before_anything_is_filed(login, requester, service):
    client = login(requester)
    page = client.get(service.get_absolute_url()).content.decode()
    assert f'href="/services/{service.service_id}/decommission/">Decommission</a>' in page
    service.allowed_users = ["1000000000000003", "1000000000000004"]
    service.save(update_fields=["allowed_users"])
    EndpointConnection.objects.create(
        service=service,
        endpoint_id="ep-confirm000000000000",
        endpoint_owner_id="1000000000000003",
        status="Connected",
        read_at=timezone.now(),
    )
    form = client.get(f"/services/{service.service_id}/decommission/")
    assert form.status_code == 200
    html = form.content.decode()
    assert "as last read, 1 endpoint connected and 2 accounts on its allow-list" in html
    assert f'href="/services/{service.service_id}/">Keep the service</a>' in html
    assert not ServiceRequest.objects.filter(kind=Kind.DECOMMISSION).exists()


def test_a_decommission_without_a_reason_is_refused_at_the_field(login, requester, service):
    response = decommission(login(requester), service, justification="")
    assert response.status_code == 400
    assert "Tell the approvers why this service can be deleted." in response.content.decode()
    assert not ServiceRequest.objects.filter(kind=Kind.DECOMMISSION).exists()


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_other_methods_are_refused(login, requester, service, method):
    response = getattr(login(requester), method)(f"/services/{service.service_id}/decommission/")
    assert response.status_code == 405


def test_someone_elses_service_cannot_be_decommissioned(login, requester2, service):
    client = login(requester2)
    assert client.get(f"/services/{service.service_id}/decommission/").status_code == 403
    assert decommission(client, service).status_code == 403
    assert "Decommission</a>" not in client.get(service.get_absolute_url()).content.decode()
    assert not ServiceRequest.objects.filter(kind=Kind.DECOMMISSION).exists()


def test_an_unmanaged_service_is_not_found_by_a_requester(login, requester):
    unmanaged = EndpointService.objects.create(
        service_id="epsrv-unmanaged000000000", region_id="cn-hangzhou", managed=False
    )
    client = login(requester)
    assert client.get(f"/services/{unmanaged.service_id}/decommission/").status_code == 404
    assert decommission(client, unmanaged).status_code == 404


def test_a_double_submit_files_one_request_and_shows_it(login, requester, service):
    client = login(requester)
    first = decommission(client, service)
    filed = ServiceRequest.objects.get(kind=Kind.DECOMMISSION)
    assert filed.state == State.PENDING_APPROVAL
    second = decommission(client, service)
    assert (first.url, second.url) == (f"/requests/{filed.pk}/", f"/requests/{filed.pk}/")
    page = client.get(second.url).content.decode()
    assert f"Request #{filed.pk} already asks to decommission this service" in page
    assert ServiceRequest.objects.filter(kind=Kind.DECOMMISSION).count() == 1
    assert filed.events.filter(action="submit").count() == 1


def test_ones_own_draft_is_reused_and_an_open_request_blocks_everyone(
    login, requester, approver, service
):
    # One test client: login() switches who it is.
    draft = decommission(login(requester), service, action="draft")
    filed = ServiceRequest.objects.get(kind=Kind.DECOMMISSION)
    assert decommission(login(requester), service).url == draft.url == f"/requests/{filed.pk}/"
    filed.refresh_from_db()
    assert filed.state == State.DRAFT  # submitting it is the draft page's button
    # Someone else's forgotten draft blocks nobody.
    assert decommission(login(approver), service, action="draft").url != draft.url
    assert ServiceRequest.objects.filter(kind=Kind.DECOMMISSION).count() == 2
    login(requester).post(f"/requests/{filed.pk}/submit/")
    filed.refresh_from_db()
    assert filed.state == State.PENDING_APPROVAL
    assert decommission(login(approver), service).url == f"/requests/{filed.pk}/"
    assert ServiceRequest.objects.filter(kind=Kind.DECOMMISSION).count() == 2

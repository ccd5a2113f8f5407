"""Nothing acts on state the audit log does not explain: the worker refuses, records, tells."""

from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from portal.provisioning import services as provisioning
from portal.provisioning.tasks import reconcile
from portal.service_requests.models import Approval, Kind, ServiceRequest, State
from tests.factories import ServiceRequestFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def admins(settings):
    settings.ADMINS = [("ops", "ops@example.com")]


def refused(request, simulator):
    request.refresh_from_db()
    assert request.state == State.FAILED
    assert request.error_code == provisioning.UNEXPLAINED_CODE
    assert simulator.services() == []
    assert not request.events.filter(action="cloud_call").exists()
    event = request.events.get(action="fail")
    assert event.details["code"] == provisioning.UNEXPLAINED_CODE
    return event.details["reason"]


def test_an_approved_row_written_into_the_database_is_not_provisioned(
    requester, simulator, django_capture_on_commit_callbacks
):
    forged = ServiceRequestFactory(requester=requester, state=State.APPROVED, history=False)
    with django_capture_on_commit_callbacks(execute=True):
        assert provisioning.service_request_provision(pk=forged.pk) is None
    reason = refused(forged, simulator)
    assert "no events" in reason
    [message] = mail.outbox
    assert message.to == ["ops@example.com"]
    assert f"request #{forged.pk}" in message.subject


def test_the_reconciler_does_not_provision_it_either(requester, simulator, settings, monkeypatch):
    settings.RECONCILE_AFTER = 60
    forged = ServiceRequestFactory(requester=requester, state=State.APPROVED, history=False)
    ServiceRequest.objects.filter(pk=forged.pk).update(
        updated_at=timezone.now() - timedelta(seconds=120)
    )
    from portal.provisioning import tasks

    # The reconciler schedules the step on the broker; run it here instead.
    monkeypatch.setattr(
        tasks, "schedule", lambda pk, step, token: provisioning.service_request_provision(pk=pk)
    )
    reconcile()
    refused(forged, simulator)


def test_a_forged_approval_does_not_make_up_the_count(requester, approver, simulator):
    request = ServiceRequestFactory(
        requester=requester, state=State.APPROVED, auto_accept_enabled=True, history=False
    )
    request.record("created", actor=requester, details=request.explained())
    # One approval through the portal, one written into the table.
    genuine = Approval.objects.create(
        request=request, approver=approver, revision=1, digest=request.digest(), decision="approve"
    )
    request.record(
        "approve", actor=approver, details={"approval": genuine.as_record(), "revision": 1}
    )
    Approval.objects.create(
        request=request,
        approver=UserFactory(username="stranger"),
        revision=1,
        digest=request.digest(),
        decision="approve",
    )
    provisioning.service_request_provision(pk=request.pk)
    reason = refused(request, simulator)
    assert "policy needs 2" in reason


def test_parameters_edited_after_approval_are_not_provisioned(requester, simulator):
    request = ServiceRequestFactory(requester=requester, state=State.APPROVED)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE service_requests_servicerequest SET auto_accept_enabled = TRUE WHERE id = %s",
            [request.pk],
        )
    provisioning.service_request_provision(pk=request.pk)
    assert "differ from what its events recorded" in refused(request, simulator)


def test_a_change_not_explained_is_not_applied(requester, simulator):
    change = ServiceRequestFactory(
        requester=requester, kind=Kind.CHANGE, state=State.APPROVED, history=False
    )
    assert provisioning.service_request_apply(pk=change.pk) is None
    refused(change, simulator)


def test_an_explained_approval_goes_ahead(requester, simulator):
    request = ServiceRequestFactory(requester=requester, state=State.APPROVED)
    step = provisioning.service_request_provision(pk=request.pk)
    assert step is not None
    request.refresh_from_db()
    assert request.state == State.CREATING


def test_admins_and_auditors_see_the_refusal_on_every_page(
    login, requester, auditor, admin_user, simulator
):
    forged = ServiceRequestFactory(requester=requester, state=State.APPROVED, history=False)
    provisioning.service_request_provision(pk=forged.pk)
    for user in (auditor, admin_user):
        html = login(user).get("/audit/").content.decode()
        assert 'id="integrity-alerts"' in html
        assert "1 request(s) refused by the worker" in html
    assert 'id="integrity-alerts"' not in login(requester).get("/").content.decode()


@pytest.mark.parametrize(
    "path",
    [
        "/admin/service_requests/servicerequest/{request}/change/",
        "/admin/service_requests/servicerequest/{request}/delete/",
        "/admin/service_requests/servicerequest/add/",
        "/admin/endpoint_services/endpointservice/add/",
        "/admin/audit/auditevent/add/",
    ],
)
def test_the_admin_cannot_change_requests_services_or_events(client, admin_user, requester, path):
    request = ServiceRequestFactory(requester=requester, state=State.PENDING_APPROVAL)
    client.force_login(admin_user)
    url = path.format(request=request.pk)
    response = client.post(
        url, {"service_description": "edited in the admin", "requester": admin_user.pk}
    )
    assert response.status_code == 403
    request.refresh_from_db()
    assert request.service_description != "edited in the admin"
    assert request.requester == requester


def test_the_admin_shows_a_request_without_a_save_button(client, admin_user, requester):
    request = ServiceRequestFactory(requester=requester, state=State.APPROVED)
    client.force_login(admin_user)
    page = client.get(f"/admin/service_requests/servicerequest/{request.pk}/change/")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'name="_save"' not in html
    assert "approvals-0-DELETE" not in html


def test_the_admin_still_manages_users_and_groups(client, admin_user, requester):
    client.force_login(admin_user)
    assert client.get(f"/admin/auth/user/{requester.pk}/change/").status_code == 200
    assert 'name="_save"' in client.get("/admin/auth/group/add/").content.decode()

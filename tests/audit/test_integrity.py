"""Nothing acts on state the audit log does not explain: the worker refuses, records, tells."""

from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from portal.provisioning import services as provisioning
from portal.provisioning.tasks import reconcile
from portal.service_requests.models import Approval, Kind, ServiceRequest, State
from tests.support.factories import ServiceRequestFactory, UserFactory

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
        requester=requester, state=State.PENDING_APPROVAL, auto_accept_enabled=True
    )
    # One approval through the portal (of two needed), then a second written into the table
    # and the row moved on by hand.
    genuine = Approval.objects.create(
        request=request,
        approver=approver,
        revision=request.revision,
        digest=request.digest(),
        decision="approve",
    )
    details = {"approval": genuine.as_record(), "revision": request.revision}
    request.record("approval_added", actor=approver, details=details)
    Approval.objects.create(
        request=request,
        approver=UserFactory(username="stranger"),
        revision=request.revision,
        digest=request.digest(),
        decision="approve",
    )
    ServiceRequest.objects.filter(pk=request.pk).update(state=State.APPROVED)
    provisioning.service_request_provision(pk=request.pk)
    reason = refused(request, simulator)
    assert "its events lead to 'pending_approval'" in reason  # not approved: not acted on


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


# --- rows moved by hand past approval (an attacker's review, after issue 10) ----------------


def stale(request):
    ServiceRequest.objects.filter(pk=request.pk).update(
        updated_at=timezone.now() - timedelta(hours=1)
    )


@pytest.fixture
def reconciler_runs_steps(monkeypatch, settings):
    """The reconciler, with the step it schedules run here instead of on the broker."""
    from portal.provisioning import tasks

    settings.RECONCILE_AFTER = 60
    steps = {
        "provision": provisioning.service_request_provision,
        "poll": provisioning.service_request_poll,
        "apply": provisioning.service_request_apply,
    }
    monkeypatch.setattr(tasks, "schedule", lambda pk, step, token: step and steps[step.task](pk=pk))
    return reconcile


@pytest.mark.parametrize("state", [State.PROVISIONING, State.APPROVED])
def test_a_request_moved_past_its_approvals_is_not_provisioned(
    requester, approver, simulator, reconciler_runs_steps, state
):
    """One approval of the two it needs, then the row moved on by hand."""
    request = ServiceRequestFactory(
        requester=requester, state=State.PENDING_APPROVAL, auto_accept_enabled=True
    )
    from portal.approvals import services as approval_services

    approval_services.service_request_decide(
        pk=request.pk, approver=approver, decision="approve", revision=request.revision
    )
    ServiceRequest.objects.filter(pk=request.pk).update(state=state)
    stale(request)
    reconciler_runs_steps()
    reason = refused(request, simulator)
    assert "its events lead to 'pending_approval'" in reason
    assert not request.events.filter(action="reconciled").exists()


def test_a_row_inserted_in_provisioning_is_not_provisioned(
    requester, simulator, reconciler_runs_steps
):
    forged = ServiceRequestFactory(requester=requester, state=State.PROVISIONING, history=False)
    stale(forged)
    reconciler_runs_steps()
    assert "no events" in refused(forged, simulator)


def test_a_draft_decommission_moved_to_applying_deletes_nothing(
    requester, service, simulator, reconciler_runs_steps
):
    from portal.requests import services as requests

    draft = requests.decommission_request_create(
        requester=requester, service=service, justification="x"
    )
    ServiceRequest.objects.filter(pk=draft.pk).update(state=State.APPLYING)
    stale(draft)
    reconciler_runs_steps()
    draft.refresh_from_db()
    assert draft.state == State.FAILED and draft.error_code == provisioning.UNEXPLAINED_CODE
    assert not draft.events.filter(action__in=("reconciled", "cloud_call")).exists()
    assert [s["ServiceId"] for s in simulator.services()] == [service.service_id]


def test_an_active_request_moved_back_to_approved_is_not_created_again(
    requester, simulator, reconciler_runs_steps
):
    active = ServiceRequestFactory(requester=requester, state=State.ACTIVE)
    ServiceRequest.objects.filter(pk=active.pk).update(state=State.APPROVED, client_token="new")
    stale(active)
    reconciler_runs_steps()
    assert "its events lead to 'active'" in refused(active, simulator)


def test_a_rejected_request_moved_to_creating_is_not_polled_into_a_service(
    requester, service, simulator, reconciler_runs_steps
):
    rejected = ServiceRequestFactory(requester=requester, state=State.REJECTED)
    ServiceRequest.objects.filter(pk=rejected.pk).update(
        state=State.CREATING, service_id=service.service_id
    )
    stale(rejected)
    reconciler_runs_steps()
    rejected.refresh_from_db()
    assert rejected.state == State.FAILED
    assert rejected.error_code == provisioning.UNEXPLAINED_CODE
    assert not rejected.events.filter(action="reconciled").exists()


def test_a_change_pointed_at_another_service_is_not_applied(
    login, requester, approver, service, simulator, django_capture_on_commit_callbacks
):
    from tests.support.day2 import form, run
    from tests.support.helpers import decide

    made = ServiceRequestFactory(
        requester=requester,
        state=State.APPROVED,
        resources=[
            {
                "resource_type": "nlb",
                "resource_id": "nlb-hz0000000000000009",
                "zone_id": "cn-hangzhou-h",
            }
        ],
    )
    run(provisioning.service_request_provision, made.pk)
    made.refresh_from_db()
    other = made.endpoint_service
    login(requester).post(
        f"/services/{service.service_id}/change/", form(service, service_description="Moved")
    )
    change = ServiceRequest.objects.get(kind=Kind.CHANGE)
    ServiceRequest.objects.filter(pk=change.pk).update(endpoint_service=other)
    decide(login(approver), change, "approve")
    run(provisioning.service_request_apply, change.pk)
    change.refresh_from_db()
    assert change.state == State.FAILED
    assert "linked to" in change.events.get(action="fail").details["reason"]


def test_a_creating_request_with_no_service_record_fails_rather_than_polls_for_ever(
    requester, simulator
):
    request = ServiceRequestFactory(
        requester=requester, state=State.CREATING, service_id="epsrv-none0000000000000"
    )
    assert provisioning.service_request_poll(pk=request.pk) is None
    request.refresh_from_db()
    assert request.state == State.FAILED and request.error_code == "NoServiceRecord"

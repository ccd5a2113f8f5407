"""Provisioning steps called directly, against the simulator through the SDK over HTTP."""

import time
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from portal.provisioning import services
from portal.provisioning.services import Step
from portal.service_requests.models import ServiceRequest, State
from tests.support.factories import FACTORY_EVENTS, ServiceRequestFactory
from tests.support.helpers import decide

pytestmark = pytest.mark.django_db


@pytest.fixture
def approved(requester):
    return ServiceRequestFactory(requester=requester, state=State.APPROVED)


def reload(request):
    return ServiceRequest.objects.get(pk=request.pk)


def test_provision_creates_then_poll_reaches_active(
    approved, simulator, django_capture_on_commit_callbacks
):
    step = services.service_request_provision(pk=approved.pk)
    assert step == Step("poll", 2.0, 0)
    request = reload(approved)
    assert request.state == State.CREATING
    assert request.service_id.startswith("epsrv-")
    assert request.service_domain == f"{request.service_id}.cn-hangzhou.privatelink.aliyuncs.com"
    assert request.cloud_status == "Creating"
    assert request.cloud_request_id
    assert services.service_request_poll(pk=approved.pk) == Step("poll", 4.0, 1)
    time.sleep(0.25)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.service_request_poll(pk=approved.pk, attempt=1) is None
    request = reload(approved)
    assert request.state == State.ACTIVE
    assert request.cloud_status == "Active"
    assert "is now active" in mail.outbox[-1].body
    actions = [e.action for e in request.events.exclude(action__in=FACTORY_EVENTS)]
    assert actions == [
        "start_provisioning",
        "cloud_call",
        "mark_creating",
        "cloud_call",
        "cloud_call",
        "mark_active",
    ]
    create = request.events.filter(action="cloud_call").first().details["cloud_call"]
    assert create["action"] == "CreateVpcEndpointService"
    assert create["parameters"]["ClientToken"] == request.client_token
    assert create["outcome"] == "ok"
    assert create["duration_ms"] >= 0


def test_provision_twice_makes_one_service(approved, simulator):
    services.service_request_provision(pk=approved.pk)
    ServiceRequest.objects.filter(pk=approved.pk).update(state=State.PROVISIONING)
    services.service_request_provision(pk=approved.pk)
    assert len(simulator.services()) == 1
    assert reload(approved).service_id == simulator.services()[0]["ServiceId"]


def test_provision_of_a_request_that_moved_on_does_nothing(requester, simulator):
    request = ServiceRequestFactory(requester=requester, state=State.ACTIVE)
    assert services.service_request_provision(pk=request.pk) is None
    assert simulator.services() == []


def test_throttling_is_retried_honouring_retry_after(approved, simulator, settings):
    simulator.faults(throttle_next=1, retry_after=3)
    step = services.service_request_provision(pk=approved.pk)
    assert step.task == "provision"
    assert step.attempt == 1
    assert step.delay >= 3
    request = reload(approved)
    assert request.state == State.PROVISIONING
    assert request.last_cloud_outcome == "Throttling.User"
    assert services.service_request_provision(pk=approved.pk, attempt=1).task == "poll"


def test_server_errors_back_off_with_jitter(approved, simulator, settings):
    settings.PROVISION_POLL_INITIAL = 2
    simulator.faults(error_next=1)
    step = services.service_request_provision(pk=approved.pk, attempt=2)
    assert 4 <= step.delay <= 8
    delays = {services.retry_delay(3) for _ in range(20)}
    assert len(delays) > 1
    assert all(8 <= d <= 16 for d in delays)


def test_permanent_error_fails_with_the_plain_message(requester, simulator):
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
    assert services.service_request_provision(pk=request.pk) is None
    request = reload(request)
    assert request.state == State.FAILED
    assert request.error_code == "LoadBalancerNotFound"
    assert request.error_message == (
        "Resource 1 (nlb-hz9999999999999999 in cn-hangzhou-h): "
        "A load balancer in this request does not exist in this region."
    )
    assert request.cloud_request_id
    assert simulator.services() == []


def test_unreachable_cloud_is_retried(approved, settings):
    settings.PRIVATELINK_ENDPOINT = "127.0.0.1:9"
    step = services.service_request_provision(pk=approved.pk)
    assert step.task == "provision"
    assert reload(approved).last_cloud_outcome == "Unreachable"


def test_deadline_fails_a_service_stuck_in_creating(approved, simulator, settings):
    simulator.faults(stuck_creating=True)
    services.service_request_provision(pk=approved.pk)
    ServiceRequest.objects.filter(pk=approved.pk).update(
        provisioning_started_at=timezone.now() - timedelta(seconds=settings.PROVISION_DEADLINE + 1)
    )
    assert services.service_request_poll(pk=approved.pk) is None
    request = reload(approved)
    assert request.state == State.FAILED
    assert request.error_code == "ProvisioningTimeout"
    assert "did not report the service Active within 30 minutes" in request.error_message


def test_retry_reuses_the_client_token(approved, simulator, approver, settings):
    from portal.requests import services as request_services

    simulator.faults(stuck_creating=True)
    services.service_request_provision(pk=approved.pk)
    first_id = reload(approved).service_id
    settings.PROVISION_DEADLINE = 0
    services.service_request_poll(pk=approved.pk)
    assert reload(approved).state == State.FAILED
    request_services.service_request_retry(pk=approved.pk, actor=approver)
    request = reload(approved)
    assert request.state == State.APPROVED
    assert request.error_code == ""
    assert request.events.last().details["previous_error"]["code"] == "ProvisioningTimeout"
    settings.PROVISION_DEADLINE = 60
    services.service_request_provision(pk=approved.pk)
    assert reload(approved).service_id == first_id
    assert len(simulator.services()) == 1


def test_stuck_requests_are_found_and_resumed(requester, settings):
    settings.RECONCILE_AFTER = 60
    old = timezone.now() - timedelta(seconds=120)
    stuck = {
        state: ServiceRequestFactory(requester=requester, state=state)
        for state in (State.APPROVED, State.PROVISIONING, State.CREATING)
    }
    fresh = ServiceRequestFactory(requester=requester, state=State.PROVISIONING)
    idle = ServiceRequestFactory(requester=requester, state=State.PENDING_APPROVAL)
    ServiceRequest.objects.exclude(pk=fresh.pk).update(updated_at=old)
    found = set(services.service_requests_stuck().values_list("pk", flat=True))
    assert found == {r.pk for r in stuck.values()}
    assert idle.pk not in found
    step, token = services.service_request_resume(pk=stuck[State.CREATING].pk)
    assert step == Step("poll", 0, 0)
    assert reload(stuck[State.CREATING]).work_token == token
    assert services.service_request_resume(pk=stuck[State.APPROVED].pk)[0] == Step(
        "provision", 0, 0
    )
    assert reload(stuck[State.CREATING]).events.last().action == "reconciled"
    assert stuck[State.CREATING].pk not in set(
        services.service_requests_stuck().values_list("pk", flat=True)
    )


def test_approval_enqueues_provisioning_after_commit(
    login, requester, approver, django_capture_on_commit_callbacks, monkeypatch
):
    from portal.provisioning import tasks

    sent = []
    monkeypatch.setattr(tasks.provision, "delay", lambda *args: sent.append(args))
    request = ServiceRequestFactory(requester=requester, state=State.PENDING_APPROVAL)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        decide(login(approver), request, "approve")
    assert sent == []
    for callback in callbacks:
        callback()
    request.refresh_from_db()
    assert sent == [(request.pk, 0, request.work_token)]


def test_status_fragment_query_count_is_constant(
    login, requester, django_assert_num_queries, approved
):
    client = login(requester)
    # A poll from a page that shows this state and revision, at an older version.
    url = f"/requests/{approved.pk}/status/?v=1&s={approved.state}&r={approved.revision}"
    client.get(url)
    # Session, user, the version check, the request, the user's groups, its events, and its
    # step log.
    with django_assert_num_queries(7):
        client.get(url, headers={"HX-Request": "true"})
    for _ in range(50):
        approved.record("cloud_call", actor=None, details={"cloud_call": {"action": "x"}})
    with django_assert_num_queries(7):
        response = client.get(url, headers={"HX-Request": "true"})
    assert 'hx-trigger="every 2s"' in response.content.decode()


def test_status_fragment_shows_steps_elapsed_and_last_answer(login, requester, simulator):
    request = ServiceRequestFactory(requester=requester, state=State.APPROVED)
    services.service_request_provision(pk=request.pk)
    html = login(requester).get(f"/requests/{request.pk}/status/").content.decode()
    assert 'aria-current="step">Creating</li>' in html
    assert "Working since" in html
    assert "CreateVpcEndpointService → <strong>ok</strong>" in html
    assert reload(request).cloud_request_id in html


def test_failure_emails_the_requester_with_the_reason(
    approver, approver2, requester, simulator, django_capture_on_commit_callbacks
):
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
    with django_capture_on_commit_callbacks(execute=True):
        services.service_request_provision(pk=request.pk)
    (message,) = [m for m in mail.outbox if m.to == [requester.email]]
    assert message.subject == f"[PrivateLink portal] Request #{request.pk} failed"
    assert f"Your request #{request.pk} failed." in message.body
    assert "does not exist in this region" in message.body
    assert f"/requests/{request.pk}/" in message.body
    # The approvers hear of it too: they are the ones who can retry.
    (approvers,) = [m for m in mail.outbox if "An approver can retry it" in m.body]
    assert {approver.email, approver2.email} <= set(approvers.to)
    assert requester.email not in approvers.to
    assert "does not exist in this region" in approvers.body


def test_the_reconciler_waits_for_a_step_due_later(requester, settings):
    """A retry the cloud asked to make in ten minutes is not stuck after two."""
    settings.RECONCILE_AFTER = 60
    waiting = ServiceRequestFactory(requester=requester, state=State.PROVISIONING)
    ServiceRequest.objects.filter(pk=waiting.pk).update(
        updated_at=timezone.now() - timedelta(seconds=120),
        next_step_at=timezone.now() + timedelta(seconds=600),
    )
    assert waiting.pk not in set(services.service_requests_stuck().values_list("pk", flat=True))
    later = timezone.now() + timedelta(seconds=600 + 61)
    assert waiting.pk in set(
        services.service_requests_stuck(now=later).values_list("pk", flat=True)
    )


def test_a_resumed_request_has_one_chain(requester, simulator, monkeypatch):
    """The reconciler starts a new chain; a task of the old one, redelivered, does nothing."""
    from portal.provisioning import tasks

    request = ServiceRequestFactory(requester=requester, state=State.APPROVED)
    old = services.service_request_new_chain(request)
    _step, new = services.service_request_resume(pk=request.pk)
    assert new != old
    scheduled = []
    monkeypatch.setattr(tasks, "schedule", lambda *args: scheduled.append(args))
    tasks.provision.run(request.pk, 0, old)
    assert reload(request).state == State.APPROVED  # the old chain stopped before any work
    assert scheduled == []
    tasks.provision.run(request.pk, 0, new)
    assert reload(request).state == State.CREATING
    assert scheduled and scheduled[0][2] == new


def test_a_task_naming_a_chain_does_not_run_a_request_that_has_none(requester, simulator):
    """A stale message (its row rolled back, the id reused) names a chain the request never
    had: it is not of this request, though the request has no chain yet (found in CI: such a
    message ran a request its approval was committing, and the real chain stopped)."""
    from portal.provisioning import tasks

    request = ServiceRequestFactory(requester=requester, state=State.APPROVED)
    assert request.work_token == ""
    assert not services.chain_is_current(request.pk, "0" * 32)
    tasks.provision.run(request.pk, 0, "0" * 32)
    assert reload(request).state == State.APPROVED
    assert simulator.services() == []
    assert services.chain_is_current(request.pk, "")  # a task from before chains still runs


def test_a_chain_replaced_after_its_first_look_stops_under_the_lock(requester, simulator):
    """The task's first look and the step's lock are two moments: a chain replaced between
    them (an approval or a resume committing) is asked again under the lock, and stops."""
    request = ServiceRequestFactory(requester=requester, state=State.APPROVED)
    old = services.service_request_new_chain(request)
    assert services.chain_is_current(request.pk, old)
    services.service_request_new_chain(request)  # committed meanwhile
    for step in (services.service_request_provision, services.service_request_apply):
        assert step(pk=request.pk, token=old) is None
    assert reload(request).state == State.APPROVED
    assert simulator.services() == []
    # A creating request whose chain was replaced: the old chain's poll asks the cloud
    # nothing; the current chain's does.
    simulator.configure(create_delay=60)
    creating = ServiceRequestFactory(requester=requester, state=State.APPROVED)
    first = services.service_request_new_chain(creating)
    services.service_request_provision(pk=creating.pk, token=first)
    assert reload(creating).state == State.CREATING
    current = services.service_request_new_chain(creating)
    assert services.service_request_poll(pk=creating.pk, token=first) is None
    assert reload(creating).last_cloud_action == "CreateVpcEndpointService"
    assert services.service_request_poll(pk=creating.pk, token=current) is not None
    assert reload(creating).last_cloud_action == "GetVpcEndpointServiceAttribute"

"""The request page's step log: each step of the request's life with the cloud calls made in
it, as a CI run page shows its steps; sent again only when the request moved, and bounded."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from portal.approvals import services as approval_services
from portal.provisioning import services as provisioning
from portal.requests import services as request_services
from portal.service_requests.models import Kind, ServiceRequest, State
from portal.service_requests.step_log import STEP_LOG_EVENTS, request_step_log
from tests.support.day2 import NLB, form, run
from tests.support.factories import ServiceRequestFactory
from tests.support.helpers import decide
from tests.support.workers import running_worker, wait_for

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


def steps_of(request):
    request = ServiceRequest.objects.get(pk=request.pk)
    return request_step_log(
        service_request=request, operations=list(request.operations.all())
    ).steps


def outline(request):
    """[(label, status, [(action, outcome, retry)])]: what the reader sees, in order."""
    return [
        (step.label, step.status, [(c.action, c.outcome, c.retry) for c in step.calls])
        for step in steps_of(request)
    ]


def step_log_html(html):
    return re.search(r'<article id="step-log".*?</article>', html, re.S).group(0)


def poll_url(html):
    section = re.search(r'<section id="status"[^>]*>', html).group(0)
    return re.search(r'hx-get="([^"]+)"', section).group(1).replace("&amp;", "&")


@pytest.mark.django_db(transaction=True)
def test_a_create_request_walked_by_the_real_worker_shows_its_steps_and_calls(
    login, requester, approver, simulator, tmp_path
):
    request = ServiceRequestFactory(requester=requester, state=State.PENDING_APPROVAL)
    page = login(requester).get(f"/requests/{request.pk}/").content.decode()
    assert 'data-step="pending_approval"' in step_log_html(page)
    assert 'aria-current="step"' in step_log_html(page)
    with running_worker(simulator.endpoint, tmp_path) as worker:
        approval_services.service_request_decide(
            pk=request.pk, approver=approver, decision="approve", revision=request.revision
        )
        wait_for(
            lambda: ServiceRequest.objects.get(pk=request.pk).state == State.ACTIVE,
            message="active",
            worker=worker,
        )
    request.refresh_from_db()
    steps = steps_of(request)
    assert [(s.label, s.status) for s in steps] == [
        ("Draft", "done"),
        ("Submitted", "done"),
        ("Approved", "done"),
        ("Provisioning", "done"),
        ("Creating", "done"),
        ("Active", "final"),
    ]
    assert steps[2].by == "approver"
    provisioning_calls, creating_calls = steps[3].calls, steps[4].calls
    assert [(c.action, c.outcome) for c in provisioning_calls] == [
        ("CreateVpcEndpointService", "ok")
    ]
    assert provisioning_calls[0].request_id
    assert provisioning_calls[0].duration_ms is not None
    assert {(c.action, c.outcome) for c in creating_calls} == {
        ("GetVpcEndpointServiceAttribute", "ok")
    }
    assert creating_calls[-1].request_id == request.cloud_request_id
    html = step_log_html(login(requester).get(f"/requests/{request.pk}/").content.decode())
    assert f"RequestId <code>{provisioning_calls[0].request_id}</code>" in html
    assert f"{provisioning_calls[0].duration_ms} ms" in html
    # Over: nothing is "now" any more, every step is closed, none says it is still going.
    assert 'aria-current="step"' not in html
    assert "<details" in html and " open>" not in html
    assert "since" not in html


def test_a_throttled_call_is_shown_busy_and_retried(login, requester, simulator):
    simulator.faults(throttle_next=1)
    request = ServiceRequestFactory(requester=requester, state=State.APPROVED)
    step = provisioning.service_request_provision(pk=request.pk)
    assert step.task == "provision"  # the worker will try again by itself
    [*_, waiting] = outline(request)
    assert waiting == (
        "Provisioning",
        "current",
        [("CreateVpcEndpointService", "Throttling.User", "retrying")],
    )
    html = step_log_html(login(requester).get(f"/requests/{request.pk}/").content.decode())
    assert 'Throttling.User</strong> <span class="muted">the cloud was busy; retrying by' in html
    assert f'<details id="step-{steps_of(request)[-1].key}"' in html
    assert 'aria-current="step"' in html and " open>" in html  # the current step, open

    provisioning.service_request_provision(pk=request.pk, attempt=step.attempt)
    run(provisioning.service_request_poll, request.pk)
    by_label = {label: calls for label, _status, calls in outline(request)}
    assert by_label["Provisioning"] == [
        ("CreateVpcEndpointService", "Throttling.User", "retried"),
        ("CreateVpcEndpointService", "ok", ""),
    ]
    html = step_log_html(login(requester).get(f"/requests/{request.pk}/").content.decode())
    assert "the cloud was busy; retried" in html
    assert 'class="call call-busy"' in html


def test_a_permanent_refusal_fails_the_step_it_happened_in(login, requester, simulator):
    request = ServiceRequestFactory(
        requester=requester,
        state=State.APPROVED,
        resources=[
            {
                "resource_type": "nlb",
                "resource_id": "nlb-hz0000000000000002",
                "zone_id": "cn-hangzhou-h",
            }
        ],
    )
    provisioning.service_request_provision(pk=request.pk)
    *_, (label, status, calls), failed = outline(request)
    assert (label, status) == ("Provisioning", "failed")
    assert calls == [("CreateVpcEndpointService", "EndpointServiceNotSupportedZone", "")]
    assert failed[:2] == ("Failed", "final")
    html = step_log_html(login(requester).get(f"/requests/{request.pk}/").content.decode())
    assert "failed: EndpointServiceNotSupportedZone" in html
    assert 'class="call call-error"' in html


def test_a_failure_then_a_retry_shows_each_attempt_in_its_own_steps(
    login, requester, approver, simulator, settings
):
    simulator.faults(throttle_next=1)
    request = ServiceRequestFactory(requester=requester, state=State.APPROVED)
    provisioning.service_request_provision(pk=request.pk)
    # The cloud stays busy past the deadline: the request fails.
    ServiceRequest.objects.filter(pk=request.pk).update(
        provisioning_started_at=timezone.now() - timedelta(seconds=settings.PROVISION_DEADLINE + 1)
    )
    provisioning.service_request_provision(pk=request.pk, attempt=1)
    assert ServiceRequest.objects.get(pk=request.pk).state == State.FAILED
    client = login(requester)
    url = poll_url(client.get(f"/requests/{request.pk}/").content.decode())

    request_services.service_request_retry(pk=request.pk, actor=approver)
    # The requester's open page follows the retry: a poll brings the new steps.
    answer = step_log_html(client.get(url, headers=HTMX).content.decode())
    assert 'hx-swap-oob="true"' in answer
    assert 'data-step="approved" aria-current="step"' in answer
    run(provisioning.service_request_provision, request.pk)

    steps = steps_of(request)
    assert [(s.label, s.status, s.error) for s in steps[3:]] == [
        ("Provisioning", "failed", "ProvisioningTimeout"),
        ("Failed", "done", ""),
        ("Approved", "done", ""),
        ("Provisioning", "done", ""),
        ("Creating", "done", ""),
        ("Active", "final", ""),
    ]
    assert (steps[5].by, steps[5].began) == ("approver", "retry")
    html = step_log_html(login(requester).get(f"/requests/{request.pk}/").content.decode())
    assert "retried by approver" in html
    assert [(c.outcome, c.retry) for c in steps[3].calls] == [("Throttling.User", "")]
    assert [(c.action, c.outcome) for c in steps[6].calls] == [("CreateVpcEndpointService", "ok")]
    assert steps[7].calls and all(
        c.action == "GetVpcEndpointServiceAttribute" for c in steps[7].calls
    )
    assert len(simulator.services()) == 1


def test_a_change_request_shows_a_step_for_each_operation(
    login, requester, approver, service, simulator
):
    data = form(
        service,
        service_description="Orders API v2",
        tags=[*service.tags, {"key": "env", "value": "prod"}],
        resources=[
            *service.resources,
            {"resource_type": "nlb", "resource_id": NLB, "zone_id": "cn-hangzhou-j"},
        ],
    )
    login(requester).post(f"/services/{service.service_id}/change/", data)
    change = ServiceRequest.objects.get(kind=Kind.CHANGE)
    actions = [op.action for op in change.operations.all()]
    assert len(actions) == 3
    decide(login(approver), change, "approve")
    # Approved, not started: every operation is a step to come.
    assert [(label, status) for label, status, _calls in outline(change)][-4:] == [
        ("Approved", "current"),
        *[(f"{n}. {action}", "todo") for n, action in enumerate(actions, 1)],
    ]
    draft = outline(change)[0]
    assert draft[0] == "Draft"
    assert sorted(c[0] for c in draft[2]) == sorted(actions)  # the submission's dry runs
    assert {c[1] for c in draft[2]} == {"DryRunOperation"}

    run(provisioning.service_request_apply, change.pk)
    change.refresh_from_db()
    assert change.state == State.APPLIED, change.error_message
    steps = steps_of(change)
    applying = [s for s in steps if s.state == State.APPLYING]
    assert [s.label for s in applying] == [f"{n}. {a}" for n, a in enumerate(actions, 1)]
    assert all(s.status == "done" for s in applying)
    for step, operation in zip(applying, change.operations.all(), strict=True):
        assert step.calls[0].action == operation.action
        assert step.calls[0].request_id == operation.cloud_request_id
    assert steps[-1].label == "Applied"
    html = step_log_html(login(requester).get(f"/requests/{change.pk}/").content.decode())
    assert 'data-operation="3"' in html
    assert "would be accepted" in html


def test_the_fragment_costs_the_same_queries_however_many_calls(login, requester):
    request = ServiceRequestFactory(requester=requester, state=State.PROVISIONING)
    client = login(requester)
    url = f"/requests/{request.pk}/status/?v=1&s={request.state}&r={request.revision}"
    client.get(url, headers=HTMX)

    def poll():
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url, headers=HTMX)
        assert response.status_code == 200
        return len(queries), response.content.decode()

    few, html = poll()
    assert html.count('class="call ') == 0
    for _ in range(3 * STEP_LOG_EVENTS):
        request.record(
            "cloud_call",
            actor=None,
            details={"cloud_call": {"action": "CreateVpcEndpointService", "outcome": "Throttling"}},
        )
    many, html = poll()
    assert many == few
    assert html.count('class="call call-busy"') == STEP_LOG_EVENTS


def test_the_log_is_capped_and_pages_through_earlier_calls(login, requester, requester2):
    request = ServiceRequestFactory(requester=requester, state=State.PROVISIONING)
    calls = 2 * STEP_LOG_EVENTS + 30
    for n in range(calls):
        request.record(
            "cloud_call",
            actor=None,
            details={"cloud_call": {"action": "CreateVpcEndpointService", "outcome": f"E{n}"}},
        )
    client = login(requester)
    html = step_log_html(client.get(f"/requests/{request.pk}/").content.decode())
    assert html.count('class="call ') == STEP_LOG_EVENTS
    assert f"E{calls - 1}<" in html and f"E{calls - STEP_LOG_EVENTS - 1}<" not in html
    earlier = calls - STEP_LOG_EVENTS
    assert f"{earlier} earlier cloud calls not shown" in html
    link = re.search(r'href="(/requests/\d+/calls/\?before=\d+)"', html).group(1)

    older = step_log_html(client.get(link).content.decode())
    assert older.count('class="call ') == STEP_LOG_EVENTS
    assert f"E{calls - STEP_LOG_EVENTS - 1}<" in older
    assert f"{earlier - STEP_LOG_EVENTS} earlier cloud calls not shown" in older
    assert 'aria-current="step"' not in older  # an earlier page has no "now"
    oldest_link = re.search(r'href="(/requests/\d+/calls/\?before=\d+)"', older).group(1)
    oldest = step_log_html(client.get(oldest_link).content.decode())
    assert "earlier cloud call" not in oldest
    assert "E0<" in oldest
    # The beginning: the request's first steps, before its calls.
    assert 'data-step="draft"' in oldest and 'data-step="approved"' in oldest

    assert login(requester2).get(link).status_code == 404
    assert login(requester).post(link).status_code == 405
    assert login(requester).get(f"/requests/{request.pk}/calls/?before=x").status_code == 200


def test_a_poll_brings_the_step_log_only_when_the_request_moved(login, requester, simulator):
    request = ServiceRequestFactory(requester=requester, state=State.APPROVED)
    client = login(requester)
    url = poll_url(client.get(f"/requests/{request.pk}/").content.decode())
    assert client.get(url, headers=HTMX).status_code == 204
    provisioning.service_request_provision(pk=request.pk)
    html = client.get(url, headers=HTMX).content.decode()
    assert 'id="step-log"' in html and "hx-swap-oob" in step_log_html(html)
    assert "CreateVpcEndpointService" in step_log_html(html)
    # The history on the page moves too: it is not the one of the page's first load. Its
    # cloud calls are the step log's, not rows of their own.
    history = re.search(r'<article id="history".*?</article>', html, re.S).group(0)
    assert "mark_creating" in history
    assert "cloud_call" not in history


def test_active_says_how_long_the_work_took_not_that_it_goes_on(login, requester, simulator):
    request = ServiceRequestFactory(requester=requester, state=State.APPROVED)
    run(provisioning.service_request_provision, request.pk)
    html = login(requester).get(f"/requests/{request.pk}/").content.decode()
    status = re.search(r'<section id="status".*?</section>', html, re.S).group(0)
    assert 'data-status="active"' in status
    assert "The cloud work took" in status
    assert "Working since" not in status and "hx-trigger" not in status
    assert "since" not in step_log_html(html)

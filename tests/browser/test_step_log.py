"""The step log in a real browser: it grows live, step by step, to Active without a reload,
and a step the reader opened stays open while polls replace the log (make test-browser).
"""

import pytest
from playwright.sync_api import expect

from portal.approvals import services as approval_services
from portal.requests import services
from portal.service_requests.models import State
from tests.support.browser import PASSWORD, SHOTS, CspWatch, log_in
from tests.support.factories import ServiceRequestFactory, UserFactory
from tests.support.workers import running_worker

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def people(groups):
    made = {
        name: UserFactory(username=name, password=PASSWORD) for name in ("requester", "approver")
    }
    made["approver"].groups.add(groups["approvers"])
    return made


def test_the_step_log_grows_live_to_active(live_server, page, people, simulator, tmp_path):
    csp_violations = CspWatch()
    csp_violations.watch(page)
    request = ServiceRequestFactory(requester=people["requester"], service_description="Orders API")
    services.service_request_submit(service_request=request, actor=people["requester"])
    request.refresh_from_db()
    assert request.state == State.PENDING_APPROVAL
    log_in(page, live_server.url, "requester")
    page.goto(f"{live_server.url}/requests/{request.pk}/")
    log = page.locator("#step-log")
    expect(log.locator("li[aria-current='step']")).to_have_attribute(
        "data-step", "pending_approval"
    )
    expect(log.locator("li[data-step='draft']")).to_contain_text("would be accepted")
    # A mark a reload would wipe out.
    page.evaluate("window.stillTheSamePage = true")

    # The first Create is throttled; the service then stays Creating for a few polls.
    simulator.faults(throttle_next=1)
    simulator.configure(create_delay=6)
    with running_worker(simulator.endpoint, tmp_path):
        approval_services.service_request_decide(
            pk=request.pk,
            approver=people["approver"],
            decision="approve",
            revision=request.revision,
        )
        creating = log.locator("li[data-step='creating'][aria-current='step']")
        expect(creating).to_be_visible(timeout=30000)
        expect(creating.locator("details")).to_have_attribute("open", "")
        provisioning = log.locator("li[data-step='provisioning']")
        expect(provisioning).to_have_class("step step-done")
        expect(provisioning.locator("details")).not_to_have_attribute("open", "")
        # The reader opens the finished step: the polls that follow keep it open.
        provisioning.locator("summary").click()
        calls = creating.locator("li.call")
        seen = calls.count()
        expect(calls).not_to_have_count(seen, timeout=15000)  # a poll replaced the log
        expect(provisioning.locator("details")).to_have_attribute("open", "")
        expect(provisioning).to_contain_text("Throttling.User")
        expect(provisioning).to_contain_text("the cloud was busy; retried")
        expect(log.locator("li[data-step='active']")).to_have_class(
            "step step-final", timeout=30000
        )
    expect(page.locator("#status")).to_have_attribute("data-status", "active")
    expect(log.locator("li[aria-current='step']")).to_have_count(0)
    expect(provisioning.locator("details")).to_have_attribute("open", "")
    expect(log.locator("li[data-step='creating'] details")).not_to_have_attribute("open", "")
    assert page.evaluate("window.stillTheSamePage") is True
    assert page.url == f"{live_server.url}/requests/{request.pk}/"
    log.locator("li[data-step='creating'] summary").click()
    SHOTS.mkdir(parents=True, exist_ok=True)
    log.screenshot(path=str(SHOTS / "step-log.png"))
    # On a phone the calls wrap (RequestIds too) instead of widening the page.
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert csp_violations == []

"""Delegation in a real browser: an approver lends their deciding on the page, and the
delegate finds the request labelled in the queue and approves it (make test-browser)."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from portal.requests import services
from portal.service_requests.models import Approval, State
from tests.support.browser import PASSWORD, log_in
from tests.support.factories import ServiceRequestFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_delegate_finds_the_row_labelled_in_the_queue_and_approves_it(
    live_server, browser, groups, simulator
):
    people = {
        name: UserFactory(username=name, password=PASSWORD)
        for name in ("requester", "approver", "bob")
    }
    people["approver"].groups.add(groups["approvers"])
    request = ServiceRequestFactory(requester=people["requester"], service_description="Orders")
    services.service_request_submit(service_request=request, actor=people["requester"])

    page = browser.new_context().new_page()
    log_in(page, live_server.url, "approver")
    page.get_by_role("link", name="Delegations").click()
    page.get_by_label("Delegate", exact=False).first.select_option("bob")
    ends = timezone.now() + timedelta(days=7)
    page.get_by_label("Ends (UTC)").fill(f"{ends:%Y-%m-%dT%H:%M}")
    page.get_by_label("Reason").fill("Holiday")
    page.get_by_role("button", name="Delegate", exact=True).click()
    expect(page.locator("#given")).to_contain_text("bob")
    expect(page.get_by_role("status").first).to_contain_text("bob decides for you from")

    page = browser.new_context().new_page()
    log_in(page, live_server.url, "bob")
    page.get_by_role("link", name="Approvals").click()
    row = page.locator("#delegated-to-you tr", has_text="Orders")
    expect(row).to_contain_text(f"for approver (delegated until {ends:%Y-%m-%d})")
    row.get_by_role("link", name="Orders").click()
    page.get_by_role("button", name="Approve revision 2").click()
    expect(page.locator("[data-status]").first).not_to_have_attribute(
        "data-status", "pending_approval"
    )
    approval = Approval.objects.get()
    assert (approval.approver, approval.on_behalf_of) == (people["bob"], people["approver"])
    request.refresh_from_db()
    assert request.state != State.PENDING_APPROVAL

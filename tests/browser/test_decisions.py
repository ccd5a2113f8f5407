"""Approvers in a real browser: a stale tab cannot approve what it did not show, and the live
page never erases what an approver is typing (make test-browser).
"""

import re

import pytest
from playwright.sync_api import expect

from portal.approvals import services as approval_services
from portal.requests import services
from portal.service_requests.models import Approval, State
from tests.support.browser import PASSWORD, log_in
from tests.support.factories import ServiceRequestFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def people(groups):
    made = {
        name: UserFactory(username=name, password=PASSWORD)
        for name in ("requester", "approver", "approver2", "approver3")
    }
    for name in ("approver", "approver2", "approver3"):
        made[name].groups.add(groups["approvers"])
    return made


@pytest.fixture
def pending(people, simulator):
    request = ServiceRequestFactory(
        requester=people["requester"], service_description="Orders API", auto_accept_enabled=True
    )
    services.service_request_submit(service_request=request, actor=people["requester"])
    request.refresh_from_db()
    assert request.state == State.PENDING_APPROVAL
    return request


def resubmit(request, requester, approver2, description):
    """Another approver sends the request back; its requester edits and resubmits it."""
    request.refresh_from_db()
    approval_services.service_request_decide(
        pk=request.pk,
        approver=approver2,
        decision="send_back",
        revision=request.revision,
        comment="rename it",
    )
    fields, resources, tags = request.create_parameters()
    fields.update(service_description=description, justification=request.justification)
    services.service_request_update(
        pk=request.pk, actor=requester, fields=fields, resources=resources, tags=tags
    )
    request.refresh_from_db()
    services.service_request_submit(service_request=request, actor=requester)
    request.refresh_from_db()
    return request


def test_a_stale_tab_cannot_approve_a_revision_it_did_not_show(
    live_server, browser, people, pending
):
    tab = browser.new_context().new_page()
    log_in(tab, live_server.url, "approver")
    tab.goto(f"{live_server.url}/requests/{pending.pk}/")
    seen = pending.revision
    expect(tab.get_by_role("button", name=f"Approve revision {seen}")).to_be_visible()
    # A tab left open while the network dropped (or a laptop slept): its polls never arrive.
    tab.route(re.compile(r".*/status/.*"), lambda route: route.abort())
    request = resubmit(pending, people["requester"], people["approver2"], "Orders API v2")
    assert request.revision > seen
    tab.get_by_label("Comment (optional)").fill("fine by me")
    tab.get_by_role("button", name=f"Approve revision {seen}").click()
    expect(tab.locator("main")).to_contain_text("This request changed since you opened it")
    expect(tab.locator("#parameters")).to_contain_text("Orders API v2")
    expect(tab.get_by_role("button", name=f"Approve revision {request.revision}")).to_be_visible()
    assert not Approval.objects.filter(approver=people["approver"]).exists()
    request.refresh_from_db()
    assert request.state == State.PENDING_APPROVAL


def test_a_live_page_keeps_what_an_approver_types(live_server, browser, people, pending):
    tab = browser.new_context().new_page()
    log_in(tab, live_server.url, "approver")
    tab.goto(f"{live_server.url}/requests/{pending.pk}/")
    comment = tab.locator("#approve-comment")
    comment.fill("half-written thought")
    # Someone else approves: the list of approvals follows, the form stays as typed.
    approval_services.service_request_decide(
        pk=pending.pk,
        approver=people["approver2"],
        decision="approve",
        revision=pending.revision,
    )
    expect(tab.locator("#approvals")).to_contain_text("approver2: approved", timeout=8000)
    expect(comment).to_have_value("half-written thought")
    expect(tab.locator("#history")).to_contain_text("approval_added")
    # A new revision replaces the forms: what was typed was about content that is gone, and
    # is kept above them, with why it was not sent.
    seen = pending.revision
    request = resubmit(pending, people["requester"], people["approver3"], "Orders API v3")
    expect(tab.get_by_role("button", name=f"Approve revision {request.revision}")).to_be_visible(
        timeout=8000
    )
    kept = tab.locator("#decision-forms .kept-comment")
    expect(kept).to_contain_text(
        f"Revision {request.revision} replaced revision {seen} while you were writing: what "
        "you typed was not sent."
    )
    expect(kept.locator("blockquote")).to_have_text("half-written thought")
    expect(comment).to_have_value("")
    expect(tab.locator("#parameters")).to_contain_text("Orders API v3")
    tab.get_by_role("button", name=f"Approve revision {request.revision}").click()
    expect(tab.locator("#status")).to_have_attribute("data-status", "pending_approval")
    assert Approval.objects.filter(approver=people["approver"], revision=request.revision).exists()


def test_a_comment_typed_when_someone_else_decides_is_kept_with_why(
    live_server, browser, people, pending
):
    tab = browser.new_context().new_page()
    log_in(tab, live_server.url, "approver")
    tab.goto(f"{live_server.url}/requests/{pending.pk}/")
    tab.get_by_label("What should change?").fill("The name should say which team.\nAnd why.")
    approval_services.service_request_decide(
        pk=pending.pk,
        approver=people["approver2"],
        decision="reject",
        revision=pending.revision,
        comment="not now",
    )
    expect(tab.locator("#status")).to_have_attribute("data-status", "rejected", timeout=8000)
    kept = tab.locator("#decision-forms .kept-comment")
    expect(kept).to_have_attribute("role", "alert")
    expect(kept).to_contain_text(
        "This request is no longer waiting for a decision: what you typed was not sent."
    )
    expect(kept).to_contain_text("What should change?")
    expect(kept.locator("blockquote")).to_have_text("The name should say which team.\nAnd why.")
    expect(tab.get_by_role("button", name=re.compile("^Approve revision"))).to_have_count(0)

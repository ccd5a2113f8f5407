"""The approver's panel in a real browser: an approver sends a request back, its requester edits
and resubmits it, and the approver finds it waiting for them again with what changed (make
test-browser). Saves docs/screenshots/approver-panel.png.
"""

import re

import pytest
from playwright.sync_api import expect

from portal.requests import services
from portal.service_requests.models import RevisionSeen, State
from tests.support.browser import PASSWORD, SHOTS, CspWatch, log_in
from tests.support.factories import ServiceRequestFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def people(groups):
    made = {
        name: UserFactory(username=name, password=PASSWORD)
        for name in ("requester", "approver", "approver2")
    }
    for name in ("approver", "approver2"):
        made[name].groups.add(groups["approvers"])
    return made


@pytest.fixture
def pending(people, simulator):
    request = ServiceRequestFactory(
        requester=people["requester"],
        service_description="Orders API",
        auto_accept_enabled=True,
        tags=[("team", "orders")],
        justification="The checkout team calls the orders API from its own VPC.",
    )
    services.service_request_submit(service_request=request, actor=people["requester"])
    request.refresh_from_db()
    assert request.state == State.PENDING_APPROVAL
    return request


def test_an_approver_sends_back_and_sees_what_the_resubmission_changed(
    live_server, browser, people, pending
):
    base = live_server.url
    csp = CspWatch()
    first = pending.revision
    approver = csp.watch(browser.new_context(viewport={"width": 1280, "height": 900}).new_page())
    log_in(approver, base, "approver")
    approver.get_by_role("link", name=re.compile("Approvals")).click()
    expect(approver.locator("#pending-count")).to_have_text("1")
    approver.locator("#waiting-for-you").get_by_role("link", name="Orders API").click()
    expect(approver.locator("#changes")).to_contain_text("No earlier submission to compare with.")
    expect(approver.locator("#still-can")).to_contain_text("2 more needed")
    expect(approver.locator("#still-can")).to_contain_text("you (approver)")
    approver.get_by_label("What should change?").fill(
        "Say which version this is, and serve zone i too."
    )
    approver.get_by_role("button", name="Send back").click()
    expect(approver.locator("#status")).to_have_attribute("data-status", "changes_requested")
    expect(approver.locator("#thread")).to_contain_text(f"approver sent back revision {first}")
    assert RevisionSeen.objects.get(user=people["approver"]).revision == first

    requester = csp.watch(browser.new_context().new_page())
    log_in(requester, base, "requester")
    requester.goto(f"{base}/requests/{pending.pk}/")
    # The requester reads why at the top of the page, not in the history's last row.
    expect(requester.locator("#thread")).to_contain_text("serve zone i too")
    requester.get_by_role("button", name="Edit").click()
    requester.get_by_label("Service description").fill("Orders API v2")
    requester.get_by_role("button", name="Add resource").click()
    requester.get_by_label("Resource 2 type").select_option("nlb")
    requester.get_by_label("Resource 2 id").fill("nlb-hzpool000001")
    requester.get_by_label("Resource 2 zone").fill("cn-hangzhou-i")
    requester.get_by_role("button", name="Add tag").click()
    requester.get_by_label("Tag 2 key").fill("env")
    requester.get_by_label("Tag 2 value").fill("prod")
    requester.get_by_label("Justification").fill(
        "The checkout team calls the orders API v2 from its own VPC, in two zones."
    )
    requester.get_by_role("button", name="Submit for approval").click()
    expect(requester.locator("#status")).to_have_attribute("data-status", "pending_approval")
    pending.refresh_from_db()
    assert pending.state == State.PENDING_APPROVAL and pending.revision > first

    # Back in the approver's queue, waiting for them again; the badge says so.
    approver.get_by_role("link", name=re.compile("Approvals")).click()
    expect(approver.locator("#pending-count")).to_have_text("1")
    approver.locator("#waiting-for-you").get_by_role("link", name="Orders API v2").click()
    changes = approver.locator("#changes")
    expect(changes).to_contain_text(
        "Resubmitted after approver sent it back: “Say which version this is, and serve zone i "
        "too.”"
    )
    expect(changes.locator("h2")).to_contain_text(
        f"What changed since revision {first} the last one you saw"
    )
    expect(changes.locator("li")).to_have_text(
        [
            re.compile(r"description: “Orders API” → “Orders API v2”"),
            re.compile(r"resource nlb nlb-hzpool000001 in cn-hangzhou-i"),
            re.compile(r"tag env=prod"),
            re.compile(r"justification: .*API v2.*"),
        ]
    )
    expect(changes.locator("ins").first).to_have_text("v2")
    thread = approver.locator("#thread li")
    expect(thread).to_have_count(1)
    expect(thread.first).to_contain_text("serve zone i too")
    expect(
        approver.get_by_role("button", name=f"Approve revision {pending.revision}")
    ).to_be_visible()
    SHOTS.mkdir(parents=True, exist_ok=True)
    top = approver.locator("h1").bounding_box()
    bottom = approver.locator("#decision-forms").bounding_box()
    approver.screenshot(
        path=str(SHOTS / "approver-panel.png"),
        full_page=True,
        clip={
            "x": 0,
            "y": max(0, top["y"] - 90),
            "width": 1280,
            "height": bottom["y"] + bottom["height"] - top["y"] + 110,
        },
    )

    # On a phone the diff and the comments wrap; nothing scrolls the page sideways.
    approver.set_viewport_size({"width": 390, "height": 844})
    assert approver.evaluate("document.documentElement.scrollWidth") <= 390
    approver.set_viewport_size({"width": 1280, "height": 900})

    # approver approves (1 of 2): the request now waits for others, for them; the badge drops.
    approver.get_by_role("button", name=f"Approve revision {pending.revision}").click()
    expect(approver.locator("#approvals")).to_contain_text("1 more needed, from any of: approver2")
    approver.get_by_role("link", name=re.compile("Approvals")).click()
    expect(approver.locator("#pending-count")).to_have_text("0")
    expect(approver.locator("#waiting-for-others")).to_contain_text("you approved revision")
    assert csp == []

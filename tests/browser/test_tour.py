"""A real browser (Debian's Chromium through Playwright) against a live server, a real worker
and the simulator (make test-browser). Saves the README's screenshots under docs/screenshots/.
"""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from portal.service_requests.models import ServiceRequest, State
from tests.support.browser import PASSWORD, log_in, shot
from tests.support.factories import ServiceRequestFactory, UserFactory
from tests.support.workers import running_worker

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
XSS = '<script>alert("x1")</script><img src=x onerror=alert("x2")>'


def test_request_approve_watch_active_and_audit(
    live_server, browser, page, people, simulator, tmp_path, dialogs, csp_violations
):
    base = live_server.url
    log_in(page, base, "requester")
    page.get_by_role("link", name="New request").click()
    page.get_by_label("Region").select_option("cn-hangzhou")
    expect(page.locator("#zone-options option[value='cn-hangzhou-h']")).to_have_count(1)
    page.get_by_label("Service resource type").select_option("nlb")
    page.get_by_label("Service description").fill("Orders API")
    page.get_by_label("Resource 1 type").select_option("nlb")
    page.get_by_label("Resource 1 id").fill("nlb-hz0000000000000001")
    page.get_by_label("Resource 1 zone").fill("cn-hangzhou-h")
    # One click at a time, as a person adds rows: each click posts the rows the page holds,
    # so a second click sent before the first's answer adds the same second row again.
    for row in (2, 3):
        page.get_by_role("button", name="Add resource").click()
        expect(page.get_by_label(f"Resource {row} id")).to_be_visible()
    page.get_by_role("button", name="Remove resource 3").click()
    expect(page.get_by_label("Resource 3 id")).to_have_count(0)
    page.get_by_label("Resource 2 type").select_option("nlb")
    page.get_by_label("Resource 2 id").fill("nlb-hzpool000001")
    page.get_by_label("Resource 2 zone").fill("cn-hangzhou-i")
    tags = [("team", "payments"), ("aliyun-env", "prod"), ("cost", "42"), ("x", "")]
    for n, (key, value) in enumerate(tags, 1):
        page.get_by_role("button", name="Add tag").click()
        page.get_by_label(f"Tag {n} key").fill(key)
        page.get_by_label(f"Tag {n} value").fill(value)
    page.get_by_role("button", name="Remove tag 4").click()
    expect(page.get_by_label("Tag 4 key")).to_have_count(0)
    page.get_by_label("Justification").fill("Checkout needs private access.")
    page.get_by_role("button", name="Submit for approval").click()
    expect(page.locator("#error-summary")).to_be_visible()
    expect(page.locator("#tag-row-1 .field-error")).to_contain_text("cannot start with")
    expect(page.get_by_label("Service description")).to_have_value("Orders API")
    page.get_by_label("Tag 2 key").fill("env")
    page.get_by_role("button", name="Validate (dry run)").click()
    expect(page.locator("[data-dry-run='DryRunOperation']")).to_contain_text(
        "The cloud would accept this request."
    )
    shot(page, "request-form")
    page.get_by_role("button", name="Submit for approval").click()
    expect(page.locator("#status")).to_have_attribute("data-status", "pending_approval")
    request_url = page.url
    pk = int(re.search(r"/requests/(\d+)/", request_url).group(1))

    approver = csp_violations.watch(browser.new_context().new_page())
    log_in(approver, base, "approver")
    approver.get_by_role("link", name=re.compile("Approvals")).click()
    expect(approver.locator("#queue")).to_contain_text("needs 1 approval")
    shot(approver, "approvals-queue")
    approver.get_by_role("link", name="Orders API").click()
    with running_worker(simulator.endpoint, tmp_path):
        approver.get_by_role("button", name=re.compile(r"^Approve revision")).click()
        # The requester's page was never reloaded: htmx polls it to the end.
        expect(page.locator("#status")).to_have_attribute("data-status", "active", timeout=30000)
    expect(page.locator("#status")).to_contain_text(".cn-hangzhou.privatelink.aliyuncs.com")
    assert page.url == request_url
    shot(page, "request-active")
    assert ServiceRequest.objects.get(pk=pk).state == State.ACTIVE
    assert len(simulator.services()) == 1

    auditor = csp_violations.watch(browser.new_context(accept_downloads=True).new_page())
    log_in(auditor, base, "auditor")
    expect(auditor.locator("h1")).to_have_text("History")
    auditor.get_by_role("link", name="Active", exact=True).click()
    expect(auditor.locator("#history tbody tr")).to_have_count(1)
    shot(auditor, "audit-history")
    with auditor.expect_download() as download:
        auditor.get_by_role("button", name="Export CSV").click()
    text = Path(download.value.path()).read_text()
    assert text.splitlines()[0].startswith("id,created_at,")
    assert f"\n{pk}," in text
    auditor.get_by_role("link", name=f"#{pk}").click()
    expect(auditor.locator("#timeline")).to_contain_text("CreateVpcEndpointService")
    expect(auditor.locator("#chain-status")).to_contain_text("sealed with the portal")
    shot(auditor, "audit-timeline")
    assert dialogs == []
    assert csp_violations == []


def test_payloads_render_as_text(live_server, browser, page, people, dialogs):
    request = ServiceRequestFactory(
        requester=people["requester"],
        state=State.PENDING_APPROVAL,
        service_description=XSS[:250],
        justification=XSS,
        tags=[("team", XSS[:128])],
    )
    request.record("note", actor=people["approver"], comment=XSS)
    base = live_server.url
    pages = []
    for username, path in [
        ("requester", f"/requests/{request.pk}/"),
        ("requester", "/"),
        ("approver", "/approvals/"),
        ("approver", f"/requests/{request.pk}/"),
        ("auditor", "/audit/"),
        ("auditor", f"/audit/requests/{request.pk}/"),
    ]:
        viewer = browser.new_context().new_page()
        viewer.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        log_in(viewer, base, username)
        viewer.goto(base + path)
        viewer.wait_for_timeout(300)
        assert viewer.locator("img[src='x']").count() == 0, path
        assert viewer.locator("main script").count() == 0, path
        expect(viewer.locator("main")).to_contain_text('<script>alert("x1")</script>')
        pages.append(path)
    assert dialogs == []
    assert len(pages) == 6


def test_the_admin_lives_with_the_content_security_policy(
    live_server, page, groups, csp_violations, settings
):
    settings.BREAK_GLASS_USERS = ["root"]  # the admin's own login page takes passwords
    UserFactory(username="root", password=PASSWORD, is_superuser=True, is_staff=True)
    request = ServiceRequestFactory(requester=UserFactory(username="someone"))
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    for path in (
        "/admin/",
        "/admin/service_requests/servicerequest/",
        f"/admin/service_requests/servicerequest/{request.pk}/change/",
        "/admin/auth/user/add/",
    ):
        page.goto(live_server.url + path)
        expect(page.locator("#content")).to_be_visible()
    assert csp_violations == []


def test_the_rows_follow_the_service_type_and_nothing_typed_is_lost(live_server, page, people):
    log_in(page, live_server.url, "requester")
    page.get_by_role("link", name="New request").click()
    page.get_by_label("Service description").fill("Orders API")
    expect(page.get_by_label("Resource 1 type")).to_have_value("slb")
    page.get_by_label("Resource 1 id").fill("nlb-hzpool000002")
    page.get_by_label("Service resource type").select_option("nlb")
    expect(page.get_by_label("Resource 1 type")).to_have_value("nlb")
    expect(page.get_by_label("Resource 1 id")).to_have_value("nlb-hzpool000002")
    expect(page.get_by_label("Service description")).to_have_value("Orders API")


def test_enter_in_a_field_does_what_the_primary_button_does(live_server, page, people):
    log_in(page, live_server.url, "requester")
    page.get_by_role("link", name="New request").click()
    page.get_by_label("Service description").fill("Orders API")
    page.get_by_label("Service description").press("Enter")
    # Submit for approval, which refuses an incomplete form at its fields: no draft made.
    expect(page.locator("#error-summary")).to_be_visible()
    expect(page.get_by_label("Service description")).to_have_value("Orders API")
    assert ServiceRequest.objects.count() == 0


def test_focus_follows_an_in_page_update(live_server, page, people):
    log_in(page, live_server.url, "requester")
    page.get_by_role("link", name="New request").click()
    page.get_by_role("button", name="Add resource").click()
    expect(page.get_by_label("Resource 2 type")).to_be_focused()
    page.get_by_role("button", name="Add tag").click()
    expect(page.get_by_label("Tag 1 key")).to_be_focused()
    page.get_by_role("button", name="Remove resource 2").click()
    expect(page.get_by_role("button", name="Add resource")).to_be_focused()
    page.get_by_role("button", name="Validate (dry run)").click()
    expect(page.locator("#error-summary")).to_be_focused()


def test_focus_is_not_taken_from_someone_already_typing(live_server, page, people):
    """Settling comes a moment after the swap: a quick typist already in a field of the new
    form keeps their focus (moving it sent their keys to another field: "envprod")."""
    log_in(page, live_server.url, "requester")
    page.get_by_role("link", name="New request").click()
    page.get_by_role("button", name="Add tag").click()
    expect(page.get_by_label("Tag 1 key")).to_be_focused()
    # The moment between a swap and its settling, made to last: the person clicks into the
    # justification, and only then does the form settle after an "Add tag".
    page.get_by_label("Justification").click()
    page.evaluate(
        """() => {
            const button = document.querySelector("button[value='add-tag']");
            document.dispatchEvent(new CustomEvent("htmx:beforeRequest", {detail: {elt: button}}));
            document.dispatchEvent(new CustomEvent("htmx:afterSettle"));
        }"""
    )
    expect(page.get_by_label("Justification")).to_be_focused()
    page.keyboard.type("typed here")
    expect(page.get_by_label("Justification")).to_have_value("typed here")
    expect(page.get_by_label("Tag 1 key")).to_have_value("")

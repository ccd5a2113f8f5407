"""A failed htmx action says so where the person looks, and leaves what they typed (make
test-browser): a spent cloud budget (429, with when to try again), a server error, the portal
out of reach, a poll that fails and then recovers. Saves docs/screenshots/budget-spent.png."""

import re

import pytest
from playwright.sync_api import expect

from portal.service_requests.models import ServiceRequest, State
from tests.support.browser import SHOTS, log_in, shot
from tests.support.factories import ServiceRequestFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def new_request(page, base):
    log_in(page, base, "requester")
    page.get_by_role("link", name="New request").click()
    page.get_by_label("Region").select_option("cn-hangzhou")
    expect(page.locator("#zone-options option[value='cn-hangzhou-h']")).to_have_count(1)
    page.get_by_label("Service description").fill("Orders API, typed before it failed")
    page.get_by_label("Justification").fill("Kept whatever the portal answers.")


def failure_after(page, control):
    """The failure message just after `control` (failures.js puts it there)."""
    return control.locator("xpath=following-sibling::p[contains(@class, 'failure')][1]")


def test_a_spent_cloud_budget_says_when_to_try_again_beside_validate(
    live_server, page, people, simulator, settings, csp_violations
):
    # One action a minute: the budget's window is fixed and may turn between two clicks
    # (once in a minute at most), so Validate is pressed until the cloud's answer is a 429.
    settings.CLOUD_ACTIONS_PER_MINUTE = 1
    new_request(page, live_server.url)
    for _ in range(3):
        validate = page.get_by_role("button", name="Validate (dry run)")
        with page.expect_response(
            lambda answer: answer.request.method == "POST" and "/requests/new/" in answer.url
        ) as answered:
            validate.click()
        if answered.value.status == 429:
            break
        expect(page.locator("#request-form")).to_contain_text("The cloud would accept this")
    else:
        raise AssertionError("three actions within a minute were all answered")
    message = failure_after(page, validate)
    expect(message).to_have_attribute("role", "alert")
    expect(message).to_contain_text("the most the portal allows one person: nothing was done")
    expect(message).to_have_text(re.compile(r"Try again in \d+ s\.$"))
    # The form is as it was: nothing was pasted into it, and what was typed is still there.
    expect(page.get_by_label("Service description")).to_have_value(
        "Orders API, typed before it failed"
    )
    expect(page.get_by_role("heading", name="One moment")).to_have_count(0)
    expect(page).to_have_title(re.compile("^New request"))
    shot(page, "budget-spent")
    assert csp_violations == [], csp_violations[:3]


def test_a_server_error_and_an_unreachable_portal_are_said_and_lose_nothing(
    live_server, page, people, simulator
):
    new_request(page, live_server.url)
    add = page.get_by_role("button", name="Add tag")
    page.route(
        "**/requests/new/**",
        lambda route: (
            route.fulfill(status=503, body="down", content_type="text/plain")
            if route.request.method == "POST"
            else route.continue_()
        ),
    )
    add.click()
    expect(failure_after(page, add)).to_have_text(
        "The portal failed to answer (503): nothing you typed is lost; try again in a moment."
    )
    page.unroute("**/requests/new/**")
    page.route(
        "**/requests/new/**",
        lambda route: route.abort() if route.request.method == "POST" else route.continue_(),
    )
    add.click()
    expect(failure_after(page, add)).to_contain_text("The portal could not be reached")
    expect(page.locator(".failure")).to_have_count(1)  # one message, the latest
    page.unroute("**/requests/new/**")
    add.click()  # back: the action works, and its message goes with the old form
    expect(page.get_by_label("Tag 1 key")).to_be_visible()
    expect(page.locator(".failure")).to_have_count(0)
    expect(page.get_by_label("Service description")).to_have_value(
        "Orders API, typed before it failed"
    )


def test_a_poll_that_fails_says_so_and_clears_when_it_answers_again(
    live_server, page, people, simulator
):
    request = ServiceRequestFactory(requester=people["requester"], state=State.CREATING)
    log_in(page, live_server.url, "requester")
    page.route("**/status/**", lambda route: route.abort())
    page.goto(f"{live_server.url}/requests/{request.pk}/")
    status = page.locator("#status")
    expect(failure_after(page, status)).to_contain_text("The portal could not be reached")
    page.unroute("**/status/**")
    ServiceRequest.objects.filter(pk=request.pk).update(state=State.FAILED, version=1)
    expect(page.locator("#status")).to_have_attribute("data-status", "failed")
    expect(page.locator(".failure")).to_have_count(0)


def test_a_session_that_ends_mid_form_keeps_the_form_and_works_after_signing_in_again(
    live_server, page, people, simulator, csp_violations
):
    from django.contrib.sessions.models import Session

    new_request(page, live_server.url)
    Session.objects.all().delete()  # the session ends on the server (expiry, a sign-out)
    add = page.get_by_role("button", name="Add tag")
    add.click()
    message = failure_after(page, add)
    expect(message).to_contain_text("Your session has ended: nothing was done.")
    # Nothing pasted inside the form: no login page, and what was typed is still there.
    expect(page.get_by_role("button", name=re.compile("^Sign in with"))).to_have_count(0)
    expect(page.get_by_label("Service description")).to_have_value(
        "Orders API, typed before it failed"
    )
    with page.context.expect_page() as opened:
        message.get_by_role("link", name="Sign in again in a new tab").click()
    other = opened.value
    # The provider still knows this browser (its own session): no password asked again.
    other.get_by_role("button", name=re.compile("^Sign in with")).click()
    expect(other.get_by_role("heading", name="Signed in again")).to_be_visible()
    other.close()
    # Back on the first tab: the same action now works (with the new session's CSRF token).
    add.click()
    expect(page.get_by_label("Tag 1 key")).to_be_visible()
    expect(page.get_by_label("Service description")).to_have_value(
        "Orders API, typed before it failed"
    )
    page.get_by_label("Tag 1 key").fill("team")
    page.get_by_label("Tag 1 value").fill("orders")
    page.get_by_role("button", name="Save draft").click()  # a plain post, with the new token
    expect(page.get_by_text("Orders API, typed before it failed").first).to_be_visible()
    assert ServiceRequest.objects.get().service_description == "Orders API, typed before it failed"
    assert csp_violations == [], csp_violations[:3]


def test_back_after_submit_and_submit_again_files_nothing_new(live_server, page, people, simulator):
    new_request(page, live_server.url)
    page.get_by_label("Service resource type").select_option("nlb")
    page.get_by_label("Resource 1 type").select_option("nlb")
    page.get_by_label("Resource 1 id").fill("nlb-hz0000000000000001")
    page.get_by_label("Resource 1 zone").fill("cn-hangzhou-h")
    page.get_by_role("button", name="Submit for approval").click()
    expect(page.locator("#status")).to_have_attribute("data-status", "pending_approval")
    request = ServiceRequest.objects.get()
    page.go_back()
    expect(page.get_by_label("Service description")).to_have_value(
        "Orders API, typed before it failed"
    )
    page.get_by_role("button", name="Submit for approval").click()
    expect(page).to_have_url(f"{live_server.url}/requests/{request.pk}/")
    expect(page.get_by_role("status").or_(page.get_by_role("alert")).first).to_contain_text(
        f"This form was sent already: request #{request.pk} is what it filed"
    )
    assert ServiceRequest.objects.count() == 1
    # A form opened afresh is a new one, even reached by Back: it files a request of its own.
    page.get_by_role("link", name="New request").click()
    page.get_by_role("link", name="Services").click()
    page.go_back()
    page.get_by_label("Region").select_option("cn-hangzhou")
    expect(page.locator("#zone-options option[value='cn-hangzhou-h']")).to_have_count(1)
    page.get_by_label("Service resource type").select_option("nlb")
    page.get_by_label("Service description").fill("A second service")
    page.get_by_label("Justification").fill("Another team needs one too.")
    page.get_by_label("Resource 1 type").select_option("nlb")
    page.get_by_label("Resource 1 id").fill("nlb-hz0000000000000001")
    page.get_by_label("Resource 1 zone").fill("cn-hangzhou-h")
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_text("Draft saved.")).to_be_visible()
    assert ServiceRequest.objects.count() == 2


def test_the_catalog_filters_are_a_form_not_a_pill(live_server, page, people, service):
    """Drawn as role="search", the framework joined the filters into one pill: a clipped
    status list and a half-disc Filter button. Saves docs/screenshots/catalog-filters.png."""
    page.set_viewport_size({"width": 1280, "height": 800})
    log_in(page, live_server.url, "requester")
    page.get_by_role("link", name="Services").click()
    filters = page.get_by_role("search")
    expect(filters).to_be_visible()
    button = filters.get_by_role("button", name="Filter")
    radius = button.evaluate("b => getComputedStyle(b).borderTopLeftRadius")
    assert radius not in ("0px", "0"), radius  # its own corners, not the pill's end
    status = filters.get_by_label("Status")
    assert status.bounding_box()["width"] > 200
    # The row leads to the service by its description too.
    page.get_by_role("link", name=service.service_description).click()
    expect(page.locator("#service-status")).to_be_visible()
    page.go_back()
    shot(page, "catalog-filters")


def test_resource_rows_are_usable_on_a_phone(live_server, page, people, simulator):
    """At 390 px a row was four slivers: a type select showing no text, an 83 px id, a 45 px
    zone, a clipped Remove. Now each field takes the screen's width, with its name above."""
    page.set_viewport_size({"width": 390, "height": 844})
    new_request(page, live_server.url)
    page.get_by_label("Service resource type").select_option("nlb")
    page.get_by_label("Resource 1 type").select_option("nlb")
    for label in ("Resource 1 type", "Resource 1 id", "Resource 1 zone"):
        box = page.get_by_label(label).bounding_box()
        assert box["width"] >= 250, (label, box)
        assert box["x"] + box["width"] <= 390, (label, box)
    remove = page.get_by_role("button", name="Remove resource 1").bounding_box()
    assert remove["x"] + remove["width"] <= 390, remove
    expect(page.locator("#resource-row-0 td[data-label='Zone']")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.locator("#field-resources").screenshot(path=str(SHOTS / "phone-resource-rows.png"))

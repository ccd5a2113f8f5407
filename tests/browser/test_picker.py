"""The load balancer picker in a real browser (make test-browser): pick a load balancer and its
zones into resource rows, by mouse and keyboard, and submit; without JavaScript, the same
picker through the form's own posts, and a typed id. Saves docs/screenshots/lb-picker.png."""

import pytest
from playwright.sync_api import expect

from portal.service_requests.models import ServiceRequest, State
from tests.support.browser import log_in, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def start_request(page, base, resource_type, javascript=True):
    log_in(page, base, "requester")
    page.get_by_role("link", name="New request").click()
    page.get_by_label("Region").select_option("cn-hangzhou")
    if javascript:  # the region's zones come with an htmx refresh
        expect(page.locator("#zone-options option[value='cn-hangzhou-h']")).to_have_count(1)
    page.get_by_label("Service resource type").select_option(resource_type)
    page.get_by_label("Service description").fill("Orders API")


def resources_of(request):
    return sorted((r.resource_type, r.resource_id, r.zone_id) for r in request.resources.all())


def test_pick_a_load_balancer_and_its_zones_then_submit(
    live_server,
    page,
    people,
    simulator,
    csp_violations,
):
    start_request(page, live_server.url, "alb")
    expect(page.get_by_label("Resource 1 type")).to_have_value("alb")
    page.get_by_role("button", name="Choose from your load balancers").click()
    picker = page.locator("#lb-picker")
    expect(picker.get_by_role("heading")).to_have_text(
        "Your ALB (alb) load balancers in cn-hangzhou"
    )
    # The keyboard lands on the first load balancer that can be chosen.
    expect(page.locator("#pick-alb-hz0000000000000001")).to_be_focused()
    public = page.locator("#pick-alb-hz0000000000000002")
    expect(public).to_be_disabled()
    expect(picker).to_contain_text("Not choosable: Internet-facing")
    zones = picker.get_by_role("group", name="Zones of hz-web-alb: one resource row each")
    expect(zones).to_be_hidden()
    page.keyboard.press("Space")
    expect(page.locator("#pick-alb-hz0000000000000001")).to_be_checked()
    expect(zones).to_be_visible()
    expect(zones.get_by_role("checkbox", name="cn-hangzhou-h")).to_be_checked()
    expect(zones.get_by_role("checkbox", name="cn-hangzhou-i")).to_be_checked()
    page.get_by_role("button", name="Add to resources").click()
    expect(page.get_by_label("Resource 2 zone")).to_have_value("cn-hangzhou-i")
    expect(page.get_by_label("Resource 1 id")).to_have_value("alb-hz0000000000000001")
    expect(page.get_by_label("Resource 1 zone")).to_have_value("cn-hangzhou-h")
    expect(page.get_by_label("Resource 2 type")).to_be_focused()
    expect(page.locator("#lb-picker")).to_be_empty()
    expect(page.get_by_label("Service description")).to_have_value("Orders API")
    page.get_by_label("Justification").fill("The web tier needs private access.")
    # Open again, for the README: the rows made, and the picker with the load balancer chosen.
    # (A screenshot leaves style="" on inputs, which an htmx swap after it would copy: take it
    # last, before the plain POST of the submission.)
    page.get_by_role("button", name="Choose from your load balancers").click()
    page.get_by_label("hz-web-alb").check()
    expect(zones).to_be_visible()
    shot(page, "lb-picker")
    page.get_by_role("button", name="Submit for approval").click()
    expect(page.locator("#status")).to_have_attribute("data-status", "pending_approval")
    request = ServiceRequest.objects.get()
    assert resources_of(request) == [
        ("alb", "alb-hz0000000000000001", "cn-hangzhou-h"),
        ("alb", "alb-hz0000000000000001", "cn-hangzhou-i"),
    ]
    assert csp_violations == [], csp_violations[:3]


def test_an_open_picker_follows_the_service_type(live_server, page, people, simulator):
    start_request(page, live_server.url, "nlb")
    page.get_by_role("button", name="Choose from your load balancers").click()
    expect(page.locator("#pick-nlb-hz0000000000000002")).to_be_visible()
    page.get_by_label("Service resource type").select_option("slb")
    expect(page.locator("#lb-picker h2")).to_have_text(
        "Your CLB (slb) load balancers in cn-hangzhou"
    )
    expect(page.locator("#pick-lb-hz00000000000000002")).to_be_disabled()
    expect(page.get_by_label("Resource 1 type")).to_have_value("slb")
    expect(page.locator("#lb-picker :focus")).to_have_count(0)  # the list follows, quietly
    page.get_by_label("hz-pool-clb-000001").check()
    zone = page.get_by_role("group", name="Zone of hz-pool-clb-000001 (its first zone by default)")
    expect(zone.get_by_role("radio", name="cn-hangzhou-h")).to_be_checked()
    zone.get_by_role("radio", name="cn-hangzhou-i").check()
    page.get_by_role("button", name="Add to resources").click()
    expect(page.get_by_label("Resource 1 id")).to_have_value("lb-hzpool000001")
    expect(page.get_by_label("Resource 1 zone")).to_have_value("cn-hangzhou-i")


def test_without_javascript_pick_or_type_an_id(live_server, browser, people, simulator):
    page = browser.new_context(java_script_enabled=False).new_page()
    start_request(page, live_server.url, "nlb", javascript=False)
    page.get_by_role("button", name="Choose from your load balancers").click()
    # The form came back from its own POST with the picker open and nothing lost.
    expect(page.get_by_label("Service description")).to_have_value("Orders API")
    page.get_by_label("hz-ipv4-nlb").check()
    zones = page.get_by_role("group", name="Zones of hz-ipv4-nlb: one resource row each")
    expect(zones).to_be_visible()  # shown by CSS alone
    zones.get_by_role("checkbox", name="cn-hangzhou-j").uncheck()
    page.get_by_role("button", name="Add to resources").click()
    expect(page.get_by_label("Resource 1 id")).to_have_value("nlb-hz0000000000000002")
    expect(page.get_by_label("Resource 1 zone")).to_have_value("cn-hangzhou-i")
    expect(page.get_by_label("Resource 2 id")).to_have_count(0)
    # An id the picker does not list (only the first 50 are) is typed.
    page.get_by_role("button", name="Add resource").click()
    page.get_by_label("Resource 2 id").fill("nlb-hzpool000900")
    page.get_by_label("Resource 2 zone").fill("cn-hangzhou-j")
    page.get_by_label("Justification").fill("Payments needs it.")
    page.get_by_role("button", name="Submit for approval").click()
    expect(page.locator("#status")).to_have_attribute("data-status", "pending_approval")
    request = ServiceRequest.objects.get()
    assert request.state == State.PENDING_APPROVAL
    assert resources_of(request) == [
        ("nlb", "nlb-hz0000000000000002", "cn-hangzhou-i"),
        ("nlb", "nlb-hzpool000900", "cn-hangzhou-j"),
    ]


def test_a_refused_row_is_named_at_that_row(live_server, page, people, simulator):
    start_request(page, live_server.url, "nlb")
    page.get_by_label("Resource 1 id").fill("nlb-hz0000000000000001")
    page.get_by_label("Resource 1 zone").fill("cn-hangzhou-h")
    page.get_by_role("button", name="Add resource").click()
    page.get_by_label("Resource 2 id").fill("nlb-hz0000000000000002")
    page.get_by_label("Resource 2 zone").fill("cn-hangzhou-h")
    page.get_by_role("button", name="Validate (dry run)").click()
    expect(page.locator("#resource-row-1 .field-error")).to_contain_text(
        "Resource 2 (nlb-hz0000000000000002 in cn-hangzhou-h)"
    )
    expect(page.locator("#resource-row-0 .field-error")).to_have_count(0)

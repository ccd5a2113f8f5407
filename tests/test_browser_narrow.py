"""No page scrolls sideways on a 390 px phone (make test-browser): wide tables scroll inside
their own box, long ids wrap, and the page itself stays 390 px wide, for every role."""

import pytest

from portal.endpoint_services.models import EndpointConnection, EndpointService
from portal.service_requests.models import State
from tests.factories import ServiceRequestFactory
from tests.test_browser import (  # noqa: F401
    PASSWORD,
    browser_type_launch_args,
    log_in,
    shot,
)
from tests.test_browser import people as people  # a fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
WIDTH = 390


@pytest.fixture
def world(people):
    requester = people["requester"]
    pending = ServiceRequestFactory(
        requester=requester,
        state=State.PENDING_APPROVAL,
        service_description="A description long enough to wrap on a phone, as people write them",
        justification="Checkout needs private access to the orders API from three VPCs.",
    )
    service = EndpointService.objects.create(
        service_id="epsrv-narrow00000000000000",
        region_id="cn-hangzhou",
        status="active",
        owner=requester,
        service_name="com.aliyuncs.privatelink.cn-hangzhou.epsrv-narrow00000000000000",
        service_domain="epsrv-narrow00000000000000.cn-hangzhou.privatelink.aliyuncs.com",
        service_description="Orders API",
        service_resource_type="nlb",
        zones=["cn-hangzhou-h", "cn-hangzhou-i"],
        resources=[
            {"resource_type": "nlb", "resource_id": "nlb-hzpool000002", "zone_id": "cn-hangzhou-h"}
        ],
        tags=[{"key": "team", "value": "orders"}],
        allowed_users=["1000000000000003"],
    )
    EndpointConnection.objects.create(
        service=service,
        endpoint_id="ep-narrow0000000000000",
        endpoint_owner_id="1000000000000003",
        endpoint_vpc_id="vpc-narrow000000000000000",
        status="Disconnected",
        zones=["cn-hangzhou-h"],
    )
    return pending, service


def overflow(page):
    return page.evaluate("document.documentElement.scrollWidth")


# The deepest elements that stick out past the viewport, to say what to fix.
CULPRITS = """
(width) => [...document.querySelectorAll("body *")]
  .filter((e) => e.getBoundingClientRect().right > width + 1)
  .filter((e) => ![...e.children].some((c) => c.getBoundingClientRect().right > width + 1))
  .slice(0, 3)
  .map((e) => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") +
       (e.className && typeof e.className === "string" ? "." + e.className.split(" ")[0] : "") +
       " " + Math.round(e.getBoundingClientRect().right) + "px")
"""


def test_no_page_scrolls_sideways_at_390_px(live_server, browser, world):
    pending, service = world
    base = live_server.url
    pages = {
        "requester": [
            "/",
            "/requests/new/",
            f"/requests/{pending.pk}/",
            f"/requests/{pending.pk}/cancel/",
            "/services/",
            f"/services/{service.service_id}/",
            f"/services/{service.service_id}/access/",
            f"/services/{service.service_id}/change/",
            "/no-such-page/",
        ],
        "approver": ["/", "/approvals/", f"/requests/{pending.pk}/"],
        "auditor": ["/audit/", f"/audit/requests/{pending.pk}/"],
    }
    wide = []
    for username, paths in pages.items():
        context = browser.new_context(viewport={"width": WIDTH, "height": 844})
        page = context.new_page()
        log_in(page, base, username)
        for path in paths:
            page.goto(f"{base}{path}")
            width = overflow(page)
            if (username, path) == ("approver", f"/requests/{pending.pk}/"):
                shot(page, "phone-request")
            if width > WIDTH:
                culprits = page.evaluate(CULPRITS, WIDTH)
                wide.append(f"{username} {path}: {width} px ({', '.join(culprits)})")
        context.close()
    login = browser.new_context(viewport={"width": WIDTH, "height": 844}).new_page()
    login.goto(f"{base}/accounts/login/")
    if overflow(login) > WIDTH:
        wide.append(f"login: {overflow(login)} px")
    assert wide == [], "\n".join(wide)

"""A team files a service in its own cloud account and another region, in a real browser
(make test-browser): the form offers the team's accounts, the picker lists that account's load
balancers only, and the worker makes the service there through the account's role."""

import re

import pytest
from playwright.sync_api import expect

from portal.service_requests.models import ServiceRequest, State
from portal.teams.models import AccountTeam, CloudAccount, Membership, Team
from tests.support.browser import log_in
from tests.support.workers import running_worker

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def accounts(people):
    team = Team.objects.create(name="payments")
    Membership.objects.create(team=team, user=people["requester"])
    made = {}
    for name, uid, regions in (
        ("networking", "1000000000000001", ["cn-hangzhou", "cn-shanghai"]),
        ("payments-prod", "1000000000000004", ["cn-shanghai"]),
    ):
        made[name] = CloudAccount.objects.create(
            name=name,
            uid=uid,
            role_arn=f"acs:ram::{uid}:role/PrivateLinkPortal",
            regions=regions,
        )
        AccountTeam.objects.create(account=made[name], team=team)
    return made


def test_a_service_in_the_teams_account_and_region_goes_active_through_its_role(
    live_server, browser, page, people, accounts, simulator, tmp_path, csp_violations
):
    base = live_server.url
    log_in(page, base, "requester")
    page.get_by_role("link", name="New request").click()
    page.get_by_label("Cloud account").select_option(label="payments-prod (1000000000000004)")
    page.get_by_label("Region").select_option("cn-shanghai")
    expect(page.locator("#zone-options option[value='cn-shanghai-e']")).to_have_count(1)
    page.get_by_label("Service resource type").select_option("slb")
    page.get_by_label("Service description").fill("Ledger API")
    page.get_by_role("button", name="Choose from your load balancers").click()
    picker = page.locator("#lb-picker")
    expect(picker).to_contain_text("payments-sh-clb")
    # The networking account's Shanghai CLB is not this account's to use.
    expect(picker).not_to_contain_text("sh-orders-clb")
    page.locator("#pick-lb-shpay0000000000000001").check()
    page.get_by_role("button", name="Add to resources").click()
    expect(page.get_by_label("Resource 1 id")).to_have_value("lb-shpay0000000000000001")
    page.get_by_label("Justification").fill("The ledger needs private access.")
    page.get_by_role("button", name="Validate (dry run)").click()
    expect(page.locator("[data-dry-run='DryRunOperation']")).to_be_visible()
    page.get_by_role("button", name="Submit for approval").click()
    expect(page.locator("#status")).to_have_attribute("data-status", "pending_approval")
    expect(page.locator("#request-account")).to_contain_text("payments-prod")
    pk = int(re.search(r"/requests/(\d+)/", page.url).group(1))

    approver = csp_violations.watch(browser.new_context().new_page())
    log_in(approver, base, "approver")
    approver.goto(f"{base}/requests/{pk}/")
    with running_worker(simulator.endpoint, tmp_path):
        approver.get_by_role("button", name=re.compile(r"^Approve revision")).click()
        expect(page.locator("#status")).to_have_attribute("data-status", "active", timeout=30000)
    request = ServiceRequest.objects.get(pk=pk)
    assert request.state == State.ACTIVE
    owners = {s["ServiceId"]: s["AccountUid"] for s in simulator.services()}
    assert owners == {request.endpoint_service.service_id: "1000000000000004"}
    page.goto(f"{base}{request.endpoint_service.get_absolute_url()}")
    expect(page.locator("#service-account")).to_contain_text("payments-prod")

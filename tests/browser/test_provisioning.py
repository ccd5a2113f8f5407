"""The provider's word reaches open sessions: its SCIM client removes a group, and the
approver's open page loses the queue at its next request (make test-browser)."""

import time

import pytest
import requests
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from tests.support.browser import PASSWORD, log_in
from tests.support.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_approvers_open_session_loses_the_queue_when_the_provider_removes_the_group(
    live_server, browser, groups, idp, settings
):
    approver = UserFactory(username="approver", password=PASSWORD)
    approver.groups.add(groups["approvers"])
    page = browser.new_context().new_page()
    log_in(page, live_server.url, "approver")
    page.get_by_role("link", name="Approvals").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Approvals")

    idp.control(
        "PUT", "scim", {"url": f"{live_server.url}/scim/v2", "token": settings.SCIM_BEARER_TOKEN}
    )
    try:
        wait_until_sent(idp)
        assert get_user_model().objects.filter(username="teamlead").exists()  # everyone, unseen
        approver.refresh_from_db()
        assert approver.groups.filter(name="approvers").exists()  # as the provider says

        removed = time.monotonic()
        idp.put_user("approver", groups=["platform"])
        while True:  # the next request after the provider's push is refused
            answer = page.goto(f"{live_server.url}/approvals/")
            if answer.status == 403 or time.monotonic() - removed > 20:
                break
            time.sleep(0.2)
        assert answer.status == 403
        print(f"the queue was gone {time.monotonic() - removed:.2f} s after the removal")
        expect(page.get_by_role("link", name="Approvals")).to_have_count(0)
    finally:
        idp.control("PUT", "scim", {})


def wait_until_sent(idp, within=20):
    deadline = time.monotonic() + within
    while not requests.get(f"{idp.issuer}/_idp/scim", timeout=5).json()["idle"]:
        assert time.monotonic() < deadline, "the provider did not finish pushing"
        time.sleep(0.1)

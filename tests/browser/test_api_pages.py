"""The API's docs page and the tokens page in a real browser, under the portal's CSP."""

import pytest
from playwright.sync_api import expect

from portal.api.models import AccessToken
from tests.support.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_docs_page_shows_every_operation_without_a_cdn(live_server, page, csp_violations):
    outside = []
    page.on(
        "request",
        lambda request: request.url.startswith(live_server.url) or outside.append(request.url),
    )
    page.goto(f"{live_server.url}/api/v1/docs")
    expect(page.get_by_text("PrivateLink portal API").first).to_be_visible()
    expect(
        page.locator(".opblock-summary-path", has_text="/api/v1/requests/{pk}/approve")
    ).to_be_visible()
    expect(page.get_by_role("button", name="Authorize")).to_be_visible()
    assert outside == []
    assert csp_violations == []


def test_a_token_made_on_its_page_is_shown_once(live_server, page, people, csp_violations):
    log_in(page, live_server.url, "requester")
    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("Name").fill("orders pipeline")
    page.get_by_label("Read and write").check()
    page.get_by_role("button", name="Make token").click()
    secret = page.locator("#token-secret").inner_text()
    assert secret.startswith(f"plp_{AccessToken.objects.get().prefix}_")
    page.reload()  # the secret was shown once
    expect(page.locator("#token-secret")).to_have_count(0)
    page.get_by_role("button", name="Revoke orders pipeline").click()
    expect(page.get_by_text("revoked", exact=False).first).to_be_visible()
    assert AccessToken.objects.get().revoked_at is not None
    assert csp_violations == []

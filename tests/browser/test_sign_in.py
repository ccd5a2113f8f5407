"""Signing in and out through the embedded identity provider in a real browser (make
test-browser): the provider's own page, the redirects both ways, the provider's session."""

import re

import pytest
from playwright.sync_api import expect

from tests.support.browser import CspWatch
from tests.support.idp import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_in_at_the_provider_lands_where_asked_and_sign_out_ends_both_sessions(
    live_server, page, idp
):
    csp = CspWatch()
    csp.watch(page)
    base = live_server.url
    page.goto(f"{base}/approvals/")
    expect(page).to_have_url(f"{base}/accounts/login/?next=/approvals/")
    page.get_by_role("button", name="Sign in with the demo identity provider").click()

    expect(page).to_have_url(re.compile("^" + re.escape(f"{idp.issuer}/authorize?")))
    page.get_by_label("Username").fill("approver")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(f"{base}/approvals/")
    expect(page.get_by_role("button", name="Log out approver")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("^Approvals"))).to_be_visible()
    assert idp.sessions() == ["approver"]

    page.get_by_role("button", name="Log out approver").click()
    expect(page).to_have_url(f"{base}/accounts/login/")
    assert idp.sessions() == []
    # The provider forgot us too: signing in asks for the password again.
    page.get_by_role("button", name="Sign in with the demo identity provider").click()
    expect(page.get_by_label("Password")).to_be_visible()
    assert csp == []


def test_the_break_glass_form_refuses_everyone_else_in_plain_words(live_server, page, idp):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("approver")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in with a password").click()
    expect(page.get_by_role("alert")).to_contain_text("this is not a break-glass account")
    expect(page.get_by_role("alert")).to_contain_text("Everyone else signs in with")

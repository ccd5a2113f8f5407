"""An htmx action after the session ended: 401 and a way to sign in again in a new tab, not the
login page pasted into the form; a plain page still goes to the login page."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_CURRENT_URL": "http://testserver/requests/new/"}


def test_an_htmx_action_of_a_signed_out_visitor_is_a_401_with_a_way_back():
    response = Client().post("/requests/new/", {"action": "add-tag"}, **HTMX)
    assert response.status_code == 401
    page = response.content.decode()
    assert 'role="alert"' in page
    assert "Your session has ended: nothing was done." in page
    assert 'href="/accounts/login/?next=/accounts/signed-in/" target="_blank"' in page
    assert "Sign in with" not in page  # not the login page


def test_a_plain_request_still_goes_to_the_login_page():
    response = Client().get("/requests/new/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_a_signed_in_htmx_action_is_untouched(login, requester):
    response = login(requester).post("/requests/new/", {"action": "add-tag"}, **HTMX)
    assert response.status_code == 200


def test_signing_in_again_lands_on_a_page_that_says_to_go_back(login, requester):
    page = login(requester).get("/accounts/signed-in/").content.decode()
    assert "Signed in again" in page
    assert "go back to the page you were on" in page
    assert Client().get("/accounts/signed-in/").status_code == 302


def test_a_post_from_a_page_opened_for_someone_else_is_refused(login, requester, requester2):
    """Signed in again as another person in another tab: the first person's page would act as
    the second (its CSRF token is refreshed). It names whom it was opened for; refused."""
    client = login(requester2)
    form = {"action": "add-tag", "rendered_for": str(requester.pk)}
    refused = client.post("/requests/new/", form)
    assert refused.status_code == 409
    page = refused.content.decode()
    assert "this page was opened for another account" in page
    assert f"you are now signed in as {requester2.username}" in page
    htmx = client.post(
        "/requests/new/", {"action": "add-tag"}, HTTP_X_RENDERED_FOR=str(requester.pk), **HTMX
    )
    assert htmx.status_code == 409
    # Opened for them, or saying nothing (the API, the admin): as before.
    assert (
        client.post(
            "/requests/new/", {"action": "add-tag", "rendered_for": str(requester2.pk)}, **HTMX
        ).status_code
        == 200
    )
    assert client.post("/requests/new/", {"action": "add-tag"}, **HTMX).status_code == 200


def test_every_page_says_whom_it_was_opened_for(login, requester):
    page = login(requester).get("/").content.decode()
    assert f'data-user="{requester.pk}"' in page

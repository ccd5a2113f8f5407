"""The load test measures pages: a session the server does not accept, or an answer that is not
its page, stops it (exit status 2) instead of being timed."""

import pytest
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client

from bench.load import make_session, measured_pages, preflight
from bench.page_checks import verdict
from bench.report import NOT_MEASURED, NotMeasured
from tests.support.factories import ServiceRequestFactory


def old_session(user):
    """The session bench/load.py made before single sign-on: for a backend no longer listed."""
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.set_expiry(settings.SESSION_COOKIE_AGE)
    store.create()
    return store.session_key


def client_fetch(path, session):
    client = Client()
    client.cookies["sessionid"] = session
    response = client.get(path)  # the test client follows no redirect unless asked
    return response.status_code, response.content


@pytest.fixture
def people(requester, approver, auditor):
    ServiceRequestFactory(requester=requester)
    return {"requesters": [requester], "approvers": [approver], "auditors": [auditor]}


def fixture_of(people, make):
    data = {
        role: [{"session": make(user), "username": user.username} for user in users]
        for role, users in people.items()
    }
    data["owners"] = data["requesters"]
    return data


def test_sessions_a_sign_in_makes_pass_the_preflight(people):
    assert preflight(client_fetch, fixture_of(people, make_session)) == 4


def test_a_session_the_server_does_not_accept_stops_the_load_test(people):
    with pytest.raises(NotMeasured) as stopped:
        preflight(client_fetch, fixture_of(people, old_session))

    assert stopped.value.code == NOT_MEASURED
    assert "does not accept the session of requester" in stopped.value.why
    assert "redirect (302)" in stopped.value.why


def test_a_login_page_is_not_the_page_it_stands_for(client, requester):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    login_page = response.content

    assert verdict("/ (requester)", 200, login_page, "requester").startswith("not the page")
    assert "redirect (302)" in verdict("/audit/", 302, b"", "auditor")


def test_a_page_of_someone_else_is_not_the_persons_page(client, requester, requester2):
    client.force_login(requester2)
    page = client.get("/").content

    assert verdict("/ (requester)", 200, page, "requester2") is None
    assert "not signed in as requester" in verdict("/ (requester)", 200, page, "requester")


def test_polls_may_answer_empty_and_errors_count_as_server_trouble():
    assert verdict("/requests/[id]/status/ (poll)", 204, b"", "requester") is None
    assert verdict("/approvals/ (poll)", 302, b"", "approver").startswith("a redirect")
    assert verdict("/audit/", 502, b"Bad gateway", "auditor").startswith("server trouble")


def test_answers_that_are_not_pages_stop_the_run_and_server_errors_do_not():
    measured_pages([("/", "CatchResponseError('server trouble: 500')", 3)], "the mix")

    with pytest.raises(NotMeasured) as stopped:
        measured_pages(
            [("/audit/", "CatchResponseError('a redirect (302), not the page /audit/')", 7)],
            "the mix with 25 people",
        )
    assert "7 answers of /audit/ were not the page" in stopped.value.why

"""The approvers' queue at scale: a page at a time, counts cached per version, polls free."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portal.service_requests import queue, services
from portal.service_requests.models import State
from tests.factories import ServiceRequestFactory
from tests.helpers import decide

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


def pending(requester, count=1, **fields):
    return [
        ServiceRequestFactory(requester=requester, state=State.PENDING_APPROVAL, **fields)
        for _ in range(count)
    ]


def test_the_queue_is_a_page_whatever_waits(login, requester, approver):
    pending(requester, 3)
    small = login(approver).get("/approvals/")
    pending(requester, 60)
    queue.changed()
    large = login(approver).get("/approvals/")
    assert large.context["queue"].paginator.count == 63
    assert len(large.context["queue"].object_list) == queue.PAGE_SIZE
    assert "63 requests wait for a decision" in large.content.decode()
    assert "Page 1 of 3" in large.content.decode()
    # The page's size does not grow with the queue beyond one page.
    per_row = (len(large.content) - len(small.content)) / (queue.PAGE_SIZE - 3)
    assert len(large.content) < len(small.content) + per_row * queue.PAGE_SIZE * 1.1
    last = login(approver).get("/approvals/", {"page": 3})
    assert len(last.context["queue"].object_list) == 13


def test_oldest_submission_first_and_own_requests_left_out(login, requester, approver):
    first, second = pending(requester, 2)
    (own,) = pending(approver)
    queue.changed()
    page = login(approver).get("/approvals/").context["queue"]
    assert [r.pk for r in page.object_list] == [first.pk, second.pk]
    assert page.paginator.count == 2
    assert own.pk not in [r.pk for r in page.object_list]


def test_approvals_so_far_count_the_current_revision(login, requester, approver, approver2):
    (request,) = pending(requester, auto_accept_enabled=True)
    decide(login(approver2), request, "approve")
    [item] = login(approver).get("/approvals/").context["queue"].object_list
    assert item.approvals_so_far == 1 and item.requirement.needed == 2


def test_an_unchanged_queue_answers_a_poll_without_the_database(login, requester, approver):
    pending(requester, 30)
    client = login(approver)
    version = client.get("/approvals/").context["queue_version"]
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/approvals/", {"v": version, "page": 1}, headers=HTMX)
    assert response.status_code == 204
    tables = " ".join(q["sql"] for q in queries.captured_queries)
    assert "service_requests" not in tables
    assert len(queries.captured_queries) <= 3  # the session, the user and the user's groups
    with CaptureQueriesContext(connection) as queries:
        badge = client.get("/approvals/count/", {"v": version}, headers=HTMX)
    assert badge.status_code == 204 and len(queries.captured_queries) <= 3


def test_the_queue_moves_when_a_request_enters_or_is_decided(
    login, requester, approver, approver2, simulator, django_capture_on_commit_callbacks
):
    (request,) = pending(requester, auto_accept_enabled=True)
    client = login(approver)
    version = client.get("/approvals/").context["queue_version"]
    with django_capture_on_commit_callbacks(execute=True):
        decide(login(approver2), request, "approve")  # one of two: still pending
    moved = login(approver).get("/approvals/", {"v": version}, headers=HTMX)
    assert moved.status_code == 200 and "1 of 2" in moved.content.decode()
    version = queue.version()
    draft = ServiceRequestFactory(requester=requester)
    with django_capture_on_commit_callbacks(execute=True):
        services.service_request_submit(service_request=draft, actor=requester)
    entered = login(approver).get("/approvals/", {"v": version}, headers=HTMX)
    assert entered.status_code == 200
    assert "2 requests wait" in entered.content.decode()
    assert 'aria-label="2 pending"' in login(approver).get("/").content.decode()


def test_the_count_is_shared_and_computed_once_per_version(login, requester, approver, approver2):
    pending(requester, 5)
    queue.changed()
    login(approver).get("/")
    with CaptureQueriesContext(connection) as queries:
        assert queue.pending_count(approver2) == 5
    # The total came from the cache; only approver2's own pending requests were counted.
    assert len(queries.captured_queries) == 1


def test_the_dashboard_shows_the_first_of_the_queue(login, requester, approver):
    pending(requester, 12)
    queue.changed()
    html = login(approver).get("/").content.decode()
    assert "All 12 waiting for you" in html
    assert html.count('href="/requests/') >= 10

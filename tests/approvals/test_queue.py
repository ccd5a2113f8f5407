"""The approvers' queue at scale: a page at a time, counts cached per version, polls free."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portal.approvals import queue
from portal.approvals import services as approval_services
from portal.requests import services
from portal.service_requests.models import State
from tests.support.factories import ServiceRequestFactory
from tests.support.helpers import decide

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
    assert "63 requests wait for your decision" in large.content.decode()
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
    assert "2 requests wait for your decision" in entered.content.decode()
    assert 'aria-label="2 waiting for you"' in login(approver).get("/").content.decode()


def test_the_count_is_shared_and_computed_once_per_version(login, requester, approver, approver2):
    pending(requester, 5)
    queue.changed()
    login(approver).get("/")
    with CaptureQueriesContext(connection) as queries:
        assert queue.pending_count(approver2) == 5
    # The count of what is routed to the platform's approvers came from the cache (approver's
    # view made it): approver2's roles and teams were read (what is routed to them), and only
    # their own pending requests listed; nothing was counted.
    sql = [query["sql"] for query in queries.captured_queries]
    assert len(sql) == 3, sql
    assert not any("COUNT(" in statement.upper() for statement in sql), sql


def test_the_dashboard_shows_the_first_of_the_queue(login, requester, approver):
    pending(requester, 12)
    queue.changed()
    html = login(approver).get("/").content.decode()
    assert "All 12 waiting for you" in html
    assert html.count('href="/requests/') >= 10


# --- the split: what waits for you, and what waits for others ------------------------------


def numbers(rows):
    return [row.pk for row in rows]


def test_own_requests_and_those_you_approved_wait_for_others(
    login, requester, approver, approver2, django_capture_on_commit_callbacks
):
    risky, plain = pending(requester, 2, auto_accept_enabled=True)
    (own,) = pending(approver2)
    with django_capture_on_commit_callbacks(execute=True):
        decide(login(approver2), risky, "approve")  # one of two: still pending
    response = login(approver2).get("/approvals/")
    assert numbers(response.context["queue"]) == [plain.pk]
    assert numbers(response.context["others"]) == [risky.pk, own.pk]
    html = response.content.decode()
    others = html.split('id="waiting-for-others"')[1]
    assert "you approved revision" in others and "your own request" in others
    assert 'Waiting for you <span class="muted">(1)</span>' in html
    # approver2's approval moves nothing for approver: both of requester's and approver2's.
    mine = login(approver).get("/approvals/")
    assert numbers(mine.context["queue"]) == [risky.pk, plain.pk, own.pk]
    assert numbers(mine.context["others"]) == []


def test_a_new_revision_waits_for_you_again(
    login, requester, approver, approver2, django_capture_on_commit_callbacks
):
    (request,) = pending(requester, auto_accept_enabled=True)
    with django_capture_on_commit_callbacks(execute=True):
        decide(login(approver), request, "approve")
        decide(login(approver2), request, "send_back", comment="rename it")
        login(requester).post(f"/requests/{request.pk}/submit/")
    request.refresh_from_db()
    assert request.state == State.PENDING_APPROVAL
    response = login(approver).get("/approvals/")
    assert numbers(response.context["queue"]) == [request.pk]
    assert response.context["others"].paginator.count == 0


def test_the_badge_counts_only_what_waits_for_you(
    login, requester, approver, approver2, django_capture_on_commit_callbacks
):
    first, _second = pending(requester, 2, auto_accept_enabled=True)
    pending(approver)
    queue.changed()
    assert 'aria-label="3 waiting for you"' in login(approver2).get("/").content.decode()
    assert 'aria-label="2 waiting for you"' in login(approver).get("/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        decide(login(approver2), first, "approve")
    # One's own approval changes what counts for oneself, and for nobody else.
    assert queue.pending_count(approver2) == 2
    assert queue.pending_count(approver) == 2
    badge = login(approver2).get("/approvals/count/", headers=HTMX).content.decode()
    assert 'aria-label="2 waiting for you"' in badge and ">2</span>" in badge
    home = login(approver2).get("/").content.decode()
    assert "1 waiting for others" in home


def test_the_counts_are_cached_per_version_and_per_approver(
    login, requester, approver, approver2, django_capture_on_commit_callbacks
):
    (request,) = pending(requester, auto_accept_enabled=True)
    queue.changed()
    assert queue.pending_count(approver) == 1
    with CaptureQueriesContext(connection) as queries:
        assert queue.pending_count(approver) == 1
    assert queries.captured_queries == []
    with django_capture_on_commit_callbacks(execute=True):
        decide(login(approver2), request, "approve")
    # A new version: each approver's count is worked out again, once, for them alone.
    with CaptureQueriesContext(connection) as queries:
        assert queue.pending_count(approver2) == 0
        assert queue.pending_count(approver) == 1
        assert queue.pending_count(approver) == 1
    # approver2's roles and teams (read once, kept on the user object), the count of what is
    # routed to the platform's approvers (once for both), then what waits for others, each.
    assert len(queries.captured_queries) == 5
    with django_capture_on_commit_callbacks(execute=True):
        decide(login(approver), request, "approve")
    request.refresh_from_db()
    assert request.state == State.APPROVED
    assert queue.pending_count(approver) == queue.pending_count(approver2) == 0


def split_queries(client):
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/approvals/")
    assert response.status_code == 200
    return len(queries.captured_queries), len(response.content)


def test_both_halves_cost_the_same_queries_and_size_whatever_waits(
    login, requester, approver, approver2, service
):
    from tests.support.day2 import form

    def fill(count):
        for request in pending(requester, count, auto_accept_enabled=True):
            approval_services.service_request_decide(
                pk=request.pk, approver=approver, decision="approve", revision=request.revision
            )
        pending(requester, count)
        pending(approver, count)

    fill(2)
    # A change request among them: its plan is read for the policy, in the same query.
    login(requester).post(
        f"/services/{service.service_id}/change/",
        form(service, service_description="renamed", action="submit"),
    )
    queue.changed()
    client = login(approver)
    split_queries(client)  # the first view fills the cache
    queue.changed()
    small_queries, _size = split_queries(client)
    fill(40)
    queue.changed()
    full_queries, full_size = split_queries(client)
    page = client.get("/approvals/").context
    assert len(page["queue"].object_list) == queue.PAGE_SIZE
    assert len(page["others"].object_list) == queue.OTHERS_PAGE_SIZE
    assert (page["queue"].paginator.count, page["others"].paginator.count) == (43, 84)
    fill(40)
    queue.changed()
    more_queries, more_size = split_queries(client)
    assert small_queries == full_queries == more_queries
    # Session, user, groups, teams; the delegations held or given; two counts; each half's
    # rows; their plans; their approvals.
    assert small_queries == 11
    # A page a half, whatever waits: only the counts and ids in the page differ.
    assert abs(more_size - full_size) < 200
    queue.changed()
    with CaptureQueriesContext(connection) as queries:
        client.get("/")
    dashboard = len(queries.captured_queries)
    fill(5)
    queue.changed()
    with CaptureQueriesContext(connection) as queries:
        client.get("/")
    assert len(queries.captured_queries) == dashboard


def test_each_half_pages_on_its_own(login, requester, approver):
    pending(requester, 30)
    pending(approver, 12)
    queue.changed()
    client = login(approver)
    response = client.get("/approvals/", {"page": 2, "others": 2})
    assert len(response.context["queue"].object_list) == 5
    assert len(response.context["others"].object_list) == 2
    html = response.content.decode()
    assert 'href="?page=1&amp;others=2"' in html  # the other half stays where it was
    assert 'href="?page=2&amp;others=1"' in html
    fragment = client.get("/approvals/", {"page": 2, "others": 2}, headers=HTMX)
    assert "page=2&amp;others=2" in fragment.content.decode().split(">")[0]
    assert client.get("/approvals/", {"others": 10**9}).status_code == 404

"""Racing decisions on PostgreSQL: the row lock makes them queue, never double-count.

Run by `make test-services` (real PostgreSQL, one connection per thread).
"""

import threading

import pytest
from django.db import connection

from portal.service_requests import services
from portal.service_requests.models import State
from tests.factories import ServiceRequestFactory, UserFactory

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def race(users, request_pk):
    """Let each user approve at the same instant; return (successes, refusals)."""
    barrier = threading.Barrier(len(users))
    outcomes = []

    def approve(user):
        try:
            barrier.wait()
            services.service_request_decide(pk=request_pk, approver=user, decision="approve")
            outcomes.append("ok")
        except services.DecisionRefused:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(u,)) for u in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes.count("ok"), outcomes.count("refused")


def approvers(groups, count):
    users = [UserFactory(username=f"racer{n}") for n in range(count)]
    for user in users:
        user.groups.add(groups["approvers"])
    return users


def test_database_is_postgresql():
    assert connection.vendor == "postgresql"


def test_twenty_threads_of_one_approver_count_once(groups, requester):
    request = ServiceRequestFactory(
        requester=requester, state=State.PENDING_APPROVAL, auto_accept_enabled=True
    )
    user = approvers(groups, 1)[0]
    ok, refused = race([user] * 20, request.pk)
    assert (ok, refused) == (1, 19)
    request.refresh_from_db()
    assert request.state == State.PENDING_APPROVAL
    assert request.current_approvals().count() == 1


def test_twenty_approvers_racing_approve_exactly_once(groups, requester):
    request = ServiceRequestFactory(requester=requester, state=State.PENDING_APPROVAL)
    ok, refused = race(approvers(groups, 20), request.pk)
    assert (ok, refused) == (1, 19)
    request.refresh_from_db()
    assert request.state == State.APPROVED
    assert request.events.filter(action="approve").count() == 1


def test_two_approvers_racing_on_a_risky_request_both_count(groups, requester):
    request = ServiceRequestFactory(
        requester=requester, state=State.PENDING_APPROVAL, payer="EndpointService"
    )
    ok, refused = race(approvers(groups, 2), request.pk)
    assert (ok, refused) == (2, 0)
    request.refresh_from_db()
    assert request.state == State.APPROVED
    assert request.current_approvals().count() == 2
    assert request.events.filter(action="approve").count() == 1
    assert request.events.filter(action="approval_added").count() == 1

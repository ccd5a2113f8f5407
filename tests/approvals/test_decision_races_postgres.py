"""Racing decisions on PostgreSQL: the row lock makes them queue, never double-count.

Run by `make test-services` (real PostgreSQL, one connection per thread).
"""

import threading
from datetime import timedelta

import pytest
from django.db import connection

from portal.approvals import services as approval_services
from portal.requests import services
from portal.service_requests import exceptions
from portal.service_requests.models import ServiceRequest, State
from tests.support.factories import ServiceRequestFactory, UserFactory

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def race(users, request_pk):
    """Let each user approve at the same instant; return (successes, refusals)."""
    barrier = threading.Barrier(len(users))
    outcomes = []
    revision = ServiceRequest.objects.get(pk=request_pk).revision

    def approve(user):
        try:
            barrier.wait()
            approval_services.service_request_decide(
                pk=request_pk, approver=user, decision="approve", revision=revision
            )
            outcomes.append("ok")
        except exceptions.DecisionRefused:
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


@pytest.fixture
def empty_queue():
    import redis

    from portal.celery import app

    redis.Redis.from_url(app.conf.broker_url).flushdb()
    yield
    redis.Redis.from_url(app.conf.broker_url).flushdb()


@pytest.mark.parametrize("risky", [False, True])
def test_racing_approvals_provision_exactly_one_service(
    groups, requester, simulator, tmp_path, empty_queue, risky
):
    from tests.support.workers import running_worker, wait_for

    request = ServiceRequestFactory(
        requester=requester, state=State.PENDING_APPROVAL, auto_accept_enabled=risky
    )
    users = approvers(groups, 2 if risky else 20)
    with running_worker(simulator.endpoint, tmp_path) as worker:
        ok, _refused = race(users, request.pk)
        assert ok == (2 if risky else 1)
        wait_for(
            lambda: request.__class__.objects.get(pk=request.pk).state == State.ACTIVE,
            message="active",
            worker=worker,
        )
    assert len(simulator.services()) == 1
    assert request.events.filter(action="start_provisioning").count() == 1
    assert request.events.filter(action="approve").count() == 1


def test_parallel_edits_and_submits_lose_nothing(requester, requester2):
    from portal.audit.services import audit_chain_verify

    draft = ServiceRequestFactory(requester=requester)
    others = [ServiceRequestFactory(requester=requester2) for _ in range(10)]
    barrier = threading.Barrier(20)
    errors = []

    def edit(n):
        try:
            barrier.wait()
            fields, resources, _tags = draft.create_parameters()
            fields["justification"] = "x"
            services.service_request_update(
                pk=draft.pk,
                actor=requester,
                fields={**fields, "service_description": f"v{n}"},
                resources=resources,
                tags=[{"key": "edit", "value": str(n)}],
            )
        except Exception as error:  # the test reports any failure below
            errors.append(error)
        finally:
            connection.close()

    def submit(other):
        try:
            barrier.wait()
            services.service_request_submit(service_request=other, actor=requester2)
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=edit, args=(n,)) for n in range(10)]
    threads += [threading.Thread(target=submit, args=(o,)) for o in others]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    draft.refresh_from_db()
    assert draft.revision == 11
    assert draft.events.filter(action="edited").count() == 10
    assert draft.tags.count() == 1
    assert draft.tags.get().value == draft.service_description.removeprefix("v")
    for other in others:
        other.refresh_from_db()
        assert other.state == State.PENDING_APPROVAL
    assert audit_chain_verify().ok


def test_a_decommission_posted_ten_times_at_once_files_one_request(requester, service):
    barrier = threading.Barrier(10)
    outcomes = []

    def file():
        try:
            barrier.wait()
            services.decommission_request_create(
                requester=requester, service=service, justification="Replaced by v2."
            )
            outcomes.append("filed")
        except exceptions.AlreadyAsked:
            outcomes.append("sent to the first")
        finally:
            connection.close()

    threads = [threading.Thread(target=file) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["filed"] + ["sent to the first"] * 9
    assert service.requests.filter(kind="decommission").count() == 1


def test_a_delegator_and_their_delegate_approving_at_once_count_once(groups, requester):
    from django.utils import timezone

    from portal.approvals.models import Delegation
    from portal.service_requests.models import Approval

    request = ServiceRequestFactory(
        requester=requester, state=State.PENDING_APPROVAL, auto_accept_enabled=True
    )
    delegator = approvers(groups, 1)[0]
    delegate = UserFactory(username="delegate")
    Delegation.objects.create(
        delegator=delegator,
        delegate=delegate,
        starts_at=timezone.now(),
        ends_at=timezone.now() + timedelta(days=1),
        reason="race",
    )
    for _ in range(5):
        Approval.objects.filter(request=request).delete()
        ok, refused = race([delegator, delegate], request.pk)
        assert (ok, refused) == (1, 1)
        request.refresh_from_db()
        assert request.state == State.PENDING_APPROVAL
        assert request.approving_people() == 1


def test_two_delegations_of_one_delegator_made_at_once_give_one(groups):
    from django.utils import timezone

    from portal.approvals.models import Delegation

    delegator = approvers(groups, 1)[0]
    delegates = [UserFactory(username=f"delegate{n}") for n in range(4)]
    barrier = threading.Barrier(len(delegates))
    outcomes = []

    def lend(delegate):
        try:
            barrier.wait()
            approval_services.delegation_create(
                delegator=delegator,
                delegate=delegate,
                starts_at=timezone.now(),
                ends_at=timezone.now() + timedelta(days=3),
                reason="race",
            )
            outcomes.append("ok")
        except approval_services.DelegationInvalid:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=lend, args=(d,)) for d in delegates]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["ok", "refused", "refused", "refused"]
    assert Delegation.objects.count() == 1

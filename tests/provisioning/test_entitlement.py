"""The worker acts on approvals only from people the audit log shows holding the right to
give them then (approvals.entitlement): a right written into the database behind the
portal's back opens the pages, but its holder's approval is not provisioned."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from portal.api.models import AccessToken
from portal.approvals import services as approval_services
from portal.approvals.models import Delegation
from portal.provisioning import services as provisioning
from portal.service_requests.models import UNEXPLAINED_CODE, State
from tests.audit.test_grants import raw_insert
from tests.support.api import call, token
from tests.support.factories import ServiceRequestFactory, UserFactory

pytestmark = pytest.mark.django_db


def sql(statement, params):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def approve(service_request, user):
    service_request.refresh_from_db()
    return approval_services.service_request_decide(
        pk=service_request.pk, approver=user, decision="approve", revision=service_request.revision
    )


def provisioned(service_request):
    provisioning.service_request_provision(pk=service_request.pk)
    service_request.refresh_from_db()
    return service_request


@pytest.fixture
def mallory(groups):
    return UserFactory(username="mallory")


def test_an_approver_whose_right_the_log_records_is_provisioned(requester, approver, simulator):
    service_request = ServiceRequestFactory(requester=requester, state=State.PENDING_APPROVAL)
    approve(service_request, approver)
    assert provisioned(service_request).state == State.CREATING


@pytest.mark.parametrize(
    "grant",
    [
        pytest.param(
            lambda user, groups: sql(
                "INSERT INTO auth_user_groups (user_id, group_id) VALUES (%s, %s)",
                [user.pk, groups["approvers"].pk],
            ),
            id="approvers-membership",
        ),
        pytest.param(
            lambda user, groups: sql(
                "UPDATE auth_user SET is_superuser = %s WHERE id = %s", [True, user.pk]
            ),
            id="superuser-flag",
        ),
    ],
)
def test_an_approval_by_someone_made_an_approver_in_the_database_is_not_provisioned(
    requester, mallory, groups, simulator, grant
):
    service_request = ServiceRequestFactory(requester=requester, state=State.PENDING_APPROVAL)
    grant(mallory, groups)
    mallory.refresh_from_db()  # as the next request of theirs reads it
    approve(service_request, mallory)  # the pages believed the tables
    service_request.refresh_from_db()
    assert service_request.state == State.APPROVED

    refused = provisioned(service_request)
    assert (refused.state, refused.error_code) == (State.FAILED, UNEXPLAINED_CODE)
    assert f"user {mallory.pk} approved" in refused.error_message
    assert "without the right" in refused.error_message
    assert not refused.service_id  # no cloud call was made
    assert not simulator.services()


def test_an_approval_through_a_delegation_written_in_the_database_is_not_provisioned(
    requester, approver, mallory, simulator
):
    service_request = ServiceRequestFactory(requester=requester, state=State.PENDING_APPROVAL)
    now = timezone.now()
    raw_insert(
        Delegation(
            delegator=approver,
            delegate=mallory,
            starts_at=now - timedelta(minutes=1),
            ends_at=now + timedelta(days=1),
            reason="none",
            created_at=now,
        )
    )
    approve(service_request, mallory)
    refused = provisioned(service_request)
    assert refused.state == State.FAILED
    assert "with no delegation the log shows in force" in refused.error_message


def test_an_approval_through_a_delegation_made_in_the_portal_is_provisioned(
    requester, approver, mallory, simulator
):
    service_request = ServiceRequestFactory(requester=requester, state=State.PENDING_APPROVAL)
    now = timezone.now()
    approval_services.delegation_create(
        delegator=approver,
        delegate=mallory,
        starts_at=now - timedelta(minutes=1),
        ends_at=now + timedelta(days=1),
        reason="holiday",
    )
    approve(service_request, mallory)
    assert provisioned(service_request).state == State.CREATING


def test_a_right_granted_after_the_approval_does_not_make_it_count(
    requester, mallory, groups, simulator
):
    service_request = ServiceRequestFactory(requester=requester, state=State.PENDING_APPROVAL)
    sql(
        "INSERT INTO auth_user_groups (user_id, group_id) VALUES (%s, %s)",
        [mallory.pk, groups["approvers"].pk],
    )
    approve(service_request, mallory)
    # Made an approver properly afterwards: still not theirs to give when they gave it.
    sql("DELETE FROM auth_user_groups WHERE user_id = %s", [mallory.pk])
    mallory.groups.add(groups["approvers"])
    assert provisioned(service_request).state == State.FAILED


def test_a_token_written_into_the_database_is_refused_at_once(client, approver):
    secret = "plp_0badc0de_" + "x" * 43
    from portal.api.models import token_digest

    raw_insert(
        AccessToken(
            user=approver,
            name="forged",
            scope="write",
            prefix="0badc0de",
            digest=token_digest(secret),
            created_at=timezone.now(),
        )
    )
    assert call(client, "GET", "me", secret).status_code == 401


def test_a_token_whose_scope_was_raised_in_the_database_is_refused(client, approver):
    secret = token(approver, scope="read")
    assert call(client, "GET", "me", secret).status_code == 200
    AccessToken.objects.filter(prefix=secret.split("_")[1]).update(scope="write")
    assert call(client, "GET", "me", secret).status_code == 401


def test_an_approval_by_an_owner_written_in_the_database_is_not_applied(
    login, service, requester, simulator
):
    from tests.support.day2 import run
    from tests.support.helpers import decide
    from tests.teams.test_teams import ask_access

    consumer, mallory = UserFactory(username="consumer"), UserFactory(username="mallory")
    asking = ask_access(login(consumer), service)
    sql(
        "UPDATE endpoint_services_endpointservice SET owner_id = %s WHERE id = %s",
        [mallory.pk, service.pk],
    )
    decide(login(mallory), asking, "approve")  # the pages believed the table
    asking.refresh_from_db()
    assert asking.state == State.APPROVED
    run(provisioning.service_request_apply, asking.pk)
    asking.refresh_from_db()
    assert (asking.state, asking.error_code) == (State.FAILED, UNEXPLAINED_CODE)
    assert "the service's owner differs from what its events recorded" in asking.error_message
    # Nothing was applied: no start, so no cloud call.
    assert not asking.events.filter(action__in=["start_applying", "cloud_call"]).exists()

"""Allow-lists as the cloud keeps them: entries by UserId and by UserARN, read by the drift
pass, and a revoke that takes every entry admitting the account off and reads the list back.

The official SDK against the simulator over HTTP; the worker's steps are called in-process.
"""

import pytest

from portal.cloud import services as cloud
from portal.endpoint_services.services import endpoint_services_drift_pass
from portal.provisioning import services as provisioning
from portal.service_requests.models import Kind, ServiceRequest, State
from tests.endpoint_services.test_consumers import CONSUMER, decide, grant
from tests.support.day2 import REGION, run, sdk

pytestmark = pytest.mark.django_db
CONSUMER_ARN = f"acs:ram:*:{CONSUMER}:*"


def cloud_entries(simulator, service):
    entries = []
    for list_type in ("Users", "UserARNs"):
        body = sdk(
            simulator,
            "ListVpcEndpointServiceUsers",
            service_id=service.service_id,
            user_list_type=list_type,
        )
        entries += [str(u.user_id) for u in body.users or []]
        entries += [u.user_arn for u in body.user_arns or []]
    return sorted(entries)


def add_arn_outside(simulator, service, arn=CONSUMER_ARN):
    """What the console or Terraform does: admit an account by its ARN."""
    sdk(simulator, "AddUserToVpcEndpointService", service_id=service.service_id, user_arn=arn)


def test_the_allow_list_is_read_entry_by_entry_in_the_form_the_cloud_keeps(service, simulator):
    add_arn_outside(simulator, service)
    sdk(
        simulator,
        "AddUserToVpcEndpointService",
        service_id=service.service_id,
        user_id=1000000000000009,
    )
    entries, records = cloud.endpoint_service_users(region_id=REGION, service_id=service.service_id)
    assert entries == [
        {"user_arn": CONSUMER_ARN, "account": CONSUMER},
        {"user_id": "1000000000000009", "account": "1000000000000009"},
    ]
    assert cloud.allowed_accounts(entries) == [CONSUMER, "1000000000000009"]
    assert [r.action for r in records] == ["ListVpcEndpointServiceUsers"] * 2


def test_a_drift_pass_reads_allow_lists_and_sees_an_account_added_outside(
    service, simulator, settings
):
    settings.DRIFT_RESOURCE_SWEEP = 0
    add_arn_outside(simulator, service)
    summary = endpoint_services_drift_pass(region_id=REGION)
    assert summary["allow_lists"] == 1
    service.refresh_from_db()
    assert service.allow_entries == [{"user_arn": CONSUMER_ARN, "account": CONSUMER}]
    assert service.allowed_users == [CONSUMER]
    assert service.drifted
    assert any(CONSUMER in line for line in service.drift)
    # Nothing more to read: the next pass reads the longest unread first, and finds the same.
    again = endpoint_services_drift_pass(region_id=REGION, allow_list_sweep=0)
    assert again["allow_lists"] == 0


def test_a_revoke_removes_the_arn_entry_too_and_reads_the_list_back(
    login, service, requester, requester2, approver, simulator
):
    grant(login, service, requester2, requester)
    add_arn_outside(simulator, service)  # the same account, a second way in
    assert cloud_entries(simulator, service) == sorted([CONSUMER, CONSUMER_ARN])
    response = login(requester).post(
        f"/services/{service.service_id}/revoke/",
        {"account_id": CONSUMER, "justification": "Billing moved away.", "action": "submit"},
    )
    assert response.status_code == 302
    revoke = ServiceRequest.objects.get(kind=Kind.REVOKE)
    decide(login(approver), revoke)
    run(provisioning.service_request_apply, revoke.pk)
    revoke.refresh_from_db()
    assert revoke.state == State.APPLIED
    assert cloud_entries(simulator, service) == []
    call = next(
        c
        for c in revoke.events.filter(action="cloud_call").values_list("details", flat=True)
        if c["cloud_call"]["action"] == "RemoveUserFromVpcEndpointService"
    )["cloud_call"]
    assert sorted(call["parameters"]["Removed"]) == sorted([CONSUMER, CONSUMER_ARN])
    assert len(call["parameters"]["ListedBy"]) == 4  # two lists, read before and after


def test_a_removal_the_list_does_not_show_is_not_called_done(service, simulator, monkeypatch):
    add_arn_outside(simulator, service)
    real = cloud.call

    def drop_arn_removals(action, request, client=None, *, reach=cloud.HOME):
        if action == "RemoveUserFromVpcEndpointService" and request.user_arn:
            request.user_arn = None
            request.user_id = 1000000000000009  # removes something else: the ARN stays
        return real(action, request, client, reach=reach)

    monkeypatch.setattr(cloud, "call", drop_arn_removals)
    with pytest.raises(cloud.CloudError) as refused:
        cloud.endpoint_service_account_remove(
            region_id=REGION, service_id=service.service_id, user_id=CONSUMER, client_token="t1"
        )
    assert refused.value.code == "AllowListNotCleared"
    assert refused.value.transient
    assert CONSUMER_ARN in refused.value.cloud_message

"""Day 2 through the portal: change a service as a plan, decommission it, drift, adoption.

The official SDK against the simulator over HTTP, as everywhere; the worker's steps are
called in-process (tests/provisioning/test_worker_day2.py runs them on a real worker).
"""

import json
import os
import subprocess
import sys
import time

import pytest
from alibabacloud_privatelink20200415 import models

from portal.endpoint_services.models import EndpointService, ServiceStatus
from portal.endpoint_services.services import (
    endpoint_service_refresh,
    endpoint_services_drift_pass,
)
from portal.provisioning import services as provisioning
from portal.requests import services as request_services
from portal.service_requests.models import Kind, OperationState, ServiceRequest, State
from tests.support.day2 import NLB, REGION, ROOT, cloud_state, form, run, sdk
from tests.support.helpers import decide

pytestmark = pytest.mark.django_db


def test_the_change_form_starts_from_the_services_state(login, requester, service):
    html = login(requester).get(f"/services/{service.service_id}/change/").content.decode()
    assert 'value="Orders API"' in html
    assert html.count(f'value="{NLB}"') == 2
    assert 'value="team"' in html
    assert "No changes yet" in html


def test_an_empty_plan_cannot_be_submitted(login, requester, service):
    response = login(requester).post(f"/services/{service.service_id}/change/", form(service))
    change = ServiceRequest.objects.get(kind=Kind.CHANGE)
    assert response.url == f"/requests/{change.pk}/"
    assert change.state == State.DRAFT
    page = login(requester).get(response.url).content.decode()
    assert "Nothing to change" in page


def test_validate_shows_the_plan_and_each_operations_dry_run(login, requester, service):
    data = form(service, service_description="Orders API v2", action="validate")
    html = login(requester).post(f"/services/{service.service_id}/change/", data).content.decode()
    assert "description: “Orders API” → “Orders API v2”" in html
    assert 'data-dry-run="DryRunOperation"' in html
    assert not ServiceRequest.objects.filter(kind=Kind.CHANGE).exists()


def test_change_description_tag_and_zone_through_approval_to_applied(
    login, requester, approver, service, simulator
):
    data = form(
        service,
        service_description="Orders API v2",
        tags=[*service.tags, {"key": "env", "value": "prod"}],
        resources=[
            *service.resources,
            {"resource_type": "nlb", "resource_id": NLB, "zone_id": "cn-hangzhou-j"},
        ],
    )
    response = login(requester).post(f"/services/{service.service_id}/change/", data)
    change = ServiceRequest.objects.get(kind=Kind.CHANGE)
    assert response.url == f"/requests/{change.pk}/"
    assert change.state == State.PENDING_APPROVAL, change.dry_run_message
    page = login(approver).get(response.url).content.decode()
    assert "+ nlb nlb-hzpool000002 in cn-hangzhou-j" in page
    assert "+ tag env=prod" in page
    assert "needs 1 approval" in page
    decide(login(approver), change, "approve")
    change.refresh_from_db()
    assert change.state == State.APPROVED
    run(provisioning.service_request_apply, change.pk)
    change.refresh_from_db()
    assert change.state == State.APPLIED, change.error_message
    assert all(op.state == OperationState.APPLIED for op in change.operations.all())
    tokens = [op.client_token for op in change.operations.all()]
    assert len(set(tokens)) == 3
    listed, resources = cloud_state(simulator, service.service_id)
    assert listed.service_description == "Orders API v2"
    assert {(t.key, t.value) for t in listed.tags} == {("team", "orders"), ("env", "prod")}
    assert [zone for _id, zone in resources] == ["cn-hangzhou-h", "cn-hangzhou-i", "cn-hangzhou-j"]
    service = endpoint_service_refresh(pk=service.pk)
    assert service.zones == ["cn-hangzhou-h", "cn-hangzhou-i", "cn-hangzhou-j"]
    assert not service.drifted, service.drift
    assert service.status == ServiceStatus.ACTIVE
    html = login(requester).get(f"/requests/{change.pk}/").content.decode()
    assert 'data-status="applied"' in html
    # Each operation's ClientToken and RequestId, on the page, as the README's tour says.
    for op in change.operations.all():
        assert f"ClientToken <code>{op.client_token}</code> · RequestId {op.cloud_request_id}" in (
            html
        )


def test_risky_changes_need_two_approvals_and_say_why(login, requester, service):
    data = form(service, auto_accept_enabled="on", resources=service.resources[:1])
    login(requester).post(f"/services/{service.service_id}/change/", data)
    change = ServiceRequest.objects.get(kind=Kind.CHANGE)
    page = login(requester).get(f"/requests/{change.pk}/").content.decode()
    assert "needs 2 approvals: it turns auto-accept on and it detaches a resource" in page


def test_a_permanent_failure_says_what_was_applied_and_retry_resumes(
    login, requester, approver, service, simulator
):
    other_lb = "nlb-hzpool000003"
    data = form(
        service,
        service_description="Orders API v2",
        resources=[
            *service.resources,
            {"resource_type": "nlb", "resource_id": other_lb, "zone_id": "cn-hangzhou-j"},
        ],
    )
    login(requester).post(f"/services/{service.service_id}/change/", data)
    change = ServiceRequest.objects.get(kind=Kind.CHANGE)
    decide(login(approver), change, "approve")
    # Someone takes the load balancer for another service before the worker gets to it.
    rival = sdk(
        simulator,
        "CreateVpcEndpointService",
        service_resource_type="nlb",
        resource=[
            models.CreateVpcEndpointServiceRequestResource(
                resource_type="nlb", resource_id=other_lb, zone_id="cn-hangzhou-j"
            )
        ],
    ).service_id
    run(provisioning.service_request_apply, change.pk)
    change.refresh_from_db()
    assert change.state == State.FAILED
    assert change.error_code == "EndpointServiceExist"
    assert "Applied: 1. UpdateVpcEndpointServiceAttribute" in change.error_message
    assert "Not applied: 2. AttachResourceToVpcEndpointService" in change.error_message
    service.refresh_from_db()
    assert service.status != "failed"
    simulator.configure(create_delay=0)
    sdk(simulator, "DeleteVpcEndpointService", service_id=rival)
    request_services.service_request_retry(pk=change.pk, actor=approver)
    run(provisioning.service_request_apply, change.pk)
    change.refresh_from_db()
    assert change.state == State.APPLIED, change.error_message
    updates = change.events.filter(
        action="cloud_call", details__cloud_call__action="UpdateVpcEndpointServiceAttribute"
    )
    assert updates.count() == 1


def test_a_redelivered_operation_is_not_applied_twice(
    login, requester, approver, service, simulator, monkeypatch
):
    data = form(service, tags=[*service.tags, {"key": "env", "value": "prod"}])
    login(requester).post(f"/services/{service.service_id}/change/", data)
    change = ServiceRequest.objects.get(kind=Kind.CHANGE)
    decide(login(approver), change, "approve")

    def killed(*args, **kwargs):
        raise SystemExit("the worker died after the call, before it wrote the outcome down")

    with monkeypatch.context() as patch:
        patch.setattr(provisioning, "_operation_done", killed)
        with pytest.raises(SystemExit):
            run(provisioning.service_request_apply, change.pk)
    change.refresh_from_db()
    assert change.state == State.APPLYING
    assert change.operations.filter(state=OperationState.PENDING).exists()
    run(provisioning.service_request_apply, change.pk)  # the message, redelivered
    change.refresh_from_db()
    assert change.state == State.APPLIED
    listed, _resources = cloud_state(simulator, service.service_id)
    assert sorted((t.key, t.value) for t in listed.tags) == [("env", "prod"), ("team", "orders")]


def console(simulator, *args):
    """Run scripts/console.py, the README tour's stand-in for the cloud console."""
    result = subprocess.run(
        [sys.executable, "scripts/console.py", *args],
        cwd=ROOT,
        env={**os.environ, "PRIVATELINK_ENDPOINT": simulator.endpoint},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_drift_is_seen_on_refresh_and_can_be_accepted(login, requester, service, simulator):
    console(simulator, "describe", service.service_id, "changed in the console")
    response = login(requester).post(f"/services/{service.service_id}/refresh/")
    assert response.status_code == 302
    html = login(requester).get(f"/services/{service.service_id}/").content.decode()
    assert 'data-drift="true"' in html
    assert "description: “Orders API” → “changed in the console”" in html
    service.refresh_from_db()
    assert service.events.filter(action="drift_detected").count() == 1
    restore = login(requester).get(f"/services/{service.service_id}/change/?restore=1")
    assert 'value="Orders API"' in restore.content.decode()
    login(requester).post(f"/services/{service.service_id}/accept-drift/")
    service.refresh_from_db()
    assert not service.drifted
    assert service.approved["service_description"] == "changed in the console"
    accepted = service.events.get(action="drift_accepted")
    assert accepted.actor == requester


def test_risky_drift_is_not_accepted_in_one_click_by_anyone(
    login, requester, approver, service, simulator
):
    console(simulator, "allow", service.service_id, "*")
    login(requester).post(f"/services/{service.service_id}/refresh/")
    service.refresh_from_db()
    assert service.drifted
    for person in (requester, approver):  # an owner, and even one of the platform's approvers
        response = login(person).post(f"/services/{service.service_id}/accept-drift/", follow=True)
        message = [str(m) for m in response.context["messages"]][-1]
        assert "cannot be accepted in one click" in message
        assert "it lets every Alibaba Cloud account connect" in message
    service.refresh_from_db()
    assert service.drifted and "*" not in service.approved["allowed_users"]
    assert not service.events.filter(action="drift_accepted").exists()


def test_a_change_that_restores_the_approved_state_clears_the_drift(
    login, requester, approver, service, simulator
):
    sdk(
        simulator,
        "UntagResources",
        resource_type="vpcendpointservice",
        resource_id=[service.service_id],
        tag_key=["team"],
    )
    service = endpoint_service_refresh(pk=service.pk)
    assert service.drift == ["- tag team"]
    data = form(service, tags=service.approved["tags"])
    login(requester).post(f"/services/{service.service_id}/change/", data)
    change = ServiceRequest.objects.get(kind=Kind.CHANGE)
    decide(login(approver), change, "approve")
    run(provisioning.service_request_apply, change.pk)
    service.refresh_from_db()
    assert not service.drifted, service.drift
    assert service.events.filter(action="drift_cleared").exists()


def test_decommission_refused_while_an_endpoint_is_connected_then_deleted(
    login, requester, approver, approver2, service, simulator, groups
):
    consumer = simulator.make_client("consumer-access-key-id", "consumer-access-key-secret")
    simulator.configure(create_delay=0)
    sdk(
        simulator,
        "AddUserToVpcEndpointService",
        service_id=service.service_id,
        user_id=1000000000000003,
    )
    endpoint = consumer.create_vpc_endpoint(
        models.CreateVpcEndpointRequest(
            region_id=REGION,
            vpc_id="vpc-consumer0001",
            service_id=service.service_id,
            security_group_id=["sg-consumer0001"],
            zone=[
                models.CreateVpcEndpointRequestZone(
                    zone_id="cn-hangzhou-h", v_switch_id="vsw-consumer0001"
                )
            ],
        )
    ).body.endpoint_id
    sdk(
        simulator,
        "EnableVpcEndpointConnection",
        service_id=service.service_id,
        endpoint_id=endpoint,
    )
    client = login(requester)
    response = client.post(
        f"/services/{service.service_id}/decommission/",
        {"justification": "Replaced by v2", "action": "submit"},
    )
    decommission = ServiceRequest.objects.get(kind=Kind.DECOMMISSION)
    assert response.url == f"/requests/{decommission.pk}/"
    decommission.refresh_from_db()
    assert decommission.state == State.DRAFT
    assert endpoint in decommission.dry_run_message
    assert decommission.dry_run_code == "EndpointServiceConnectionDependence"
    consumer.delete_vpc_endpoint(
        models.DeleteVpcEndpointRequest(region_id=REGION, endpoint_id=endpoint)
    )
    client.post(f"/requests/{decommission.pk}/submit/")
    decommission.refresh_from_db()
    assert decommission.state == State.PENDING_APPROVAL, decommission.dry_run_message
    page = client.get(f"/requests/{decommission.pk}/").content.decode()
    assert "needs 2 approvals: it deletes a service that consumers may be using" in page
    decide(login(approver), decommission, "approve")
    decommission.refresh_from_db()
    assert decommission.state == State.PENDING_APPROVAL
    decide(login(approver2), decommission, "approve")
    run(provisioning.service_request_apply, decommission.pk)
    decommission.refresh_from_db()
    assert decommission.state == State.APPLIED, decommission.error_message
    service.refresh_from_db()
    assert service.status == ServiceStatus.DELETED
    assert not service.drifted
    assert cloud_state(simulator, service.service_id)[0] is None
    html = client.get(f"/services/{service.service_id}/").content.decode()
    assert 'data-status="deleted"' in html


def test_a_drift_pass_reads_only_what_changed(requester, service, simulator, settings):
    settings.DRIFT_RESOURCE_SWEEP = 0
    settings.DRIFT_ALLOW_LIST_SWEEP = 0
    quiet = endpoint_services_drift_pass(region_id=REGION)
    assert quiet == {
        "account": "",
        "region_id": REGION,
        "listed": 1,
        "changed": 0,
        "new": 0,
        "gone": 0,
        "swept": 0,
        "allow_lists": 0,
        "calls": 1,
    }
    sdk(
        simulator,
        "TagResources",
        resource_type="vpcendpointservice",
        resource_id=[service.service_id],
        tag=[models.TagResourcesRequestTag(key="x", value="y")],
    )
    outsider = sdk(
        simulator,
        "CreateVpcEndpointService",
        service_resource_type="slb",
        resource=[
            models.CreateVpcEndpointServiceRequestResource(
                resource_type="slb", resource_id="lb-hz00000000000000001"
            )
        ],
    ).service_id
    summary = endpoint_services_drift_pass(region_id=REGION)
    assert (summary["changed"], summary["new"], summary["calls"]) == (1, 1, 3)
    service.refresh_from_db()
    assert service.drift == ["+ tag x=y"]
    unmanaged = EndpointService.objects.get(service_id=outsider)
    assert not unmanaged.managed
    assert unmanaged.events.get().action == "discovered"


def test_a_service_deleted_outside_the_portal_is_drift(requester, service, simulator):
    simulator.configure(create_delay=0)
    sdk(simulator, "DeleteVpcEndpointService", service_id=service.service_id)
    endpoint_services_drift_pass(region_id=REGION)
    service.refresh_from_db()
    assert service.status == ServiceStatus.DELETED
    assert service.drifted
    assert service.drift == ["the service was deleted outside the portal"]
    assert service.events.filter(action="deleted_outside_portal").count() == 1


def test_adoption_of_an_unmanaged_service(login, approver, approver2, requester2, simulator):
    outsider = sdk(
        simulator,
        "CreateVpcEndpointService",
        service_resource_type="slb",
        service_description="made in the console",
        resource=[
            models.CreateVpcEndpointServiceRequestResource(
                resource_type="slb", resource_id="lb-hz00000000000000001"
            )
        ],
    ).service_id
    time.sleep(0.3)
    endpoint_services_drift_pass(region_id=REGION)
    listing = login(approver).get("/services/unmanaged/").content.decode()
    assert outsider in listing
    assert outsider not in login(approver).get("/services/").content.decode()
    response = login(approver).post(
        f"/services/{outsider}/adopt/",
        {"owner": "requester2", "justification": "Team B runs it", "action": "submit"},
    )
    adoption = ServiceRequest.objects.get(kind=Kind.ADOPT)
    assert response.url == f"/requests/{adoption.pk}/"
    adoption.refresh_from_db()
    assert adoption.state == State.PENDING_APPROVAL
    decide(login(approver2), adoption, "approve")
    run(provisioning.service_request_apply, adoption.pk)
    adoption.refresh_from_db()
    assert adoption.state == State.APPLIED
    service = EndpointService.objects.get(service_id=outsider)
    assert service.managed and service.owner == requester2
    assert service.approved["service_description"] == "made in the console"
    assert outsider in login(requester2).get("/services/?mine=on").content.decode()


def test_only_owners_and_approvers_file_changes(login, requester2, service):
    for path in ("change", "decommission"):
        assert login(requester2).get(f"/services/{service.service_id}/{path}/").status_code == 403


def test_the_service_list_filters(login, requester, requester2, service):
    client = login(requester2)
    assert service.service_id in client.get("/services/").content.decode()
    assert service.service_id not in client.get("/services/?mine=on").content.decode()
    assert service.service_id in login(requester).get("/services/?mine=on").content.decode()
    assert service.service_id not in client.get("/services/?region_id=cn-shanghai").content.decode()
    assert service.service_id in client.get("/services/?q=Orders").content.decode()
    assert service.service_id in client.get(f"/services/?q={service.service_id}").content.decode()
    assert service.service_id not in client.get("/services/?status=deleted").content.decode()


def test_a_change_submitted_without_justification_says_so_once(login, requester, service):
    data = form(service, service_description="v2", justification="")
    response = login(requester).post(f"/services/{service.service_id}/change/", data)
    html = response.content.decode()
    assert html.count("Tell the approvers why this change is needed.") == 2  # summary + field
    assert not ServiceRequest.objects.filter(kind=Kind.CHANGE).exists()


def test_each_operation_keeps_the_request_id_of_its_own_call(
    login, requester, approver, service, simulator
):
    data = form(service, service_description="Orders API v2")
    login(requester).post(f"/services/{service.service_id}/change/", data)
    change = ServiceRequest.objects.get(kind=Kind.CHANGE)
    decide(login(approver), change, "approve")
    run(provisioning.service_request_apply, change.pk)
    [update] = change.operations.all()
    [call] = change.events.filter(
        action="cloud_call", details__cloud_call__action="UpdateVpcEndpointServiceAttribute"
    )
    assert update.cloud_request_id == call.details["cloud_call"]["request_id"]
    assert update.outcome == "ok"

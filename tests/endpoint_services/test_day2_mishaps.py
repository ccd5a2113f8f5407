"""Day 2 where a careless user, a crash or a race would hurt (found by an independent review)."""

import pytest
from alibabacloud_privatelink20200415 import models

from portal.endpoint_services.models import EndpointService, ServiceStatus
from portal.endpoint_services.services import (
    endpoint_service_accept_drift,
    endpoint_service_refresh,
    endpoint_services_drift_pass,
)
from portal.provisioning import services as provisioning
from portal.requests import services as request_services
from portal.service_requests import exceptions
from portal.service_requests.models import Kind, ServiceRequest, State
from tests.support.day2 import REGION, form, run, sdk
from tests.support.factories import ServiceRequestFactory
from tests.support.helpers import decide

pytestmark = pytest.mark.django_db


def file_change(login, user, record, **changes):
    login(user).post(f"/services/{record.service_id}/change/", form(record, **changes))
    return ServiceRequest.objects.filter(kind=Kind.CHANGE).latest("pk")


def test_an_edit_saved_while_the_dry_run_ran_stops_the_submission(
    requester,
    service,
    monkeypatch,
):
    change = request_services.change_request_create(
        requester=requester,
        service=service,
        fields={**service.config(), "service_description": "v2", "justification": "why"},
        resources=service.config()["resources"],
        tags=service.config()["tags"],
    )
    real = request_services.service_request_dry_run

    def dry_run_while_someone_edits(*, service_request, actor):
        result = real(service_request=service_request, actor=actor)
        ServiceRequest.objects.filter(pk=change.pk).update(revision=change.revision + 1)
        return result

    monkeypatch.setattr(request_services, "service_request_dry_run", dry_run_while_someone_edits)
    with pytest.raises(exceptions.DecisionRefused, match="edited while it was being checked"):
        request_services.service_request_submit(service_request=change, actor=requester)
    change.refresh_from_db()
    assert change.state == State.DRAFT


def test_one_open_request_per_service(login, requester, approver, service):
    first = file_change(login, requester, service, service_description="v2")
    assert first.state == State.PENDING_APPROVAL
    second = file_change(login, requester, service, service_description="v3")
    assert second.state == State.DRAFT
    page = login(requester).get(f"/requests/{second.pk}/").content.decode()
    assert f"Request #{first.pk} (change a service) is already open" in page


def test_a_plan_the_service_outgrew_is_shown_again_before_it_is_submitted(
    login,
    requester,
    service,
    simulator,
):
    response = login(requester).post(
        f"/services/{service.service_id}/change/",
        form(service, service_description="v2", action="draft"),
    )
    change = ServiceRequest.objects.get(kind=Kind.CHANGE)
    assert response.url == f"/requests/{change.pk}/"
    sdk(
        simulator,
        "TagResources",
        resource_type="vpcendpointservice",
        resource_id=[service.service_id],
        tag=[models.TagResourcesRequestTag(key="extra", value="1")],
    )
    revision = change.revision
    page = login(requester).post(f"/requests/{change.pk}/submit/", follow=True)
    assert "The service changed since this plan was made" in page.content.decode()
    change.refresh_from_db()
    assert change.state == State.DRAFT
    assert change.revision == revision + 1
    assert "- tag extra" in page.content.decode()
    assert change.events.filter(action="replanned").exists()


def test_a_service_is_adopted_once(login, approver, approver2, requester, requester2, simulator):
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
    simulator.configure(create_delay=0)
    endpoint_services_drift_pass(region_id=REGION)
    record = EndpointService.objects.get(service_id=outsider)
    adoptions = []
    for user, owner in ((approver, requester), (approver2, requester2)):
        adoptions.append(
            request_services.adoption_request_create(
                requester=user, service=record, owner=owner, justification="ours"
            )
        )
    request_services.service_request_submit(service_request=adoptions[0], actor=approver)
    with pytest.raises(exceptions.DecisionRefused, match="already open"):
        request_services.service_request_submit(service_request=adoptions[1], actor=approver2)
    decide(login(approver2), adoptions[0], "approve")
    run(provisioning.service_request_apply, adoptions[0].pk)
    record.refresh_from_db()
    assert record.owner == requester
    with pytest.raises(exceptions.DecisionRefused, match="already manages"):
        request_services.service_request_submit(service_request=adoptions[1], actor=approver2)


def test_a_plan_failing_half_way_leaves_no_drift_of_its_own(
    login,
    requester,
    approver,
    service,
    simulator,
):
    taken = "nlb-hzpool000003"
    change = file_change(
        login,
        requester,
        service,
        service_description="Orders API v2",
        resources=[
            *service.config()["resources"],
            {"resource_type": "nlb", "resource_id": taken, "zone_id": "cn-hangzhou-j"},
        ],
    )
    decide(login(approver), change, "approve")
    sdk(
        simulator,
        "CreateVpcEndpointService",
        service_resource_type="nlb",
        resource=[
            models.CreateVpcEndpointServiceRequestResource(
                resource_type="nlb", resource_id=taken, zone_id="cn-hangzhou-j"
            )
        ],
    )
    run(provisioning.service_request_apply, change.pk)
    change.refresh_from_db()
    assert change.state == State.FAILED
    record = endpoint_service_refresh(pk=service.pk)
    assert record.approved["service_description"] == "Orders API v2"
    assert not record.drifted, record.drift


def test_a_create_whose_answer_a_drift_pass_saw_first_is_still_the_requesters(requester, simulator):
    request = ServiceRequestFactory(requester=requester, state=State.APPROVED)
    fields, resources, tags = request.create_parameters()
    from portal.cloud import services as cloud

    # The worker called Create and died before writing the answer down; a pass ran meanwhile.
    cloud.endpoint_service_create(
        fields=fields, resources=resources, tags=tags, client_token=request.client_token
    )
    endpoint_services_drift_pass(region_id=REGION)
    assert not EndpointService.objects.get().managed
    run(provisioning.service_request_provision, request.pk)
    record = EndpointService.objects.get()
    assert (record.managed, record.owner) == (True, requester)
    assert record.events.filter(action="claimed").exists()


def test_decommissioning_a_service_already_gone_ends_applied(
    login,
    requester,
    approver,
    approver2,
    service,
    simulator,
):
    login(requester).post(
        f"/services/{service.service_id}/decommission/",
        {"justification": "Replaced", "action": "submit"},
    )
    decommission = ServiceRequest.objects.get(kind=Kind.DECOMMISSION)
    decide(login(approver), decommission, "approve")
    decide(login(approver2), decommission, "approve")
    simulator.configure(create_delay=0)
    sdk(simulator, "DeleteVpcEndpointService", service_id=service.service_id)
    run(provisioning.service_request_apply, decommission.pk)
    decommission.refresh_from_db()
    assert decommission.state == State.APPLIED, decommission.error_message
    service.refresh_from_db()
    assert service.status == ServiceStatus.DELETED


def test_decommission_approved_while_an_endpoint_connected_fails_at_once_naming_it(
    login,
    requester,
    approver,
    approver2,
    service,
    simulator,
):
    login(requester).post(
        f"/services/{service.service_id}/decommission/",
        {"justification": "Replaced", "action": "submit"},
    )
    decommission = ServiceRequest.objects.get(kind=Kind.DECOMMISSION)
    assert decommission.state == State.PENDING_APPROVAL
    simulator.configure(create_delay=0)
    sdk(
        simulator,
        "AddUserToVpcEndpointService",
        service_id=service.service_id,
        user_id=1000000000000003,
    )
    consumer = simulator.make_client("consumer-access-key-id", "consumer-access-key-secret")
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
    decide(login(approver), decommission, "approve")
    decide(login(approver2), decommission, "approve")
    run(provisioning.service_request_apply, decommission.pk, timeout=10)
    decommission.refresh_from_db()
    assert decommission.state == State.FAILED
    assert decommission.error_code == "EndpointServiceConnectionDependence"
    assert endpoint in decommission.error_message


def test_accepting_a_deletion_made_outside_clears_the_drift(requester, service, simulator):
    simulator.configure(create_delay=0)
    sdk(simulator, "DeleteVpcEndpointService", service_id=service.service_id)
    endpoint_services_drift_pass(region_id=REGION)
    service.refresh_from_db()
    assert service.drifted
    endpoint_service_accept_drift(pk=service.pk, actor=requester)
    service.refresh_from_db()
    assert not service.drifted
    assert service.status == ServiceStatus.DELETED


def test_huge_page_numbers_are_not_found(login, requester):
    assert login(requester).get("/services/?page=99999999999999999999").status_code == 404

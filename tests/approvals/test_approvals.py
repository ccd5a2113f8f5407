"""The approval policy and the decisions: distinct approvers, never the requester."""

import pytest
from django.core import mail

from portal.approvals import policy
from portal.approvals import services as approval_services
from portal.requests import services
from portal.service_requests import exceptions
from portal.service_requests.models import Approval, State
from tests.support.factories import ServiceRequestFactory
from tests.support.helpers import decide

pytestmark = pytest.mark.django_db


def pending(requester, **fields):
    return ServiceRequestFactory(requester=requester, state=State.PENDING_APPROVAL, **fields)


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        ({}, "needs 1 approval"),
        ({"auto_accept_enabled": True}, "needs 2 approvals: auto-accept is on"),
        (
            {"payer": "EndpointService"},
            "needs 2 approvals: the service owner pays for consumers' traffic",
        ),
        (
            {"auto_accept_enabled": True, "payer": "EndpointService"},
            "needs 2 approvals: auto-accept is on and the service owner pays",
        ),
    ],
)
def test_policy_explains_itself(requester, fields, text):
    requirement = policy.required_approvals(pending(requester, **fields))
    assert str(requirement).startswith(text)


def test_thresholds_come_from_settings(requester, settings):
    settings.APPROVALS_REQUIRED = 2
    settings.APPROVALS_REQUIRED_RISKY = 3
    assert policy.required_approvals(pending(requester)).needed == 2
    assert policy.required_approvals(pending(requester, auto_accept_enabled=True)).needed == 3


def test_one_approval_approves_a_plain_request(
    login, requester, approver, django_capture_on_commit_callbacks
):
    request = pending(requester)
    with django_capture_on_commit_callbacks(execute=True):
        response = decide(login(approver), request, "approve", comment="ok")
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.state == State.APPROVED
    assert request.events.get(action="approve").actor == approver
    assert mail.outbox[-1].to == [requester.email]
    detail = login(approver).get(f"/requests/{request.pk}/").content.decode()
    assert 'data-status="approved"' in detail


def test_risky_request_needs_two_distinct_approvers(client, requester, approver, approver2):
    request = pending(requester, auto_accept_enabled=True)
    client.force_login(approver)
    decide(client, request, "approve")
    request.refresh_from_db()
    assert request.state == State.PENDING_APPROVAL
    assert request.events.filter(action="approval_added").count() == 1
    again = decide(client, request, "approve")
    assert again.status_code == 302
    assert "already approved this revision" in client.get(again.url).content.decode()
    request.refresh_from_db()
    assert request.state == State.PENDING_APPROVAL
    client.force_login(approver2)
    decide(client, request, "approve")
    request.refresh_from_db()
    assert request.state == State.APPROVED
    assert request.current_approvals().count() == 2


def test_requester_who_is_an_approver_cannot_decide_own_request(login, approver, approver2):
    request = pending(approver)
    client = login(approver)
    page = client.get(f"/requests/{request.pk}/").content.decode()
    assert "/approve/" not in page
    for action in ("approve", "reject", "send-back"):
        response = client.post(f"/requests/{request.pk}/{action}/", {"comment": "mine"})
        assert response.status_code == 403
    request.refresh_from_db()
    assert request.state == State.PENDING_APPROVAL
    assert not Approval.objects.exists()


def test_service_layer_refuses_self_approval_too(approver):
    request = pending(approver)
    with pytest.raises(exceptions.DecisionRefused, match="your own request"):
        approval_services.service_request_decide(
            pk=request.pk, approver=approver, decision="approve", revision=request.revision
        )


def test_non_approver_cannot_decide(login, requester, requester2):
    request = pending(requester)
    response = decide(login(requester2), request, "approve")
    assert response.status_code == 404  # requester2 cannot even see it
    auditor_like = decide(login(requester), request, "approve")
    assert auditor_like.status_code == 403


def test_reject_is_final_and_emails_the_requester(
    login, requester, approver, django_capture_on_commit_callbacks
):
    request = pending(requester)
    with django_capture_on_commit_callbacks(execute=True):
        decide(login(approver), request, "reject", comment="not needed")
    request.refresh_from_db()
    assert request.state == State.REJECTED
    assert "not needed" in mail.outbox[-1].body


def test_send_back_needs_a_comment(login, requester, approver):
    request = pending(requester)
    response = decide(login(approver), request, "send_back", comment="")
    assert response.status_code == 400
    assert "Say what the requester should change." in response.content.decode()
    request.refresh_from_db()
    assert request.state == State.PENDING_APPROVAL


def test_send_back_then_edit_discards_approvals(login, requester, approver, approver2):
    request = pending(requester, auto_accept_enabled=True)
    decide(login(approver), request, "approve")
    decide(login(approver2), request, "send_back", comment="add a tag")
    request.refresh_from_db()
    assert request.state == State.CHANGES_REQUESTED
    assert request.current_approvals().count() == 1
    fields, resources, _tags = request.create_parameters()
    fields["justification"] = request.justification
    services.service_request_update(
        pk=request.pk,
        actor=requester,
        fields=fields,
        resources=resources,
        tags=[{"key": "team", "value": "x"}],
    )
    request.refresh_from_db()
    assert request.current_approvals().count() == 0
    edit = request.events.get(action="edited")
    assert edit.details["approvals_discarded"] == 1
    assert edit.details["changed"] == ["tags"]


def test_resubmission_needs_fresh_approvals(login, requester, approver, approver2):
    request = pending(requester, auto_accept_enabled=True)
    decide(login(approver), request, "approve")
    decide(login(approver2), request, "send_back", comment="why?")
    login(requester).post(f"/requests/{request.pk}/submit/")
    request.refresh_from_db()
    assert request.state == State.PENDING_APPROVAL
    decide(login(approver), request, "approve")
    request.refresh_from_db()
    assert request.state == State.PENDING_APPROVAL


def test_cancel_before_approval_only(login, requester, approver):
    request = pending(requester)
    login(requester).post(f"/requests/{request.pk}/cancel/")
    request.refresh_from_db()
    assert request.state == State.CANCELLED
    approved = ServiceRequestFactory(requester=requester, state=State.APPROVED)
    response = login(requester).post(f"/requests/{approved.pk}/cancel/", follow=True)
    assert "Not cancelled" in response.content.decode()
    approved.refresh_from_db()
    assert approved.state == State.APPROVED


def test_submit_notifies_approvers_but_not_the_requester(
    login, requester, approver, approver2, django_capture_on_commit_callbacks
):
    request = ServiceRequestFactory(requester=requester)
    with django_capture_on_commit_callbacks(execute=True):
        login(requester).post(f"/requests/{request.pk}/submit/")
    request.refresh_from_db()
    assert request.state == State.PENDING_APPROVAL
    assert request.dry_run_ok is True
    assert sorted(mail.outbox[-1].to) == sorted([approver.email, approver2.email])
    assert "needs 1 approval" in mail.outbox[-1].body


def test_submit_refused_by_the_cloud_stays_a_draft(login, requester):
    request = ServiceRequestFactory(
        requester=requester,
        resources=[
            {
                "resource_type": "nlb",
                "resource_id": "nlb-hz9999999999999999",
                "zone_id": "cn-hangzhou-h",
            }
        ],
    )
    response = login(requester).post(f"/requests/{request.pk}/submit/", follow=True)
    assert "does not exist in this region" in response.content.decode()
    request.refresh_from_db()
    assert request.state == State.DRAFT
    assert request.dry_run_code == "LoadBalancerNotFound"
    assert request.events.filter(action="dry_run").count() == 1


def test_queue_shows_policy_dry_run_and_approvals(login, requester, approver, approver2):
    request = pending(
        requester, auto_accept_enabled=True, dry_run_ok=True, dry_run_code="DryRunOperation"
    )
    decide(login(approver2), request, "approve")
    html = login(approver).get("/approvals/").content.decode()
    assert "needs 2 approvals: auto-accept is on" in html
    assert "1 of 2" in html
    assert "passed" in html
    fragment = login(approver).get("/approvals/", headers={"HX-Request": "true"})
    assert fragment.content.decode().lstrip().startswith('<div id="queue"')


def test_queue_is_for_approvers_only(login, requester):
    assert login(requester).get("/approvals/").status_code == 403


def test_nav_shows_the_pending_count(login, requester, approver):
    pending(requester)
    pending(requester)
    html = login(approver).get("/").content.decode()
    assert 'aria-label="2 waiting for you"' in html
    assert 'hx-trigger="every 15s" hx-swap="outerHTML">2</span>' in html


def test_submit_retries_a_throttled_dry_run(login, requester, simulator):
    simulator.faults(throttle_next=1, retry_after=1)
    request = ServiceRequestFactory(requester=requester)
    login(requester).post(f"/requests/{request.pk}/submit/")
    request.refresh_from_db()
    assert request.state == State.PENDING_APPROVAL
    assert request.dry_run_code == "DryRunOperation"
    outcomes = [e.details["cloud_call"]["outcome"] for e in request.events.filter(action="dry_run")]
    assert outcomes == ["Throttling.User", "DryRunOperation"]


def test_submit_goes_through_when_the_cloud_stays_unavailable(login, requester, simulator):
    simulator.faults(error_next=3)
    request = ServiceRequestFactory(requester=requester)
    login(requester).post(f"/requests/{request.pk}/submit/")
    request.refresh_from_db()
    assert request.state == State.PENDING_APPROVAL
    assert request.dry_run_ok is False
    assert request.events.filter(action="dry_run").count() == 3


def test_a_send_back_email_says_what_to_change_and_who_asked(
    login, requester, approver, django_capture_on_commit_callbacks
):
    request = pending(requester)
    with django_capture_on_commit_callbacks(execute=True):
        decide(login(approver), request, "send_back", comment="Add the team tag.")
    message = mail.outbox[-1]
    assert message.to == [requester.email]
    assert message.subject == f"[PrivateLink portal] Request #{request.pk} sent back for changes"
    assert "Comment from approver: Add the team tag." in message.body
    assert "It asks for an endpoint service in cn-hangzhou" in message.body
    assert f"/requests/{request.pk}/" in message.body


def test_a_request_too_few_people_can_approve_is_said_at_submit_and_on_its_page(
    login, requester, approver, groups
):
    from tests.support.factories import UserFactory

    request = ServiceRequestFactory(requester=requester, auto_accept_enabled=True)
    response = login(requester).post(f"/requests/{request.pk}/submit/", follow=True)
    html = response.content.decode()
    request.refresh_from_db()
    assert request.state == State.PENDING_APPROVAL
    warning = (
        "This request needs 2 approvals, but only 1 person other than its requester may approve it"
    )
    assert warning in html
    assert (
        'id="policy-shortfall"' in login(approver).get(f"/requests/{request.pk}/").content.decode()
    )
    UserFactory(username="approver3").groups.add(groups["approvers"])
    assert (
        "policy-shortfall" not in login(requester).get(f"/requests/{request.pk}/").content.decode()
    )

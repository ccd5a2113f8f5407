"""Approvals bind to what the approver saw: the revision, and a digest of its content."""

import re

import pytest

from portal.approvals import services as approval_services
from portal.requests import services
from portal.service_requests import exceptions
from portal.service_requests.models import Approval, ServiceRequest, State
from tests.support.factories import ServiceRequestFactory
from tests.support.helpers import decide

pytestmark = pytest.mark.django_db


def submitted(requester, **fields):
    request = ServiceRequestFactory(requester=requester, **fields)
    services.service_request_submit(service_request=request, actor=requester)
    request.refresh_from_db()
    assert request.state == State.PENDING_APPROVAL
    return request


def shown_revision(html):
    return int(re.search(r'name="revision" value="(\d+)"', html).group(1))


def edit_and_resubmit(request, requester, description):
    fields, resources, tags = request.create_parameters()
    fields = {**fields, "service_description": description, "justification": "still needed"}
    services.service_request_update(
        pk=request.pk, actor=requester, fields=fields, resources=resources, tags=tags
    )
    request.refresh_from_db()
    services.service_request_submit(service_request=request, actor=requester)
    request.refresh_from_db()


def test_an_approval_on_a_revision_that_moved_is_refused_and_shows_the_new_content(
    login, requester, approver, approver2
):
    request = submitted(requester, service_description="Orders API")
    opened = login(approver).get(f"/requests/{request.pk}/").content.decode()
    seen = shown_revision(opened)
    assert "Orders API" in opened
    decide(login(approver2), request, "send_back", comment="name it v2")
    request.refresh_from_db()
    edit_and_resubmit(request, requester, "Orders API v2")
    assert request.revision > seen

    response = decide(login(approver), request, "approve", revision=seen, comment="lgtm")

    assert response.status_code == 409
    html = response.content.decode()
    assert "This request changed since you opened it" in html
    assert "Orders API v2" in html
    assert shown_revision(html) == request.revision
    assert not Approval.objects.filter(approver=approver).exists()
    request.refresh_from_db()
    assert request.state == State.PENDING_APPROVAL


@pytest.mark.parametrize("action", ["approve", "reject", "send_back"])
def test_every_decision_carries_its_revision_and_digest(login, requester, approver, action):
    request = submitted(requester)
    stale = decide(login(approver), request, action, revision=request.revision - 1, comment="x")
    assert stale.status_code == 409
    other = decide(login(approver), request, action, digest="0" * 64, comment="x")
    assert other.status_code == 409
    assert "changed since you opened it" in other.content.decode()
    missing = login(approver).post(
        f"/requests/{request.pk}/{action.replace('_', '-')}/", {"comment": "x"}
    )
    assert missing.status_code == 400
    assert "does not say which revision" in missing.content.decode()
    request.refresh_from_db()
    assert request.state == State.PENDING_APPROVAL
    assert not Approval.objects.exists()


def test_the_service_layer_refuses_a_stale_revision(requester, approver):
    request = submitted(requester)
    with pytest.raises(exceptions.StaleRevision):
        approval_services.service_request_decide(
            pk=request.pk, approver=approver, decision="approve", revision=request.revision + 1
        )


def test_an_approval_stores_the_revision_and_the_digest_it_saw(login, requester, approver):
    request = submitted(requester, auto_accept_enabled=True)
    digest = request.digest()
    decide(login(approver), request, "approve")
    approval = Approval.objects.get()
    assert (approval.revision, approval.digest) == (request.revision, digest)
    event = request.events.get(action="approval_added")
    assert event.details["digest"] == digest
    assert request.events.get(action="submit").details["digest"] == digest


def test_content_changed_behind_the_portals_back_voids_the_approvals(
    login, requester, approver, approver2
):
    request = submitted(requester, auto_accept_enabled=True)
    decide(login(approver), request, "approve")
    assert request.current_approvals().count() == 1
    # A direct write that keeps the revision: what the approver saw is no longer the content.
    ServiceRequest.objects.filter(pk=request.pk).update(service_description="something else")
    request.refresh_from_db()
    assert request.current_approvals().count() == 0
    decide(login(approver2), request, "approve")
    request.refresh_from_db()
    assert request.state == State.PENDING_APPROVAL
    page = login(approver2).get(f"/requests/{request.pk}/").content.decode()
    assert "1 so far" in page
    # The first approver, whose approval no longer binds, is told so, not answered a 500
    # (one decision per person and revision is a constraint of the database).
    again = decide(login(approver), request, "approve")
    assert again.status_code == 302  # back to the request's page, saying why
    told = " ".join(str(m) for m in again.wsgi_request._messages)
    assert "its content has changed since, outside the portal" in told
    assert Approval.objects.filter(request=request, approver=approver).count() == 1
    with pytest.raises(exceptions.DecisionRefused):
        approval_services.service_request_decide(
            pk=request.pk, approver=approver, decision="send_back", revision=request.revision
        )


def test_an_approver_sees_the_revision_on_the_button(login, requester, approver):
    request = submitted(requester)
    html = login(approver).get(f"/requests/{request.pk}/").content.decode()
    assert f"Approve revision {request.revision}" in html


def test_a_decision_forms_errors_stay_with_that_form(login, requester, approver):
    request = submitted(requester)
    response = decide(login(approver), request, "approve", comment="x" * 2001)
    assert response.status_code == 400
    html = response.content.decode()
    approve = html.split('id="approve-comment"')[1].split("</textarea>")[0]
    send_back = html.split('id="send-back-comment"')[1].split("</textarea>")[0]
    assert "x" * 2001 in approve
    assert "x" * 100 not in send_back

"""A decision is covered by a checkpoint before the worker acts on it: once the cloud has been
called, rolling the database back past the approval would disagree with the shipped file."""

import json
from pathlib import Path

import pytest
from django.conf import settings

from portal.approvals import services as approval_services
from portal.audit.models import AuditEvent
from portal.provisioning import services as provisioning
from portal.service_requests.models import State
from tests.support.factories import ServiceRequestFactory

pytestmark = pytest.mark.django_db


def approved(requester, approver):
    service_request = ServiceRequestFactory(requester=requester, state=State.PENDING_APPROVAL)
    approval_services.service_request_decide(
        pk=service_request.pk,
        approver=approver,
        decision="approve",
        revision=service_request.revision,
    )
    return service_request


def lines():
    path = Path(settings.AUDIT_CHECKPOINT_FILE)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_the_approval_is_checkpointed_before_the_first_cloud_call(requester, approver, simulator):
    service_request = approved(requester, approver)
    decided = AuditEvent.objects.get(request_id=service_request.pk, action="approve").seq
    assert lines() == []

    provisioning.service_request_provision(pk=service_request.pk)
    service_request.refresh_from_db()
    assert service_request.state == State.CREATING
    [line] = lines()
    assert line["seq"] >= decided
    first_call = (
        AuditEvent.objects.filter(request_id=service_request.pk, action="start_provisioning")
        .get()
        .seq
    )
    assert line["seq"] < first_call  # written before the act, not after


def test_a_checkpoint_already_covering_it_is_not_written_again(requester, approver, simulator):
    from portal.audit.services import audit_checkpoint_write

    service_request = approved(requester, approver)
    audit_checkpoint_write()
    provisioning.service_request_provision(pk=service_request.pk)
    assert len(lines()) == 1


def test_no_cloud_call_while_the_checkpoint_cannot_be_written(
    requester, approver, simulator, tmp_path, settings
):
    service_request = approved(requester, approver)
    settings.AUDIT_CHECKPOINT_FILE = str(tmp_path)  # a folder: no line can be appended
    with pytest.raises(OSError):
        provisioning.service_request_provision(pk=service_request.pk)
    service_request.refresh_from_db()
    assert service_request.state == State.APPROVED  # resumable: the reconciler tries again
    assert not simulator.services()

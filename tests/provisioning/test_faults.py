"""Faults answer: SMTP or the broker down never turns a person's decision into a 500.

The decision commits first; email goes out from a task that retries, and work the broker
could not take is picked up by the reconciler.
"""

from datetime import timedelta
from smtplib import SMTPServerDisconnected

import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.utils import timezone
from kombu.exceptions import OperationalError

from portal.approvals import tasks as notices
from portal.provisioning import services as provisioning
from portal.provisioning import tasks as provisioning_tasks
from portal.service_requests.models import State
from tests.support.factories import ServiceRequestFactory
from tests.support.helpers import decide

pytestmark = pytest.mark.django_db


@pytest.fixture
def smtp_down(monkeypatch):
    """The mail server hangs up on every message; returns the attempts made to send."""
    attempts = []

    def refuse(self, messages):
        attempts.append(messages)
        raise SMTPServerDisconnected("Connection unexpectedly closed")

    monkeypatch.setattr(EmailBackend, "send_messages", refuse)
    return attempts


@pytest.fixture
def handed_off(monkeypatch):
    """Record the notices handed to the broker instead of running them: a worker would."""
    sent = []
    for task in (notices.notify_approvers, notices.notify_requester):
        monkeypatch.setattr(task, "delay", lambda *args, task=task: sent.append((task, args)))
    return sent


def test_smtp_down_at_submit_still_submits(
    login, requester, simulator, smtp_down, handed_off, django_capture_on_commit_callbacks
):
    request = ServiceRequestFactory(requester=requester)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = login(requester).post(f"/requests/{request.pk}/submit/")
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.state == State.PENDING_APPROVAL
    assert callbacks and handed_off == [(notices.notify_approvers, (request.pk,))]
    assert smtp_down == []  # nothing tried to reach the mail server inside the request


def test_smtp_down_at_reject_still_rejects(
    login, requester, approver, smtp_down, handed_off, django_capture_on_commit_callbacks
):
    request = ServiceRequestFactory(requester=requester, state=State.PENDING_APPROVAL)
    with django_capture_on_commit_callbacks(execute=True):
        response = decide(login(approver), request, "reject", comment="not needed")
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.state == State.REJECTED
    assert handed_off == [(notices.notify_requester, (request.pk, "not needed"))]
    assert smtp_down == []


def test_a_notice_is_retried_while_smtp_is_down(requester, approver, smtp_down, monkeypatch):
    request = ServiceRequestFactory(requester=requester, state=State.PENDING_APPROVAL)
    result = notices.notify_approvers.apply((request.pk,), throw=False)
    retries = notices.notify_approvers.max_retries
    assert len(smtp_down) == 1 + retries  # (run eagerly, the retries come at once)
    assert result.failed() and mail.outbox == []
    monkeypatch.undo()  # the mail server is back
    notices.notify_approvers.apply((request.pk,), throw=True)
    assert mail.outbox[-1].to == [approver.email]


def test_broker_down_at_approve_leaves_a_request_the_reconciler_finishes(
    login, requester, approver, monkeypatch, settings, django_capture_on_commit_callbacks
):
    def broker_down(*args, **kwargs):
        raise OperationalError("[Errno 111] Connection refused")

    monkeypatch.setattr(provisioning_tasks.provision, "delay", broker_down)
    request = ServiceRequestFactory(requester=requester, state=State.PENDING_APPROVAL)
    with django_capture_on_commit_callbacks(execute=True):
        response = decide(login(approver), request, "approve", comment="ok")
    assert response.status_code == 302  # not a 500
    request.refresh_from_db()
    assert request.state == State.APPROVED
    first_chain = request.work_token

    assert request.pk not in stuck_ids()  # not yet: a worker may still take it
    later = timezone.now() + timedelta(seconds=settings.RECONCILE_AFTER + 1)
    assert request.pk in stuck_ids(now=later)
    step, token = provisioning.service_request_resume(pk=request.pk)
    assert step.task == "provision" and token != first_chain
    assert request.events.filter(action="reconciled").exists()


def stuck_ids(**kwargs):
    return set(provisioning.service_requests_stuck(**kwargs).values_list("pk", flat=True))

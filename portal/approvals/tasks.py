"""Celery tasks for what people are told: email sent after the decision commits, retried while
SMTP is down; chat messages, retried while the chat service is unreachable or failing; and
the periodic pass that reminds of requests waiting too long for a decision."""

import logging
from smtplib import SMTPException

from celery import shared_task
from django.contrib.auth import get_user_model

from portal.approvals import notifications
from portal.lib import webhooks
from portal.service_requests.models import ServiceRequest

log = logging.getLogger(__name__)

# The names these tasks had before the approvals app had its own module (they were
# portal.service_requests.tasks): a message queued before an upgrade still finds its task.
NAMED = "portal.service_requests.tasks.{}".format

RETRY = {
    "autoretry_for": (SMTPException, OSError),
    "retry_backoff": 30,
    "retry_backoff_max": 1800,
    "max_retries": 8,
    "ignore_result": True,
}


@shared_task(name=NAMED("notify_approvers"), **RETRY)
def notify_approvers(pk):
    notifications.notify_approvers(ServiceRequest.objects.get(pk=pk))


@shared_task(name=NAMED("notify_requester"), **RETRY)
def notify_requester(pk, comment=""):
    notifications.notify_requester(ServiceRequest.objects.get(pk=pk), comment)


@shared_task(name=NAMED("notify_admins_refused"), **RETRY)
def notify_admins_refused(pk, reason):
    notifications.notify_admins_refused(ServiceRequest.objects.get(pk=pk), reason)


@shared_task(name=NAMED("send_reminder"), **RETRY)
def send_reminder(user_pk, request_pks, escalation):
    requests = ServiceRequest.objects.filter(pk__in=request_pks).select_related("requester")
    notifications.remind(
        get_user_model().objects.get(pk=user_pk),
        list(requests.order_by("submitted_at", "id")),
        escalation=escalation,
    )


# Unreachable, 5xx or throttled: retried after 5, 10, 20... s (jittered), six times at most.
# A refusal (4xx) would be refused again: logged, not retried.
@shared_task(
    autoretry_for=(webhooks.WebhookUnavailable,),
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=6,
    ignore_result=True,
    name=NAMED("post_to_chat"),
)
def post_to_chat(target, title, lines, link):
    try:
        webhooks.post(target, title, lines, link)
    except webhooks.WebhookRefused as error:
        log.error("chat message %r not posted: %s", title, error)


@shared_task(name=NAMED("approval_reminders"), ignore_result=True)
def approval_reminders():
    """Remind of requests waiting too long for a decision; escalate those waiting longer."""
    from portal.approvals import reminders

    reminded, escalated = reminders.approval_reminders_pass()
    log.info("approval reminders: %d request(s) reminded of, %d escalated", reminded, escalated)
    return reminded, escalated

"""Celery tasks for email: sent after the decision commits, retried while SMTP is down."""

from smtplib import SMTPException

from celery import shared_task

from portal.service_requests import notifications
from portal.service_requests.models import ServiceRequest

RETRY = {
    "autoretry_for": (SMTPException, OSError),
    "retry_backoff": 30,
    "retry_backoff_max": 1800,
    "max_retries": 8,
    "ignore_result": True,
}


@shared_task(**RETRY)
def notify_approvers(pk):
    notifications.notify_approvers(ServiceRequest.objects.get(pk=pk))


@shared_task(**RETRY)
def notify_requester(pk, comment=""):
    notifications.notify_requester(ServiceRequest.objects.get(pk=pk), comment)


@shared_task(**RETRY)
def notify_admins_refused(pk, reason):
    notifications.notify_admins_refused(ServiceRequest.objects.get(pk=pk), reason)

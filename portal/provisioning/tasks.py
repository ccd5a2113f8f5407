"""Celery tasks: take an id, call one service function, schedule what it says comes next."""

import logging

from celery import shared_task

from portal.lib.queue import enqueue_on_commit
from portal.provisioning import services

log = logging.getLogger(__name__)


def schedule(pk, step):
    if step is None:
        return
    task = {"provision": provision, "poll": poll, "apply": apply}[step.task]
    task.apply_async((pk, step.attempt), countdown=step.delay)


def start_work(service_request):
    """Hand an approved request to the worker once the approval commits.

    Should the broker be down, the request stays approved and the reconciler starts it.
    """
    enqueue_on_commit(provision if service_request.is_create else apply, service_request.pk)


@shared_task(acks_late=True, ignore_result=True)
def provision(pk, attempt=0):
    schedule(pk, services.service_request_provision(pk=pk, attempt=attempt))


@shared_task(acks_late=True, ignore_result=True)
def poll(pk, attempt=0):
    schedule(pk, services.service_request_poll(pk=pk, attempt=attempt))


@shared_task(acks_late=True, ignore_result=True)
def apply(pk, attempt=0):
    schedule(pk, services.service_request_apply(pk=pk, attempt=attempt))


@shared_task(ignore_result=True)
def reconcile():
    """Resume every live request that nothing has moved for a while."""
    stuck = list(services.service_requests_stuck().values_list("pk", flat=True))
    for pk in stuck:
        schedule(pk, services.service_request_resume(pk=pk))
    if stuck:
        log.warning("reconcile resumed %d stuck request(s): %s", len(stuck), stuck)
    return len(stuck)

"""Celery tasks: take an id, call one service function, schedule what it says comes next.

Every task of a request's chain carries the request's work token; a task whose token is no
longer the request's belongs to a chain the reconciler replaced, and stops.
"""

import logging

from celery import shared_task

from portal.lib.queue import enqueue_on_commit
from portal.provisioning import services

log = logging.getLogger(__name__)


def schedule(pk, step, token=""):
    if step is None:
        return
    task = {"provision": provision, "poll": poll, "apply": apply}[step.task]
    services.service_request_step_due(pk=pk, token=token, delay=step.delay)
    task.apply_async((pk, step.attempt, token), countdown=step.delay)


def start_work(service_request):
    """Hand an approved request to the worker once the approval commits (in its transaction).

    Should the broker be down, the request stays approved and the reconciler starts it.
    """
    token = services.service_request_new_chain(service_request)
    task = provision if service_request.is_create else apply
    enqueue_on_commit(task, service_request.pk, 0, token)


@shared_task(acks_late=True, ignore_result=True)
def provision(pk, attempt=0, token=""):
    if services.chain_is_current(pk, token):
        schedule(pk, services.service_request_provision(pk=pk, attempt=attempt, token=token), token)


@shared_task(acks_late=True, ignore_result=True)
def poll(pk, attempt=0, token=""):
    if services.chain_is_current(pk, token):
        schedule(pk, services.service_request_poll(pk=pk, attempt=attempt, token=token), token)


@shared_task(acks_late=True, ignore_result=True)
def apply(pk, attempt=0, token=""):
    if services.chain_is_current(pk, token):
        schedule(pk, services.service_request_apply(pk=pk, attempt=attempt, token=token), token)


@shared_task(ignore_result=True)
def reconcile():
    """Resume every live request that nothing has moved for a while, with a new chain."""
    stuck = list(services.service_requests_stuck().values_list("pk", flat=True))
    for pk in stuck:
        resumed = services.service_request_resume(pk=pk)
        if resumed is not None:
            step, token = resumed
            schedule(pk, step, token)
    if stuck:
        log.warning("reconcile resumed %d stuck request(s): %s", len(stuck), stuck)
    return len(stuck)

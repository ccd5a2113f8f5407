"""Handing work to Celery once the transaction commits, without failing the person's action."""

import logging

from django.db import transaction
from kombu.exceptions import KombuError

log = logging.getLogger(__name__)


def enqueue_on_commit(task, *args):
    """Send `task(*args)` after commit; if the broker is down, log it and go on.

    What was committed stands: an approved request whose message was lost is resumed by the
    reconciler, a notice is lost (and logged). A person never sees a 500 for a broker outage.
    """

    def send():
        try:
            task.delay(*args)
        except (KombuError, OSError):
            log.exception("could not enqueue %s%s: the broker is unreachable", task.name, args)

    transaction.on_commit(send)

"""Reminders of requests that wait too long for a decision, and their escalation.

Beat runs the pass every APPROVAL_REMIND_EVERY seconds. A request pending approval for
APPROVAL_REMIND_AFTER seconds reminds the people it waits on (`policy.waiting_on`), again
every APPROVAL_REMIND_AFTER while it waits; past APPROVAL_ESCALATE_AFTER seconds, and every as
long again, the members of ESCALATION_GROUP hear of it. The request's row remembers when
(`reminded_at`, `escalated_at`) and is claimed under its lock, so two passes at once, or a
pass racing a decision, tell people once or not at all. A decision or a send-back ends the
reminders; a resubmission restarts the clock (a new `submitted_at`). Each reminder and
escalation is an audit event naming who was told. Each person gets one email per pass listing
their requests, and each chat one message.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from portal.approvals import notifications, policy, tasks
from portal.audit.actions import Action
from portal.lib import webhooks
from portal.lib.queue import enqueue_on_commit
from portal.service_requests.models import ServiceRequest, State

# Requests claimed per pass, oldest submission first; the next pass takes the rest.
PASS_LIMIT = 500
REMIND, ESCALATE = Action.REMINDED, Action.ESCALATED
# Each notice: the row's field that remembers it, and the setting that spaces it.
NOTICES = {
    REMIND: ("reminded_at", "APPROVAL_REMIND_AFTER"),
    ESCALATE: ("escalated_at", "APPROVAL_ESCALATE_AFTER"),
}


def _every(notice):
    return timedelta(seconds=getattr(settings, NOTICES[notice][1]))


def _due_q(notice, now):
    """The requests (pending approval) a notice is due for, as a query."""
    field, every = NOTICES[notice][0], _every(notice)
    never_this_time = Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__lt": F("submitted_at")})
    return Q(submitted_at__lte=now - every) & (
        never_this_time | Q(**{f"{field}__lte": now - every})
    )


def _is_due(service_request, notice, now):
    """The same test as _due_q, on a row read under its lock."""
    every = _every(notice)
    last = getattr(service_request, NOTICES[notice][0])
    since = last if last is not None and last >= service_request.submitted_at else None
    return now - (since or service_request.submitted_at) >= every


@dataclass(frozen=True)
class Clock:
    """A pending request's wait against the reminder and escalation times (an SLA clock):
    what the queue and the request's page show. The times are the first notices'; both
    repeat as long again while the request waits (the pass above)."""

    waited: timedelta
    remind_at: datetime | None
    escalate_at: datetime | None
    now: datetime

    @property
    def stage(self):
        if self.escalate_at is not None and self.now >= self.escalate_at:
            return "escalated"
        if self.remind_at is not None and self.now >= self.remind_at:
            return "reminded"
        return "on-time"

    @property
    def next(self):
        """(what, when, how long until) of the next first notice still ahead, or None."""
        for what, when in (("reminder", self.remind_at), ("escalation", self.escalate_at)):
            if when is not None and self.now < when:
                return what, when, when - self.now
        return None


def clock(submitted_at, now=None):
    """The SLA clock of a request pending since `submitted_at`; None without one (not
    submitted, or neither notice on)."""
    remind, escalate = _every(REMIND), _every(ESCALATE)
    if submitted_at is None or not (remind or escalate):
        return None
    now = now or timezone.now()
    return Clock(
        waited=now - submitted_at,
        remind_at=submitted_at + remind if remind else None,
        escalate_at=submitted_at + escalate if escalate else None,
        now=now,
    )


def escalation_group():
    return (
        get_user_model()
        .objects.filter(groups__name=settings.ESCALATION_GROUP, is_active=True)
        .order_by("username")
    )


def approval_reminders_pass(*, now=None):
    """Remind and escalate every request due; return (requests reminded, requests escalated)."""
    now = now or timezone.now()
    notices = [notice for notice in NOTICES if _every(notice)]
    if not notices:
        return 0, 0
    due = Q()
    for notice in notices:
        due |= _due_q(notice, now)
    candidates = list(
        ServiceRequest.objects.filter(due, state=State.PENDING_APPROVAL)
        .order_by("submitted_at", "id")
        .values_list("pk", flat=True)[:PASS_LIMIT]
    )
    told = {notice: defaultdict(list) for notice in NOTICES}  # notice -> user pk -> [request]
    claimed = {notice: [] for notice in NOTICES}
    for pk in candidates:
        for notice, service_request, people in _claim(pk, notices, now):
            claimed[notice].append(service_request)
            for person in people:
                told[notice][person.pk].append(service_request.pk)
    for notice, per_person in told.items():
        for user_pk, request_pks in per_person.items():
            enqueue_on_commit(tasks.send_reminder, user_pk, request_pks, notice == ESCALATE)
        notifications.announce_reminders(claimed[notice], escalation=notice == ESCALATE, now=now)
    return len(claimed[REMIND]), len(claimed[ESCALATE])


def _claim(pk, notices, now):
    """Take the notices due for one request, under its row lock; record who is told of each.

    Returns [(notice, request, people told by email)]: empty if another pass took them first,
    or the request was decided, sent back or resubmitted meanwhile.
    """
    with transaction.atomic():
        service_request = (
            ServiceRequest.objects.select_for_update(of=("self",))
            .select_related("requester", "endpoint_service")
            .get(pk=pk)
        )
        if service_request.state != State.PENDING_APPROVAL or service_request.submitted_at is None:
            return []
        taken = [n for n in notices if _is_due(service_request, n, now)]
        if not taken:
            return []
        for notice in taken:
            setattr(service_request, NOTICES[notice][0], now)
        service_request.save(update_fields=[NOTICES[notice][0] for notice in taken])
        claimed = []
        for notice in taken:
            people = list(
                # Those it waits on, and whoever decides for one of them now.
                policy.with_delegates(policy.waiting_on(service_request), service_request, now)
                if notice == REMIND
                else escalation_group()
            )
            people = [person for person in people if person.email]
            details = {
                "told": [person.get_username() for person in people],
                "chat": webhooks.targets(),
                "waiting_since": service_request.submitted_at.isoformat(),
                "revision": service_request.revision,
            }
            if notice == ESCALATE:
                details["group"] = settings.ESCALATION_GROUP
            service_request.record(notice, actor=None, details=details, saved=True)
            claimed.append((notice, service_request, people))
        return claimed

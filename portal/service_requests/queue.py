"""The approvers' queue: a page of what waits, its count, and a version that says it moved.

At thousands of pending requests the queue is read far more often than it changes (every
approver's page shows the count; open queues poll). So:
- the queue has a version, kept in the shared cache and replaced (after commit) whenever an
  event touches a pending request: something entered or left the queue, or was decided on;
- counts are cached under that version: the total pending once per version for everyone, each
  approver's own pending requests (excluded from what they decide) once per version each;
- a poll that brings the version it shows is answered 204 without touching the database;
- a page is 25 requests on the (state, submitted_at, id) index, and their approvals are
  counted for those 25 only.

Requests written outside the portal's workflow do not move the version; the counts then
follow within COUNT_TTL seconds.
"""

import uuid

from django.core.cache import cache
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch
from django.utils.functional import cached_property

from portal.service_requests import policy
from portal.service_requests.models import (
    Approval,
    Decision,
    RequestOperation,
    ServiceRequest,
    State,
)

VERSION_KEY = "approval-queue:version"
PAGE_SIZE = 25
COUNT_TTL = 300


def version():
    """Return the queue's current version (a token; made at first use)."""
    return cache.get_or_set(VERSION_KEY, lambda: uuid.uuid4().hex, timeout=None)


def changed():
    """Say that the queue moved: every cached count and every open queue is out of date."""
    cache.set(VERSION_KEY, uuid.uuid4().hex, timeout=None)


def _cached(key, compute):
    value = cache.get(key)
    if value is None:
        value = compute()
        cache.set(key, value, timeout=COUNT_TTL)
    return value


def pending_count(user, at=None):
    """How many requests wait for `user`'s decision: all pending but their own."""
    at = at or version()
    pending = ServiceRequest.objects.filter(state=State.PENDING_APPROVAL)
    total = _cached(f"approval-queue:{at}:total", pending.count)
    own = _cached(f"approval-queue:{at}:own:{user.pk}", pending.filter(requester=user).count)
    return max(0, total - own)


class _KnownCountPaginator(Paginator):
    def __init__(self, object_list, per_page, count):
        super().__init__(object_list, per_page)
        self._count = count

    @cached_property
    def count(self):
        return self._count


def page(user, number, *, per_page=PAGE_SIZE, at=None):
    """Return page `number` of the requests awaiting `user`, each with its requirement and
    the approvals its current revision has so far."""
    requests = (
        ServiceRequest.objects.filter(state=State.PENDING_APPROVAL)
        .exclude(requester=user)
        .select_related("requester")
        .prefetch_related(
            Prefetch(
                "operations",
                queryset=RequestOperation.objects.only("request_id", "action", "params"),
            )
        )
        .order_by("submitted_at", "id")
    )
    paginator = _KnownCountPaginator(requests, per_page, pending_count(user, at))
    found = paginator.get_page(number)
    items = list(found.object_list)
    counts = {
        (request_id, revision): n
        for request_id, revision, n in Approval.objects.filter(
            request_id__in=[item.pk for item in items], decision=Decision.APPROVE
        )
        .values("request_id", "revision")
        .annotate(n=Count("id"))
        .values_list("request_id", "revision", "n")
    }
    for item in items:
        item.approvals_so_far = counts.get((item.pk, item.revision), 0)
        item.requirement = policy.required_approvals(item)
    found.object_list = items
    return found

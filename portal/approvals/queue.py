"""The approvers' queue: a page of what waits, its count, and a version that says it moved.

The queue is split in two for each decider: what waits for them (pending, routed to them
(policy.decidable), not theirs, not yet approved by them at its current revision) and what
waits for others (their own requests, and those routed to them that they approved at the
current revision). Requests routed to others (another team's approvers) are in neither. The
badge in the navigation counts only what waits for them.

At thousands of pending requests the queue is read far more often than it changes (every
approver's page shows the count; open queues poll). So:
- the queue has a version, kept in the shared cache and replaced (after commit) whenever an
  event touches a pending request: something entered or left the queue, or was decided on
  (an approval that leaves it pending included, so one approver's approval moves their split);
- counts are cached under that version: the pending requests routed to a decider, and the
  ids of what waits for others (a short list), per decider, once per version each; what
  waits for you is the first less those;
- a poll that brings the version it shows is answered 204 without touching the database;
- a page of what waits for you is 25 requests on the (state, submitted_at, id) index; a page
  of what waits for others is 10 of the cached ids, read by primary key; the plans and
  approvals of the rows shown are read in one query each for both halves.

Requests written outside the portal's workflow do not move the version; the counts then
follow within COUNT_TTL seconds.

Someone who decides for another as their delegate (see `delegated`) has a third list: the
pending requests they decide only with a delegator's right, each labelled with whom for.
It is short (a delegate stands in for one person or two, for a while) and not cached: a
window opens and closes with the clock, not with an event.
"""

import uuid
from dataclasses import dataclass, field

from django.core.cache import cache
from django.core.paginator import Paginator
from django.db.models import (
    BooleanField,
    Count,
    Exists,
    ExpressionWrapper,
    OuterRef,
    Prefetch,
    Q,
    prefetch_related_objects,
)
from django.db.models.functions import Coalesce
from django.utils.functional import cached_property

from portal.approvals import policy
from portal.approvals.models import Delegation
from portal.service_requests.models import (
    Approval,
    Decision,
    RequestOperation,
    ServiceRequest,
    State,
)

VERSION_KEY = "approval-queue:version"
PAGE_SIZE = 25
# What waits for others is for reference: fewer rows, so that the queue costs little more
# than what waits for you alone.
OTHERS_PAGE_SIZE = 10
COUNT_TTL = 300


def version():
    """Return the queue's current version (a token; made at first use)."""
    return cache.get_or_set(VERSION_KEY, lambda: uuid.uuid4().hex, timeout=None)


def changed():
    """Say that the queue moved: every cached count and every open queue is out of date."""
    cache.set(VERSION_KEY, uuid.uuid4().hex, timeout=None)


def moved(sender, **kwargs):
    """A request entered pending approval, left it, or was decided on (signals.pending_changed)."""
    changed()


def _cached(key, compute):
    value = cache.get(key)
    if value is None:
        value = compute()
        cache.set(key, value, timeout=COUNT_TTL)
    return value


def _decided_by(user):
    """Whether `user` has decided a pending request's current revision: while it is pending,
    that decision was an approval (any other would have moved it)."""
    return Exists(
        Approval.objects.filter(
            request=OuterRef("pk"), approver=user, revision=OuterRef("revision")
        )
    )


def _pending():
    return ServiceRequest.objects.filter(state=State.PENDING_APPROVAL)


def waiting_for(user):
    """Pending requests that wait for `user`'s decision."""
    return (
        _pending().filter(policy.decidable(user)).exclude(requester=user).filter(~_decided_by(user))
    )


def waiting_for_others(user):
    """Pending requests `user` cannot act on now: their own, and those routed to them that
    they approved."""
    return _pending().filter(Q(requester=user) | (policy.decidable(user) & Q(_decided_by(user))))


def others(user, at=None):
    """The ids of the pending requests waiting for others, for `user`, oldest first.

    Cached per version and approver, like the counts: finding them means matching every
    pending request against the approver's approvals, too much for each view of the queue,
    while the list itself is short (what one person asked for or approved and is not
    decided yet)."""
    return [pk for pk, _routed in _others_routed(user, at)]


def _others_routed(user, at=None):
    """[(id, whether it is routed to `user`)] of what waits for others, oldest first."""
    at = at or version()
    return _cached(
        f"approval-queue:{at}:others:{user.pk}",
        lambda: list(
            waiting_for_others(user)
            .annotate(routed=ExpressionWrapper(policy.decidable(user), BooleanField()))
            .order_by("submitted_at", "id")
            .values_list("pk", "routed")
        ),
    )


def pending_count(user, at=None):
    """How many requests wait for `user`'s decision (the badge): those routed to them but
    the others'."""
    at = at or version()
    routed = _cached(
        f"approval-queue:{at}:routed:{policy.decidable_scope(user)}",
        lambda: _pending().filter(policy.decidable(user)).count(),
    )
    theirs = sum(1 for _pk, in_scope in _others_routed(user, at) if in_scope)
    return max(0, routed - theirs)


class _KnownCountPaginator(Paginator):
    def __init__(self, object_list, per_page, count):
        super().__init__(object_list, per_page)
        self._count = count

    @cached_property
    def count(self):
        return self._count


def _rows(requests):
    return requests.select_related("requester", "deciding_team").order_by("submitted_at", "id")


def _mine(user, number, per_page, at):
    count = pending_count(user, at)
    found = _KnownCountPaginator(_rows(waiting_for(user)), per_page, count).get_page(number)
    found.object_list = list(found.object_list) if count else []
    return found


def _others(ids, number, per_page):
    found = Paginator(ids, per_page).get_page(number)
    shown = found.object_list
    found.object_list = list(_rows(_pending().filter(pk__in=shown))) if shown else []
    return found


@dataclass
class Split:
    """What waits for an approver (`mine`, a page) and for others (a page, or only counted)."""

    mine: object
    others: object
    others_count: int
    # What the user decides as someone's delegate (see `delegated`), and whom they lent
    # their own deciding to now (the queue's banner).
    delegated: list = field(default_factory=list)
    more_delegated: bool = False
    lent: list = field(default_factory=list)


def split(
    user,
    number=1,
    others_number=1,
    *,
    per_page=PAGE_SIZE,
    others_per_page=OTHERS_PAGE_SIZE,
    at=None,
):
    """Return page `number` of what waits for `user` and page `others_number` of what waits
    for others (`others_per_page=0`: count them only), each request with its requirement
    and the approvals its current revision has so far."""
    at = at or version()
    mine = _mine(user, number, per_page, at)
    ids = others(user, at)
    theirs = _others(ids, others_number, others_per_page) if others_per_page else None
    items = [*mine.object_list, *(theirs.object_list if theirs else [])]
    _annotate(user, items)
    return Split(mine=mine, others=theirs, others_count=len(ids))


def _annotate(user, items):
    """Give each request shown its requirement and the approvals its revision has so far."""
    prefetch_related_objects(
        items,
        Prefetch(
            "operations",
            queryset=RequestOperation.objects.only("request_id", "action", "params"),
        ),
    )
    counts = {}
    if items:
        counts = {
            (request_id, revision): n
            for request_id, revision, n in Approval.objects.filter(
                request_id__in=[item.pk for item in items], decision=Decision.APPROVE
            )
            .values("request_id", "revision")
            # People, not rows: a delegate's approval is the delegator's.
            .annotate(n=Count(Coalesce("on_behalf_of", "approver"), distinct=True))
            .values_list("request_id", "revision", "n")
        }
    for item in items:
        item.approvals_so_far = counts.get((item.pk, item.revision), 0)
        item.requirement = policy.required_approvals(item)
        item.yours = item.requester_id == user.pk


# What waits for a delegate is listed, oldest first, up to this many requests (with a note
# when there are more); the candidates looked at to find them are bounded too.
DELEGATED_SHOWN = 50
DELEGATED_LOOKED_AT = 500


def _approved_for(person_id):
    """Whether `person_id`'s right has approved a pending request's current revision,
    themselves or through a delegate."""
    return Exists(
        Approval.objects.filter(
            Q(approver_id=person_id) | Q(on_behalf_of_id=person_id),
            request=OuterRef("pk"),
            revision=OuterRef("revision"),
            decision=Decision.APPROVE,
        )
    )


def delegations_of(user, at=None):
    """(the delegations `user` holds at `at` (now) from active people, those of their own
    deciding in force), in one query."""
    both = (
        Delegation.objects.active(at)
        .filter(Q(delegate=user, delegator__is_active=True) | Q(delegator=user))
        .select_related("delegator", "delegate")
        .order_by("delegator__username", "pk")
    )
    held, lent = [], []
    for delegation in both:
        (held if delegation.delegate_id == user.pk else lent).append(delegation)
    return held, lent


def delegated(user, delegations=None):
    """The pending requests `user` decides only as someone's delegate, oldest first, each
    with `for_delegator` and `delegated_until`: those one of their delegators decides in
    their own right, did not file, and has not approved at this revision (nor has `user`).

    Requests `user` decides in their own right are in their own queue, not here. Returns
    (requests, whether there are more than shown).
    """
    delegations = delegations_of(user)[0] if delegations is None else delegations
    if not delegations:
        return [], False
    some = Q(pk__in=[])
    for delegation in delegations:
        some |= (
            policy.decidable(delegation.delegator)
            & ~Q(requester_id=delegation.delegator_id)
            & ~_approved_for(delegation.delegator_id)
        )
    candidates = (
        _pending()
        .exclude(requester=user)
        .filter(~_decided_by(user))
        .filter(some)
        # The route's team too: each row is matched against each delegator's right.
        .select_related("requester", "endpoint_service", "deciding_team")
        .order_by("submitted_at", "id")[:DELEGATED_LOOKED_AT]
    )
    found = []
    for item in candidates:
        if policy.decides_in_own_right(user, item):
            continue
        for delegation in delegations:
            delegator = delegation.delegator
            if item.requester_id != delegator.pk and policy.decides_in_own_right(delegator, item):
                item.for_delegator = delegator
                item.delegated_until = delegation.ends_at
                found.append(item)
                break
        if len(found) > DELEGATED_SHOWN:
            break
    shown = found[:DELEGATED_SHOWN]
    _annotate(user, shown)
    return shown, len(found) > DELEGATED_SHOWN

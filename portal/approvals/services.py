"""What approvers do: decide a request (the last approval the policy needs approves it), route
a request to its deciders and route again when its service changes hands, and lend one's
deciding to a delegate for a while.

Each function that changes state locks the row it changes, and writes its audit event in the
same transaction; the request's own moves go through its one state machine
(`ServiceRequest.move`).
"""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from portal.approvals import notifications, policy, queue, tasks
from portal.approvals.models import Delegation
from portal.audit import chain, grants
from portal.audit.actions import Action
from portal.lib.queue import enqueue_on_commit
from portal.service_requests.exceptions import DecisionRefused, NotAllowed, StaleRevision
from portal.service_requests.models import (
    Approval,
    Deciders,
    Decision,
    Kind,
    ServiceRequest,
    State,
)
from portal.service_requests.signals import work_ready


def _locked(pk):
    return ServiceRequest.objects.select_for_update().get(pk=pk)


def route_keep(service_request, deciders):
    """Keep who decides `service_request` (a policy.Route) on it (the caller saves)."""
    service_request.decided_by = deciders.deciders
    service_request.deciding_team = deciders.team
    service_request.routing_reason = deciders.reason[:300]


def route_record(service_request):
    """The route as the audit log records it, to check the request's row against."""
    return {
        "decided_by": service_request.decided_by,
        "deciding_team": service_request.deciding_team_id,
    }


def requests_reroute(*, service):
    """Route again the pending requests of `service` that its owners decide, now that it has
    other owners (a transfer): the team that gave it away no longer decides about it."""
    for pending in (
        service.requests.select_for_update()
        .filter(
            state=State.PENDING_APPROVAL,
            decided_by__in=[Deciders.TEAM, Deciders.TEAM_MEMBERS, Deciders.OWNER],
        )
        .exclude(kind=Kind.TRANSFER)
    ):
        before = policy.routed(pending)
        after = policy.route(pending)
        route_keep(pending, after)
        # Approvals given under the old route are not the new deciders': a new revision
        # (of the same content) voids them, as an edit would.
        discarded = pending.current_approvals().count()
        pending.revision += 1
        pending.save(
            update_fields=[
                "decided_by",
                "deciding_team",
                "routing_reason",
                "revision",
                "updated_at",
            ]
        )
        details = {"from": str(before), "to": str(after), "because": "the service changed hands"}
        if discarded:
            details["approvals_discarded"] = discarded
        pending.record(
            Action.REROUTED,
            actor=None,
            details=pending.explained(route=route_record(pending), **details),
        )
        enqueue_on_commit(tasks.notify_approvers, pending.pk)


def service_request_decide(*, pk, approver, decision, revision, digest=None, comment=""):
    """Record one approver's decision on the revision, and the content, they saw.

    A decision on another revision than the request's, or on content whose digest is not
    the one the page showed, is refused (StaleRevision): an approval binds to both. The last
    approval the policy needs approves the request. The row lock makes concurrent decisions
    queue up: two approvals at once never count as one, and only one of them can move the
    request to approved.
    """
    with transaction.atomic():
        service_request = _locked(pk)
        if revision != service_request.revision:
            raise StaleRevision(revision, service_request.revision)
        if digest is not None and digest != service_request.digest():
            raise StaleRevision(revision, service_request.revision)
        refusal = policy.decision_refusal(approver, service_request)
        if refusal:
            raise DecisionRefused(refusal)
        lapsed = policy.transfer_lapse(service_request)
        if lapsed and decision == Decision.APPROVE:
            raise DecisionRefused(lapsed)
        if service_request.approvals.filter(approver=approver, revision=revision).exists():
            # An approval of this revision that no longer binds (its content was changed
            # behind the portal's back): one decision per person and revision, still.
            raise DecisionRefused(
                "You decided this revision already, and its content has changed since, outside "
                "the portal: ask an administrator to look at the request's audit trail."
            )
        # As someone's delegate (None: in one's own right), checked under the row lock.
        _refusal, on_behalf_of = policy.deciding_as(approver, service_request)
        digest = service_request.digest()
        approval = Approval.objects.create(
            request=service_request,
            approver=approver,
            on_behalf_of=on_behalf_of,
            revision=revision,
            digest=digest,
            decision=decision,
            comment=comment,
        )
        requirement = policy.required_approvals(service_request)
        details = {"revision": revision, "digest": digest, "approval": approval.as_record()}
        if on_behalf_of is not None:
            details["on_behalf_of"] = on_behalf_of.get_username()
        if decision == Decision.APPROVE:
            count = service_request.approving_people()
            details |= {
                "approvals": count,
                "needed": requirement.needed,
                "policy": str(requirement),
            }
            if count >= requirement.needed:
                service_request.move(
                    Action.APPROVE, actor=approver, comment=comment, details=details
                )
                work_ready.send(sender=ServiceRequest, service_request=service_request)
            else:
                service_request.record(
                    Action.APPROVAL_ADDED, actor=approver, comment=comment, details=details
                )
        else:
            service_request.move(decision, actor=approver, comment=comment, details=details)
        if service_request.is_final or service_request.state in (
            State.APPROVED,
            State.CHANGES_REQUESTED,
        ):
            enqueue_on_commit(tasks.notify_requester, service_request.pk, comment)
            notifications.announce(service_request, comment)
    return service_request


# --- delegation ----------------------------------------------------------------------------

# A start typed a moment ago ("now" on a form filled in slowly) is taken as now.
DELEGATION_START_GRACE = timedelta(minutes=5)


class DelegationInvalid(DecisionRefused):
    """A delegation the rules refuse, because of the value of one field (`field`)."""

    def __init__(self, field, message):
        super().__init__(message)
        self.field = field


def delegation_create(*, delegator, delegate, starts_at, ends_at, reason) -> Delegation:
    """Lend `delegator`'s deciding to `delegate` for [starts_at, ends_at); audited.

    One delegate at a time: a window that overlaps another of the delegator's (not revoked)
    is refused, so "who decides for Alice now" has one answer. The delegator's row lock makes
    two tabs creating at once take turns, and the second sees the first.
    """
    if not policy.may_delegate(delegator):
        raise NotAllowed("Only those who decide requests can delegate their deciding.")
    now = timezone.now()
    with transaction.atomic():
        get_user_model().objects.select_for_update().filter(pk=delegator.pk).first()
        refusal = policy.delegate_refusal(delegator, delegate)
        if refusal:
            raise DelegationInvalid("delegate", refusal)
        if starts_at < now - DELEGATION_START_GRACE:
            raise DelegationInvalid(
                "starts_at", "A delegation cannot start in the past: leave it empty to start now."
            )
        starts_at = max(starts_at, now)
        if ends_at <= starts_at:
            raise DelegationInvalid("ends_at", "It must end after it starts.")
        longest = timedelta(days=settings.DELEGATION_MAX_DAYS)
        if ends_at - starts_at > longest:
            raise DelegationInvalid(
                "ends_at", f"A delegation lasts at most {settings.DELEGATION_MAX_DAYS} days."
            )
        overlapping = (
            Delegation.objects.current(now)
            .filter(delegator=delegator, starts_at__lt=ends_at, ends_at__gt=starts_at)
            .select_related("delegate")
            .first()
        )
        if overlapping is not None and (overlapping.delegate_id, overlapping.ends_at) == (
            delegate.pk,
            ends_at,
        ):
            return overlapping  # the same form posted twice: made once
        if overlapping is not None:
            raise DelegationInvalid(
                "starts_at",
                f"You already delegate to {overlapping.delegate.get_username()} from "
                f"{overlapping.starts_at:%Y-%m-%d %H:%M} until "
                f"{overlapping.ends_at:%Y-%m-%d %H:%M} UTC: one delegate at a time. Revoke "
                "that one, or choose a period outside it.",
            )
        with grants.by(delegator):
            delegation = Delegation.objects.create(
                delegator=delegator,
                delegate=delegate,
                starts_at=starts_at,
                ends_at=ends_at,
                reason=reason,
                created_at=now,
            )
        chain.append(
            action=Action.DELEGATION_CREATED, actor=delegator, details=delegation.audit_details()
        )
    transaction.on_commit(queue.changed)  # the delegate's queue gains rows
    return delegation


def delegation_revoke(*, delegation, actor) -> Delegation:
    """End a delegation now (its delegator, its delegate giving it back, or an admin);
    revoking one revoked or over changes nothing."""
    if actor.pk not in (delegation.delegator_id, delegation.delegate_id) and not (
        actor.is_superuser
    ):
        raise NotAllowed("Only its delegator, its delegate and admins can revoke a delegation.")
    with transaction.atomic():
        delegation = (
            Delegation.objects.select_for_update()
            .select_related("delegator", "delegate")
            .get(pk=delegation.pk)
        )
        now = timezone.now()
        if delegation.revoked_at is not None or delegation.ends_at <= now:
            return delegation
        delegation.revoked_at = now
        delegation.revoked_by = actor
        with grants.by(actor):
            delegation.save(update_fields=["revoked_at", "revoked_by"])
        chain.append(
            action=Action.DELEGATION_REVOKED,
            actor=actor,
            details={**delegation.audit_details(), "was": delegation.status(now - _INSTANT)},
        )
    transaction.on_commit(queue.changed)
    return delegation


_INSTANT = timedelta(microseconds=1)

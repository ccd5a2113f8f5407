"""Who must approve a request, who may decide it, and what each person may do with it."""

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q

from portal.endpoint_services import plans
from portal.service_requests.models import ACCOUNT_KINDS, Kind, Payer

APPROVERS_GROUP = "approvers"
# The kinds with a form to edit; the others are a justification and a service.
EDITABLE_KINDS = (Kind.CREATE, Kind.CHANGE)
AUDITORS_GROUP = "auditors"


@dataclass(frozen=True)
class Requirement:
    needed: int
    reasons: tuple

    def __str__(self):
        noun = "approval" if self.needed == 1 else "approvals"
        if self.reasons:
            return f"needs {self.needed} {noun}: {' and '.join(self.reasons)}"
        return f"needs {self.needed} {noun}"


def required_approvals(service_request):
    """Return how many distinct approvers a request needs, and why."""
    reasons = []
    if service_request.kind == Kind.CREATE:
        if service_request.auto_accept_enabled:
            reasons.append("auto-accept is on")
        if service_request.payer == Payer.ENDPOINT_SERVICE:
            reasons.append("the service owner pays for consumers' traffic")
    elif service_request.kind in (Kind.CHANGE, *ACCOUNT_KINDS):
        reasons = plans.risks([op.content() for op in service_request.operations.all()])
    elif service_request.kind == Kind.DECOMMISSION:
        reasons.append("it deletes a service that consumers may be using")
    if reasons:
        return Requirement(settings.APPROVALS_REQUIRED_RISKY, tuple(reasons))
    return Requirement(settings.APPROVALS_REQUIRED, ())


def in_group(user, name):
    # Groups are read once per request and cached on the user object.
    if not hasattr(user, "_portal_groups"):
        user._portal_groups = set(user.groups.values_list("name", flat=True))
    return name in user._portal_groups


def is_approver(user):
    return user.is_authenticated and (user.is_superuser or in_group(user, APPROVERS_GROUP))


def is_auditor(user):
    return user.is_authenticated and (user.is_superuser or in_group(user, AUDITORS_GROUP))


def sees_insights(user):
    """Approvers, auditors and admins see the portal's figures (counts and lead times)."""
    return is_approver(user) or is_auditor(user)


def is_read_only(user):
    """Auditors who hold no other role read everything and change nothing."""
    return is_auditor(user) and not user.is_superuser and not in_group(user, APPROVERS_GROUP)


def owns(user, service):
    return service is not None and service.owner_id == user.pk


def may_manage(user, service):
    """Owners and approvers look after a service: refresh it, accept its drift, change it."""
    return owns(user, service) or is_approver(user)


def sees_request(user, *, requester_id, owner_id, in_role):
    """The one rule: the requester, the service's owner, approvers and auditors see a request.

    `in_role` says whether the user is in the approvers' or auditors' group; the fast poll
    reads it in its own query (see views.request_status).
    """
    return user.is_superuser or in_role or user.pk in (requester_id, owner_id)


def sees_consumers(user, service):
    """Who asks what of a service, and which accounts may connect, is for its keepers (and
    auditors): its requests, allow-list and connections."""
    return may_manage(user, service) or is_auditor(user)


def can_view(user, service_request):
    """`sees_request`, and a delegate sees what they may decide for someone."""
    service = service_request.endpoint_service
    return sees_request(
        user,
        requester_id=service_request.requester_id,
        owner_id=service.owner_id if service is not None else None,
        in_role=is_approver(user) or is_auditor(user),
    ) or (user.is_authenticated and bool(deciding_for(user, service_request)))


def can_view_service(user, service):
    """Everyone signed in sees managed services (the catalog); unmanaged ones are for approvers."""
    return user.is_authenticated and (service.managed or is_approver(user) or is_auditor(user))


def change_refusal(user, service):
    """Return why `user` may not file a change or decommission of `service`, or None."""
    if not may_manage(user, service):
        return "Only the service's owner and approvers can change a service."
    if not service.managed:
        return "The portal does not manage this service yet: adopt it first."
    if service.status in ("deleting", "deleted"):
        return f"The service is {service.get_status_display().lower()}."
    return None


def adoption_refusal(user, service):
    if not is_approver(user):
        return "Only approvers and admins can adopt a service."
    if service.managed:
        return "The portal already manages this service."
    if service.status in ("deleting", "deleted"):
        return f"The service is {service.get_status_display().lower()}."
    return None


def access_refusal(user, service):
    """Return why `user` may not ask for an account's access to `service`, or None."""
    if not user.is_authenticated or is_read_only(user):
        return "Auditors read; they do not ask for access."
    if not service.managed:
        return "The portal does not manage this service: ask its owner in the console."
    if service.status not in ("active", "pending"):
        return f"The service is {service.get_status_display().lower()}, not active."
    return None


def revoke_refusal(user, service):
    """Return why `user` may not ask to take an account off `service`'s allow-list, or None."""
    if not may_manage(user, service):
        return "Only the service's owner and approvers can revoke access."
    if not service.managed:
        return "The portal does not manage this service yet: adopt it first."
    if service.status in ("deleting", "deleted"):
        return f"The service is {service.get_status_display().lower()}."
    return None


def _decides_in_own_right(user, service_request):
    """Approvers decide every request; a service's owner also decides who may connect to it,
    except access for every account (`*`), which is the approvers' alone."""
    if is_approver(user):
        return True
    return (
        service_request.kind in ACCOUNT_KINDS
        and service_request.account_id != plans.EVERY_ACCOUNT
        and owns(user, service_request.endpoint_service)
    )


# --- delegation: an approver lends their deciding to one other person for a while --------


def may_delegate(user):
    """Who may lend their deciding: those who decide requests in their own right."""
    return user.is_authenticated and user.is_active and is_approver(user)


def delegate_refusal(delegator, delegate):
    """Return why `delegate` may not decide for `delegator`, or None."""
    if delegate.pk == delegator.pk:
        return "You cannot delegate to yourself."
    if not delegate.is_active:
        return f"{delegate.get_username()} is not an active user."
    if is_read_only(delegate):
        return f"{delegate.get_username()} is an auditor: auditors read, they do not decide."
    return None


def delegate_candidates(delegator):
    """The people `delegator` may lend their deciding to: active, not themselves, not
    auditors who hold no other role."""
    from django.contrib.auth import get_user_model

    approvers = Q(groups__name=APPROVERS_GROUP)
    users = get_user_model().objects.filter(is_active=True).exclude(pk=delegator.pk)
    read_only = users.filter(groups__name=AUDITORS_GROUP, is_superuser=False).exclude(
        pk__in=users.filter(approvers).values("pk")
    )
    return users.exclude(pk__in=read_only.values("pk")).order_by("username")


def deciding_for(user, service_request, at=None):
    """The people `user` may decide `service_request` for, as their delegate at `at` (now).

    Each holds an active delegation to `user`, is active and decides the request in their
    own right, and is not its requester. Only their own right passes: what they hold as
    someone's delegate does not (no chains). Empty for the requester, who never decides,
    and for auditors, who decide nothing.
    """
    from portal.service_requests.models import Delegation

    if service_request.requester_id == user.pk or is_read_only(user):
        return []
    delegations = (
        Delegation.objects.active(at)
        .filter(delegate=user, delegator__is_active=True)
        .exclude(delegator=service_request.requester_id)
        .select_related("delegator")
        .order_by("delegator__username", "pk")
    )
    found = []
    for delegation in delegations:
        delegator = delegation.delegator
        if delegator not in found and _decides_in_own_right(delegator, service_request):
            delegator.delegated_until = delegation.ends_at
            found.append(delegator)
    return found


def may_decide(user, service_request, at=None):
    """Whether `user` decides `service_request`: in their own right, or as the delegate, at
    `at` (now), of someone who does."""
    return _decides_in_own_right(user, service_request) or bool(
        deciding_for(user, service_request, at)
    )


def deciding_as(user, service_request, at=None):
    """Whose right `user` would decide `service_request` with now: None for their own, else
    the first delegator whose decision on this revision is not yet given; refuses as
    decision_refusal does. Returns (refusal or None, delegator or None)."""
    if service_request.requester_id == user.pk:
        return "You cannot decide your own request.", None
    given = {
        (approver, principal or approver)
        for approver, principal in service_request.current_approvals().values_list(
            "approver_id", "on_behalf_of_id"
        )
    }
    if user.pk in {approver for approver, _principal in given}:
        return "You have already approved this revision.", None
    counted = {principal for _approver, principal in given}
    own = _decides_in_own_right(user, service_request)
    if own and user.pk not in counted:
        return None, None
    delegators = deciding_for(user, service_request, at)
    for delegator in delegators:
        if delegator.pk not in counted:
            return None, delegator
    if own:
        return "Your delegate has already approved this revision for you.", None
    if delegators:
        names = " and ".join(d.get_username() for d in delegators)
        return f"Already approved for {names} at this revision.", None
    return "Only approvers can decide requests.", None


def decision_refusal(user, service_request):
    """Return why `user` may not decide `service_request` now, or None if they may."""
    if not may_decide(user, service_request):
        if service_request.kind in ACCOUNT_KINDS and owns(user, service_request.endpoint_service):
            return "Access for every account is for the approvers to decide."
        if service_request.kind in ACCOUNT_KINDS:
            return "Only the service's owner and approvers can decide who may connect."
        return "Only approvers can decide requests."
    if service_request.requester_id == user.pk:
        return "You cannot decide your own request."
    if not service_request.can("approve"):
        return (
            f"The request is {service_request.get_state_display().lower()}, not pending approval."
        )
    return deciding_as(user, service_request)[0]


def available_actions(user, service_request):
    """Return the USER_ACTIONS `user` may take on `service_request` now."""
    if not user.is_authenticated or is_read_only(user):
        return set()
    actions = set()
    mine = service_request.requester_id == user.pk
    if mine and service_request.is_editable:
        actions.add("submit")
        if service_request.kind in EDITABLE_KINDS:
            actions.add("edit")
    if mine and service_request.can("cancel"):
        actions.add("cancel")
    if service_request.is_before_approval and (mine or is_approver(user)):
        actions.add("validate")
    if service_request.can("approve") and decision_refusal(user, service_request) is None:
        actions |= {"approve", "send_back", "reject"}
    if service_request.can("retry") and is_approver(user):
        actions.add("retry")
    return actions


def _people_who(service_request, may):
    """The active people in `may`, and the service's owner where the owner decides, but not
    the request's requester, by username."""
    from django.contrib.auth import get_user_model

    service = service_request.endpoint_service
    if (
        service_request.kind in ACCOUNT_KINDS
        and service_request.account_id != plans.EVERY_ACCOUNT
        and service is not None
        and service.owner_id
    ):
        may |= Q(pk=service.owner_id)
    return (
        get_user_model()
        .objects.filter(may, is_active=True)
        .exclude(pk=service_request.requester_id)
        .distinct()
        .order_by("username")
    )


def eligible_deciders(service_request):
    """Return everyone who may approve `service_request`: approvers, admins and, where the
    owner decides, the service's owner; never its requester."""
    return list(
        _people_who(service_request, Q(groups__name=APPROVERS_GROUP) | Q(is_superuser=True))
    )


def waiting_on(service_request):
    """Return the active people a pending request waits on: approvers and, for who may
    connect to a service, its owner (not for every account), but neither its requester nor
    whoever approved this revision already. Admins may decide too, but nobody counts on them."""
    approved = service_request.current_approvals()
    return (
        _people_who(service_request, Q(groups__name=APPROVERS_GROUP))
        .exclude(pk__in=approved.values("approver_id"))
        # Whoever a delegate approved for is reached too.
        .exclude(pk__in=approved.filter(on_behalf_of__isnull=False).values("on_behalf_of_id"))
    )


def delegates_of(people, service_request, at=None):
    """{person's id: their active delegation at `at` (now)}, for those of `people` who lent
    their deciding to someone who may use it on `service_request`: active, not its requester.

    A delegate is a way to reach the person, not one more approver: counts stay per person.
    """
    from portal.service_requests.models import Delegation

    ids = [person.pk for person in people if person.pk != service_request.requester_id]
    if not ids:
        return {}
    return {
        delegation.delegator_id: delegation
        for delegation in Delegation.objects.active(at)
        .filter(delegator__in=ids, delegate__is_active=True)
        .exclude(delegate=service_request.requester_id)
        .select_related("delegate")
        .order_by("starts_at", "pk")
        # Made an auditor since: they decide nothing (deciding_for), so they reach nobody.
        if not is_read_only(delegation.delegate)
    }


def with_delegates(people, service_request, at=None):
    """`people`, and the active delegates they lent their deciding to: whom to tell."""
    people = list(people)
    found = {person.pk: person for person in people}
    for delegation in delegates_of(people, service_request, at).values():
        found.setdefault(delegation.delegate_id, delegation.delegate)
    return list(found.values())


def policy_shortfall(service_request, eligible=None):
    """Why `service_request` can never get the approvals it needs as things stand, or None.

    `eligible`: the result of eligible_deciders(), when the caller has it already."""
    needed = required_approvals(service_request).needed
    if eligible is None:
        eligible = eligible_deciders(service_request)
    able = len(eligible)
    if able >= needed:
        return None
    people = "nobody" if able == 0 else f"only {able} {'person' if able == 1 else 'people'}"
    return (
        f"This request needs {needed} approvals, but {people} other than its requester may "
        "approve it: ask an administrator to add an approver, or it waits for ever."
    )

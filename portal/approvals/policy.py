"""Who must approve a request, who may decide it, and what each person may do with it."""

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.db.models.lookups import Exact, In

from portal.accounts import rights
from portal.accounts.backends import is_break_glass
from portal.approvals.models import Delegation
from portal.endpoint_services import keepers, plans
from portal.service_requests.models import (
    ACCOUNT_KINDS,
    EDITABLE_STATES,
    Deciders,
    Kind,
    Payer,
    ServiceRequest,
)
from portal.teams import services as teams
from portal.teams.models import Membership, Role

# The kinds with a form to edit; the others are a justification and a service.
EDITABLE_KINDS = (Kind.CREATE, Kind.CHANGE)


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


def visible_to(user, at=None):
    """The requests `user` may see at `at` (now), as a filter on ServiceRequest: the one rule
    that pages, the API and the status poll apply.

    Admins, approvers and auditors see every request. Anyone else sees what they asked for;
    the requests about a service they own (any member of its team, or its owner while no
    team owns it); those for or routed to one of their teams (the request's target and
    deciding teams); and, as someone's delegate, those their delegator decides (`_lent`).

    Who the user is (roles, teams, delegations) is asked inside the filter rather than
    before it, so that the poll costs one query; roles this request has read already are
    used as read, so that an approver's or an auditor's list carries no condition at all.
    """
    if not user.is_authenticated:
        return Q(pk__in=[])
    if user.is_superuser:
        return Q()
    if rights.roles_read(user) and (rights.is_approver(user) or rights.is_auditor(user)):
        return Q()
    # One membership of the user's in the service's team, or the team the request is for
    # or routed to.
    in_team = Membership.objects.filter(
        Q(team=OuterRef("endpoint_service__team"))
        | Q(team=OuterRef("deciding_team"))
        | Q(team=OuterRef("target_team")),
        user=user,
    )
    found = (
        Q(requester=user)
        | Q(endpoint_service__team__isnull=True, endpoint_service__owner=user)
        | Q(Exists(in_team))
        | Q(Exists(_lent(user, at)))
    )
    if not rights.roles_read(user):
        found |= Q(Exists(_groups_of(user, rights.APPROVERS_GROUP, rights.AUDITORS_GROUP)))
    return found


def visible_requests(user, at=None):
    """The requests `user` may see at `at` (now): ServiceRequest rows filtered by visible_to."""
    return ServiceRequest.objects.filter(visible_to(user, at))


def _groups_of(user, *names):
    from django.contrib.auth import get_user_model

    return get_user_model().groups.through.objects.filter(user=user, group__name__in=names)


def _lent(user, at=None):
    """The delegations by which `user` may decide a request (as a subquery of one): in force
    at `at` (now), from an active person who did not file it and decides it in their own
    right (deciding_for) by its recorded route, as the queue reads the route (`decidable`).

    None while the request is being written (a draft, or sent back): nobody decides it then,
    and its recorded route is empty or stale (a draft's "" would read as a request submitted
    before routing, which the platform's approvers decide, and open every team's drafts).
    """
    route = OuterRef("decided_by")
    return (
        Delegation.objects.active(at)
        .filter(~Q(In(OuterRef("state"), sorted(EDITABLE_STATES))))
        .filter(delegate=user, delegator__is_active=True)
        .exclude(delegator=OuterRef("requester"))
        .filter(
            Q(delegator__is_superuser=True)
            | Q(
                In(route, [Deciders.PLATFORM, Deciders.OWNER, ""]),
                delegator__groups__name=rights.APPROVERS_GROUP,
            )
            | Q(
                Q(Exact(route, Deciders.OWNER))
                # Submitted before routing: who may connect to a service was its owner's.
                | Q(
                    Exact(route, ""),
                    In(OuterRef("kind"), sorted(ACCOUNT_KINDS)),
                    ~Q(Exact(OuterRef("account_id"), plans.EVERY_ACCOUNT)),
                ),
                delegator=OuterRef("endpoint_service__owner"),
            )
            # One membership of the delegator's: in the deciding team, as its approver
            # where the team's approvers decide.
            | Q(
                Q(Exact(route, Deciders.TEAM_MEMBERS))
                | Q(Exact(route, Deciders.TEAM), delegator__team_memberships__role=Role.APPROVER),
                delegator__team_memberships__team=OuterRef("deciding_team"),
            )
        )
    )


def change_refusal(user, service):
    """Return why `user` may not file a change or decommission of `service`, or None."""
    if not keepers.may_manage(user, service):
        return "Only the service's owner and approvers can change a service."
    if not service.managed:
        return "The portal does not manage this service yet: adopt it first."
    if service.status in ("deleting", "deleted"):
        return f"The service is {service.get_status_display().lower()}."
    return None


def adoption_refusal(user, service):
    if not rights.is_approver(user):
        return "Only approvers and admins can adopt a service."
    if service.managed:
        return "The portal already manages this service."
    if service.status in ("deleting", "deleted"):
        return f"The service is {service.get_status_display().lower()}."
    return None


def team_refusal(user, team):
    """Why `user` may not name `team` as a new service's owner, or None: one's own teams."""
    if team is not None and team.pk not in teams.team_ids(user):
        return f"You are not a member of the {team} team: name one of your own teams."
    return None


def account_refusal(team, account, region_id):
    """Why a new service of `team` may not live in cloud `account` in `region_id`, or None.
    No account: the portal's own (a set-up without account records)."""
    if account is None:
        return None
    if team is None:
        return f"Name the owning team: services in {account.name} belong to its teams."
    if not account.team_links.filter(team=team).exists():
        return f"The {team} team does not file services in the {account.name} account."
    if account.regions and region_id not in account.regions:
        return (
            f"The portal does not work in {region_id} in the {account.name} account: choose "
            f"{', '.join(account.regions)}."
        )
    return None


def transfer_refusal(user, service, team=None):
    """Return why `user` may not ask that `team` take `service` on (or, without `team`, ask
    for a transfer at all), or None."""
    if not keepers.may_manage(user, service):
        return "Only the service's owners (its team's members) and approvers can transfer it."
    if not service.managed:
        return "The portal does not manage this service yet: adopt it first."
    if service.status in ("deleting", "deleted"):
        return f"The service is {service.get_status_display().lower()}."
    if team is not None and service.team_id == team.pk:
        return f"The {team} team owns the service already."
    return None


def transfer_lapse(service_request):
    """Why a pending transfer can no longer be accepted, or None: the giving side's consent
    is its requester's, and holds only while they still may give the service away (one who
    has left the team since cannot). The receiving team may still reject it."""
    if service_request.kind != Kind.TRANSFER:
        return None
    refusal = transfer_refusal(
        service_request.requester, service_request.endpoint_service, service_request.target_team
    )
    if refusal:
        return (
            f"This transfer no longer stands: {refusal} Reject it; whoever now looks after the "
            "service can ask again."
        )
    return None


def access_refusal(user, service):
    """Return why `user` may not ask for an account's access to `service`, or None."""
    if not user.is_authenticated or rights.is_read_only(user):
        return "Auditors read; they do not ask for access."
    if not service.managed:
        return "The portal does not manage this service: ask its owner in the console."
    if service.status not in ("active", "pending"):
        return f"The service is {service.get_status_display().lower()}, not active."
    return None


def revoke_refusal(user, service):
    """Return why `user` may not ask to take an account off `service`'s allow-list, or None."""
    if not keepers.may_manage(user, service):
        return "Only the service's owner and approvers can revoke access."
    if not service.managed:
        return "The portal does not manage this service yet: adopt it first."
    if service.status in ("deleting", "deleted"):
        return f"The service is {service.get_status_display().lower()}."
    return None


# --- routing: who decides a request -----------------------------------------------------


@dataclass(frozen=True)
class Route:
    """Who decides a request (`deciders`, a Deciders value; `team` for the team routes), and
    why, in words for the page."""

    deciders: str
    team: object = None
    reason: str = ""

    def __str__(self):
        return f"{self.who}: {self.reason}" if self.reason else self.who

    @property
    def who(self):
        if self.deciders == Deciders.TEAM:
            return f"the {self.team} team's approvers"
        if self.deciders == Deciders.TEAM_MEMBERS:
            return f"the {self.team} team's members"
        if self.deciders == Deciders.OWNER:
            return "the service's owner or the platform's approvers"
        return "the platform's approvers"


def route(service_request):
    """Return who should decide `service_request` as it stands: the rules, in one place.

    - creation, adoption and decommission: the platform's approvers;
    - risky changes and access (required_approvals' reasons, access for every account): the
      platform's approvers;
    - other changes of a team's service: the team's approvers; who may connect to it: its
      members (the owner's right of the consumer issue);
    - a transfer: the approvers of the team that takes the service on;
    - a service no team owns: as before teams, the platform's approvers (and, for who may
      connect, its owner);
    - a team without enough people to decide (other than the requester): the platform's
      approvers, saying so.
    """
    kind = service_request.kind
    service = service_request.endpoint_service
    if kind == Kind.CREATE:
        return Route(Deciders.PLATFORM, None, "a new service is for the platform to allow")
    if kind == Kind.ADOPT:
        return Route(Deciders.PLATFORM, None, "taking a service into the portal's care")
    if kind == Kind.DECOMMISSION:
        return Route(Deciders.PLATFORM, None, "deleting a service is a risky change")
    if kind == Kind.TRANSFER:
        taker = service_request.target_team
        if taker is None:
            return Route(Deciders.PLATFORM, None, "no team is named to take the service on")
        return _able_or_platform(
            service_request,
            Route(Deciders.TEAM, taker, f"the {taker} team takes the service on"),
        )
    risks = required_approvals(service_request).reasons
    if kind in ACCOUNT_KINDS and service_request.account_id == plans.EVERY_ACCOUNT:
        risks = risks or ("it concerns every Alibaba Cloud account",)
    if risks:
        return Route(Deciders.PLATFORM, None, f"a risky change ({' and '.join(risks)})")
    team = service.team if service is not None and service.team_id is not None else None
    if kind in ACCOUNT_KINDS:
        if team is None:
            return Route(
                Deciders.OWNER, None, "no team owns the service; who may connect is its owner's"
            )
        return _able_or_platform(
            service_request,
            Route(
                Deciders.TEAM_MEMBERS,
                team,
                f"who may connect to a service of the {team} team is for its members",
            ),
        )
    if team is None:
        return Route(Deciders.PLATFORM, None, "no team owns the service")
    return _able_or_platform(
        service_request,
        Route(Deciders.TEAM, team, f"a change without risk to a service of the {team} team"),
    )


def _able_or_platform(service_request, wanted):
    """`wanted`, unless its team has fewer people who may decide than the request needs."""
    needed = required_approvals(service_request).needed
    able = _people(wanted, service_request).count()
    if able >= needed:
        return wanted
    people = "nobody" if able == 0 else f"only {able}"
    return Route(
        Deciders.PLATFORM,
        None,
        f"{wanted.reason}, but {people} of {wanted.who} other than the requester may decide",
    )


def routed(service_request):
    """Who decides `service_request`: as routed at its last submission; for a request not
    submitted yet (or sent back), as it would be routed now."""
    if service_request.is_editable or not service_request.decided_by:
        return route(service_request)
    return Route(
        service_request.decided_by,
        service_request.deciding_team,
        service_request.routing_reason,
    )


def decides_in_own_right(user, service_request):
    """Whether `user` is among those the request is routed to (admins decide everything)."""
    if not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    deciders = routed(service_request)
    if deciders.deciders == Deciders.PLATFORM:
        return rights.is_approver(user)
    if deciders.deciders == Deciders.OWNER:
        service = service_request.endpoint_service
        return rights.is_approver(user) or (service is not None and service.owner_id == user.pk)
    team_id = deciders.team.pk if deciders.team is not None else None
    if deciders.deciders == Deciders.TEAM:
        return team_id in teams.approving_team_ids(user)
    return team_id in teams.team_ids(user)


def decidable(user):
    """The requests `user` decides, as a filter on ServiceRequest (the queue's)."""
    if user.is_superuser:
        return Q()
    found = Q(pk__in=[])
    if rights.is_approver(user):
        # "": requests submitted before routing, whose services no team owned.
        found |= Q(decided_by__in=[Deciders.PLATFORM, Deciders.OWNER, ""])
    elif owned := _owned_in_person(user):
        # The ids, not a join on the services' owner: a join in this OR keeps the queue's
        # queries off every index for everyone who is no approver (a team's approver's page
        # scanned every pending request), and most people own no service in person.
        found |= Q(decided_by=Deciders.OWNER, endpoint_service__in=owned) | Q(
            ~Q(account_id=plans.EVERY_ACCOUNT),
            decided_by="",
            kind__in=ACCOUNT_KINDS,
            endpoint_service__in=owned,
        )
    approving, members = teams.approving_team_ids(user), teams.team_ids(user)
    if approving:
        found |= Q(decided_by=Deciders.TEAM, deciding_team__in=approving)
    if members:
        found |= Q(decided_by=Deciders.TEAM_MEMBERS, deciding_team__in=members)
    return found


def _owned_in_person(user):
    """The ids of the services whose owner is `user` (those the owner route names them for),
    read once per request and kept on the user object, like their groups and teams."""
    if not hasattr(user, "_portal_owned"):
        from portal.endpoint_services.models import EndpointService

        user._portal_owned = list(
            EndpointService.objects.filter(owner=user).values_list("pk", flat=True)
        )
    return user._portal_owned


def decidable_scope(user):
    """A key that is the same for everyone whose decidable() is the same (the platform's
    approvers in no team, typically), so that the queue counts once for all of them."""
    if user.is_superuser:
        return "all"
    parts = ["platform" if rights.is_approver(user) else f"owner{user.pk}"]
    parts += [f"a{team}" for team in sorted(teams.approving_team_ids(user))]
    parts += [f"m{team}" for team in sorted(teams.team_ids(user))]
    return "-".join(parts)


def sees_queue(user):
    """The approvals page is for approvers: the platform's and teams'. (A team's members who
    decide who may connect to its services find those requests on their dashboard.)"""
    return user.is_authenticated and (
        rights.is_approver(user) or bool(teams.approving_team_ids(user))
    )


# --- delegation: an approver lends their deciding to one other person for a while --------


def may_delegate(user):
    """Who may lend their deciding: those who decide requests in their own right (the
    platform's approvers and teams' approvers)."""
    return (
        user.is_authenticated
        and user.is_active
        and (rights.is_approver(user) or bool(teams.approving_team_ids(user)))
    )


def delegate_refusal(delegator, delegate):
    """Return why `delegate` may not decide for `delegator`, or None."""
    if delegate.pk == delegator.pk:
        return "You cannot delegate to yourself."
    if not delegate.is_active:
        return f"{delegate.get_username()} is not an active user."
    if rights.is_read_only(delegate):
        return f"{delegate.get_username()} is an auditor: auditors read, they do not decide."
    return None


def delegate_candidates(delegator):
    """The people `delegator` may lend their deciding to: active, not themselves, not
    auditors who hold no other role."""
    from django.contrib.auth import get_user_model

    approvers = Q(groups__name=rights.APPROVERS_GROUP)
    users = get_user_model().objects.filter(is_active=True).exclude(pk=delegator.pk)
    read_only = users.filter(groups__name=rights.AUDITORS_GROUP, is_superuser=False).exclude(
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
    if service_request.requester_id == user.pk or rights.is_read_only(user):
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
        if delegator not in found and decides_in_own_right(delegator, service_request):
            delegator.delegated_until = delegation.ends_at
            found.append(delegator)
    return found


def may_decide(user, service_request, at=None):
    """Whether `user` decides `service_request`: in their own right, or as the delegate, at
    `at` (now), of someone who does."""
    return decides_in_own_right(user, service_request) or bool(
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
    own = decides_in_own_right(user, service_request)
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
    return f"This request is for {routed(service_request).who} to decide.", None


def decision_refusal(user, service_request):
    """Return why `user` may not decide `service_request` now, or None if they may."""
    if not may_decide(user, service_request):
        if (
            service_request.kind in ACCOUNT_KINDS
            and service_request.account_id == plans.EVERY_ACCOUNT
            and keepers.owns(user, service_request.endpoint_service)
        ):
            return "Access for every account is for the approvers to decide."
        return f"This request is for {routed(service_request).who} to decide."
    if service_request.requester_id == user.pk:
        return "You cannot decide your own request."
    if not service_request.can("approve"):
        return (
            f"The request is {service_request.get_state_display().lower()}, not pending approval."
        )
    return deciding_as(user, service_request)[0]


def available_actions(user, service_request):
    """Return the USER_ACTIONS `user` may take on `service_request` now."""
    if not user.is_authenticated or rights.is_read_only(user):
        return set()
    actions = set()
    mine = service_request.requester_id == user.pk
    if mine and service_request.is_editable:
        actions.add("submit")
        if service_request.kind in EDITABLE_KINDS:
            actions.add("edit")
    if mine and service_request.can("cancel"):
        actions.add("cancel")
    if service_request.is_before_approval and (mine or rights.is_approver(user)):
        actions.add("validate")
    if service_request.can("approve") and decision_refusal(user, service_request) is None:
        actions |= {"approve", "send_back", "reject"}
    if service_request.can("retry") and rights.is_approver(user):
        actions.add("retry")
    return actions


def _deciders_q(deciders, service_request, *, admins):
    """Who `deciders` (a Route) names, as a filter on users."""
    found = Q(is_superuser=True) if admins else Q(pk__in=[])
    if deciders.deciders in (Deciders.PLATFORM, Deciders.OWNER):
        found |= Q(groups__name=rights.APPROVERS_GROUP)
    if deciders.deciders == Deciders.OWNER:
        service = service_request.endpoint_service
        if service is not None and service.owner_id:
            found |= Q(pk=service.owner_id)
    if deciders.deciders == Deciders.TEAM:
        found |= Q(team_memberships__team=deciders.team, team_memberships__role=Role.APPROVER)
    if deciders.deciders == Deciders.TEAM_MEMBERS:
        found |= Q(team_memberships__team=deciders.team)
    return found


def _people(deciders, service_request, *, admins=False):
    """The active people `deciders` names, but not the request's requester, by username."""
    from django.contrib.auth import get_user_model

    return (
        get_user_model()
        .objects.filter(_deciders_q(deciders, service_request, admins=admins), is_active=True)
        .exclude(pk=service_request.requester_id)
        .distinct()
        .order_by("username")
    )


def eligible_deciders(service_request):
    """Return everyone who may approve `service_request`: those it is routed to, and admins;
    never its requester."""
    return list(_people(routed(service_request), service_request, admins=True))


def waiting_on(service_request):
    """Return the active people a pending request waits on: those it is routed to, but neither
    its requester nor whoever approved this revision already (themselves, or a delegate for
    them). Admins may decide too, but nobody counts on them."""
    approved = service_request.current_approvals()
    return (
        _people(routed(service_request), service_request)
        .exclude(pk__in=approved.values("approver_id"))
        # Whoever a delegate approved for is reached too.
        .exclude(pk__in=approved.filter(on_behalf_of__isnull=False).values("on_behalf_of_id"))
    )


def delegates_of(people, service_request, at=None):
    """{person's id: their active delegation at `at` (now)}, for those of `people` who lent
    their deciding to someone who may use it on `service_request`: active, not its requester.

    A delegate is a way to reach the person, not one more approver: counts stay per person.
    """
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
        if not rights.is_read_only(delegation.delegate)
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
    # A break-glass account is for emergencies: a request only it could decide still waits.
    able = len([user for user in eligible if not is_break_glass(user.get_username())])
    if able >= needed:
        return None
    people = "nobody" if able == 0 else f"only {able} {'person' if able == 1 else 'people'}"
    return (
        f"This request needs {needed} approvals, but {people} other than its requester may "
        "approve it: ask an administrator to add an approver, or it waits for ever."
    )

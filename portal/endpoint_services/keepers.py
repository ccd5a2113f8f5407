"""Who looks after a service: its owners (its team's members, or its person while no team
owns it) and the approvers; who sees it and who connects to it."""

from django.contrib.auth import get_user_model
from django.db.models import Q

from portal.accounts.rights import is_approver, is_auditor
from portal.teams import services as teams


def owns(user, service):
    """A service belongs to its team (any member looks after it); one no team owns yet, to
    whoever asked for or adopted it."""
    if service is None or not user.is_authenticated:
        return False
    if service.team_id is not None:
        return service.team_id in teams.team_ids(user)
    return service.owner_id == user.pk


def owners(service):
    """The active people who own `service` (owns()): its team's members, or its person."""
    people = get_user_model().objects.filter(is_active=True)
    if service.team_id is not None:
        return people.filter(team_memberships__team_id=service.team_id).distinct()
    return people.filter(pk=service.owner_id)


def owned_by(user):
    """The services `user` owns (owns()), as a filter on EndpointService."""
    return Q(team__in=teams.team_ids(user)) | Q(team__isnull=True, owner=user)


def may_manage(user, service):
    """Owners and approvers look after a service: refresh it, accept its drift, change it."""
    return owns(user, service) or is_approver(user)


def sees_consumers(user, service):
    """Who asks what of a service, and which accounts may connect, is for its keepers (and
    auditors): its requests, allow-list and connections."""
    return may_manage(user, service) or is_auditor(user)


def can_view_service(user, service):
    """Everyone signed in sees managed services (the catalog); unmanaged ones are for approvers."""
    return user.is_authenticated and (service.managed or is_approver(user) or is_auditor(user))

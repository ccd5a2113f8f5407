"""The provider's groups, mapped to the portal's roles and teams at every sign-in.

Roles are what the portal already knows (policy.py): the Django groups `approvers`,
`auditors` and the escalation group, and staff plus superuser for administrators. Each is
granted by one provider group (OIDC_APPROVERS_GROUP, OIDC_AUDITORS_GROUP,
OIDC_ESCALATION_GROUP, OIDC_ADMINS_GROUP) and taken away when the user is no longer in it.
Every other group is a team (portal/teams): `payments` makes the user a member of the team
payments, `payments-approvers` (OIDC_TEAM_APPROVERS_SUFFIX) one of its approvers.
"""

import logging

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction

from portal.accounts.oidc import SignInRefused, provider_name
from portal.accounts.rights import APPROVERS_GROUP, AUDITORS_GROUP
from portal.audit import chain
from portal.audit.actions import Action
from portal.teams.models import Role
from portal.teams.services import TEAM_NAME_MAX, team_memberships_sync

log = logging.getLogger(__name__)


def role_groups():
    """{portal group: provider group that grants it}."""
    return {
        APPROVERS_GROUP: settings.OIDC_APPROVERS_GROUP,
        AUDITORS_GROUP: settings.OIDC_AUDITORS_GROUP,
        settings.ESCALATION_GROUP: settings.OIDC_ESCALATION_GROUP,
    }


def groups_from_claims(claims):
    """The user's groups at the provider: the groups claim, a list of names (or one name)."""
    name = settings.OIDC_GROUPS_CLAIM
    if name in claims.get("_claim_names", {}):
        # Entra ID's "overage": too many groups to list, only a reference to fetch them.
        raise SignInRefused(
            f"{provider_name()} sent a reference to your groups instead of the groups "
            f"(claim {name!r}): you are in too many. Ask the platform team to send app roles "
            "or only the groups assigned to the portal."
        )
    value = claims.get(name, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(group, str) for group in value):
        raise SignInRefused(
            f"{provider_name()} sent the groups claim {name!r} in a form the portal cannot read "
            "(it expects a list of group names)."
        )
    return value


def user_roles_sync(*, user, groups):
    """Give the user exactly the roles and teams their provider groups grant; audit changes."""
    claimed = set(groups)
    roles = role_groups()
    wanted = {portal for portal, provider in roles.items() if provider in claimed}
    admin = settings.OIDC_ADMINS_GROUP in claimed
    with transaction.atomic():
        added, removed = _managed_groups_set(
            user=user, names=wanted, managed=lambda name: name in roles
        )
        teams_added, teams_removed = user_teams_sync(
            user=user, names=claimed - set(roles.values()) - {settings.OIDC_ADMINS_GROUP}
        )
        admin_changed = (user.is_staff, user.is_superuser) != (admin, admin)
        if admin_changed:
            user.is_staff = user.is_superuser = admin
            user.save(update_fields=["is_staff", "is_superuser"])
        if added or removed or teams_added or teams_removed or admin_changed:
            chain.append(
                action=Action.ROLES_CHANGED,
                actor=user,
                details={
                    "added": sorted(added | teams_added),
                    "removed": sorted(removed | teams_removed),
                    "admin": admin,
                    "source": settings.OIDC_ISSUER,
                },
            )
    user.__dict__.pop("_portal_groups", None)  # rights.in_group's cache


def user_teams_sync(*, user, names):
    """Keep the user's teams as the provider's groups `names` say; return the labels added
    and removed. `<team><OIDC_TEAM_APPROVERS_SUFFIX>` makes the user an approver of <team>;
    with OIDC_TEAM_PREFIX set, only groups named `<prefix><team>` are teams."""
    suffix = settings.OIDC_TEAM_APPROVERS_SUFFIX
    prefix = settings.OIDC_TEAM_PREFIX
    teams = {}
    for name in names:
        if prefix:
            if not name.startswith(prefix) or name == prefix:
                continue  # not a team: "all-staff", "vpn-users", ...
            name = name.removeprefix(prefix)
        role = Role.MEMBER
        if suffix and name.endswith(suffix) and len(name) > len(suffix):
            name, role = name[: -len(suffix)], Role.APPROVER
        if len(name) > TEAM_NAME_MAX:
            log.warning("group %r is too long for a team name; left out", name[:60])
            continue
        if teams.get(name) != Role.APPROVER:
            teams[name] = role
    return team_memberships_sync(user=user, teams=teams)


def _managed_groups_set(*, user, names, managed):
    """Make the user's groups that `managed` covers exactly `names`; leave the others alone."""
    current = {name for name in user.groups.values_list("name", flat=True) if managed(name)}
    added, removed = names - current, current - names
    if added:
        for name in added:
            Group.objects.get_or_create(name=name)
        user.groups.add(*Group.objects.filter(name__in=added))
    if removed:
        user.groups.remove(*Group.objects.filter(name__in=removed))
    return added, removed

"""Team memberships: kept in step with the identity provider, and read for the policy."""

from django.db import transaction

from portal.teams.models import CloudAccount, Membership, Role, Source, Team

TEAM_NAME_MAX = Team._meta.get_field("name").max_length


def team_memberships_sync(*, user, teams):
    """Make `user`'s provider-made memberships exactly `teams` ({team name: role}).

    Memberships an administrator made are left alone (a provider group cannot take away what
    it did not give), except that the provider's word wins for a team it names. Returns the
    labels added and removed (`team:<name>` for members, `team:<name>:approver` for approvers),
    for the sign-in's audit event.
    """

    def label(name, role):
        return f"team:{name}" + (":approver" if role == Role.APPROVER else "")

    added, removed = set(), set()
    with transaction.atomic():
        current = {
            membership.team.name: membership
            for membership in Membership.objects.filter(user=user).select_related("team")
        }
        for name, membership in current.items():
            if membership.source == Source.PROVIDER and name not in teams:
                membership.delete()
                removed.add(label(name, membership.role))
        for name, role in teams.items():
            membership = current.get(name)
            if membership is None:
                team, _ = Team.objects.get_or_create(name=name)
                Membership.objects.create(team=team, user=user, role=role, source=Source.PROVIDER)
                added.add(label(name, role))
            elif (membership.role, membership.source) != (role, Source.PROVIDER):
                if membership.role != role:
                    removed.add(label(name, membership.role))
                    added.add(label(name, role))
                membership.role, membership.source = role, Source.PROVIDER
                membership.save(update_fields=["role", "source"])
    forget(user)
    return added, removed


def _memberships(user):
    """{team id: role} of `user`, read once per request and kept on the user object."""
    if not user.is_authenticated:
        return {}
    if not hasattr(user, "_portal_teams"):
        user._portal_teams = dict(
            Membership.objects.filter(user=user).values_list("team_id", "role")
        )
    return user._portal_teams


def forget(user):
    user.__dict__.pop("_portal_teams", None)


def team_ids(user):
    """The teams `user` is a member of (approvers are members too)."""
    return set(_memberships(user))


def approving_team_ids(user):
    """The teams whose approver `user` is."""
    return {team for team, role in _memberships(user).items() if role == Role.APPROVER}


def teams_of(user):
    return Team.objects.filter(memberships__user=user).order_by("name")


def accounts_of(user):
    """The cloud accounts `user` may file services in: those of their teams."""
    return (
        CloudAccount.objects.filter(team_links__team__memberships__user=user)
        .distinct()
        .order_by("name")
    )


def account_names():
    """{uid: name} of the company's cloud accounts (a few rows): how pages name an account."""
    return dict(CloudAccount.objects.values_list("uid", "name"))


def account_by_name(text):
    """The uid of a company account named `text` ("payments-prod", or as a list shows it:
    "payments-prod (1000000000000004)"), or None."""
    name = text.strip()
    if name.endswith(")") and " (" in name:
        name = name.rsplit(" (", 1)[0]
    return CloudAccount.objects.filter(name__iexact=name).values_list("uid", flat=True).first()

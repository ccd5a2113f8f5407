"""The portal's roles: who is an approver, an auditor, read-only. Roles are Django groups,
which the provider's groups claim sets at every sign-in (roles.py) or an admin grants."""

APPROVERS_GROUP = "approvers"
AUDITORS_GROUP = "auditors"


def in_group(user, name):
    # Groups are read once per request and cached on the user object.
    if not hasattr(user, "_portal_groups"):
        user._portal_groups = set(user.groups.values_list("name", flat=True))
    return name in user._portal_groups


def roles_read(user):
    """Whether `user`'s groups were read already in this request (so asking costs no query)."""
    return hasattr(user, "_portal_groups")


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

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "portal.accounts"
    verbose_name = "Sign-in"

    def ready(self):
        from portal.accounts import checks, signals  # noqa: F401  (registers them)

        _track_rights()


def _track_rights():
    """Seal every write of who is active, staff or superuser, who is in which group (the
    roles), and which provider identity an account is (portal.audit.grants)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from portal.accounts.models import Identity
    from portal.audit import grants

    user_model = get_user_model()
    grants.track(
        user_model,
        name="user",
        record=lambda user: {
            "is_active": user.is_active,
            "is_staff": user.is_staff,
            "is_superuser": user.is_superuser,
        },
        holder=lambda user: user.pk,
        label=lambda user: {"user": user.get_username()},
        fields=("is_active", "is_staff", "is_superuser"),
    )
    grants.track(
        Group,
        name="group",
        record=lambda group: {"name": group.name},
        holder=lambda group: None,
        label=lambda group: {"group": group.name},
        fields=("name",),
    )
    grants.track_members(
        user_model,
        name="group_member",
        label=lambda row: {"user": row.user.get_username(), "group": row.group.name},
    )
    grants.track(
        Identity,
        name="identity",
        record=lambda identity: {
            "user": identity.user_id,
            "issuer": identity.issuer,
            "subject": identity.subject,
        },
        holder=lambda identity: identity.user_id,
        label=lambda identity: {"user": identity.user.get_username()},
        fields=("user", "issuer", "subject"),
    )

"""The provider's directory, pushed over SCIM 2.0 (django-scim2), made into accounts and roles.

The identity provider's SCIM client creates, changes, deactivates and deletes users and
groups; each change is applied at once, in one transaction, to the portal's accounts: a
person is their identity (issuer, subject: SCIM's `externalId`), as at sign-in; their groups
are roles and teams exactly as the groups claim at sign-in makes them (roles.user_roles_sync),
so teams and their approvers exist before anyone's first sign-in. A deactivation ends the
person's sessions at their next request and their tokens at their next call; a removed group
takes the role away from both at once (both read the account's rights on every request).
Every right written is sealed with source `scim` (portal.audit.grants).
"""

import hmac

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django_scim import exceptions
from django_scim.adapters import SCIMGroup, SCIMUser

from portal.accounts import roles
from portal.accounts.backends import is_break_glass, issuer, name_taken, username_problem
from portal.accounts.models import DirectoryGroup, DirectoryUser, Identity
from portal.audit import chain, grants
from portal.audit.actions import Action

SOURCE = "scim"


class ScimClient:
    """Who calls /scim/v2/ with the provider's bearer secret: the provider, not a person."""

    is_authenticated = True
    is_active = True
    is_superuser = is_staff = False
    pk = None
    # No role and no team: read by the middleware that asks every request's user.
    _portal_groups = frozenset()
    _portal_teams = {}

    def get_username(self):
        return "identity provider (SCIM)"


class ScimBearerMiddleware:
    """Let the provider's SCIM client in with `Authorization: Bearer <SCIM_BEARER_TOKEN>`;
    anyone else (a session cookie included) gets django-scim2's 401. No secret set: SCIM off."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info.startswith("/scim/"):
            secret = settings.SCIM_BEARER_TOKEN
            given = request.headers.get("Authorization", "")
            scheme, _, value = given.partition(" ")
            known = bool(secret) and scheme.lower() == "bearer"
            if known and hmac.compare_digest(value.strip().encode(), secret.encode()):
                request.user = ScimClient()
            else:
                from django.contrib.auth.models import AnonymousUser

                request.user = AnonymousUser()
        return self.get_response(request)


def is_provider(user):
    return isinstance(user, ScimClient)


def base_location(request=None, *args, **kwargs):
    return settings.SITE_URL.rstrip("/")


# --- applying the directory to the portal's accounts ------------------------------------------


def directory_user_apply(*, entry: DirectoryUser):
    """Make the portal's account of `entry` what the directory says: found by its identity,
    made (and bound) if new, renamed, (de)activated; then its roles from its groups."""
    subject = entry.scim_external_id
    if not subject:
        raise exceptions.BadRequestError(
            "externalId is required: it is the subject the provider signs this person in with"
        )
    problem = username_problem(entry.username)
    if problem:
        raise exceptions.BadRequestError(f"userName {entry.username[:150]!r}: {problem}")
    users = get_user_model()
    identity = Identity.objects.filter(issuer=issuer(), subject=subject).select_related("user")
    identity = identity.first()
    if identity is None:
        # An account made before identities were kept (or seeded) with exactly this name is
        # this person's, bound once, as a sign-in binds it; any other holder of the name is not.
        user = (
            users.objects.filter(username=entry.username, identities__isnull=True).first()
            if not is_break_glass(entry.username)
            else None
        )
        made = user is None
        if made:
            _refuse_taken(entry.username, by_other_than=None)
            user = users.objects.create_user(entry.username)
        Identity.objects.create(user=user, issuer=issuer(), subject=subject)
        chain.append(
            action=Action.IDENTITY_LINKED,
            actor=None,
            details={
                "username": user.get_username(),
                "issuer": issuer(),
                "subject": subject,
                "new_account": made,
                "source": SOURCE,
            },
        )
    else:
        user = identity.user
        if user.get_username() != entry.username:
            _refuse_taken(entry.username, by_other_than=user.pk)
            before = user.get_username()
            user.username = entry.username
            user.save(update_fields=["username"])
            chain.append(
                action=Action.USERNAME_CHANGED,
                actor=None,
                details={"from": before, "to": entry.username, "issuer": issuer()},
            )
    fields = {
        "first_name": entry.first_name[:150],
        "last_name": entry.last_name[:150],
        "email": entry.email,
        "is_active": entry.is_active and (user.is_active or _provider_deactivated(user)),
    }
    changed = [name for name, value in fields.items() if getattr(user, name) != value]
    for name in changed:
        setattr(user, name, fields[name])
    if changed:
        user.save(update_fields=changed)
    entry.user = user
    return user


def _provider_deactivated(user):
    """Whether the provider (SCIM) is who last turned `user` off: then it may turn them on.
    An account an administrator deactivated in the portal stays off whatever is pushed."""
    if user.pk is None:
        return True
    return grants.newest_source("user", user) == SOURCE


def _refuse_taken(username, *, by_other_than):
    if is_break_glass(username):
        raise exceptions.IntegrityError(
            f"{username} is a break-glass account of the portal's own: the provider cannot "
            "make or take it"
        )
    if name_taken(get_user_model(), username, by_other_than=by_other_than):
        raise exceptions.IntegrityError(
            f"the portal has another account named {username!r}, of another identity: it is "
            "not given to this one"
        )


def directory_roles_sync(entries):
    """Give each of `entries` the roles and teams its directory groups grant now; a person
    deactivated or deleted holds none."""
    for entry in entries:
        groups = [group.name for group in entry.directory_groups.all()] if entry.is_active else []
        roles.user_roles_sync(user=entry.user, groups=groups)


# --- the adapters django-scim2 calls -------------------------------------------------------


class _Checked:
    """What both adapters check of a call's body before django-scim2 reads it: a body it
    cannot use is a 400 naming what is wrong, never a 500."""

    def validate_dict(self, d):
        if not isinstance(d, dict):
            raise exceptions.BadRequestError("the body must be a JSON object")
        for name, kind in self.TYPES.items():
            if name in d and d[name] is not None and not isinstance(d[name], kind):
                raise exceptions.BadRequestError(f"{name} has the wrong type")
        super().validate_dict(d)

    def _default_validate_op(self, path, value, operation):
        # django-scim2's own names operation["path"] in its message, which a path-less
        # operation lacks (a KeyError, a 500).
        active = path is not None and path.first_path == ("active", None, None)
        if active and not isinstance(value, bool):
            raise exceptions.BadRequestError("active must be true or false")

    def handle_operations(self, operations):
        if not isinstance(operations, list) or not all(
            isinstance(op, dict) and isinstance(op.get("op"), str) for op in operations
        ):
            raise exceptions.BadRequestError("Operations must be a list of objects with an op")
        super().handle_operations(operations)


class DirectoryUserAdapter(_Checked, SCIMUser):
    TYPES = {"userName": str, "externalId": str, "name": dict, "emails": (list, dict)}

    def from_dict(self, d):
        # A password is the provider's to check, never the portal's to keep.
        super().from_dict({name: value for name, value in d.items() if name != "password"})
        if not self.obj.username:
            raise exceptions.BadRequestError("userName is required")

    def parse_path_and_values(self, path, value):
        # Entra ID's PATCH sends `active` as text ("False"), which the spec types boolean.
        return [
            (attr, _boolean(found) if attr.first_path == ("active", None, None) else found)
            for attr, found in super().parse_path_and_values(path, value)
        ]

    def save(self):
        # A PATCH sets attributes without from_dict's checks: the types are checked here.
        if not isinstance(self.obj.username, str) or not self.obj.username:
            raise exceptions.BadRequestError("userName must be a name")
        if not isinstance(self.obj.is_active, bool):
            raise exceptions.BadRequestError("active must be true or false")
        for name in ("first_name", "last_name"):
            if not isinstance(getattr(self.obj, name), str):
                raise exceptions.BadRequestError(f"{name} must be text")
        with transaction.atomic(), grants.acting(source=SOURCE):
            directory_user_apply(entry=self.obj)
            self.obj.save()
            directory_roles_sync([self.obj])

    def delete(self):
        """The provider deleted the person: the account is kept (its requests and history name
        it) but deactivated, with no role left."""
        with transaction.atomic(), grants.acting(source=SOURCE):
            self.obj.is_active = False
            directory_user_apply(entry=self.obj)
            directory_roles_sync([self.obj])
            self.obj.delete()

    @property
    def meta(self):
        return {**super().meta, "lastModified": self.obj.date_joined.isoformat()}


class DirectoryGroupAdapter(_Checked, SCIMGroup):
    TYPES = {"displayName": str, "externalId": str, "members": list}

    def from_dict(self, d):
        super().from_dict(d)
        if not self.obj.name:
            raise exceptions.BadRequestError("displayName is required")
        members = d.get("members")
        self._members = None if members is None else _entries(members)

    def save(self):
        with transaction.atomic(), grants.acting(source=SOURCE):
            before = set(self.obj.members.all()) if self.obj.pk else set()
            self.obj.save()
            if self._members is not None:
                self.obj.members.set(self._members)
            directory_roles_sync(before | set(self.obj.members.all()))

    def delete(self):
        with transaction.atomic(), grants.acting(source=SOURCE):
            members = list(self.obj.members.all())
            self.obj.delete()
            directory_roles_sync(members)

    def handle_add(self, path, value, operation):
        if path.first_path != ("members", None, None):
            raise exceptions.NotImplementedError
        entries = _entries(value or [])
        with grants.acting(source=SOURCE):
            self.obj.members.add(*entries)
            directory_roles_sync(entries)

    def handle_remove(self, path, value, operation):
        if path.first_path != ("members", None, None):
            raise exceptions.NotImplementedError
        entries = _entries(value or []) if value else list(self.obj.members.all())
        with grants.acting(source=SOURCE):
            self.obj.members.remove(*entries)
            directory_roles_sync(entries)

    def handle_replace(self, path, value, operation):
        if path is None and isinstance(value, dict):
            value = value.get("displayName")
        elif path is not None and path.first_path in (
            ("displayName", None, None),
            ("name", None, None),
        ):
            if isinstance(value, list):
                value = value[0].get("value") if value and isinstance(value[0], dict) else None
        else:
            raise exceptions.NotImplementedError
        if not isinstance(value, str) or not value:
            raise exceptions.BadRequestError("displayName must be a name")
        if DirectoryGroup.objects.filter(name=value).exclude(pk=self.obj.pk).exists():
            raise exceptions.IntegrityError(f"there is a group named {value!r} already")
        with grants.acting(source=SOURCE):
            self.obj.name = self.obj.scim_display_name = value
            self.obj.save()
            directory_roles_sync(list(self.obj.members.all()))


def _boolean(value):
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return value


def _entries(members):
    """The directory users `members` ([{"value": id}, ...]) name; 400 for one unknown, and
    for anything else than that list (a malformed list must not empty a group)."""
    if not isinstance(members, list) or not all(
        isinstance(member, dict) and isinstance(member.get("value"), str | int)
        for member in members
    ):
        raise exceptions.BadRequestError('members must be a list of {"value": "<user id>"}')
    ids = [str(member["value"]) for member in members]
    entries = list(DirectoryUser.objects.filter(scim_id__in=ids))
    if len(entries) != len(set(ids)):
        raise exceptions.BadRequestError("a member is not a user of this directory")
    return entries

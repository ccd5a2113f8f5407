"""Who may sign in, and how: everyone through the identity provider, and the break-glass
administrators (only they, only when configured) with a local password."""

import unicodedata

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import SuspiciousOperation, ValidationError
from django.db import IntegrityError, transaction
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from portal.accounts import oidc, roles
from portal.accounts.models import Identity
from portal.audit import chain, grants
from portal.audit.actions import Action

USERNAME_MAX = 150  # Django's
SUBJECT_MAX = 255


def _text(claims, name, limit):
    value = claims.get(name)
    return value[:limit] if isinstance(value, str) else ""


def local_login_enabled():
    return settings.LOCAL_LOGIN_ENABLED and bool(settings.BREAK_GLASS_USERS)


def is_break_glass(username):
    return username.casefold() in {name.casefold() for name in settings.BREAK_GLASS_USERS}


class BreakGlassBackend(ModelBackend):
    """Passwords, for the break-glass accounts alone: everyone else fails as a wrong password
    would (and counts towards django-axes' lockout), on the portal's login page and the admin's."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None or password is None:
            return None
        if not (local_login_enabled() and is_break_glass(username)):
            # As long as a real check, so timing does not tell break-glass names apart.
            get_user_model()().set_password(password)
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def username_problem(username):
    """Why the portal cannot use `username` (from the provider), or None."""
    try:
        if len(username) > USERNAME_MAX:
            raise ValidationError("too long")
        UnicodeUsernameValidator()(username)
        # Full-width and other compatibility letters (U+FF52 for "r") would make a name that
        # looks like another account's; Django would also store them changed.
        if unicodedata.normalize("NFKC", username) != username:
            raise ValidationError("not in its plain form")
    except ValidationError:
        return f"{USERNAME_MAX} characters at most, letters, digits and @ . + - _ only"
    return None


def issuer():
    return settings.OIDC_ISSUER.rstrip("/")


class SingleSignOnBackend(OIDCAuthenticationBackend):
    """A user is who the provider's ID token (and userinfo) says: the account is the one bound
    to the token's issuer and subject (accounts.models.Identity); the username claim, email and
    names are what the provider calls them now; the groups claim sets their roles and teams at
    every sign-in (see roles.py)."""

    get_settings = staticmethod(oidc.setting)

    def __init__(self, *args, **kwargs):
        # Django makes a backend for every request's session; the provider's endpoints are
        # looked up only when someone signs in (see authenticate).
        self.UserModel = get_user_model()

    def authenticate(self, request, **kwargs):
        if request is None or "nonce" not in kwargs:
            return None  # not the OIDC callback: a password, or an admin's check
        self.OIDC_OP_TOKEN_ENDPOINT = oidc.setting("OIDC_OP_TOKEN_ENDPOINT")
        self.OIDC_OP_USER_ENDPOINT = (
            oidc.setting("OIDC_OP_USER_ENDPOINT", "") if settings.OIDC_USE_USERINFO else ""
        )
        self.OIDC_OP_JWKS_ENDPOINT = oidc.setting("OIDC_OP_JWKS_ENDPOINT")
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        self.OIDC_RP_CLIENT_SECRET = settings.OIDC_RP_CLIENT_SECRET
        self.OIDC_RP_SIGN_ALGO = settings.OIDC_RP_SIGN_ALGO
        self.OIDC_RP_IDP_SIGN_KEY = None
        # The account, its roles and teams are what the provider says: it is their grantor.
        with grants.acting(source="provider"):
            return super().authenticate(request, **kwargs)

    def verify_token(self, token, **kwargs):
        """The signature and nonce (mozilla-django-oidc), then who issued it and for whom."""
        payload = super().verify_token(token, **kwargs)
        if payload.get("iss", "").rstrip("/") != settings.OIDC_ISSUER.rstrip("/"):
            raise SuspiciousOperation(f"ID token issued by {payload.get('iss')!r}")
        audience = payload.get("aud")
        audiences = [audience] if isinstance(audience, str) else audience or []
        if settings.OIDC_RP_CLIENT_ID not in audiences:
            raise SuspiciousOperation(f"ID token for {audience!r}")
        return payload

    def get_user(self, user_id):
        """The session's account, if it may still sign in: a deactivation (at the provider,
        through SCIM, or in the admin) ends its open sessions at their next request."""
        user = super().get_user(user_id)
        return user if user is not None and user.is_active else None

    def get_userinfo(self, access_token, id_token, payload):
        """The ID token's claims, completed by the userinfo endpoint when there is one: Entra ID
        sends the username and groups only in the ID token, others only from userinfo."""
        claims = dict(payload)
        if self.OIDC_OP_USER_ENDPOINT:
            info = super().get_userinfo(access_token, id_token, payload)
            if info.get("sub") != payload.get("sub"):
                raise SuspiciousOperation("userinfo describes another subject than the ID token")
            claims.update(info)
        return claims

    def verify_claims(self, claims):
        username = claims.get(settings.OIDC_USERNAME_CLAIM)
        name = settings.OIDC_USERNAME_CLAIM
        if not isinstance(username, str) or not username:
            raise oidc.SignInRefused(
                f"{oidc.provider_name()} did not send your username (claim {name!r}). "
                "Ask the platform team to add it to the portal's client."
            )
        problem = username_problem(username)
        if problem:
            raise oidc.SignInRefused(
                f"The username {username[:USERNAME_MAX]!r} (claim {name!r}) is not one the portal "
                f"can use: {problem}."
            )
        if is_break_glass(username):
            raise oidc.SignInRefused(
                f"{username} is a break-glass account: it signs in with its password only."
            )
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject or len(subject) > SUBJECT_MAX:
            raise oidc.SignInRefused(
                f"{oidc.provider_name()} did not say who you are in a form the portal can keep "
                f"(claim 'sub', {SUBJECT_MAX} characters at most)."
            )
        roles.groups_from_claims(claims)  # refuses a groups claim it cannot read
        return True

    def filter_users_by_claims(self, claims):
        """The account bound to this subject; else, once, an account made before subjects were
        kept that has this username and no identity yet. Never an account another subject has."""
        bound = self.UserModel.objects.filter(
            identities__issuer=issuer(), identities__subject=claims["sub"]
        )
        if bound.exists():
            return bound
        # The username exactly: "REQUESTER" is not bound to requester's account.
        return self.UserModel.objects.filter(
            username=claims[settings.OIDC_USERNAME_CLAIM], identities__isnull=True
        )

    def create_user(self, claims):
        username = claims[settings.OIDC_USERNAME_CLAIM]
        _refuse_taken(username, self.UserModel)
        try:
            with transaction.atomic():
                user = self.UserModel.objects.create_user(username)
                _bind(user, claims, new_account=True)
        except IntegrityError:
            # The same person's second tab signing in at the same moment, or a name taken
            # meanwhile: the lookup decides, as for any sign-in.
            users = self.filter_users_by_claims(claims)
            if len(users) != 1:
                raise _taken(username) from None
            return self.update_user(users[0], claims)
        return self.update_user(user, claims)

    def update_user(self, user, claims):
        if not user.is_active:
            raise oidc.SignInRefused(
                f"{user.get_username()} is deactivated in the portal. Ask an administrator."
            )
        if is_break_glass(user.get_username()):
            # Bound to a subject before it was made a break-glass account: it is one now.
            raise oidc.SignInRefused(
                f"{user.get_username()} is a break-glass account: it signs in with its "
                "password only."
            )
        if not user.identities.filter(issuer=issuer(), subject=claims["sub"]).exists():
            try:
                with transaction.atomic():
                    # One subject per account and issuer (a database constraint): a second
                    # subject binding the same older account at the same moment is refused.
                    _bind(user, claims, new_account=False)
            except IntegrityError:
                raise _taken(user.get_username()) from None
        _rename(user, claims[settings.OIDC_USERNAME_CLAIM])
        fields = {
            "email": _text(claims, "email", 254) or user.email,
            "first_name": _text(claims, "given_name", 150) or user.first_name,
            "last_name": _text(claims, "family_name", 150) or user.last_name,
        }
        changed = [name for name, value in fields.items() if getattr(user, name) != value]
        for name in changed:
            setattr(user, name, fields[name])
        if changed:
            user.save(update_fields=changed)
        roles.user_roles_sync(user=user, groups=roles.groups_from_claims(claims))
        return user


def _taken(username):
    return oidc.SignInRefused(
        f"The portal already has an account named {username!r}, which belongs to another "
        f"identity at {oidc.provider_name()}. Ask an administrator: nobody is signed in "
        "to someone else's account."
    )


def name_taken(users, username, *, by_other_than=None):
    """Whether an account (other than `by_other_than`) has `username`, in any case."""
    return users.objects.filter(username__iexact=username).exclude(pk=by_other_than).exists()


def _refuse_taken(username, users):
    """Refuse a new subject a username an account already has (in any case): the name is
    another person's here, however the provider reuses it."""
    if name_taken(users, username):
        raise _taken(username)


def _bind(user, claims, *, new_account):
    """Keep who `user` is at the provider; audited (a new account, or one made before)."""
    Identity.objects.create(user=user, issuer=issuer(), subject=claims["sub"])
    chain.append(
        action=Action.IDENTITY_LINKED,
        actor=user,
        details={
            "username": user.get_username(),
            "issuer": issuer(),
            "subject": claims["sub"],
            "new_account": new_account,
        },
    )


def _rename(user, username):
    """Take the provider's new name for a person, unless another account has it."""
    if user.get_username() == username:
        return
    if name_taken(type(user), username, by_other_than=user.pk):
        raise oidc.SignInRefused(
            f"{oidc.provider_name()} now calls you {username!r}, the name of another account "
            "in the portal. Ask an administrator."
        )
    before = user.get_username()
    user.username = username
    user.save(update_fields=["username"])
    chain.append(
        action=Action.USERNAME_CHANGED,
        actor=user,
        details={"from": before, "to": username, "issuer": issuer()},
    )

"""Personal access tokens: made, revoked and used, each in the audit log."""

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from portal.api.models import TOKEN_START, AccessToken, token_digest
from portal.audit import chain, grants
from portal.audit.actions import Action

# last_used_at is written at most this often per token: a pipeline polling every few
# seconds would otherwise write the row on every call.
LAST_USED_EVERY = timedelta(seconds=60)
# Longer than any token this portal makes; anything longer is not worth hashing.
MAX_TOKEN_LENGTH = 100


def token_create(*, user, name, scope, expires_at=None) -> tuple[AccessToken, str]:
    """Make a token for `user`; return it and its secret, which is shown once and not kept.

    It expires at `expires_at`, and no later than API_TOKEN_MAX_DAYS from now (never, only
    where API_TOKEN_NEVER_EXPIRE allows it): the row, and its audit event, say when.
    """
    if not settings.API_TOKEN_NEVER_EXPIRE:
        longest = timezone.now() + timedelta(days=settings.API_TOKEN_MAX_DAYS)
        expires_at = longest if expires_at is None else min(expires_at, longest)
    with transaction.atomic():
        prefix = secrets.token_hex(4)
        while AccessToken.objects.filter(prefix=prefix).exists():
            prefix = secrets.token_hex(4)
        raw = f"{TOKEN_START}{prefix}_{secrets.token_urlsafe(32)}"
        with grants.by(user):
            token = AccessToken.objects.create(
                user=user,
                name=name,
                scope=scope,
                prefix=prefix,
                digest=token_digest(raw),
                expires_at=expires_at,
            )
        chain.append(
            action=Action.TOKEN_CREATED,
            actor=user,
            details={
                **token.audit_label(),
                "expires_at": expires_at.isoformat() if expires_at else None,
            },
        )
    return token, raw


def token_revoke(*, token, actor) -> AccessToken:
    """Revoke a token (its owner, or an admin); revoking a revoked token changes nothing."""
    with transaction.atomic():
        token = AccessToken.objects.select_for_update().select_related("user").get(pk=token.pk)
        if token.revoked_at is not None:
            return token
        token.revoked_at = timezone.now()
        token.revoked_by = actor
        with grants.by(actor):
            token.save(update_fields=["revoked_at", "revoked_by"])
        chain.append(
            action=Action.TOKEN_REVOKED,
            actor=actor,
            details={**token.audit_label(), "owner": token.user.get_username()},
        )
    return token


def token_for(raw) -> AccessToken | None:
    """Return the token whose secret `raw` is, usable or not; None for no token of ours."""
    if not raw.startswith(TOKEN_START) or len(raw) > MAX_TOKEN_LENGTH:
        return None
    return AccessToken.objects.select_related("user").filter(digest=token_digest(raw)).first()


def token_used(token, *, address):
    """Note that `token` was just used from `address` (to the minute)."""
    now = timezone.now()
    if token.last_used_at is None or token.last_used_at < now - LAST_USED_EVERY:
        AccessToken.objects.filter(pk=token.pk).update(last_used_at=now, last_used_ip=address)


def token_read_audit(token, *, method, path, address):
    """Record a read with `token` in the audit log, once per API_READ_AUDIT_EVERY.

    Reads change nothing, and pipelines poll: an event per read would bury the writes and
    make every poll take the audit log's one lock. The claim is a conditional update, so
    that several processes record one event, not one each.
    """
    now = timezone.now()
    since = now - timedelta(seconds=settings.API_READ_AUDIT_EVERY)
    with transaction.atomic():
        claimed = (
            AccessToken.objects.filter(pk=token.pk)
            .filter(Q(read_audited_at__isnull=True) | Q(read_audited_at__lt=since))
            .update(read_audited_at=now)
        )
        if claimed:
            chain.append(
                action=Action.API_READ,
                actor=token.user,
                details={
                    **token.audit_label(),
                    "method": method,
                    "path": path,
                    "address": address,
                    "every": settings.API_READ_AUDIT_EVERY,
                },
            )


def api_write_record(*, token, method, path, status, address):
    """Record one write call made with `token`, whatever its answer."""
    chain.append(
        action=Action.API_WRITE,
        actor=token.user,
        details={
            **token.audit_label(),
            "method": method,
            "path": path,
            "status": status,
            "address": address,
        },
    )

"""The one audit log: a gap-free sequence of events, each sealed with a keyed hash.

Event n's hash is HMAC-SHA256, under a key the database does not hold, of event n-1's hash
and event n's whole content (its position, subject, actor, action, states, comment, details,
time and key id). Rewriting any event, or inserting, deleting or reordering one, breaks every
hash after it; recomputing them needs the key. Keys rotate: each event names the key that
sealed it (`key_id`), the first key of AUDIT_HMAC_KEYS seals new events, and the others still
verify old ones.

Appending takes the chain head's row lock, so events are written one at a time in a total
order. Callers append last in their transaction, after their other row locks, so that no
transaction waits on a row while holding the head.
"""

import contextvars
import hashlib
import hmac
import json
from datetime import UTC

import orjson
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from portal.audit.actions import Action

GENESIS = "0" * 64
# The API token of the call being served, if any: every event the call writes names it
# ("via"), so that a timeline says which pipeline did what. Set by the API's authentication,
# cleared when the response leaves (portal.api.middleware).
via = contextvars.ContextVar("audit_via", default=None)
# What an event's hash covers, by attribute name.
CONTENT_FIELDS = [
    "seq",
    "request_id",
    "service_id",
    "actor_id",
    "actor_name",
    "action",
    "from_state",
    "to_state",
    "comment",
    "details",
    "created_at",
    "key_id",
]


def keys():
    """Return {key id: secret bytes} from AUDIT_HMAC_KEYS ("id:secret,..."), current first."""
    parsed = {}
    for entry in settings.AUDIT_HMAC_KEYS:
        key_id, _, secret = entry.partition(":")
        if not key_id or len(secret) < 32:
            raise ImproperlyConfigured(
                "AUDIT_HMAC_KEYS entries are id:secret, with a secret of 32 characters or more"
            )
        parsed[key_id] = secret.encode()
    if not parsed:
        raise ImproperlyConfigured("AUDIT_HMAC_KEYS names no key")
    return parsed


def current_key_id():
    return next(iter(keys()))


def canonical(**fields):
    """Return the bytes an event's hash covers: its content, as stable JSON."""
    return canonical_content({name: fields.get(name) for name in CONTENT_FIELDS})


def canonical_content(fields):
    """canonical() of a dict holding (at least) CONTENT_FIELDS; the walk's fast path."""
    content = {name: fields[name] for name in CONTENT_FIELDS}
    content["created_at"] = fields["created_at"].astimezone(UTC).isoformat(timespec="microseconds")
    return _encode(content)


_encode_text = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def canonical_fast(fields):
    """canonical_content() by orjson, several times faster, for the walk over the whole log.

    The same bytes for what the portal writes (str keys, str/int/bool/None values, sorted by
    code point, no spaces, non-ASCII as is); a value where it could differ (a float, an int
    past 64 bits) is checked again by canonical_content() before anything is called edited.
    """
    content = {name: fields[name] for name in CONTENT_FIELDS}
    content["created_at"] = fields["created_at"].astimezone(UTC).isoformat(timespec="microseconds")
    return orjson.dumps(content, option=orjson.OPT_SORT_KEYS)


def _encode(content):
    return _encode_text(content).encode()


def seal(prev_hash, content, key_id, secrets=None):
    """Return the keyed hash of an event's content after `prev_hash`."""
    secret = (secrets or keys()).get(key_id)
    if secret is None:
        raise KeyError(f"no audit key {key_id!r} in AUDIT_HMAC_KEYS")
    return hmac.new(secret, prev_hash.encode() + b"\n" + content, hashlib.sha256).hexdigest()


def event_content(event):
    return canonical(**{name: getattr(event, name) for name in CONTENT_FIELDS})


def authentic(event, secrets=None):
    """Whether an event's hash is what its key makes of its content and stored prev_hash."""
    try:
        expected = seal(event.prev_hash, event_content(event), event.key_id, secrets)
    except KeyError:
        return False
    return hmac.compare_digest(expected, event.hash)


def append(*, action, actor=None, request_id=None, service_id=None, details=None, **fields):
    """Append one event at the end of the log, in the caller's transaction; return it.

    `action` must be one of actions.Action: ValueError otherwise, which fails the transaction.
    """
    from portal.audit.models import AuditEvent, ChainHead

    action = Action(action).value  # the plain string: what the hash seals
    details = details or {}
    if via.get() is not None:
        details = {**details, "via": via.get()}
    # No savepoint: an event that cannot be written fails the caller's whole transaction.
    with transaction.atomic(savepoint=False):
        head = locked_head()
        key_id = current_key_id()
        event = AuditEvent(
            seq=head.seq + 1,
            request_id=request_id,
            service_id=service_id,
            actor=actor,
            actor_name=actor.get_username() if actor is not None else "",
            action=action,
            details=details,
            created_at=timezone.now(),
            key_id=key_id,
            prev_hash=head.hash or GENESIS,
            **fields,
        )
        event.hash = seal(event.prev_hash, event_content(event), key_id)
        event.save()
        ChainHead.objects.filter(pk=ChainHead.ONLY).update(seq=event.seq, hash=event.hash)
    return event


def locked_head():
    """Return the chain head, locked; make it at the very first append of an empty log."""
    from portal.audit.models import ChainHead

    head = ChainHead.objects.select_for_update().filter(pk=ChainHead.ONLY).first()
    if head is None:
        # An empty database (migrations make the row; a flushed test database has none).
        with transaction.atomic():
            ChainHead.objects.get_or_create(pk=ChainHead.ONLY)
        head = ChainHead.objects.select_for_update().get(pk=ChainHead.ONLY)
    return head

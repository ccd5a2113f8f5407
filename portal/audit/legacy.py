"""The audit chain as it was before the one log: per subject, plain SHA-256, no key.

Kept for the migrations that wrote such chains and for the one that verifies them before
sealing every event into the keyed log; nothing else uses it.
"""

import hashlib
import json
from datetime import UTC

GENESIS = "0" * 64


def canonical(
    *,
    request_id,
    seq,
    actor_id,
    action,
    from_state,
    to_state,
    comment,
    details,
    created_at,
    service_id=None,
):
    """Return the bytes an event's hash covers: its content, as stable JSON.

    The service is left out when there is none, so that events written before services were
    records keep the hashes they were given.
    """
    extra = {} if service_id is None else {"service": service_id}
    return json.dumps(
        {
            **extra,
            "request": request_id,
            "seq": seq,
            "actor": actor_id,
            "action": action,
            "from": from_state,
            "to": to_state,
            "comment": comment,
            "details": details,
            "at": created_at.astimezone(UTC).isoformat(timespec="microseconds"),
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()


# What an event's hash covers, by attribute name (canonical() takes them as keywords).
CONTENT_FIELDS = [
    "request_id",
    "seq",
    "actor_id",
    "action",
    "from_state",
    "to_state",
    "comment",
    "details",
    "created_at",
    "service_id",
]


def event_content(event):
    # Historical models in old migrations have no service.
    return canonical(**{name: getattr(event, name, None) for name in CONTENT_FIELDS})


def chain_hash(prev_hash, content):
    return hashlib.sha256(prev_hash.encode() + b"\n" + content).hexdigest()

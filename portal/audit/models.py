import hashlib
import json
from datetime import UTC

from django.conf import settings
from django.db import models
from django.utils import timezone

GENESIS = "0" * 64


class AppendOnlyError(Exception):
    """Raised on any attempt to change or remove an audit event."""


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("audit events are append-only")

    def delete(self):
        raise AppendOnlyError("audit events are append-only")


class AuditEvent(models.Model):
    """One thing that happened to a service request: a transition, an edit, a cloud call.

    Events are append-only and hash-chained per request: `seq` counts a request's events from
    1, and `hash` covers the event's canonical content and the hash of the event before it.
    The request row keeps the count and the last hash, so removing the newest events shows too.
    """

    request = models.ForeignKey(
        "service_requests.ServiceRequest", on_delete=models.PROTECT, related_name="events"
    )
    seq = models.PositiveIntegerField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty for the system (workers, the reconciler).",
    )
    action = models.CharField(max_length=40)
    from_state = models.CharField(max_length=20, blank=True)
    to_state = models.CharField(max_length=20, blank=True)
    comment = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["request_id", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["request", "seq"], name="audit_event_seq_unique")
        ]
        indexes = [models.Index(fields=["created_at"], name="audit_event_created_idx")]

    def __str__(self):
        return f"{self.action} on request {self.request_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise AppendOnlyError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("audit events are append-only")

    @property
    def actor_name(self):
        return self.actor.get_username() if self.actor_id else "system"

    @property
    def cloud_call(self):
        return self.details.get("cloud_call") if isinstance(self.details, dict) else None


def canonical(
    *, request_id, seq, actor_id, action, from_state, to_state, comment, details, created_at
):
    """Return the bytes an event's hash covers: its content, as stable JSON."""
    return json.dumps(
        {
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
]


def event_content(event):
    return canonical(**{name: getattr(event, name) for name in CONTENT_FIELDS})


def chain_hash(prev_hash, content):
    return hashlib.sha256(prev_hash.encode() + b"\n" + content).hexdigest()


class ChainCheck(models.Model):
    """The outcome of one full verification of the audit chain."""

    checked_at = models.DateTimeField(default=timezone.now)
    ok = models.BooleanField()
    requests_checked = models.PositiveIntegerField()
    events_checked = models.PositiveIntegerField()
    broken_event = models.BigIntegerField(null=True, blank=True)
    broken_request = models.BigIntegerField(null=True, blank=True)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["-checked_at", "-id"]
        get_latest_by = "checked_at"

    def __str__(self):
        return f"{'intact' if self.ok else 'BROKEN'} at {self.checked_at:%Y-%m-%d %H:%M}"

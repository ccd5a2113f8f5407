import hashlib
import json
import time
from datetime import UTC

from django.conf import settings
from django.db import models, transaction
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
    """One thing that happened to a request or an endpoint service: a transition, a cloud call.

    Events are append-only and hash-chained per subject: an event with a request belongs to
    that request's chain, one without to its service's chain. `seq` counts a subject's events
    from 1, and `hash` covers the event's canonical content and the hash of the event before
    it. The subject's row keeps the count and the last hash, so removing the newest events
    shows too.
    """

    request = models.ForeignKey(
        "service_requests.ServiceRequest",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="events",
    )
    service = models.ForeignKey(
        "endpoint_services.EndpointService",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="events",
        help_text="The endpoint service the event concerns, when there is one.",
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
            models.UniqueConstraint(fields=["request", "seq"], name="audit_event_seq_unique"),
            models.UniqueConstraint(
                fields=["service", "seq"],
                condition=models.Q(request__isnull=True),
                name="audit_event_service_seq_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["created_at"], name="audit_event_created_idx"),
            models.Index(fields=["service", "created_at"], name="audit_event_service_idx"),
        ]

    def __str__(self):
        if self.request_id:
            return f"{self.action} on request {self.request_id}"
        return f"{self.action} on service {self.service_id}"

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


CHAIN_FIELDS = ("audit_event_count", "audit_last_hash")


def new_version():
    return time.time_ns()


class AuditedSubject(models.Model):
    """What a request and a service share: the head of their audit chain, and a version.

    `version` changes with every write of the row or its chain, so a page that polls with
    the version it saw learns "nothing changed" from one indexed read. It is a timestamp
    rather than a counter so that two writers never produce the same value.
    """

    audit_event_count = models.PositiveIntegerField(default=0, editable=False)
    audit_last_hash = models.CharField(max_length=64, blank=True, editable=False)
    version = models.BigIntegerField(default=new_version, editable=False)

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            # Only record() moves the chain head: a save from an instance read before some
            # event was appended must not rewind it.
            fields = kwargs.get("update_fields")
            if fields is None:
                fields = [
                    f.name
                    for f in self._meta.concrete_fields
                    if not f.primary_key and f.name not in CHAIN_FIELDS
                ]
            kwargs["update_fields"] = {*fields, "version"}
            self.version = new_version()
        super().save(*args, **kwargs)

    def record(self, action, *, actor, comment="", details=None, from_state=None):
        """Append an audit event to this subject's chain and change its version.

        The chain head lives on this row; locking it orders the subject's events, so callers
        need not hold the lock themselves.
        """
        model = type(self)
        state = getattr(self, "state", None) or getattr(self, "status", "")
        with transaction.atomic():
            head = (
                model.objects.select_for_update()
                .values("audit_event_count", "audit_last_hash")
                .get(pk=self.pk)
            )
            event = AuditEvent(
                seq=head["audit_event_count"] + 1,
                actor=actor,
                action=action,
                from_state=from_state if from_state is not None else state,
                to_state=state,
                comment=comment,
                details=details or {},
                created_at=timezone.now(),
                prev_hash=head["audit_last_hash"] or GENESIS,
                **self.chain_links(),
            )
            event.hash = chain_hash(event.prev_hash, event_content(event))
            event.save()
            self.version = new_version()
            model.objects.filter(pk=self.pk).update(
                audit_event_count=event.seq, audit_last_hash=event.hash, version=self.version
            )
            self.audit_event_count, self.audit_last_hash = event.seq, event.hash
        return event

    def chain_links(self):
        """Return the foreign keys that put an event in this subject's chain."""
        raise NotImplementedError

    def bump_version(self):
        """Say that something a page shows changed, without an event or a save."""
        self.version = new_version()
        type(self).objects.filter(pk=self.pk).update(version=self.version)


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

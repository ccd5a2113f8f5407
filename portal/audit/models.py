import time

from django.conf import settings
from django.db import models, transaction
from django.db.models.fields.json import KT
from django.utils import timezone

from portal.audit.actions import Action


class AppendOnlyError(Exception):
    """Raised on any attempt to change or remove an audit event."""


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("audit events are append-only")

    def delete(self):
        raise AppendOnlyError("audit events are append-only")


class AuditEvent(models.Model):
    """One thing that happened: to a request, to a service, or to the portal itself.

    Events are append-only and form one chain for the whole portal (see `chain.py`): `seq`
    numbers them 1, 2, 3... with no gap, and `hash` seals each event's content to the hash of
    the one before it, with a key the database does not hold.
    """

    seq = models.BigIntegerField(unique=True)
    # The subjects an event is about, by id, as NetBox's ObjectChange names what changed: the
    # log knows no domain table and keeps no foreign key into one. That a subject still exists
    # is what verification checks (the apps' explainers), not a constraint.
    request_id = models.BigIntegerField(
        null=True, blank=True, db_index=True, help_text="The request the event is about, if any."
    )
    service_id = models.BigIntegerField(
        null=True,
        blank=True,
        db_index=True,
        help_text="The endpoint service the event concerns, when there is one.",
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty for the system (workers, the reconciler).",
    )
    # The username at the time: renaming a user later does not rewrite who did what.
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=40, choices=Action.choices)
    from_state = models.CharField(max_length=20, blank=True)
    to_state = models.CharField(max_length=20, blank=True)
    comment = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    key_id = models.CharField(max_length=32)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["seq"]
        indexes = [
            models.Index(fields=["created_at"], name="audit_event_created_idx"),
            models.Index(fields=["request_id", "seq"], name="audit_event_request_idx"),
            models.Index(fields=["service_id", "seq"], name="audit_event_service_idx"),
            # The few events that record rights, read by the worker's replay (grants.history).
            models.Index(
                fields=["seq"],
                condition=models.Q(action="right_recorded"),
                name="audit_event_rights_idx",
            ),
            # A rights row's newest record, asked at every API call of a token (grants._newest).
            models.Index(
                KT("details__table"),
                KT("details__key"),
                models.F("seq").desc(),
                condition=models.Q(action="right_recorded"),
                name="audit_event_right_key_idx",
            ),
        ]

    def __str__(self):
        if self.request_id:
            return f"#{self.seq} {self.action} on request {self.request_id}"
        if self.service_id:
            return f"#{self.seq} {self.action} on service {self.service_id}"
        return f"#{self.seq} {self.action}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise AppendOnlyError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("audit events are append-only")

    @property
    def actor_label(self):
        return self.actor_name or ("system" if not self.actor_id else f"user {self.actor_id}")

    @property
    def cloud_call(self):
        return self.details.get("cloud_call") if isinstance(self.details, dict) else None


class ChainHead(models.Model):
    """The end of the audit chain: the last event's position and hash; locked to append."""

    ONLY = 1
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, blank=True)

    def __str__(self):
        return f"head at #{self.seq}"


def new_version():
    return time.time_ns()


class AuditedSubject(models.Model):
    """What requests and services share: events about them, and a version pages poll.

    `version` changes with every write of the row or every event about it, so a page that
    polls with the version it saw learns "nothing changed" from one indexed read. It is a
    timestamp rather than a counter so that two writers never produce the same value.
    """

    version = models.BigIntegerField(default=new_version, editable=False)

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            fields = kwargs.get("update_fields")
            if fields is not None:
                kwargs["update_fields"] = {*fields, "version"}
            self.version = new_version()
        super().save(*args, **kwargs)

    def record(self, action, *, actor, comment="", details=None, from_state=None, saved=False):
        """Append an audit event about this subject and change its version.

        `saved`: the caller has just saved (or made) the row in this transaction, which
        gave it a new version already; one write fewer.
        """
        from portal.audit import chain

        state = getattr(self, "state", None) or getattr(self, "status", "")
        # No savepoint: an event that cannot be written fails the whole transaction.
        with transaction.atomic(savepoint=False):
            if not saved:
                self.version = new_version()
                type(self).objects.filter(pk=self.pk).update(version=self.version)
            return chain.append(
                action=action,
                actor=actor,
                from_state=from_state if from_state is not None else state,
                to_state=state,
                comment=comment,
                details=details,
                **self.chain_links(),
            )

    def chain_links(self):
        """Return the subjects an event about this row names: {request_id, service_id}."""
        raise NotImplementedError

    @property
    def events(self):
        """The events about this row, as a queryset: those that name it first among their
        subjects (a request's events name its service too, and are not the service's own)."""
        field, _ = next(iter(self.chain_links().items()))
        return AuditEvent.objects.filter(**{field: self.pk})

    def bump_version(self):
        """Say that something a page shows changed, without an event or a save."""
        self.version = new_version()
        type(self).objects.filter(pk=self.pk).update(version=self.version)


class ChainCheck(models.Model):
    """The outcome of one full verification of the audit chain."""

    checked_at = models.DateTimeField(default=timezone.now)
    ok = models.BooleanField()
    requests_checked = models.PositiveIntegerField()
    services_checked = models.PositiveIntegerField(default=0)
    events_checked = models.PositiveIntegerField()
    broken_event = models.BigIntegerField(
        null=True, blank=True, help_text="The position (seq) of the first event found wrong."
    )
    broken_request = models.BigIntegerField(null=True, blank=True)
    broken_service = models.BigIntegerField(null=True, blank=True)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["-checked_at", "-id"]
        get_latest_by = "checked_at"

    def __str__(self):
        return f"{'intact' if self.ok else 'BROKEN'} at {self.checked_at:%Y-%m-%d %H:%M}"

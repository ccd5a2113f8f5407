"""The approvers' own record: who lends their deciding to whom, and when."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class DelegationQuerySet(models.QuerySet):
    def active(self, at=None):
        """Delegations in force at `at` (now): within [starts_at, ends_at), not yet revoked."""
        at = at or timezone.now()
        return self.filter(starts_at__lte=at, ends_at__gt=at).filter(
            models.Q(revoked_at__isnull=True) | models.Q(revoked_at__gt=at)
        )

    def current(self, at=None):
        """Delegations not over at `at`: in force, or still to come."""
        at = at or timezone.now()
        return self.filter(ends_at__gt=at, revoked_at__isnull=True)


class Delegation(models.Model):
    """One person lends their deciding to another for a window [starts_at, ends_at).

    The delegate decides with the delegator's right only, as it is at the moment of the
    decision (a delegator who leaves the approvers takes it back), and never passes it on.
    Nobody edits a window after the fact: it is revoked, and both are audit events.
    """

    delegator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="delegations_given"
    )
    delegate = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="delegations_received"
    )
    starts_at = models.DateTimeField("starts")
    ends_at = models.DateTimeField("ends", help_text="The first moment it no longer holds.")
    reason = models.CharField(max_length=300)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )

    objects = DelegationQuerySet.as_manager()

    class Meta:
        # Made by the service_requests app before approvals had one of their own; the table stayed.
        db_table = "service_requests_delegation"
        ordering = ["-starts_at", "-id"]
        indexes = [
            # Whom one decides for now (every queue and decision asks), and whom one lent to.
            models.Index(fields=["delegate", "ends_at"], name="delegation_delegate_idx"),
            models.Index(fields=["delegator", "ends_at"], name="delegation_delegator_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")),
                name="delegation_ends_after_it_starts",
            ),
            models.CheckConstraint(
                condition=~models.Q(delegate=models.F("delegator")),
                name="delegation_not_to_oneself",
            ),
        ]

    def __str__(self):
        period = f"{self.starts_at:%Y-%m-%d %H:%M} to {self.ends_at:%Y-%m-%d %H:%M}"
        return f"{self.delegate} decides for {self.delegator}, {period}"

    def status(self, at=None):
        """upcoming, active, ended or revoked, at `at` (now)."""
        at = at or timezone.now()
        if self.revoked_at is not None and self.revoked_at <= at:
            return "revoked"
        if at < self.starts_at:
            return "upcoming"
        return "active" if at < self.ends_at else "ended"

    def audit_details(self):
        """What the audit log keeps of a delegation."""
        return {
            "delegation": self.pk,
            "delegator": self.delegator.get_username(),
            "delegate": self.delegate.get_username(),
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat(),
            "reason": self.reason,
        }

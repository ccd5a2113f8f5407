"""Personal access tokens: what a pipeline signs the API's calls with."""

import hashlib
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

# A token reads plp_<prefix>_<secret>: the prefix names it on pages and in the audit log, the
# whole string is the secret, and only its SHA-256 is kept.
TOKEN_START = "plp_"


def token_digest(raw):
    return hashlib.sha256(raw.encode()).hexdigest()


class Scope(models.TextChoices):
    READ = "read", "Read"
    WRITE = "write", "Read and write"


class AccessToken(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_tokens"
    )
    name = models.CharField(max_length=100, help_text="What uses it, e.g. the pipeline's name.")
    scope = models.CharField(max_length=5, choices=Scope.choices, default=Scope.READ)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    digest = models.CharField(
        max_length=64, unique=True, editable=False, help_text="SHA-256 of the whole token."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True, editable=False)
    # When a read with the token was last written to the audit log (at most once an
    # API_READ_AUDIT_EVERY; every write is).
    read_audited_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="token_user_idx")]

    def __str__(self):
        return f"{self.label} ({self.name})"

    @property
    def label(self):
        """How the token is named where its secret is not shown."""
        return f"{TOKEN_START}{self.prefix}…"

    @property
    def ends_at(self):
        """When the token stops working: when it was made to, and never later than
        API_TOKEN_MAX_DAYS after it was made (tokens made before there was a longest, or with
        a longer one, included), unless the operator allows tokens that never expire."""
        if settings.API_TOKEN_NEVER_EXPIRE:
            return self.expires_at
        longest = self.created_at + timedelta(days=settings.API_TOKEN_MAX_DAYS)
        return longest if self.expires_at is None else min(self.expires_at, longest)

    @property
    def is_expired(self):
        return self.ends_at is not None and self.ends_at <= timezone.now()

    @property
    def is_usable(self):
        return self.revoked_at is None and not self.is_expired

    @property
    def may_write(self):
        return self.scope == Scope.WRITE

    def audit_label(self):
        """What the audit log keeps of the token that made a call."""
        return {"token": self.pk, "prefix": self.prefix, "name": self.name, "scope": self.scope}

"""Teams: who owns services, and who among them decides about them.

A team's members are its service owners (any member may change, refresh or decommission the
team's services and decide who connects to them); its approvers also decide the changes of
those services that carry no risk (policy.route). Memberships come from the identity
provider's groups at every sign-in (source `provider`, kept exactly as the provider says) or
are made by an administrator (source `admin`, which sign-ins leave alone).
"""

from django.conf import settings
from django.db import models


class Team(models.Model):
    name = models.CharField(
        max_length=100,
        unique=True,
        help_text="As the identity provider's group is named (payments, checkout, ...).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Role(models.TextChoices):
    MEMBER = "member", "Member"
    APPROVER = "approver", "Approver"


class Source(models.TextChoices):
    PROVIDER = "provider", "Identity provider"
    ADMIN = "admin", "Administrator"


class Membership(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.ADMIN)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["team__name", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="one_membership_per_team")
        ]
        indexes = [models.Index(fields=["user", "team"], name="membership_user_idx")]

    def __str__(self):
        return f"{self.user} in {self.team} ({self.get_role_display().lower()})"

    def as_record(self):
        return {
            "team": self.team.name,
            "user": self.user.get_username(),
            "role": self.role,
            "source": self.source,
        }

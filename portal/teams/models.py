"""Teams: who owns services, and who among them decides about them.

A team's members are its service owners (any member may change, refresh or decommission the
team's services and decide who connects to them); its approvers also decide the changes of
those services that carry no risk (policy.route). Memberships come from the identity
provider's groups at every sign-in (source `provider`, kept exactly as the provider says) or
are made by an administrator (source `admin`, which sign-ins leave alone).
"""

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

from portal.cloud import services as cloud


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


ROLE_ARN = re.compile(r"^acs:ram::(?P<uid>\d+):role/(?P<name>[A-Za-z0-9.@_-]{1,64})$")
REGION = re.compile(r"^[a-z]{2}(-[a-z0-9]+)+$")


class CloudAccount(models.Model):
    """An Alibaba Cloud account the portal works in: services live in one account and region.

    The portal reaches it by assuming `role_arn` through STS with its own identity (the role
    trusts the portal's account); no key of the account is kept. Its teams file services in
    it. Every write of a row, and of its teams, is a sealed event (portal.audit.grants).
    """

    uid = models.CharField(
        "account id",
        max_length=20,
        unique=True,
        validators=[RegexValidator(r"^[1-9][0-9]{9,19}$", "An account id is 10-20 digits.")],
    )
    name = models.CharField(
        max_length=100, unique=True, help_text="How people call it: payments-prod, networking…"
    )
    role_arn = models.CharField(
        "RAM role ARN",
        max_length=200,
        help_text="acs:ram::<account id>:role/<name>: the role the portal assumes there. It "
        "must trust the portal's own account and carry docs/ram-policy.json.",
    )
    external_id = models.CharField(
        "external id",
        max_length=1224,
        blank=True,
        validators=[
            RegexValidator(r"^[A-Za-z0-9+=,.@:/_-]{2,1224}$", "2-1224 of A-Za-z0-9+=,.@:/_-")
        ],
        help_text="What the role's trust policy requires as sts:ExternalId, if it does.",
    )
    regions = models.JSONField(
        default=list,
        blank=True,
        help_text='The regions the portal works in there: ["cn-shanghai"].',
    )
    teams = models.ManyToManyField(
        Team,
        through="AccountTeam",
        related_name="cloud_accounts",
        blank=True,
        help_text="The teams whose services live in this account: they may file services here.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return f"{self.name} ({self.uid})"

    def clean(self):
        match = ROLE_ARN.match(self.role_arn or "")
        if match is None:
            raise ValidationError(
                {"role_arn": "A role ARN looks like acs:ram::<account id>:role/<name>."}
            )
        if self.uid and match["uid"] != self.uid:
            raise ValidationError(
                {"role_arn": f"This role is in account {match['uid']}, not in {self.uid}."}
            )
        if not isinstance(self.regions, list) or not all(
            isinstance(r, str) and REGION.match(r) for r in self.regions
        ):
            raise ValidationError({"regions": 'A list of region ids: ["cn-hangzhou", ...].'})

    def reach(self):
        """As whom and where the cloud layer calls this account."""
        return cloud.Reach(uid=self.uid, role_arn=self.role_arn, external_id=self.external_id)

    def as_record(self):
        return {
            "uid": self.uid,
            "name": self.name,
            "role_arn": self.role_arn,
            "regions": list(self.regions),
            # Only when set: the records of accounts without one stay as they were sealed.
            **({"external_id": self.external_id} if self.external_id else {}),
        }


class AccountTeam(models.Model):
    """A team's right to file services in a cloud account."""

    account = models.ForeignKey(CloudAccount, on_delete=models.CASCADE, related_name="team_links")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="account_links")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["account__name", "team__name"]
        constraints = [
            models.UniqueConstraint(fields=["account", "team"], name="one_link_per_account_team")
        ]

    def __str__(self):
        return f"{self.team} in {self.account}"

from django.conf import settings
from django.db import models
from django.utils import timezone
from django_scim.models import AbstractSCIMGroupMixin, AbstractSCIMUserMixin


class Identity(models.Model):
    """Who a portal account is at the identity provider: the issuer and the subject (`sub`),
    which OpenID Connect promises the provider never gives to anyone else. The username is
    only what the provider calls the person now; it may change, and may be given to another.

    Kept at the first sign-in; an account made before identities were kept is bound at its
    next sign-in (once: another subject with its username is refused after that).
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="identities"
    )
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name_plural = "identities"
        constraints = [
            models.UniqueConstraint(
                fields=["issuer", "subject"], name="identity_one_account_per_subject"
            ),
            models.UniqueConstraint(
                fields=["user", "issuer"], name="identity_one_subject_per_account"
            ),
        ]

    def __str__(self):
        return f"{self.user} = {self.subject} at {self.issuer}"


class DirectoryUser(AbstractSCIMUserMixin):
    """A person as the identity provider's SCIM client last pushed them: the provider's own
    directory, of which the portal's account (`user`) is what the portal makes (directory.py).

    The account is found by its identity, (issuer, subject): the provider sends the subject
    it signs the person in with as SCIM's `externalId`.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="directory_entry"
    )
    username = models.CharField(max_length=150)
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    email = models.EmailField(blank=True)
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = "directory user"

    def __str__(self):
        return self.username

    @property
    def scim_groups(self):
        return self.directory_groups.all()


class DirectoryGroup(AbstractSCIMGroupMixin):
    """A group at the identity provider, as SCIM pushed it: its name is a role or a team
    (roles.py), as in the groups claim at sign-in."""

    name = models.CharField(max_length=255, unique=True)
    members = models.ManyToManyField(DirectoryUser, related_name="directory_groups", blank=True)

    class Meta:
        verbose_name = "directory group"

    def __str__(self):
        return self.name

    @property
    def user_set(self):
        return self.members

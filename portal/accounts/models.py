from django.conf import settings
from django.db import models
from django.utils import timezone


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

from axes.signals import user_locked_out
from django.dispatch import receiver

from portal.audit import chain


@receiver(user_locked_out)
def record_lockout(sender, request=None, username=None, ip_address=None, **kwargs):
    """A login locked out for too many wrong passwords is an event of the audit log."""
    chain.append(
        action="login_locked_out",
        details={
            "username": username or "",
            "ip_address": ip_address or "",
            "path": getattr(request, "path", ""),
        },
    )

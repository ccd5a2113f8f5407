import hashlib

from axes.signals import user_locked_out
from django.conf import settings
from django.core.cache import cache
from django.dispatch import receiver

from portal.audit import chain
from portal.audit.actions import Action


@receiver(user_locked_out)
def record_lockout(sender, request=None, username=None, ip_address=None, **kwargs):
    """A login locked out for too many wrong passwords is an event of the audit log: once per
    username, address and cool-off. Each attempt while locked out would otherwise append one,
    and anyone could fill the log (and hold its head) without an account."""
    username, ip_address = (username or "")[:150], ip_address or ""
    who = hashlib.sha256(f"{username}\n{ip_address}".encode()).hexdigest()
    if not cache.add(
        f"login-locked-out:{who}", 1, timeout=settings.AXES_COOLOFF_TIME.total_seconds()
    ):
        return
    chain.append(
        action=Action.LOGIN_LOCKED_OUT,
        details={
            "username": username,
            "ip_address": ip_address,
            "path": getattr(request, "path", ""),
        },
    )

from axes.helpers import get_client_ip_address
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from portal.accounts.backends import BreakGlassBackend
from portal.audit import chain
from portal.audit.actions import Action

BREAK_GLASS_BACKEND = f"{BreakGlassBackend.__module__}.{BreakGlassBackend.__qualname__}"


@receiver(user_logged_in)
def record_break_glass_login(sender, request, user, **kwargs):
    """A break-glass sign-in bypasses the identity provider: auditors see each one."""
    if getattr(user, "backend", None) != BREAK_GLASS_BACKEND:
        return
    chain.append(
        action=Action.BREAK_GLASS_LOGIN,
        actor=user,
        details={
            "path": getattr(request, "path", ""),
            "ip_address": get_client_ip_address(request) or "",
        },
    )

"""How often one person may make the portal call the cloud."""

from django.conf import settings
from django.shortcuts import render
from django_ratelimit.core import is_ratelimited


def cloud_budget_spent(request):
    """Count one cloud-calling action of this user; True once over the minute's budget."""
    return is_ratelimited(
        request,
        group="cloud-actions",
        key="user",
        rate=f"{settings.CLOUD_ACTIONS_PER_MINUTE}/m",
        increment=True,
    )


def too_many(request, back):
    """The answer once the budget is spent: 429, nothing done, and when to try again."""
    context = {"limit": settings.CLOUD_ACTIONS_PER_MINUTE, "back": back}
    return render(request, "too_many.html", context, status=429)

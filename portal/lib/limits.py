"""How often one person may make the portal call the cloud, and one API token call the API."""

import math

from django.conf import settings
from django.shortcuts import render
from django_ratelimit import ALL
from django_ratelimit.core import get_usage


def _wait(usage):
    """Seconds until a spent budget allows again (at least 1); None while it is not spent."""
    if usage is None or not usage["should_limit"]:
        return None
    return max(1, math.ceil(usage["time_left"]))


def cloud_budget_wait(request):
    """Count one cloud-calling action of this user; once over the minute's budget, return
    the seconds until the next is allowed (else None)."""
    return _wait(
        get_usage(
            request,
            group="cloud-actions",
            key="user",
            rate=f"{settings.CLOUD_ACTIONS_PER_MINUTE}/m",
            method=ALL,
            increment=True,
        )
    )


def cloud_budget_refusal(request, back):
    """Count one cloud-calling action of this user; once over the minute's budget, return the
    429 answer (nothing done, and when to try again), else None."""
    wait = cloud_budget_wait(request)
    return None if wait is None else too_many(request, back, wait)


def api_token_wait(request, token):
    """Count one API call with `token`; once over its minute's budget, the seconds to wait."""
    return _wait(
        get_usage(
            request,
            group="api-token",
            key=lambda group, request: str(token.pk),
            rate=f"{settings.API_CALLS_PER_MINUTE}/m",
            method=ALL,
            increment=True,
        )
    )


def too_many(request, back, wait):
    """The answer once the budget is spent: 429, nothing done, and when to try again (also as
    Retry-After, which the page's failure message and any client read)."""
    context = {"limit": settings.CLOUD_ACTIONS_PER_MINUTE, "back": back, "wait": wait}
    response = render(request, "too_many.html", context, status=429)
    response["Retry-After"] = str(wait)
    return response

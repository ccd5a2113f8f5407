"""The SLA clock of a pending request, for the queue and the request's page."""

from django import template

from portal.approvals import reminders

register = template.Library()


@register.filter
def waiting_clock(submitted_at):
    """`{% with clock=request.submitted_at|waiting_clock %}`: reminders.clock now."""
    return reminders.clock(submitted_at)


@register.filter
def span(delta):
    """A duration as a person says it, to the nearest: minutes under an hour, hours under two
    days, days."""
    minutes = max(0, round(delta.total_seconds() / 60))
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{round(minutes / 60)} h"
    return f"{round(minutes / (24 * 60))} d"

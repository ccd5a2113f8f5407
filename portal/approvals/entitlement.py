"""Whether those whose approvals a request counts held the right when they gave them.

The answer is the sealed log's (portal.audit.grants), not the rights tables': a membership,
a superuser flag or a delegation written into the database behind the portal's back made
its holder look entitled to the pages, but the log shows no grant, so their approval does not
count. The policy asked is today's (decides_in_own_right); the rights are those the log shows
standing just after the approval's event.
"""

from datetime import datetime
from typing import NamedTuple

from django.contrib.auth import get_user_model

from portal.approvals import policy
from portal.audit import grants


class Given(NamedTuple):
    """An approval as the log sealed it: its event's position and time, who gave it, and for
    whom (a delegate's approval is its delegator's)."""

    seq: int
    at: datetime
    approver: int
    on_behalf_of: int | None


def unentitled(service_request, approvals: list[Given]) -> str | None:
    """Return why one of `approvals` was not its giver's to give, as the log shows, or None."""
    people = {given.approver for given in approvals}
    people |= {given.on_behalf_of for given in approvals if given.on_behalf_of}
    events = grants.history(people)
    for given in approvals:
        held = grants.held_at(events, given.seq)
        approver = _as_of(given.approver, held)
        if approver is None or not approver.is_active:
            return (
                f"user {given.approver} approved (event #{given.seq}) while the log shows no "
                "active account of theirs"
            )
        principal = approver
        if given.on_behalf_of:
            if not _delegated(held, given):
                return (
                    f"user {given.approver} approved for user {given.on_behalf_of} (event "
                    f"#{given.seq}) with no delegation the log shows in force then"
                )
            principal = _as_of(given.on_behalf_of, held)
            if principal is None or not principal.is_active:
                return (
                    f"user {given.on_behalf_of}, for whom user {given.approver} approved "
                    f"(event #{given.seq}), had no active account the log shows"
                )
        if not policy.decides_in_own_right(principal, service_request):
            return (
                f"user {principal.pk} approved (event #{given.seq}) without the right to "
                "decide this request that the log shows them holding then: a right written "
                "into the database behind the portal's back"
            )
    return None


def _as_of(pk, held):
    """The account `pk` with the flags, roles and teams `held` (grants.held_at) gives it, as
    the policy reads them; None if the log knows no such account."""
    flags = held.get(("user", str(pk)))
    if flags is None:
        return None
    user = get_user_model()(pk=pk, **flags)
    groups = {key: row["name"] for (table, key), row in held.items() if table == "group"}
    user._portal_groups = {
        groups.get(str(row["group"]))
        for (table, _key), row in held.items()
        if table == "group_member" and row["user"] == pk
    }
    user._portal_teams = {
        row["team"]: row["role"]
        for (table, _key), row in held.items()
        if table == "team_membership" and row["user"] == pk
    }
    return user


def _delegated(held, given):
    """Whether `held` shows a delegation from the approval's principal to its giver in force
    at the approval's moment."""
    for (table, _key), row in held.items():
        if (
            table == "delegation"
            and (row["delegator"], row["delegate"]) == (given.on_behalf_of, given.approver)
            and datetime.fromisoformat(row["starts_at"]) <= given.at
            and given.at < datetime.fromisoformat(row["ends_at"])
            and (row["revoked_at"] is None or given.at < datetime.fromisoformat(row["revoked_at"]))
        ):
            return True
    return False

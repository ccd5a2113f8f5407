"""The access review: who held which right at a moment, and who granted it, from the sealed
log alone (the right_recorded events of portal.audit.grants), as the quarterly review of a
SOC 2 or ISO 27001 audit asks: approvers, auditors, admins, team approvers, delegates and
write tokens, each with the event that granted it as it then stood."""

import csv
import io
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model

from portal.accounts.rights import APPROVERS_GROUP, AUDITORS_GROUP
from portal.audit import grants
from portal.audit.models import AuditEvent
from portal.teams.models import Role, Team

COLUMNS = [
    "person",
    "right",
    "scope",
    "account_active",
    "granted_by",
    "granted_at",
    "event_seq",
    "source",
]


# What of a row is the right it grants: a change of anything else keeps the grant's event.
SAME_RIGHT = {
    "user": lambda row: row["is_superuser"],
    "team_membership": lambda row: (row["team"], row["role"]),
}
# Who granted what no person wrote, by the source the event names.
GRANTORS = {
    "provider": "the identity provider (sign-in)",
    "scim": "the identity provider (SCIM)",
    grants.UPGRADE: "not recorded (held at upgrade)",
}


@dataclass
class Held:
    person: str
    right: str
    scope: str
    account_active: bool
    granted_by: str
    granted_at: datetime
    event_seq: int
    source: str

    def as_row(self):
        return [
            self.person,
            self.right,
            self.scope,
            "yes" if self.account_active else "no",
            self.granted_by,
            self.granted_at.isoformat(),
            self.event_seq,
            self.source,
        ]


@dataclass
class Review:
    at: datetime
    rows: list[Held]
    # The first moment the log records rights from (None: it records none yet): before it,
    # rights were granted unrecorded, and a review of an earlier date cannot be made.
    recorded_since: datetime | None


def access_review(at) -> Review:
    """Who held which right at `at`, by the events sealed up to then."""
    standing = {}
    events = (
        AuditEvent.objects.filter(action=grants.RIGHT, created_at__lte=at)
        .order_by("seq")
        .values_list("seq", "created_at", "actor_name", "details")
    )
    for seq, created_at, actor, details in events.iterator(chunk_size=2000):
        key = (details["table"], details["key"])
        row = details["row"]
        if row is None:
            standing.pop(key, None)
            continue
        before = standing.get(key)
        same = SAME_RIGHT.get(details["table"], lambda row: row)
        if before is not None and same(before[0]) == same(row):
            # The right is as it was (a name or an unrelated flag changed): its grant stands.
            standing[key] = (row, *before[1:])
        else:
            grantor = actor or GRANTORS.get(details["source"], "a shell or script")
            standing[key] = (row, seq, created_at, grantor, details["source"])
    since = (
        AuditEvent.objects.filter(action=grants.RIGHT)
        .order_by("seq")
        .values_list("created_at", flat=True)
        .first()
    )
    return Review(at=at, rows=_rights(standing, at), recorded_since=since)


def _rights(standing, at):
    def of(table):
        return [(key, *value) for (name, key), value in standing.items() if name == table]

    accounts = {int(key): row for key, row, *_ in of("user")}
    groups = {int(key): row["name"] for key, row, *_ in of("group")}
    names = dict(
        get_user_model().objects.filter(pk__in=_people(standing)).values_list("pk", "username")
    )
    teams = dict(Team.objects.values_list("pk", "name"))
    roles = {
        APPROVERS_GROUP: "approver",
        AUDITORS_GROUP: "auditor",
        settings.ESCALATION_GROUP: "escalation",
    }
    found = []

    def held(person, right, scope, seq, created_at, grantor, source):
        found.append(
            Held(
                person=names.get(person, f"user {person}"),
                right=right,
                scope=scope,
                account_active=accounts.get(person, {}).get("is_active", False),
                granted_by=grantor,
                granted_at=created_at,
                event_seq=seq,
                source=source,
            )
        )

    for key, row, *grant in of("user"):
        if row["is_superuser"]:  # the admin site is for superusers alone
            held(int(key), "admin", "", *grant)
    for _key, row, *grant in of("group_member"):
        right = roles.get(groups.get(row["group"]))
        if right:
            held(row["user"], right, "", *grant)
    for _key, row, *grant in of("team_membership"):
        if row["role"] == Role.APPROVER:
            team = teams.get(row["team"], f"team {row['team']}")
            held(row["user"], "team approver", team, *grant)
    for _key, row, *grant in of("delegation"):
        if _in_force(row, at):
            lender = names.get(row["delegator"], f"user {row['delegator']}")
            held(row["delegate"], "delegate", f"for {lender}", *grant)
    for key, row, *grant in of("token"):
        if row["scope"] == "write" and _token_live(row, at):
            held(row["user"], "write token", f"token #{key}", *grant)
    return sorted(found, key=lambda h: (h.right, h.person, h.scope))


def _people(standing):
    people = set()
    for (table, key), (row, *_grant) in standing.items():
        if table == "user":
            people.add(int(key))
        for field in ("user", "delegator", "delegate"):
            if isinstance(row.get(field), int):
                people.add(row[field])
    return people


def _moment(text):
    return datetime.fromisoformat(text) if text else None


def _in_force(row, at):
    revoked = _moment(row["revoked_at"])
    return _moment(row["starts_at"]) <= at < _moment(row["ends_at"]) and (
        revoked is None or at < revoked
    )


def _token_live(row, at):
    """As AccessToken.ends_at counts a token's life."""
    created, revoked = _moment(row["created_at"]), _moment(row["revoked_at"])
    ends = _moment(row["expires_at"])
    if not settings.API_TOKEN_NEVER_EXPIRE:
        longest = created + timedelta(days=settings.API_TOKEN_MAX_DAYS)
        ends = longest if ends is None else min(ends, longest)
    return created <= at and (ends is None or at < ends) and (revoked is None or at < revoked)


def review_csv(review) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for held in review.rows:
        writer.writerow(held.as_row())
    return out.getvalue()

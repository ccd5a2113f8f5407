"""What a decider reads beside the request: what changed since they last looked, the comments
so far, and who has approved and who still can.

Every submission's event keeps the whole content of its revision (`ServiceRequest.explained`),
so an earlier revision is read from the audit log the page loads anyway, not from a copy kept
aside: what the panel compares is what the log attests was submitted.
"""

import difflib
import json
import re
from dataclasses import dataclass

from portal.accounts.backends import is_break_glass
from portal.audit.actions import Action

DECISION_ACTIONS = (Action.APPROVE, Action.APPROVAL_ADDED, Action.SEND_BACK, Action.REJECT)
VERBS = {
    Action.APPROVE: "approved",
    Action.APPROVAL_ADDED: "approved",
    Action.SEND_BACK: "sent back",
    Action.REJECT: "rejected",
    Action.SUBMIT: "submitted",
    Action.CANCEL: "cancelled",
    Action.EDITED: "edited",
}
# The fields of a request's content, in the form's order, named as the page names them.
FIELD_LABELS = {
    "region_id": "region",
    "service_description": "description",
    "service_resource_type": "service resource type",
    "address_ip_version": "IP version",
    "payer": "payer",
    "auto_accept_enabled": "auto-accept",
    "zone_affinity_enabled": "zone affinity",
    "resource_group_id": "resource group",
    "connect_bandwidth": "connection bandwidth",
    "account_id": "consumer account",
}
LIST_KEYS = ("supported_region_list", "resources", "tags", "plan", "justification")
# Past this many words a side, prose is shown as removed and added whole: comparing word by
# word costs the square of the length.
MAX_WORDS = 2000
# The names listed of who can still approve; the rest are counted.
NAMES_SHOWN = 10


@dataclass(frozen=True)
class Line:
    """One line of a diff: `sign` is "+" (added), "-" (removed) or "~" (changed); a change
    of prose carries its pieces, ("same" | "added" | "removed", text)."""

    sign: str
    text: str
    words: tuple = ()

    @property
    def kind(self):
        return {"+": "added", "-": "removed"}.get(self.sign, "changed")


@dataclass(frozen=True)
class Changes:
    since: int
    why: str
    lines: list


@dataclass(frozen=True)
class Comment:
    who: str
    when: object
    verb: str
    revision: int | None
    text: str


@dataclass(frozen=True)
class Standing:
    """Who has approved this revision and who may still, against what the policy needs."""

    more_needed: int
    still_can: list  # (username, is_the_viewer, their delegate or None), the first NAMES_SHOWN
    still_can_more: int
    viewer_can: bool


def _shown(name, value):
    if isinstance(value, bool):
        return "on" if value else "off"
    if value is None or value == "" or value == []:
        return "(none)"
    if name == "service_description":
        return f"“{value}”"
    if name == "connect_bandwidth":
        return f"{value} Mbit/s"
    return str(value)


def _resource(row):
    zone = f" in {row['zone_id']}" if row.get("zone_id") else ""
    return f"resource {row['resource_type']} {row['resource_id']}{zone}"


def _operation(op):
    params = json.dumps(op.get("params") or {}, sort_keys=True, ensure_ascii=False)
    return f"{op['action']} {params}"


def _list_lines(before, after):
    """Lines for the items of two lists: added, then removed, or a reorder of the same."""
    lines = [Line("+", item) for item in after if item not in before]
    lines += [Line("-", item) for item in before if item not in after]
    return lines


def _words(before, after):
    """Return the pieces of a word-by-word comparison of two texts."""
    old, new = re.split(r"(\s+)", before), re.split(r"(\s+)", after)
    if len(old) > MAX_WORDS or len(new) > MAX_WORDS:
        return tuple(p for p in (("removed", before), ("added", after)) if p[1])
    pieces = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            pieces.append(("same", "".join(old[i1:i2])))
            continue
        if i2 > i1:
            pieces.append(("removed", "".join(old[i1:i2])))
        if j2 > j1:
            pieces.append(("added", "".join(new[j1:j2])))
    return tuple(pieces)


def content_diff(before, after):
    """Return what `after` changes of `before` (two revisions' content()), line by line."""
    lines = []
    for name, label in FIELD_LABELS.items():
        old, new = before.get(name), after.get(name)
        if old != new:
            lines.append(Line("~", f"{label}: {_shown(name, old)} → {_shown(name, new)}"))
    lines += _list_lines(
        [f"supported region {r}" for r in before.get("supported_region_list") or []],
        [f"supported region {r}" for r in after.get("supported_region_list") or []],
    )
    old_rows = [_resource(r) for r in before.get("resources") or []]
    new_rows = [_resource(r) for r in after.get("resources") or []]
    lines += _list_lines(old_rows, new_rows)
    if old_rows != new_rows and sorted(old_rows) == sorted(new_rows):
        lines.append(Line("~", "resources: the same, in another order"))
    old_tags = {t["key"]: t["value"] for t in before.get("tags") or []}
    new_tags = {t["key"]: t["value"] for t in after.get("tags") or []}
    for key, value in new_tags.items():
        if key not in old_tags:
            lines.append(Line("+", f"tag {key}={value}"))
        elif old_tags[key] != value:
            lines.append(Line("~", f"tag {key}: {old_tags[key]} → {value}"))
    lines += [
        Line("-", f"tag {key}={value}") for key, value in old_tags.items() if key not in new_tags
    ]
    old_plan = [f"operation {_operation(op)}" for op in before.get("plan") or []]
    new_plan = [f"operation {_operation(op)}" for op in after.get("plan") or []]
    lines += _list_lines(old_plan, new_plan)
    if old_plan != new_plan and sorted(old_plan) == sorted(new_plan):
        lines.append(Line("~", "plan: the same operations, in another order"))
    old_text, new_text = before.get("justification") or "", after.get("justification") or ""
    if old_text != new_text:
        lines.append(Line("~", "justification", _words(old_text, new_text)))
    # Whatever else content() holds (it may grow): said plainly rather than missed.
    for name in sorted((before.keys() | after.keys()) - {*FIELD_LABELS, *LIST_KEYS}):
        if before.get(name) != after.get(name):
            old, new = _shown(name, before.get(name)), _shown(name, after.get(name))
            lines.append(Line("~", f"{name.replace('_', ' ')}: {old} → {new}"))
    return lines


def submitted_contents(events):
    """Return {revision: content} of every submission the request's events record."""
    contents = {}
    for event in events:
        details = event.details if isinstance(event.details, dict) else {}
        if event.action == "submit" and "content" in details and "revision" in details:
            contents[details["revision"]] = details["content"]
    return contents


def _baseline(revision, events, seen, contents):
    """Return (the earlier revision to compare with, why that one), or (None, "")."""
    if seen is not None:
        last = seen.revision if seen.revision < revision else seen.previous_revision
        if last in contents:
            return last, "the last one you saw"
    decided = [
        event
        for event in events
        if event.action in DECISION_ACTIONS and event.details.get("revision") in contents
    ]
    if decided:
        event = decided[-1]
        done = "sent it back" if event.action == "send_back" else f"{VERBS[event.action]} it"
        return event.details["revision"], f"the last one decided on: {event.actor_label} {done}"
    if contents:
        return max(contents), "the previous submission"
    return None, ""


def changes(service_request, events, seen):
    """What the revision awaiting a decision changes of the one `seen` last (a RevisionSeen,
    or None): else of the last revision anyone decided on, else of the previous submission.
    None for a first submission."""
    current = service_request.revision
    contents = {r: c for r, c in submitted_contents(events).items() if r < current}
    since, why = _baseline(current, events, seen, contents)
    if since is None:
        return None
    return Changes(since, why, content_diff(contents[since], service_request.content()))


def resubmission(events):
    """Return the send-back the latest submission answers (an event), or None."""
    waiting = answered = None
    for event in events:
        if event.action == "send_back":
            waiting = event
        elif event.action == "submit":
            answered, waiting = waiting, None
    return answered


def thread(events):
    """Return what people wrote about the request (decisions' comments and reasons, and
    anything else a person said with an event), oldest first."""
    return [
        Comment(
            who=event.actor_label,
            when=event.created_at,
            verb=VERBS.get(event.action, event.action.replace("_", " ")),
            revision=event.details.get("revision") if isinstance(event.details, dict) else None,
            text=event.comment,
        )
        for event in events
        if event.comment and event.actor_id
    ]


def standing(viewer, *, needed, approved, decided, eligible, delegates=None):
    """Who may still approve the revision awaiting a decision: the eligible (as
    policy.eligible_deciders) but those in `decided` (who decided this revision already,
    themselves or through a delegate). `approved`: how many people's approvals bind to it.
    `delegates`: {person's id: their active delegation}, shown as a way to reach them."""
    delegates = delegates or {}
    still = [user for user in eligible if user.pk not in decided]
    # A break-glass account may decide (it is an admin) but is for emergencies: nobody waits
    # on it, so it is not named among who still may.
    listed = [user for user in still if not is_break_glass(user.get_username())]

    def reach(user):
        delegation = delegates.get(user.pk)
        if delegation is None:
            return None
        name = "you" if delegation.delegate_id == viewer.pk else delegation.delegate.get_username()
        return f"or {name} for them, until {delegation.ends_at:%Y-%m-%d %H:%M} UTC"

    return Standing(
        more_needed=max(0, needed - approved),
        still_can=[
            (user.get_username(), user.pk == viewer.pk, reach(user))
            for user in listed[:NAMES_SHOWN]
        ],
        still_can_more=max(0, len(listed) - NAMES_SHOWN),
        viewer_can=any(
            user.pk == viewer.pk
            or getattr(delegates.get(user.pk), "delegate_id", None) == viewer.pk
            for user in still
        ),
    )

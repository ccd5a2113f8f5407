"""A request's cloud calls step by step, as a CI run page shows its steps.

A step is a stretch of the request's life in one state (and, while a plan is applied, on one
of its operations): it begins with the event that moved the request there and holds the
cloud calls the audit log recorded until the next move. The log is read in one query of at
most STEP_LOG_EVENTS events, the newest, so a request retried all night still renders a
page's worth; the query also counts the calls it leaves out.
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, F, Q, Subquery
from django.db.models.fields.json import KT, KeyTransform
from django.db.models.functions import Coalesce

from portal.audit.actions import Action
from portal.audit.models import AuditEvent
from portal.cloud import services as cloud
from portal.service_requests.models import FINAL_STATES, OperationState, State

STEP_LOG_EVENTS = 100
CALL_EVENTS = (Action.CLOUD_CALL, Action.DRY_RUN)
# Events that are neither a move nor a call, yet say something about the work of a step.
NOTES = {Action.RECONCILED: "the reconciler resumed the work"}
# What the query reads of a call's record: not its parameters, nor the content a submission
# or an approval event holds.
CALL_KEYS = ("action", "outcome", "request_id", "duration_ms")


@dataclass
class Call:
    at: datetime
    action: str
    outcome: str
    request_id: str = ""
    duration_ms: int | None = None
    dry_run: bool = False
    already_done: bool = False
    # For an answer the worker retries by itself: "retried", or "retrying" while it waits.
    retry: str = ""

    @property
    def verdict(self):
        """One word for the page: ok, busy (the cloud, retried) or error."""
        if self.outcome == "ok" or self.already_done:
            return "ok"
        if self.dry_run and self.outcome == "DryRunOperation":
            return "ok"
        if cloud.transient(self.outcome, self.action):
            return "busy"
        return "error"


@dataclass
class Step:
    key: int  # the seq of the event that began it: a stable id across polls
    state: str
    started_at: datetime | None  # None when it began before the events read
    operation: int | None = None
    operation_action: str = ""
    by: str = ""  # who moved the request into this step, when a person did
    began: str = ""  # the action that did (submit, approve, retry...)
    ended_at: datetime | None = None
    status: str = "done"  # done, current, failed, final or todo
    error: str = ""
    calls: list[Call] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def label(self):
        if self.operation is not None:
            return f"{self.operation}. {self.operation_action or 'Operation'}"
        if self.state == State.PENDING_APPROVAL:
            return "Submitted"
        return State(self.state).label if self.state in State.values else self.state

    @property
    def seconds(self):
        if self.started_at is None or self.ended_at is None:
            return None
        return max(0, round((self.ended_at - self.started_at).total_seconds()))


@dataclass
class StepLog:
    steps: list[Step]
    earlier_calls: int  # events with calls older than those read (a plan's dry run is one)
    oldest_seq: int | None  # where a page of earlier calls starts (before it)


def _call_events(service_request, before=None):
    """The newest events that begin a step or carry calls, each with the count of all the
    events with calls (a subquery run once: the rows themselves stop at the limit)."""
    events = AuditEvent.objects.filter(request_id=service_request.pk)
    if before is not None:
        events = events.filter(seq__lt=before)
    all_calls = (
        events.filter(action__in=CALL_EVENTS)
        .order_by()
        .values("request_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        events.filter(
            Q(action__in=(*CALL_EVENTS, *NOTES, "created")) | ~Q(from_state=F("to_state"))
        )
        .order_by("-seq")
        .values(
            "seq",
            "created_at",
            "action",
            "from_state",
            "to_state",
            "actor_id",
            "actor_name",
            operation=KT("details__operation"),
            code=KT("details__code"),
            already_done=KT("details__already_done"),
            calls=KeyTransform("cloud_calls", "details"),
            calls_in_all=Coalesce(Subquery(all_calls), 0),
            **{f"call_{key}": KT(f"details__cloud_call__{key}") for key in CALL_KEYS},
        )[:STEP_LOG_EVENTS]
    )


def _calls(row):
    dry_run = row["action"] == Action.DRY_RUN
    if row["call_action"]:
        listed = [{key: row[f"call_{key}"] for key in CALL_KEYS}]
    else:
        listed = row["calls"] or []
    return [
        Call(
            at=row["created_at"],
            action=call.get("action") or "",
            outcome=call.get("outcome") or "",
            request_id=call.get("request_id") or "",
            duration_ms=int(call["duration_ms"]) if call.get("duration_ms") is not None else None,
            dry_run=dry_run,
            # JSON true reads as "true" on PostgreSQL and 1 on SQLite.
            already_done=row["already_done"] in ("true", True, 1),
        )
        for call in listed
    ]


def request_step_log(*, service_request, operations=(), before=None) -> StepLog:
    """Return the steps of `service_request` with their cloud calls, newest STEP_LOG_EVENTS.

    `operations`: the request's plan, to name the steps of each operation and show those not
    reached yet. `before`: a seq, for a page of what came earlier.
    """
    rows = list(_call_events(service_request, before))[::-1]
    names = {op.position + 1: op.action for op in operations}
    steps = []
    for row in rows:
        if row["from_state"] != row["to_state"] or row["action"] == "created":
            if steps:
                steps[-1].ended_at = row["created_at"]
                if row["action"] == "fail":
                    steps[-1].status = "failed"
                    steps[-1].error = row["code"] or ""
            steps.append(
                Step(
                    key=row["seq"],
                    state=row["to_state"],
                    started_at=row["created_at"],
                    by=row["actor_name"] if row["actor_id"] else "",
                    began=row["action"],
                )
            )
            continue
        if not steps:  # the step began before the events read
            steps.append(Step(key=row["seq"], state=row["to_state"], started_at=None))
        step = steps[-1]
        operation = int(row["operation"]) if row["operation"] else None
        if operation is not None and operation != step.operation:
            if step.calls or step.operation is not None:
                step.ended_at = row["created_at"]
                step = Step(key=row["seq"], state=step.state, started_at=row["created_at"])
                steps.append(step)
            step.operation = operation
            step.operation_action = names.get(operation, "")
        if row["action"] in NOTES:
            step.notes.append(NOTES[row["action"]])
        step.calls.extend(_calls(row))
    if before is None:
        _settle(steps, service_request, operations)
    _mark_retries(steps)
    shown = sum(1 for row in rows if row["action"] in CALL_EVENTS)
    return StepLog(
        steps=steps,
        earlier_calls=rows[0]["calls_in_all"] - shown if rows else 0,
        oldest_seq=rows[0]["seq"] if rows else None,
    )


def _settle(steps, service_request, operations):
    """Mark the last step current (or final), and add the operations still to come."""
    if not steps:
        return
    last = steps[-1]
    last.status = "final" if service_request.state in FINAL_STATES else "current"
    if service_request.is_live:
        reached = last.operation or 0
        steps.extend(
            Step(
                key=0,
                state=State.APPLYING,
                started_at=None,
                operation=op.position + 1,
                operation_action=op.action,
                status="todo",
            )
            for op in operations
            if op.position + 1 > reached and op.state == OperationState.PENDING
        )


def _mark_retries(steps):
    """A busy answer followed by another call was retried; the last one of the current step
    waits for its retry."""
    for step in steps:
        for position, call in enumerate(step.calls, 1):
            if call.verdict == "busy":
                if position < len(step.calls):
                    call.retry = "retried"
                elif step.status == "current":
                    call.retry = "retrying"

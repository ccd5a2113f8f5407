"""The worker's side of a request: from approved to Active (create) or applied (the rest).

Every step takes the request's id, locks its row to check and change state, and calls the
cloud outside the lock. Every write carries a stable ClientToken (the request's for Create,
each operation's own for a plan), so any step may run twice (a redelivered message, the
reconciler, a retry) without a second service or a second change.
Each function returns the next step for the task layer to schedule, or None when done.
"""

import logging
import random
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from portal.approvals import notifications, policy
from portal.approvals import tasks as notices
from portal.approvals.entitlement import Given, unentitled
from portal.approvals.services import requests_reroute
from portal.audit import grants
from portal.audit.actions import Action
from portal.audit.services import audit_checkpoint_cover
from portal.cloud import services as cloud
from portal.endpoint_services import plans
from portal.endpoint_services import services as endpoint_services
from portal.endpoint_services.integrity import service_events_problem
from portal.endpoint_services.tasks import refresh_service
from portal.lib.queue import enqueue_on_commit
from portal.service_requests.integrity import request_events_verify
from portal.service_requests.models import (
    LIVE_STATES,
    UNEXPLAINED_CODE,
    Kind,
    OperationState,
    ServiceRequest,
    State,
)
from portal.teams.models import AccountTeam

log = logging.getLogger(__name__)
TIMEOUT_CODE = "ProvisioningTimeout"
INVALID_ANSWER_CODE = "InvalidCloudAnswer"


@dataclass(frozen=True)
class Step:
    task: str  # "provision", "poll" or "apply"
    delay: float
    attempt: int = 0


def poll_delay(attempt):
    return min(settings.PROVISION_POLL_INITIAL * 2**attempt, settings.PROVISION_POLL_MAX)


def retry_delay(attempt, retry_after=None):
    """Back off exponentially with full jitter, never sooner than the cloud's retry-after."""
    ceiling = min(settings.PROVISION_POLL_INITIAL * 2**attempt, settings.PROVISION_RETRY_MAX)
    return max(random.uniform(ceiling / 2, ceiling), float(retry_after or 0))


def _locked(pk, earlier=None):
    """Return the request, locked. `earlier`: this step's first reading of it, whose content
    rows (resources, tags, plan) it keeps if the revision is the same: a step reads them once.
    """
    service_request = ServiceRequest.objects.select_for_update().get(pk=pk)
    if earlier is not None and earlier.revision == service_request.revision:
        cached = getattr(earlier, "_prefetched_objects_cache", None)
        if cached:
            service_request._prefetched_objects_cache = dict(cached)
    return service_request


def _in_chain(service_request, token):
    """Whether a step of the chain `token` may act on the locked request: asked again under
    the lock, since the chain may have been replaced between the task's first look and the
    lock (an approval or a resume committing meanwhile). Tokenless tasks predate chains."""
    return not token or service_request.work_token == token


def _past_deadline(service_request):
    started = service_request.provisioning_started_at
    deadline = timedelta(seconds=settings.PROVISION_DEADLINE)
    return started is not None and timezone.now() - started > deadline


def _record_call(service_request, record, **extra):
    service_request.note_cloud_call(record)
    service_request.save(
        update_fields=[
            "last_cloud_action",
            "last_cloud_outcome",
            "last_cloud_at",
            "cloud_request_id",
            "updated_at",
        ]
    )
    service_request.record(
        Action.CLOUD_CALL, actor=None, details={"cloud_call": record.as_dict(), **extra}, saved=True
    )


def _fail(service_request, code, message, request_id=""):
    if not service_request.is_create and service_request.endpoint_service_id:
        # The service may be left Pending by the operation that failed: read it again.
        enqueue_on_commit(refresh_service, service_request.endpoint_service_id)
    service_request.error_code = code
    service_request.error_message = message
    if request_id:
        service_request.cloud_request_id = request_id
    service_request.move(
        Action.FAIL,
        actor=None,
        details={"code": code, "message": message, "request_id": request_id},
        fields=["error_code", "error_message", "cloud_request_id"],
    )
    enqueue_on_commit(notices.notify_requester, service_request.pk)
    notifications.announce(service_request)


def _timeout(service_request):
    minutes = settings.PROVISION_DEADLINE / 60
    what = "report the service Active" if service_request.is_create else "finish the plan"
    _fail(
        service_request,
        TIMEOUT_CODE,
        f"The cloud did not {what} within {minutes:g} minutes. {_progress(service_request)}"
        "An approver can retry: the same ClientTokens make a duplicate impossible.",
    )


def _handle_error(pk, error, next_step, **extra):
    """Record a failed call; retry a transient error, fail the request on a permanent one."""
    with transaction.atomic():
        service_request = _locked(pk)
        _record_call(service_request, error.record, **extra)
        if service_request.state not in LIVE_STATES:
            return None
        if error.transient and not _past_deadline(service_request):
            return next_step
        if error.transient:
            _timeout(service_request)
        else:
            message = error.message
            if error.code == "EndpointServiceConnectionDependence":
                message += endpoint_services.connected_endpoints(
                    service_request.region_id,
                    service_request.service_id,
                    service_request.reach(),
                )
            if not service_request.is_create:
                message = f"{message} {_progress(service_request)}"
            _fail(service_request, error.code, message, error.request_id)
    return None


# --- nothing acts on what the audit log does not explain ----------------------------------


def _unexplained(service_request):
    """Return why the audit log does not explain this live request, or None if it does.

    The request's events must be sealed with the portal's key and record its content as it
    is; and enough distinct approvers other than the requester must have approved exactly
    that content (revision and digest), as the policy asks today; and, before the first act,
    each must have held the right to, by the log's record of rights (approvals.entitlement).
    """
    digest = service_request.digest()
    report = request_events_verify(service_request, digest=digest)
    if not report.ok:
        return report.message
    counted = {}
    events = service_request.events.filter(
        action__in=(Action.APPROVE, Action.APPROVAL_ADDED, Action.BASELINE)
    )
    for seq, at, details in events.values_list("seq", "created_at", "details"):
        records = [details["approval"]] if "approval" in details else []
        for record in records + details.get("decisions", []):
            if (
                record.get("decision") == "approve"
                and record.get("revision") == service_request.revision
                and record.get("digest") == digest
                and record.get("approver") != service_request.requester_id
                and record.get("on_behalf_of") != service_request.requester_id
            ):
                # A delegate's approval is the delegator's: the two are one person here.
                person = record.get("on_behalf_of") or record["approver"]
                counted[person] = Given(seq, at, record["approver"], record.get("on_behalf_of"))
    needed = policy.required_approvals(service_request).needed
    if len(counted) < needed:
        return (
            f"the audit log holds {len(counted)} approval(s) of this content by someone other "
            f"than the requester; the policy needs {needed}"
        )
    if service_request.state == State.APPROVED:
        # Before the first act on the approvals: were they their givers' to give, and is the
        # service (whose owner may be the one who decided) what its events say? (Later steps
        # follow a start the log sealed after this was asked.)
        service = service_request.endpoint_service
        problem = service and service_events_problem(service)
        if problem:
            return f"the service it is about is not what the log says: {problem}"
        problem = _account_problem(service_request, service)
        if problem:
            return problem
        return unentitled(service_request, list(counted.values()))
    return None


def _account_problem(service_request, service):
    """Why the cloud account this request would act in is not the one the log granted, or
    None: its record (uid, role) must be its newest sealed one, and a create request's team
    must still be granted the account (a row written behind the portal's back would send the
    work, through another role, into another account)."""
    account = service.cloud_account if service else service_request.cloud_account
    if account is None:
        return None
    if not grants.explains("cloud_account", account):
        return f"the cloud account {account.name} is not what the log recorded of it"
    if service is None and service_request.target_team_id is not None:
        link = AccountTeam.objects.filter(
            account=account, team_id=service_request.target_team_id
        ).first()
        if link is None or not grants.explains("cloud_account_team", link):
            return (
                f"the {service_request.target_team} team is not granted the cloud account "
                f"{account.name} by the log"
            )
    return None


def _explained(service_request):
    """Whether the audit log explains this live request; if not, refuse it. Every step of
    the worker and the reconciler asks, whatever the state: a row moved by hand into
    provisioning, creating or applying is refused as one moved into approved is."""
    reason = _unexplained(service_request)
    if reason:
        _refuse(service_request, reason)
        return False
    if service_request.state == State.APPROVED:
        # The decisions are covered by a checkpoint before the first act on them (a line
        # written now, if beat's last one is older): after the cloud call, rolling the
        # database back past them would disagree with the shipped file. A file that cannot be
        # written fails the step; the request stays approved for the next try.
        decided = (
            service_request.events.filter(action__in=(Action.APPROVE, Action.APPROVAL_ADDED))
            .order_by("-seq")
            .values_list("seq", flat=True)
            .first()
        )
        if decided is not None:
            audit_checkpoint_cover(decided)
    return True


def _refuse(service_request, reason):
    """Fail an approved request the log does not explain, without a cloud call; tell admins."""
    service_request.error_code = UNEXPLAINED_CODE
    service_request.error_message = (
        f"The portal did not act on this request: {reason}. An administrator must look at "
        "the audit log before anything is done."
    )
    service_request.move(
        Action.FAIL,
        actor=None,
        details={"code": UNEXPLAINED_CODE, "reason": reason},
        fields=["error_code", "error_message"],
    )
    log.error("refused to act on request #%s: %s", service_request.pk, reason)
    enqueue_on_commit(notices.notify_admins_refused, service_request.pk, reason)


# --- create ------------------------------------------------------------------------------


def service_request_provision(*, pk, attempt=0, token=""):
    """Create the endpoint service of an approved request; return the next Step or None."""
    with transaction.atomic():
        service_request = _locked(pk)
        if not _in_chain(service_request, token):
            return None
        if service_request.state not in (State.APPROVED, State.PROVISIONING):
            return None  # Another run got further; nothing to do.
        if not _explained(service_request):
            return None
        if service_request.state == State.APPROVED:
            service_request.provisioning_started_at = timezone.now()
            service_request.move(
                Action.START_PROVISIONING, actor=None, fields=["provisioning_started_at"]
            )
        if _past_deadline(service_request):
            _timeout(service_request)
            return None
    fields, resources, tags = service_request.create_parameters()
    try:
        body, record = cloud.endpoint_service_create(
            fields=fields,
            resources=resources,
            tags=tags,
            client_token=service_request.client_token,
            reach=service_request.reach(),
        )
    except cloud.CloudError as error:
        retry = Step("provision", retry_delay(attempt, error.retry_after), attempt + 1)
        checks = {"row_checks": [r.as_dict() for r in error.row_checks]} if error.row_checks else {}
        return _handle_error(pk, error, retry, **checks)
    problem = cloud.answer_problem(record.action, body)
    with transaction.atomic():
        service_request = _locked(pk, earlier=service_request)
        if problem:
            return _invalid_answer(service_request, record, problem, State.PROVISIONING)
        _record_call(service_request, record)
        if service_request.state != State.PROVISIONING:
            return None
        service = endpoint_services.endpoint_service_from_create(
            service_request=service_request, body=body
        )
        service_request.endpoint_service = service
        service_request.service_id = body["ServiceId"]
        service_request.service_name = body.get("ServiceName", "")
        service_request.service_domain = body.get("ServiceDomain", "")
        service_request.cloud_status = body.get("ServiceStatus", "")
        fields = [
            "endpoint_service",
            "service_id",
            "service_name",
            "service_domain",
            "cloud_status",
        ]
        details = {"service_id": service_request.service_id}
        if service_request.cloud_status == "Active":
            _went_active(service_request, cloud.service_attributes(body))
            service_request.move(Action.MARK_ACTIVE, actor=None, details=details, fields=fields)
            enqueue_on_commit(notices.notify_requester, service_request.pk)
            notifications.announce(service_request)
            return None
        service_request.move(Action.MARK_CREATING, actor=None, details=details, fields=fields)
    return Step("poll", poll_delay(0), 0)


def _invalid_answer(service_request, record, problem, expected_state):
    """Keep an answer the contract does not allow in the trail, and fail on it: retrying
    with the same ClientToken would get the same answer; an approver decides what next."""
    record.outcome = "InvalidAnswer"
    _record_call(service_request, record, problem=problem)
    if service_request.state == expected_state:
        _fail(
            service_request,
            INVALID_ANSWER_CODE,
            f"The portal did not take the cloud's answer to {record.action}: {problem}. "
            "An approver can retry once the cloud answers as its API says.",
            record.request_id,
        )
    return None


def _went_active(service_request, attributes):
    service = endpoint_services.endpoint_service_went_active(
        service=service_request.endpoint_service,
        attributes=attributes,
        service_request=service_request,
    )
    # Read resources, tags and allow-list once the cloud has settled them.
    enqueue_on_commit(refresh_service, service.pk)


def service_request_poll(*, pk, attempt=0, token=""):
    """Ask the cloud how a creating service is doing; return the next Step or None."""
    with transaction.atomic():
        service_request = _locked(pk)
        if not _in_chain(service_request, token):
            return None
        if service_request.state != State.CREATING or not _explained(service_request):
            return None
        if service_request.endpoint_service_id is None:
            # The portal links the record when the cloud answers Create; without it there is
            # nothing to mark active, and polling would go round for ever.
            _fail(
                service_request,
                "NoServiceRecord",
                "The portal holds no record of the service this request created; an "
                "administrator must look at it.",
            )
            return None
    if _past_deadline(service_request):
        with transaction.atomic():
            service_request = _locked(pk)
            if service_request.state == State.CREATING:
                _timeout(service_request)
        return None
    try:
        body, record = cloud.endpoint_service_get(
            region_id=service_request.region_id,
            service_id=service_request.service_id,
            reach=service_request.reach(),
        )
    except cloud.CloudError as error:
        retry = Step("poll", retry_delay(attempt, error.retry_after), attempt + 1)
        return _handle_error(pk, error, retry)
    problem = cloud.answer_problem(record.action, body) or (
        None
        if body.get("ServiceStatus") in ("Creating", "Active")
        else f"the cloud says the service is {body.get('ServiceStatus')} while it is created"
    )
    with transaction.atomic():
        service_request = _locked(pk, earlier=service_request)
        if problem:
            return _invalid_answer(service_request, record, problem, State.CREATING)
        _record_call(service_request, record)
        if service_request.state != State.CREATING:
            return None
        service_request.cloud_status = body.get("ServiceStatus", "")
        service_request.service_domain = body.get("ServiceDomain") or service_request.service_domain
        if service_request.cloud_status == "Active":
            _went_active(service_request, cloud.service_attributes(body))
            service_request.move(
                Action.MARK_ACTIVE, actor=None, fields=["cloud_status", "service_domain"]
            )
            enqueue_on_commit(notices.notify_requester, service_request.pk)
            notifications.announce(service_request)
            return None
        service_request.save(update_fields=["cloud_status", "service_domain", "updated_at"])
    return Step("poll", poll_delay(attempt + 1), attempt + 1)


# --- change, decommission, adoption --------------------------------------------------------


def _progress(service_request):
    """Say which operations of the plan were applied and which not, for a failure message."""
    operations = list(service_request.operations.all())
    if not operations:
        return ""
    done = [f"{op.position + 1}. {op.action}" for op in operations if op.state == "applied"]
    left = [f"{op.position + 1}. {op.action}" for op in operations if op.state != "applied"]
    return f"Applied: {', '.join(done) or 'none'}. Not applied: {', '.join(left) or 'none'}. "


def _start_applying(pk, token):
    """Move an approved request to applying; return it locked, or None if not for us."""
    service_request = _locked(pk)
    if not _in_chain(service_request, token):
        return None
    if service_request.state not in (State.APPROVED, State.APPLYING):
        return None
    if not _explained(service_request):
        return None
    if service_request.state == State.APPROVED:
        service_request.provisioning_started_at = timezone.now()
        service_request.move(Action.START_APPLYING, actor=None, fields=["provisioning_started_at"])
    if _past_deadline(service_request):
        _timeout(service_request)
        return None
    return service_request


def service_request_apply(*, pk, attempt=0, token=""):
    """Take an approved plan one operation further; return the next Step or None.

    Operations run in order, each with its own ClientToken. An asynchronous one is `called`
    until the service leaves Pending (or, for a deletion, is gone); only then is it `applied`.
    Synchronous ones follow each other in one run.
    """
    for _ in range(50):
        with transaction.atomic():
            service_request = _start_applying(pk, token)
            if service_request is None:
                return None
            operation = service_request.operations.exclude(state=OperationState.APPLIED).first()
        if operation is None:
            return _finish(pk)
        if operation.state == OperationState.CALLED:
            step = _wait_for_service(pk, operation, attempt)
        else:
            step = _call_operation(pk, operation, attempt)
        if step is not None and step.delay == 0 and step.task == "apply":
            attempt = 0
            continue
        return step
    return Step("apply", 0, 0)


def _call_operation(pk, operation, attempt):
    service_request = operation.request
    try:
        _body, record = cloud.endpoint_service_operation(
            action=operation.action,
            region_id=service_request.region_id,
            service_id=service_request.service_id,
            params=operation.params,
            client_token=operation.client_token,
            reach=service_request.reach(),
        )
    except cloud.CloudError as error:
        if error.already_done:
            return _operation_done(pk, operation, error.record, already=True)
        retry = Step("apply", retry_delay(attempt, error.retry_after), attempt + 1)
        return _handle_error(pk, error, retry, operation=operation.position + 1)
    if plans.Operation(operation.action, operation.params).asynchronous:
        with transaction.atomic():
            # Rows first, the audit event last: appending holds the log's head until commit.
            service_request = _locked(pk)
            type(operation).objects.filter(pk=operation.pk).update(
                state=OperationState.CALLED,
                outcome=record.outcome,
                cloud_request_id=record.request_id,
            )
            if service_request.endpoint_service_id:
                service = service_request.endpoint_service
                service.status = "deleting" if operation.action == plans.DELETE else "pending"
                service.save(update_fields=["status", "updated_at"])
            _record_call(service_request, record, operation=operation.position + 1)
        return Step("apply", poll_delay(0), 0)
    return _operation_done(pk, operation, record)


def _operation_done(pk, operation, record, *, already=False, recorded=False):
    """Mark an operation applied, and the service as the portal now approves it.

    `recorded` when the operation's last call is in the trail already. Folding each applied
    operation into what the portal approved at once means a plan that fails half way leaves
    no drift of its own making.
    """
    with transaction.atomic():
        service_request = _locked(pk)
        if service_request.endpoint_service_id and operation.action != plans.DELETE:
            endpoint_services.endpoint_service_operation_applied(
                pk=service_request.endpoint_service_id,
                operation=operation.content(),
                by_request=pk,
            )
        # After a wait, the operation keeps the outcome and RequestId of its own call.
        type(operation).objects.filter(pk=operation.pk).update(
            state=OperationState.APPLIED,
            outcome="already done" if already else operation.outcome or record.outcome,
            cloud_request_id=operation.cloud_request_id or record.request_id,
            applied_at=timezone.now(),
        )
        if recorded:
            service_request.bump_version()
        else:
            _record_call(
                service_request,
                record,
                operation=operation.position + 1,
                **({"already_done": True} if already else {}),
            )
    return Step("apply", 0, 0)


def _wait_for_service(pk, operation, attempt):
    """After an asynchronous operation: is the service out of Pending (or gone)?"""
    service_request = operation.request
    try:
        body, record = cloud.endpoint_service_get(
            region_id=service_request.region_id,
            service_id=service_request.service_id,
            reach=service_request.reach(),
        )
    except cloud.CloudError as error:
        if error.code == "EndpointServiceNotFound" and operation.action == plans.DELETE:
            return _operation_done(pk, operation, error.record)
        retry = Step("apply", retry_delay(attempt, error.retry_after), attempt + 1)
        return _handle_error(pk, error, retry, operation=operation.position + 1)
    status = body.get("ServiceStatus", "")
    problem = cloud.answer_problem(record.action, body)
    with transaction.atomic():
        service_request = _locked(pk)
        if problem:
            return _invalid_answer(service_request, record, problem, State.APPLYING)
        service_request.cloud_status = status
        service_request.save(update_fields=["cloud_status", "updated_at"])
        endpoint_services.endpoint_service_note_reading(
            pk=service_request.endpoint_service_id, attributes=cloud.service_attributes(body)
        )
        _record_call(service_request, record, operation=operation.position + 1)
    if status == "Active" and operation.action != plans.DELETE:
        return _operation_done(pk, operation, record, recorded=True)
    return Step("apply", poll_delay(attempt), attempt + 1)


def _finish(pk):
    """Every operation is applied: the portal now stands behind the result."""
    service_request = ServiceRequest.objects.get(pk=pk)
    service = service_request.endpoint_service
    if service_request.kind == Kind.ADOPT:
        try:
            endpoint_services.endpoint_service_adopt(
                service=service,
                owner=service_request.target_owner,
                team=service_request.target_team,
                by_request=pk,
            )
        except cloud.CloudError as error:
            retry = Step("apply", retry_delay(0, error.retry_after), 1)
            return _handle_error(pk, error, retry)
        except endpoint_services.ServiceRefused as error:
            with transaction.atomic():
                _fail(_locked(pk), "AlreadyManaged", str(error))
            return None
    if service_request.kind == Kind.TRANSFER:
        try:
            with transaction.atomic():
                endpoint_services.endpoint_service_transfer(
                    service=service, team=service_request.target_team, by_request=pk
                )
                service.refresh_from_db()
                requests_reroute(service=service)
        except endpoint_services.ServiceRefused as error:
            with transaction.atomic():
                _fail(_locked(pk), "ServiceDeleted", str(error))
            return None
    with transaction.atomic():
        service_request = _locked(pk)
        if service_request.state != State.APPLYING:
            return None
        if service_request.kind == Kind.DECOMMISSION:
            endpoint_services.endpoint_service_deleted(pk=service.pk)
        service_request.move(Action.MARK_APPLIED, actor=None)
        if service_request.kind == Kind.CHANGE:
            # Drift waits while the portal changes a service; with the plan through, judge.
            endpoint_services.endpoint_service_note_drift(pk=service.pk)
        enqueue_on_commit(notices.notify_requester, service_request.pk)
        notifications.announce(service_request)
    if service_request.kind == Kind.CHANGE:
        enqueue_on_commit(refresh_service, service.pk)
    return None


# --- the reconciler ------------------------------------------------------------------------


def service_request_new_chain(service_request):
    """Give a request a new work token (the caller saves in its transaction); return it."""
    service_request.work_token = uuid.uuid4().hex
    service_request.next_step_at = timezone.now()
    type(service_request).objects.filter(pk=service_request.pk).update(
        work_token=service_request.work_token, next_step_at=service_request.next_step_at
    )
    return service_request.work_token


def chain_is_current(pk, token):
    """Whether a task with `token` belongs to the request's current chain of work."""
    current = ServiceRequest.objects.filter(pk=pk).values_list("work_token", flat=True).first()
    if current is None:
        return False
    # Tasks from before tokens carry none: let them run. A request that never had a token has
    # no chain, so a task that names one is not of it (a stale message, or one for another
    # row that had this id): the step asks again under the lock (_in_chain).
    return not token or token == current


def service_request_step_due(*, pk, token, delay):
    """Note when the chain's next task is due, so the reconciler does not start another."""
    due = timezone.now() + timedelta(seconds=delay)
    ServiceRequest.objects.filter(pk=pk, work_token=token).update(next_step_at=due)


def service_requests_stuck(*, now=None):
    """Return live requests nobody has touched for RECONCILE_AFTER seconds.

    A request whose next task is due later (a poll backing off, a retry after the cloud's
    retry-after) is not stuck until RECONCILE_AFTER after that.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.RECONCILE_AFTER)
    return ServiceRequest.objects.filter(state__in=LIVE_STATES, updated_at__lt=cutoff).filter(
        Q(next_step_at__isnull=True) | Q(next_step_at__lt=cutoff)
    )


def service_request_resume(*, pk):
    """Start a new chain for a stuck request (audited); return (Step, token), or None."""
    with transaction.atomic():
        service_request = _locked(pk)
        if service_request.state not in LIVE_STATES:
            return None
        # Nothing is written about a request the log does not explain but its refusal: a
        # `reconciled` event on a row moved by hand would carry the forgery into the log.
        if not _explained(service_request):
            return None
        idle_since = service_request.updated_at
        token = service_request_new_chain(service_request)
        service_request.save(update_fields=["updated_at"])
        service_request.record(
            Action.RECONCILED,
            actor=None,
            details={"idle_since": idle_since.isoformat()},
        )
    if not service_request.is_create:
        return Step("apply", 0, 0), token
    task = "poll" if service_request.state == State.CREATING else "provision"
    return Step(task, 0, 0), token

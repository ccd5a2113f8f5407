"""Provisioning: from approved to Active through the cloud, exactly once.

Every step takes the request's id, locks its row to check and change state, and calls the
cloud outside the lock. Create always carries the request's stable ClientToken, so any step
may run twice (a redelivered message, the reconciler, a retry) without a second service.
Each function returns the next step for the task layer to schedule, or None when done.
"""

import logging
import random
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from portal.cloud import services as cloud
from portal.service_requests.models import LIVE_STATES, ServiceRequest, State
from portal.service_requests.notifications import notify_requester

log = logging.getLogger(__name__)
TIMEOUT_CODE = "ProvisioningTimeout"


@dataclass(frozen=True)
class Step:
    task: str  # "provision" or "poll"
    delay: float
    attempt: int = 0


def poll_delay(attempt):
    return min(settings.PROVISION_POLL_INITIAL * 2**attempt, settings.PROVISION_POLL_MAX)


def retry_delay(attempt, retry_after=None):
    """Back off exponentially with full jitter, never sooner than the cloud's retry-after."""
    ceiling = min(settings.PROVISION_POLL_INITIAL * 2**attempt, settings.PROVISION_RETRY_MAX)
    return max(random.uniform(ceiling / 2, ceiling), float(retry_after or 0))


def _locked(pk):
    return ServiceRequest.objects.select_for_update().get(pk=pk)


def _past_deadline(service_request):
    started = service_request.provisioning_started_at
    deadline = timedelta(seconds=settings.PROVISION_DEADLINE)
    return started is not None and timezone.now() - started > deadline


def _record_call(service_request, record):
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
    service_request.record("cloud_call", actor=None, details={"cloud_call": record.as_dict()})


def _fail(service_request, code, message, request_id=""):
    service_request.error_code = code
    service_request.error_message = message
    if request_id:
        service_request.cloud_request_id = request_id
    service_request.move(
        "fail",
        actor=None,
        details={"code": code, "message": message, "request_id": request_id},
        fields=["error_code", "error_message", "cloud_request_id"],
    )
    transaction.on_commit(lambda: notify_requester(service_request))


def _timeout(service_request):
    minutes = settings.PROVISION_DEADLINE / 60
    _fail(
        service_request,
        TIMEOUT_CODE,
        f"The cloud did not report the service Active within {minutes:g} minutes. "
        "An approver can retry: the same ClientToken makes a duplicate impossible.",
    )


def _handle_error(pk, error, next_step):
    """Record a failed call; retry a transient error, fail the request on a permanent one."""
    with transaction.atomic():
        service_request = _locked(pk)
        _record_call(service_request, error.record)
        if service_request.state not in LIVE_STATES:
            return None
        if error.transient and not _past_deadline(service_request):
            return next_step
        if error.transient:
            _timeout(service_request)
        else:
            _fail(service_request, error.code, error.message, error.request_id)
    return None


def service_request_provision(*, pk, attempt=0):
    """Create the endpoint service of an approved request; return the next Step or None."""
    with transaction.atomic():
        service_request = _locked(pk)
        if service_request.state == State.APPROVED:
            service_request.provisioning_started_at = timezone.now()
            service_request.move(
                "start_provisioning", actor=None, fields=["provisioning_started_at"]
            )
        elif service_request.state != State.PROVISIONING:
            return None  # Another run got further; nothing to do.
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
        )
    except cloud.CloudError as error:
        retry = Step("provision", retry_delay(attempt, error.retry_after), attempt + 1)
        return _handle_error(pk, error, retry)
    with transaction.atomic():
        service_request = _locked(pk)
        _record_call(service_request, record)
        if service_request.state != State.PROVISIONING:
            return None
        service_request.service_id = body["ServiceId"]
        service_request.service_name = body.get("ServiceName", "")
        service_request.service_domain = body.get("ServiceDomain", "")
        service_request.cloud_status = body.get("ServiceStatus", "")
        fields = ["service_id", "service_name", "service_domain", "cloud_status"]
        details = {"service_id": service_request.service_id}
        if service_request.cloud_status == "Active":
            service_request.move("mark_active", actor=None, details=details, fields=fields)
            transaction.on_commit(lambda: notify_requester(service_request))
            return None
        service_request.move("mark_creating", actor=None, details=details, fields=fields)
    return Step("poll", poll_delay(0), 0)


def service_request_poll(*, pk, attempt=0):
    """Ask the cloud how a creating service is doing; return the next Step or None."""
    service_request = ServiceRequest.objects.get(pk=pk)
    if service_request.state != State.CREATING:
        return None
    if _past_deadline(service_request):
        with transaction.atomic():
            service_request = _locked(pk)
            if service_request.state == State.CREATING:
                _timeout(service_request)
        return None
    try:
        body, record = cloud.endpoint_service_get(
            region_id=service_request.region_id, service_id=service_request.service_id
        )
    except cloud.CloudError as error:
        retry = Step("poll", retry_delay(attempt, error.retry_after), attempt + 1)
        return _handle_error(pk, error, retry)
    with transaction.atomic():
        service_request = _locked(pk)
        _record_call(service_request, record)
        if service_request.state != State.CREATING:
            return None
        service_request.cloud_status = body.get("ServiceStatus", "")
        service_request.service_domain = body.get("ServiceDomain") or service_request.service_domain
        if service_request.cloud_status == "Active":
            service_request.move(
                "mark_active", actor=None, fields=["cloud_status", "service_domain"]
            )
            transaction.on_commit(lambda: notify_requester(service_request))
            return None
        service_request.save(update_fields=["cloud_status", "service_domain", "updated_at"])
    return Step("poll", poll_delay(attempt + 1), attempt + 1)


def service_requests_stuck(*, now=None):
    """Return live requests nobody has touched for RECONCILE_AFTER seconds."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.RECONCILE_AFTER)
    return ServiceRequest.objects.filter(state__in=LIVE_STATES, updated_at__lt=cutoff)


def service_request_resume(*, pk):
    """Mark a stuck request as resumed (audited); return the Step that continues it."""
    with transaction.atomic():
        service_request = _locked(pk)
        if service_request.state not in LIVE_STATES:
            return None
        service_request.record(
            "reconciled",
            actor=None,
            details={"idle_since": service_request.updated_at.isoformat()},
        )
        service_request.save(update_fields=["updated_at"])
    task = "poll" if service_request.state == State.CREATING else "provision"
    return Step(task, 0, 0)

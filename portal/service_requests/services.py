"""What people do to requests: save, validate, submit, decide, cancel, clone.

Each function that changes state locks the request's row, checks the move through the one
state machine (`ServiceRequest.move`), and writes its audit event in the same transaction.
Cloud calls are made outside any lock.
"""

import logging
import time

from django.db import transaction
from django.utils import timezone

from portal.cloud import services as cloud
from portal.provisioning.tasks import provision
from portal.service_requests import policy
from portal.service_requests.models import (
    EDITABLE_FIELDS,
    Approval,
    Decision,
    RequestResource,
    RequestTag,
    ServiceRequest,
)
from portal.service_requests.notifications import notify_approvers, notify_requester

log = logging.getLogger(__name__)
SUBMIT_DRY_RUN_ATTEMPTS = 3


class DecisionRefused(Exception):
    """The user may not take this decision on this request; the message says why."""


def _locked(pk):
    return ServiceRequest.objects.select_for_update().get(pk=pk)


def _replace_rows(service_request, resources, tags):
    service_request.resources.all().delete()
    service_request.tags.all().delete()
    RequestResource.objects.bulk_create(
        RequestResource(request=service_request, position=i, **row)
        for i, row in enumerate(resources)
    )
    RequestTag.objects.bulk_create(
        RequestTag(request=service_request, position=i, **row) for i, row in enumerate(tags)
    )


def _snapshot(service_request):
    fields, resources, tags = service_request.create_parameters()
    return {
        **fields,
        "justification": service_request.justification,
        "resources": resources,
        "tags": tags,
    }


@transaction.atomic
def service_request_create(*, requester, fields, resources, tags):
    service_request = ServiceRequest.objects.create(requester=requester, **fields)
    _replace_rows(service_request, resources, tags)
    service_request.record("created", actor=requester)
    return service_request


@transaction.atomic
def service_request_update(*, pk, actor, fields, resources, tags):
    """Save an edit; any approvals of the current revision are discarded with it."""
    service_request = _locked(pk)
    if service_request.requester_id != actor.pk:
        raise DecisionRefused("Only the requester can edit a request.")
    if not service_request.is_editable:
        raise DecisionRefused(
            f"A request that is {service_request.get_state_display().lower()} cannot be edited."
        )
    before = _snapshot(service_request)
    discarded = service_request.current_approvals().count()
    for name, value in fields.items():
        setattr(service_request, name, value)
    service_request.revision += 1
    service_request.dry_run_ok = None
    service_request.dry_run_code = service_request.dry_run_message = ""
    service_request.dry_run_at = None
    service_request.save()
    _replace_rows(service_request, resources, tags)
    after = _snapshot(service_request)
    changed = sorted(name for name in after if after[name] != before[name])
    details = {"changed": changed, "revision": service_request.revision}
    if discarded:
        details["approvals_discarded"] = discarded
    service_request.record("edited", actor=actor, details=details)
    return service_request


def service_request_clone(*, source, actor):
    """Start a new draft, owned by `actor`, with the parameters of `source`."""
    fields, resources, tags = source.create_parameters()
    fields["justification"] = source.justification
    clone = service_request_create(requester=actor, fields=fields, resources=resources, tags=tags)
    clone.record("cloned", actor=actor, details={"source": source.pk})
    return clone


def service_request_dry_run(*, service_request, actor):
    """Run a DryRun of the saved request, keep the answer on it and in the audit trail."""
    fields, resources, tags = service_request.create_parameters()
    result = cloud.endpoint_service_dry_run(fields=fields, resources=resources, tags=tags)
    with transaction.atomic():
        locked = _locked(service_request.pk)
        if locked.revision == service_request.revision:
            locked.dry_run_ok = result.ok
            locked.dry_run_code = result.code
            locked.dry_run_message = result.message
            locked.dry_run_at = timezone.now()
            locked.save(
                update_fields=[
                    "dry_run_ok",
                    "dry_run_code",
                    "dry_run_message",
                    "dry_run_at",
                    "updated_at",
                ]
            )
        locked.record(
            "dry_run",
            actor=actor,
            details={"cloud_call": result.record.as_dict(), "ok": result.ok},
        )
    service_request.refresh_from_db()
    return result


def service_request_submit(*, service_request, actor):
    """Dry-run the request, then put it in the approvers' queue unless the cloud would refuse.

    Returns the dry run's result. A refusal the cloud would repeat keeps the request where it
    was; a cloud that cannot be reached does not block submission (the approvers see it).
    """
    if service_request.requester_id != actor.pk:
        raise DecisionRefused("Only the requester can submit a request.")
    for attempt in range(SUBMIT_DRY_RUN_ATTEMPTS):
        result = service_request_dry_run(service_request=service_request, actor=actor)
        if not result.transient or attempt == SUBMIT_DRY_RUN_ATTEMPTS - 1:
            break
        # A throttled or briefly unavailable cloud usually answers on the next try.
        time.sleep(min(float(result.retry_after or 0.5), 2.0))
    if not result.ok and not result.transient:
        return result
    with transaction.atomic():
        locked = _locked(service_request.pk)
        locked.move(
            "submit",
            actor=actor,
            details={"dry_run": result.code, "policy": str(policy.required_approvals(locked))},
        )
        transaction.on_commit(lambda: notify_approvers(locked))
    service_request.refresh_from_db()
    return result


@transaction.atomic
def service_request_retry(*, pk, actor):
    """Send a failed request back to provisioning, with the same ClientToken: no duplicate."""
    if not policy.is_approver(actor):
        raise DecisionRefused("Only approvers can retry a failed provisioning.")
    service_request = _locked(pk)
    previous_error = {"code": service_request.error_code, "message": service_request.error_message}
    service_request.error_code = service_request.error_message = ""
    service_request.provisioning_started_at = None
    service_request.move(
        "retry",
        actor=actor,
        details={"previous_error": previous_error},
        fields=["error_code", "error_message", "provisioning_started_at"],
    )
    provision.delay_on_commit(service_request.pk)
    return service_request


@transaction.atomic
def service_request_cancel(*, pk, actor):
    service_request = _locked(pk)
    if service_request.requester_id != actor.pk:
        raise DecisionRefused("Only the requester can cancel a request.")
    service_request.move("cancel", actor=actor)
    return service_request


def service_request_decide(*, pk, approver, decision, comment=""):
    """Record one approver's decision; the last approval the policy needs approves the request.

    The row lock makes concurrent decisions queue up: two approvals at once never count as
    one, and only one of them can move the request to approved.
    """
    with transaction.atomic():
        service_request = _locked(pk)
        refusal = policy.decision_refusal(approver, service_request)
        if refusal:
            raise DecisionRefused(refusal)
        Approval.objects.create(
            request=service_request,
            approver=approver,
            revision=service_request.revision,
            decision=decision,
            comment=comment,
        )
        requirement = policy.required_approvals(service_request)
        if decision == Decision.APPROVE:
            count = service_request.current_approvals().count()
            details = {"approvals": count, "needed": requirement.needed, "policy": str(requirement)}
            if count >= requirement.needed:
                service_request.move("approve", actor=approver, comment=comment, details=details)
                provision.delay_on_commit(service_request.pk)
            else:
                service_request.record(
                    "approval_added", actor=approver, comment=comment, details=details
                )
        else:
            service_request.move(decision, actor=approver, comment=comment)
        if service_request.is_final or service_request.state in ("approved", "changes_requested"):
            transaction.on_commit(lambda: notify_requester(service_request, comment))
    return service_request


def create_fields_from(fields):
    """Keep only the model's fields from an editor's cleaned data."""
    return {name: fields[name] for name in EDITABLE_FIELDS}

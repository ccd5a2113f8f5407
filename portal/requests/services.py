"""What people do to requests: file, save, validate, submit, cancel, retry, clone (deciding
is the approvers': portal.approvals.services).

Each function that changes state locks the request's row, checks the move through the one
state machine (`ServiceRequest.move`), and writes its audit event in the same transaction.
Cloud calls are made outside any lock.
"""

import logging
import time
from functools import partial

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from portal.accounts import rights
from portal.approvals import notifications, policy, tasks
from portal.approvals import services as approval_services
from portal.audit.actions import Action
from portal.cloud import services as cloud
from portal.endpoint_services import keepers, plans
from portal.endpoint_services import services as endpoint_services
from portal.lib.queue import enqueue_on_commit
from portal.requests.kinds import KINDS
from portal.service_requests.exceptions import AlreadyAsked, DecisionRefused, NotAllowed
from portal.service_requests.models import (
    ACCOUNT_KINDS,
    CHANGE_FIELDS,
    EDITABLE_FIELDS,
    EDITABLE_STATES,
    Kind,
    RequestOperation,
    RequestResource,
    RequestTag,
    ServiceRequest,
    State,
)
from portal.service_requests.signals import work_ready

log = logging.getLogger(__name__)
SUBMIT_DRY_RUN_ATTEMPTS = 3


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


def _planned(service_request):
    """Return the operations the request's plan would hold against its service as last read."""
    service = service_request.endpoint_service
    if service_request.kind == Kind.CHANGE:
        return plans.change_plan(service.config(), service_request.desired_config())
    if service_request.kind == Kind.DECOMMISSION:
        summary = [f"delete {service.service_id} ({service.region_id})"]
        return [plans.Operation(plans.DELETE, {}, summary)]
    if service_request.kind in ACCOUNT_KINDS:
        add = service_request.kind == Kind.ACCESS
        account = service_request.account_id
        return [
            plans.Operation(
                plans.ADD_USER if add else plans.REMOVE_USER,
                {"user_id": account},
                [plans.account_line("+" if add else "-", account)],
            )
        ]
    return []


def _replan(service_request):
    """Write the request's plan afresh (each operation with a new ClientToken); return it."""
    operations = _planned(service_request)
    service_request.operations.all().delete()
    RequestOperation.objects.bulk_create(
        RequestOperation(
            request=service_request,
            position=i,
            action=op.action,
            params=op.params,
            summary=op.summary,
        )
        for i, op in enumerate(operations)
    )
    return operations


def request_sent_with(*, requester, submission_key):
    """The request `requester` filed from the form render `submission_key`, or None. Another
    person's key is no key: it names nothing of theirs."""
    if submission_key is None:
        return None
    return ServiceRequest.objects.filter(
        submission_key=submission_key, requester_id=requester.pk
    ).first()


def _sent_already(requester, submission_key):
    """Refuse a form render sent a second time (AlreadyAsked, naming the request it made)."""
    earlier = request_sent_with(requester=requester, submission_key=submission_key)
    if earlier is not None:
        raise AlreadyAsked(
            f"This form was sent already: request #{earlier.pk} is what it filed, and nothing "
            "new was filed.",
            earlier,
        )


def _created(requester, submission_key, **fields):
    """Create the request row with the form render's key; the same key sent twice at once
    (a double click) makes one row, and the second finds it (_sent_already)."""
    _sent_already(requester, submission_key)
    if (
        submission_key is not None
        and ServiceRequest.objects.filter(submission_key=submission_key).exists()
    ):
        submission_key = None  # someone else's: kept on theirs
    try:
        with transaction.atomic():
            return ServiceRequest.objects.create(
                requester=requester, submission_key=submission_key, **fields
            )
    except IntegrityError:
        _sent_already(requester, submission_key)
        raise


@transaction.atomic
def service_request_create(*, requester, fields, resources, tags, submission_key=None):
    if rights.is_read_only(requester):
        raise NotAllowed("Auditors do not make requests.")
    refusal = policy.team_refusal(requester, fields.get("target_team")) or policy.account_refusal(
        fields.get("target_team"), fields.get("cloud_account"), fields.get("region_id")
    )
    if refusal:
        raise NotAllowed(refusal)
    service_request = _created(requester, submission_key, **fields)
    _replace_rows(service_request, resources, tags)
    service_request.record(Action.CREATED, actor=requester, details=service_request.explained())
    return service_request


def _about_service(service):
    """The fields a request about an existing service copies from it, to describe itself."""
    return {
        "endpoint_service": service,
        "service_id": service.service_id,
        "service_name": service.service_name,
        "service_domain": service.service_domain,
        "region_id": service.region_id,
        "service_resource_type": service.service_resource_type or "slb",
        "payer": service.payer or "Endpoint",
        "resource_group_id": service.resource_group_id,
    }


@transaction.atomic
def change_request_create(*, requester, service, fields, resources, tags, submission_key=None):
    """File a change of `service` towards the desired state in `fields`, resources and tags."""
    refusal = KINDS[Kind.CHANGE].refusal(requester, service)
    if refusal:
        raise NotAllowed(refusal)
    service_request = _created(
        requester,
        submission_key,
        kind=Kind.CHANGE,
        **_about_service(service),
        **{name: fields[name] for name in [*CHANGE_FIELDS, "justification"]},
    )
    _replace_rows(service_request, resources, tags)
    _replan(service_request)
    service_request.record(Action.CREATED, actor=requester, details=service_request.explained())
    return service_request


# What a kind's form holds, and the request's field that keeps it.
FORM_FIELDS = {"owner": "target_owner", "team": "target_team", "account_id": "account_id"}


@transaction.atomic
def request_about_service_create(
    *, kind, requester, service, justification, submission_key=None, **data
):
    """File a request of `kind` about `service` from its form's cleaned `data`, as the kind's
    description says (kinds.KINDS): who may file it, what may be open already."""
    described = KINDS[kind]
    _sent_already(requester, submission_key)
    judged = {name: data[name] for name in described.refusal_judges}
    refusal = described.refusal(requester, service, **judged)
    if refusal:
        raise NotAllowed(refusal)
    # The service's row lock makes a double submit (or two people asking at once) take
    # turns: the second finds the first's request, and is sent to it or refused with it.
    service = (
        type(service)
        .objects.select_for_update(of=("self",))
        .select_related("owner")
        .get(pk=service.pk)
    )
    if described.asked_already:
        earlier = _open_for(service.requests.filter(kind=kind), requester).order_by("pk").first()
        if earlier is not None:
            state = earlier.get_state_display().lower()
            message = described.asked_already.format(
                pk=earlier.pk, state=state, team=earlier.target_team
            )
            raise AlreadyAsked(message, earlier)
    if kind in ACCOUNT_KINDS:
        refusal = _account_refusal(service, kind, data["account_id"], requester=requester)
        if refusal:
            raise DecisionRefused(refusal)
    service_request = _created(
        requester,
        submission_key,
        kind=kind,
        justification=justification,
        service_description=service.service_description,
        **_about_service(service),
        **{FORM_FIELDS[name]: value for name, value in data.items()},
    )
    _replan(service_request)
    service_request.record(Action.CREATED, actor=requester, details=service_request.explained())
    return service_request


# The kinds' own names, as their callers know them.
decommission_request_create = partial(request_about_service_create, kind=Kind.DECOMMISSION)
adoption_request_create = partial(request_about_service_create, kind=Kind.ADOPT)
transfer_request_create = partial(request_about_service_create, kind=Kind.TRANSFER)
access_request_create = partial(request_about_service_create, kind=Kind.ACCESS)
revoke_request_create = partial(request_about_service_create, kind=Kind.REVOKE)


def _open_for(queryset, requester):
    """Requests of `queryset` that are submitted and not finished, or `requester`'s own drafts:
    someone else's forgotten draft blocks nobody."""
    return queryset.filter(
        Q(state__in=OPEN_STATES) | Q(state__in=EDITABLE_STATES, requester=requester)
    )


def earlier_access(service, account_id, *, exclude=None, requester=None):
    """Return the request that already asks for, or gave, `account_id` access to `service`.

    A submitted access request for the account (or `requester`'s own draft); else the newest
    applied one, while the account is still on the allow-list (a revoke since frees it).
    """
    asked = service.requests.filter(kind=Kind.ACCESS, account_id=account_id).exclude(pk=exclude)
    open_one = _open_for(asked, requester).order_by("-pk").first()
    if open_one is not None:
        return open_one
    if account_id in service.allowed_users or account_id in (
        service.approved.get("allowed_users") or []
    ):
        return asked.filter(state=State.APPLIED).order_by("-pk").first()
    return None


def _account_refusal(service, kind, account_id, *, requester, exclude=None):
    """Why an access or revoke request for `account_id` cannot be filed or submitted now.

    Someone who does not look after the service learns only that the account cannot be asked
    for (the allow-list and who asked are its keepers' to see).
    """
    reason = _account_reason(service, kind, account_id, requester=requester, exclude=exclude)
    if reason and kind == Kind.ACCESS and not keepers.may_manage(requester, service):
        if reason.startswith("The service is being decommissioned"):
            return reason
        if service.team_id is not None:
            owner = f"the {service.team} team"
        else:
            owner = service.owner.get_username() if service.owner_id else "its owner"
        return (
            f"Account {account_id} already has access to this service, or is already asked "
            f"for; ask the service's owner, {owner}."
        )
    return reason


def _account_reason(service, kind, account_id, *, requester, exclude=None):
    going = service.requests.filter(kind=Kind.DECOMMISSION, state__in=OPEN_STATES).first()
    if kind == Kind.ACCESS and going is not None:
        return f"The service is being decommissioned (request #{going.pk}): nobody new may connect."
    if kind == Kind.ACCESS:
        earlier = earlier_access(service, account_id, exclude=exclude, requester=requester)
        if earlier is not None:
            if earlier.state == State.APPLIED:
                return (
                    f"Account {account_id} already has access to this service: request "
                    f"#{earlier.pk}, applied {earlier.state_changed_at:%Y-%m-%d}."
                )
            return (
                f"Account {account_id} is already asked for: request #{earlier.pk} "
                f"({earlier.get_state_display().lower()})."
            )
        if account_id in service.allowed_users:
            return f"Account {account_id} is already on the allow-list (added outside the portal)."
    else:
        listed = account_id in service.allowed_users or account_id in (
            service.approved.get("allowed_users") or []
        )
        if not listed:
            return f"Account {account_id} is not on the allow-list of this service."
    other = (
        _open_for(service.requests.filter(kind__in=ACCOUNT_KINDS, account_id=account_id), requester)
        .exclude(pk=exclude)
        .first()
    )
    if other is not None:
        return (
            f"Request #{other.pk} ({other.get_kind_display().lower()}) for account "
            f"{account_id} is already open: wait for it to finish, or cancel it."
        )
    return None


@transaction.atomic
def service_request_update(*, pk, actor, fields, resources, tags, expected_revision=None):
    """Save an edit of the revision the editor opened; its approvals are discarded with it."""
    service_request = _locked(pk)
    if service_request.requester_id != actor.pk:
        raise NotAllowed("Only the requester can edit a request.")
    if expected_revision is not None and expected_revision != service_request.revision:
        raise DecisionRefused(
            f"This request changed since you opened it (it is now revision "
            f"{service_request.revision}): your edit was not saved. Open it again to see why."
        )
    if not service_request.is_editable:
        raise DecisionRefused(
            f"A request that is {service_request.get_state_display().lower()} cannot be edited."
        )
    if "target_team" in fields:
        refusal = policy.team_refusal(actor, fields["target_team"])
        if refusal:
            raise NotAllowed(refusal)
    if "cloud_account" in fields:
        refusal = policy.account_refusal(
            fields.get("target_team", service_request.target_team),
            fields["cloud_account"],
            fields.get("region_id", service_request.region_id),
        )
        if refusal:
            raise NotAllowed(refusal)
    before = service_request.content()
    discarded = service_request.current_approvals().count()
    for name, value in fields.items():
        setattr(service_request, name, value)
    service_request.revision += 1
    service_request.dry_run_ok = None
    service_request.dry_run_code = service_request.dry_run_message = ""
    service_request.dry_run_at = None
    service_request.save()
    _replace_rows(service_request, resources, tags)
    _replan(service_request)
    after = service_request.content()
    changed = sorted(name for name in {*after, *before} if after.get(name) != before.get(name))
    details = service_request.explained(changed=changed)
    if discarded:
        details["approvals_discarded"] = discarded
    service_request.record(Action.EDITED, actor=actor, details=details)
    return service_request


def service_request_clone(*, source, actor):
    """Start a new draft, owned by `actor`, with the parameters of a create request."""
    if source.kind != Kind.CREATE:
        raise DecisionRefused("Only create requests can be cloned.")
    fields, resources, tags = source.create_parameters()
    fields["justification"] = source.justification
    if source.target_team is not None and policy.team_refusal(actor, source.target_team) is None:
        fields["target_team"] = source.target_team
        if (
            source.cloud_account is not None
            and policy.account_refusal(source.target_team, source.cloud_account, source.region_id)
            is None
        ):
            fields["cloud_account"] = source.cloud_account
    clone = service_request_create(requester=actor, fields=fields, resources=resources, tags=tags)
    clone.record(Action.CLONED, actor=actor, details={"source": source.pk})
    return clone


# A resource row, as the plan's attach and detach operations hold it.
RESOURCE_FIELDS = ("resource_type", "resource_id", "zone_id")


def dry_run_operations(*, region_id, service_id, operations, reach=cloud.HOME):
    """Dry-run each operation of a plan in order; return the first refusal, or a pass.

    `operations` are plain dicts of action and params. The result's `records` hold every call.
    """
    result, records = None, []
    attaches = any(op["action"] == plans.ATTACH for op in operations)
    for position, op in enumerate(operations):
        if (
            op["action"] == plans.UPDATE
            and op["params"].keys() == {"address_ip_version"}
            and attaches
        ):
            # DualStack waits for the resources this plan attaches; the cloud checks it then.
            continue
        result = cloud.endpoint_service_operation_dry_run(
            action=op["action"],
            region_id=region_id,
            service_id=service_id,
            params=op["params"],
            reach=reach,
        )
        records.append(result.record.as_dict())
        if not result.ok:
            step = op["action"]
            if op["action"] in (plans.ATTACH, plans.DETACH):
                # Which row of the desired resources (or which one removed) it is about.
                row = {k: op["params"].get(k) or "" for k in RESOURCE_FIELDS}
                result.at_fault = [row]
                where = f" in {row['zone_id']}" if row["zone_id"] else ""
                step = f"{step} of {row['resource_id']}{where}"
            result.message = f"Step {position + 1} ({step}): {result.message}"
            if result.code == "EndpointServiceConnectionDependence":
                result.message += endpoint_services.connected_endpoints(
                    region_id, service_id, reach
                )
            break
    if result is None:
        result = cloud.DryRunResult(
            False,
            "EmptyPlan",
            "The plan is empty: the desired state is the service's current state.",
        )
    elif result.ok and len(records) > 1:
        result.message = f"The cloud would accept all {len(records)} operations of this plan."
    result.records = records
    return result


def service_request_dry_run(*, service_request, actor):
    """Dry-run the saved request, keep the answer on it and in the audit trail."""
    if service_request.kind == Kind.CREATE:
        fields, resources, tags = service_request.create_parameters()
        result = cloud.endpoint_service_dry_run(
            fields=fields, resources=resources, tags=tags, reach=service_request.reach()
        )
        # Several calls when the refusal's rows were looked for.
        calls = result.records or ([result.record.as_dict()] if result.record else [])
    elif service_request.kind == Kind.ADOPT:
        result = cloud.DryRunResult(
            True, "NothingToCheck", "Nothing to ask the cloud: adoption reads the service."
        )
        calls = []
    elif service_request.kind == Kind.TRANSFER:
        result = cloud.DryRunResult(
            True, "NothingToCheck", "Nothing to ask the cloud: a transfer changes the owner."
        )
        calls = []
    else:
        result = dry_run_operations(
            region_id=service_request.region_id,
            service_id=service_request.service_id,
            operations=[op.content() for op in service_request.operations.all()],
            reach=service_request.reach(),
        )
        calls = result.records
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
        details = {"ok": result.ok, "revision": service_request.revision}
        if len(calls) == 1:
            details["cloud_call"] = calls[0]
        elif calls:
            details["cloud_calls"] = calls
        locked.record(Action.DRY_RUN, actor=actor, details=details)
    service_request.refresh_from_db()
    return result


OPEN_STATES = (State.PENDING_APPROVAL, State.APPROVED, State.APPLYING)


def _submission_refusal(service_request):
    if not service_request.justification.strip():
        return "Add a justification for the approvers, then submit."
    if service_request.kind == Kind.CREATE and not service_request.resources.exists():
        return "Add at least one resource, then submit."
    if service_request.kind == Kind.CREATE:
        # Named when the draft was made; the requester may have left the team since.
        refusal = policy.team_refusal(
            service_request.requester, service_request.target_team
        ) or policy.account_refusal(
            service_request.target_team, service_request.cloud_account, service_request.region_id
        )
        if refusal:
            return refusal
    service = service_request.endpoint_service
    described = KINDS[service_request.kind]
    if described.refusal is not None:
        # The kind's own rule, as filing judged it; what the form chose is on the request.
        judged = {
            name: getattr(service_request, FORM_FIELDS[name]) for name in described.refusal_judges
        }
        refusal = described.refusal(service_request.requester, service, **judged)
        if refusal:
            return refusal
    if service_request.kind in ACCOUNT_KINDS:
        return _account_refusal(
            service,
            service_request.kind,
            service_request.account_id,
            requester=service_request.requester,
            exclude=service_request.pk,
        )
    if service is not None and not service_request.is_create:
        # One open request per service: plans made against the same state cannot both hold.
        # Allow-list entries are not part of the plans: they do not block one.
        other = (
            service.requests.filter(state__in=OPEN_STATES)
            .exclude(pk=service_request.pk)
            .exclude(kind__in=[Kind.CREATE, *ACCOUNT_KINDS])
            .first()
        )
        if other is not None:
            return (
                f"Request #{other.pk} ({other.get_kind_display().lower()}) is already open for "
                "this service: wait for it to finish, or cancel it, then submit."
            )
    if service_request.kind == Kind.DECOMMISSION:
        asked = service.requests.filter(kind=Kind.ACCESS, state__in=OPEN_STATES).first()
        if asked is not None:
            return (
                f"Access request #{asked.pk} for account {asked.account_id} is open: decide or "
                "let it finish first, so that nobody is let in as the service goes."
            )
    if service_request.kind == Kind.CHANGE and not service_request.operations.exists():
        return "Nothing to change: the desired state is the service's current state."
    return None


def service_request_submit(*, service_request, actor):
    """Dry-run the request, then put it in the approvers' queue unless the cloud would refuse.

    Returns the dry run's result. A refusal the cloud would repeat keeps the request where it
    was; a cloud that cannot be reached does not block submission (the approvers see it).
    The revision submitted is the one checked: an edit saved meanwhile stops the submission.
    """
    if service_request.requester_id != actor.pk:
        raise NotAllowed("Only the requester can submit a request.")
    if not service_request.can("submit"):
        raise DecisionRefused(
            f"A request that is {service_request.get_state_display().lower()} cannot be submitted."
        )
    checked = service_request.revision
    if service_request.kind in ACCOUNT_KINDS:
        # Judge against the allow-list as the cloud holds it now, not as last read.
        _refresh_quietly(service_request.endpoint_service)
    if service_request.kind == Kind.CHANGE:
        _refresh_quietly(service_request.endpoint_service)
        with transaction.atomic():
            locked = _locked(service_request.pk)
            if locked.revision != checked:
                raise DecisionRefused(_EDITED_MEANWHILE)
            before = [op.content() for op in locked.operations.all()]
            replanned = [op.content() for op in _planned(locked)] != before
            if replanned:
                # What the requester saw is not what would be submitted: show it first.
                _replan(locked)
                locked.revision += 1
                locked.save(update_fields=["revision", "updated_at"])
                locked.record(Action.REPLANNED, actor=None, details=locked.explained())
        if replanned:
            raise DecisionRefused(
                "The service changed since this plan was made: the plan below is the new one; "
                "review it, then submit again."
            )
    refusal = _submission_refusal(service_request)
    if refusal:
        raise DecisionRefused(refusal)
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
        if locked.revision != checked:
            raise DecisionRefused(_EDITED_MEANWHILE)
        refusal = _submission_refusal(locked)
        if refusal:
            raise DecisionRefused(refusal)
        deciders = policy.route(locked)
        approval_services.route_keep(locked, deciders)
        locked.move(
            Action.SUBMIT,
            actor=actor,
            details={
                "dry_run": result.code,
                "policy": str(policy.required_approvals(locked)),
                "deciders": str(deciders),
                "route": approval_services.route_record(locked),
            },
            fields=["decided_by", "deciding_team", "routing_reason"],
        )
        enqueue_on_commit(tasks.notify_approvers, locked.pk)
        notifications.announce(locked)
    service_request.refresh_from_db()
    return result


_EDITED_MEANWHILE = "The request was edited while it was being checked; submit it again."


def _refresh_quietly(service):
    """Read the service before planning against it; the last reading serves if it cannot."""
    try:
        endpoint_services.endpoint_service_refresh(pk=service.pk)
    except cloud.CloudError as error:
        log.warning("could not refresh %s before planning: %s", service.service_id, error)
    service.refresh_from_db()


@transaction.atomic
def service_request_retry(*, pk, actor):
    """Send a failed request back to the worker: same ClientTokens, so nothing is duplicated."""
    if not rights.is_approver(actor):
        raise NotAllowed("Only approvers can retry a failed request.")
    service_request = _locked(pk)
    previous_error = {"code": service_request.error_code, "message": service_request.error_message}
    service_request.error_code = service_request.error_message = ""
    service_request.provisioning_started_at = None
    service_request.move(
        Action.RETRY,
        actor=actor,
        details={"previous_error": previous_error},
        fields=["error_code", "error_message", "provisioning_started_at"],
    )
    work_ready.send(sender=ServiceRequest, service_request=service_request)
    return service_request


@transaction.atomic
def service_request_cancel(*, pk, actor):
    service_request = _locked(pk)
    if service_request.requester_id != actor.pk:
        raise NotAllowed("Only the requester can cancel a request.")
    service_request.move(Action.CANCEL, actor=actor)
    return service_request


def create_fields_from(fields):
    """Keep only the model's fields from an editor's cleaned data."""
    kept = {name: fields[name] for name in EDITABLE_FIELDS}
    for name in ("target_team", "cloud_account"):
        if name in fields:
            kept[name] = fields[name]
    return kept

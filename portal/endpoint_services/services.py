"""Keeping endpoint service records true to the cloud: reading, drift, adoption, deletion.

Cloud calls happen outside any lock; each record is then changed under its row lock, and what
matters to an owner or an auditor (drift found or gone, a deletion seen, a state accepted)
is an audit event on the service's chain.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from portal.audit.actions import Action
from portal.cloud import services as cloud
from portal.endpoint_services import about, keepers, plans
from portal.endpoint_services.models import (
    CLOUD_STATUSES,
    CONFIG_FIELDS,
    EndpointService,
    ServiceStatus,
)

log = logging.getLogger(__name__)
READ_FIELDS = [
    "service_name",
    "service_domain",
    "cloud_status",
    "business_status",
    "service_description",
    "service_resource_type",
    "payer",
    "auto_accept_enabled",
    "zone_affinity_enabled",
    "connect_bandwidth",
    "address_ip_version",
    "resource_group_id",
    "supported_region_list",
    "cloud_created_at",
    "tags",
]


class ServiceRefused(Exception):
    """The user may not do this to this service now; the message says why."""


def _locked(pk):
    return EndpointService.objects.select_for_update().get(pk=pk)


def _apply_reading(service, attributes, *, resources=None, users=None, now=None):
    """Copy what the cloud said onto the record (the caller saves it)."""
    now = now or timezone.now()
    for name in READ_FIELDS:
        if name in attributes:
            setattr(service, name, attributes[name])
    service.status = CLOUD_STATUSES.get(attributes.get("cloud_status"), service.status)
    if "listing_digest" in attributes:  # A listing's reading: what the drift pass compares.
        service.list_digest = attributes["listing_digest"]
    service.read_at = now
    if resources is not None:
        service.resources = sorted(resources, key=lambda r: (r["resource_id"], r["zone_id"]))
        service.zones = sorted({r["zone_id"] for r in resources if r["zone_id"]})
        service.resources_read_at = now
    if users is not None:
        service.allow_entries = users
        service.allowed_users = cloud.allowed_accounts(users)
        service.users_read_at = now


def _drift_lines(service):
    if not service.managed or not service.approved:
        return []
    if about.being_changed(service):
        # The portal itself is changing it: judge once the plan is through.
        return service.drift
    if service.status == ServiceStatus.DELETED:
        return ["the service was deleted outside the portal"] if service.deleted_outside else []
    return plans.differences(service.approved, service.config())


def _note_drift(service, *, actor=None, saved=True):
    """Recompute the drift of a locked record and record an event when it changed.

    The record is saved whole unless it was `saved` already (then only its drift, if moved):
    one write per record, which a drift pass over thousands of services notices.
    """
    lines = _drift_lines(service)
    before = service.drift
    service.drift, service.drifted = lines, bool(lines)
    if not saved:
        service.save()
    elif lines != before:
        service.save(update_fields=["drift", "drifted", "updated_at"])
    if lines == before:
        return
    if lines:
        service.record(Action.DRIFT_DETECTED, actor=actor, details={"differences": lines})
    elif before:
        service.record(Action.DRIFT_CLEARED, actor=actor, details={"was": before})


def _mark_gone(service, *, outside):
    """The cloud no longer knows the service: keep the record, as deleted, for history."""
    if service.status == ServiceStatus.DELETED:
        return
    previous = service.status
    service.status = ServiceStatus.DELETED
    service.cloud_status = ""
    service.deleted_at = timezone.now()
    service.deleted_outside = outside
    service.save(
        update_fields=["status", "cloud_status", "deleted_at", "deleted_outside", "updated_at"]
    )
    service.record(
        Action.DELETED_OUTSIDE_PORTAL if outside else Action.DELETED,
        actor=None,
        from_state=previous,
        details={"service_id": service.service_id},
    )


def endpoint_service_from_create(*, service_request, body):
    """Make the record of a service that CreateVpcEndpointService just answered for."""
    fields, resources, tags = service_request.create_parameters()
    service, created = EndpointService.objects.get_or_create(
        service_id=body["ServiceId"],
        defaults={
            "region_id": service_request.region_id,
            "service_name": body.get("ServiceName", ""),
            "service_domain": body.get("ServiceDomain", ""),
            "status": CLOUD_STATUSES.get(body.get("ServiceStatus"), ServiceStatus.CREATING),
            "cloud_status": body.get("ServiceStatus", ""),
            "owner_id": service_request.requester_id,
            "team_id": service_request.target_team_id,
            "cloud_account_id": service_request.cloud_account_id,
            "service_description": fields["service_description"],
            "service_resource_type": fields["service_resource_type"],
            "payer": fields["payer"],
            "auto_accept_enabled": fields["auto_accept_enabled"],
            "zone_affinity_enabled": fields["zone_affinity_enabled"],
            "address_ip_version": fields["address_ip_version"],
            "resource_group_id": fields["resource_group_id"],
            "supported_region_list": fields["supported_region_list"] or [fields["region_id"]],
            "resources": resources,
            "zones": sorted({r["zone_id"] for r in resources if r["zone_id"]}),
            "tags": sorted(tags, key=lambda t: t["key"]),
        },
    )
    if created:
        service.record(
            Action.CREATED,
            actor=None,
            saved=True,
            details={
                "by_request": service_request.pk,
                "service_id": service.service_id,
                "record": service.stewardship(),
            },
        )
    elif not service.managed and service.owner_id is None:
        # A drift pass found it before the worker could write its answer down (it died in
        # between): the service is this request's, not someone else's.
        service = _locked(service.pk)
        service.managed, service.owner_id = True, service_request.requester_id
        service.team_id = service_request.target_team_id
        service.save(update_fields=["managed", "owner", "team", "updated_at"])
        service.record(
            Action.CLAIMED,
            actor=None,
            details={"by_request": service_request.pk, "record": service.stewardship()},
        )
    return service


def endpoint_service_went_active(*, service, attributes, service_request):
    """A create request's service is Active: the portal now stands behind its configuration."""
    service = _locked(service.pk)
    _apply_reading(service, attributes)
    _fields, resources, tags = service_request.create_parameters()
    service.approved = plans.normalize(
        {
            **{name: getattr(service, name) for name in CONFIG_FIELDS},
            "resources": resources,
            "tags": tags,
            # A new service admits no other account until an access request is applied.
            "allowed_users": service.allowed_users,
        }
    )
    service.save()
    service.record(
        Action.APPROVED_CONFIGURATION,
        actor=None,
        saved=True,
        details={"by_request": service_request.pk, "record": service.stewardship()},
    )
    return service


def endpoint_service_read(service):
    """Read a service whole from the cloud: attributes and tags, resources, allow-list.

    Returns (attributes or None when the cloud no longer knows it, resources, users, records).
    Raises CloudError when the cloud does not answer.
    """
    reach = service.reach()
    body, record = cloud.endpoint_services_page(
        region_id=service.region_id, service_id=service.service_id, max_results=1, reach=reach
    )
    records = [record]
    items = [i for i in body.get("Services") or [] if i.get("ServiceId") == service.service_id]
    if not items:
        return None, None, None, records
    attributes = cloud.service_attributes(items[0])
    resources, more = cloud.endpoint_service_resources(
        region_id=service.region_id, service_id=service.service_id, reach=reach
    )
    users, most = cloud.endpoint_service_users(
        region_id=service.region_id, service_id=service.service_id, reach=reach
    )
    return attributes, resources, users, [*records, *more, *most]


def endpoint_service_refresh(*, pk, actor=None):
    """Re-read one service now and note any drift; return the record."""
    service = EndpointService.objects.get(pk=pk)
    attributes, resources, users, records = endpoint_service_read(service)
    with transaction.atomic():
        service = _locked(pk)
        if attributes is None:
            _mark_gone(service, outside=not about.being_deleted(service))
        else:
            _apply_reading(service, attributes, resources=resources, users=users)
            service.save()
        if actor is not None:
            service.record(
                Action.REFRESHED,
                actor=actor,
                details={"cloud_calls": [r.as_dict() for r in records]},
            )
        _note_drift(service, actor=actor)
    return service


def endpoint_service_accept_drift(*, pk, actor):
    """The owner accepts the cloud's state: the portal now stands behind it (audited)."""
    with transaction.atomic():
        service = _locked(pk)
        if not keepers.may_manage(actor, service):
            raise ServiceRefused("Only the service's owner and approvers can accept drift.")
        if not service.drifted:
            raise ServiceRefused("The service has not drifted: there is nothing to accept.")
        _accept_drift_refusal(service)
        before = service.approved
        if service.status == ServiceStatus.DELETED:
            service.deleted_outside = False  # The owner acknowledges the deletion.
        else:
            service.approved = plans.normalize(service.config())
        service.save(update_fields=["approved", "deleted_outside", "updated_at"])
        service.record(
            Action.DRIFT_ACCEPTED,
            actor=actor,
            details={
                "differences": service.drift,
                "was_approved": before,
                "record": service.stewardship(),
            },
        )
        _note_drift(service, actor=actor)
    return service


def _accept_drift_refusal(service):
    """Raise ServiceRefused if accepting the cloud's state is what a change request would need
    the platform's approvers for (auto-accept turned on, every account allowed, ...): accepted
    in one click by an owner, it would pass the policy that a filed change meets."""
    if service.status == ServiceStatus.DELETED or not service.approved:
        return
    reasons = plans.risks(
        [
            {"action": op.action, "params": op.params}
            for op in plans.change_plan(service.approved, service.config())
        ]
    )
    if reasons:
        needed = settings.APPROVALS_REQUIRED_RISKY
        raise ServiceRefused(
            f"This drift cannot be accepted in one click: a change that did the same would need "
            f"{needed} of the platform's approvers ({'; '.join(reasons)}). Put the service back "
            "as approved (Change, then Restore the approved state), and file the change for "
            "the approvers if it should stay."
        )


def endpoint_services_drift_pass(
    *, region_id, account=None, resource_sweep=None, allow_list_sweep=None
):
    """Compare every service of an account's region in the cloud with the portal's records.

    `account` is a CloudAccount (None: the portal's own account, reached without a role).
    One ListVpcEndpointServices call per 1,000 services; then one resources read for each
    service whose listing changed (or that is new), plus up to `resource_sweep` of those whose
    resources were read longest ago (resource changes do not show in the listing), and the
    allow-lists of up to `allow_list_sweep` services, read longest ago first (nor do they).
    Returns a summary dict.
    """
    sweep = settings.DRIFT_RESOURCE_SWEEP if resource_sweep is None else resource_sweep
    users_sweep = settings.DRIFT_ALLOW_LIST_SWEEP if allow_list_sweep is None else allow_list_sweep
    reach = account.reach() if account is not None else cloud.HOME
    mine = EndpointService.objects.filter(region_id=region_id, cloud_account=account)
    known = {
        service_id: (pk, digest)
        for service_id, pk, digest in mine.exclude(status=ServiceStatus.DELETED)
        .values_list("service_id", "pk", "list_digest")
        .iterator(chunk_size=5000)
    }
    seen, changed, new = set(), [], []
    calls, next_token = 0, None
    while True:
        body, _record = cloud.endpoint_services_page(
            region_id=region_id, next_token=next_token, reach=reach
        )
        calls += 1
        for item in body.get("Services") or []:
            service_id = item.get("ServiceId", "")
            seen.add(service_id)
            if service_id not in known:
                new.append(cloud.service_attributes(item))
            elif known[service_id][1] != cloud.listing_digest(item):
                changed.append((known[service_id][0], service_id, cloud.service_attributes(item)))
        next_token = body.get("NextToken")
        if not next_token:
            break
    calls += _reread(changed, region_id, reach)
    for attributes in new:
        calls += _discover(attributes, region_id, account)
    gone = [pk for service_id, (pk, _digest) in known.items() if service_id not in seen]
    for pk in gone:
        with transaction.atomic():
            service = _locked(pk)
            if service.status == ServiceStatus.CREATING and service.read_at is None:
                continue  # Not listed yet: a Create that has only just answered.
            _mark_gone(service, outside=not about.being_deleted(service))
            _note_drift(service)
    stale = timezone.now() - timedelta(seconds=settings.DRIFT_RESOURCE_MAX_AGE)
    oldest = []
    if sweep:
        done = {pk for pk, _id, _attributes in changed}
        oldest = list(
            mine.filter(resources_read_at__lt=stale)
            .exclude(status=ServiceStatus.DELETED)
            .exclude(pk__in=done)
            .order_by("resources_read_at")
            .values_list("pk", "service_id")[:sweep]
        )
        calls += _reread([(pk, service_id, None) for pk, service_id in oldest], region_id, reach)
    users_read = []
    if users_sweep:
        users_read = list(
            mine.filter(managed=True, service_id__in=seen)
            .exclude(status=ServiceStatus.DELETED)
            .order_by(F("users_read_at").asc(nulls_first=True), "pk")
            .values_list("pk", "service_id")[:users_sweep]
        )
        calls += _reread_users(users_read, region_id, reach)
    return {
        "account": account.uid if account is not None else "",
        "region_id": region_id,
        "listed": len(seen),
        "changed": len(changed),
        "new": len(new),
        "gone": len(gone),
        "swept": len(oldest),
        "allow_lists": len(users_read),
        "calls": calls,
    }


def _reread_users(services, region_id, reach):
    """Read the allow-lists of (pk, ServiceId) and note any drift. Returns the calls made."""
    calls = 0
    for pk, service_id in services:
        try:
            users, records = cloud.endpoint_service_users(
                region_id=region_id, service_id=service_id, reach=reach
            )
        except cloud.CloudError as error:
            if error.code != "EndpointServiceNotFound":
                raise
            continue  # deleted since it was listed: the next pass sees it gone
        calls += len(records)
        with transaction.atomic():
            service = _locked(pk)
            service.allow_entries = users
            service.allowed_users = cloud.allowed_accounts(users)
            service.users_read_at = timezone.now()
            service.save(update_fields=["allow_entries", "allowed_users", "users_read_at"])
            _note_drift(service)
    return calls


def _reread(services, region_id, reach=cloud.HOME, batch=100):
    """Read the resources of (pk, ServiceId, attributes or None) and update each record.

    The cloud is read first, outside any transaction; the records are then written a batch
    per transaction, each under its row lock. Returns the number of calls made.
    """
    calls = 0
    for start in range(0, len(services), batch):
        chunk = services[start : start + batch]
        readings = []
        for pk, service_id, attributes in chunk:
            resources, records = cloud.endpoint_service_resources(
                region_id=region_id, service_id=service_id, reach=reach
            )
            calls += len(records)
            readings.append((pk, attributes, resources))
        with transaction.atomic():
            # Every row of the batch is locked before the first event: appending holds the
            # log's head until commit, so no row lock may be taken after it.
            locked = {
                service.pk: service
                for service in EndpointService.objects.select_for_update()
                .filter(pk__in=[pk for pk, _a, _r in readings])
                .order_by("pk")
            }
            for pk, attributes, resources in readings:
                service = locked[pk]
                if attributes is None:
                    service.resources = sorted(
                        resources, key=lambda r: (r["resource_id"], r["zone_id"])
                    )
                    service.zones = sorted({r["zone_id"] for r in resources if r["zone_id"]})
                    service.resources_read_at = timezone.now()
                else:
                    _apply_reading(service, attributes, resources=resources)
                _note_drift(service, saved=False)
    return calls


def _discover(attributes, region_id, account=None):
    """Record a service found in the cloud that the portal did not know: unmanaged, in the
    account whose listing showed it."""
    other = (
        EndpointService.objects.filter(service_id=attributes["service_id"])
        .exclude(cloud_account=account)
        .exists()
    )
    if other:
        return 0  # another account's record (one account reached two ways): not this one's
    reach = account.reach() if account is not None else cloud.HOME
    resources, records = cloud.endpoint_service_resources(
        region_id=region_id, service_id=attributes["service_id"], reach=reach
    )
    with transaction.atomic():
        service, created = EndpointService.objects.get_or_create(
            service_id=attributes["service_id"],
            defaults={"region_id": region_id, "managed": False, "cloud_account": account},
        )
        service = _locked(service.pk)
        _apply_reading(service, attributes, resources=resources)
        service.save()
        if created:
            service.record(
                Action.DISCOVERED,
                actor=None,
                details={
                    "service_id": service.service_id,
                    "region_id": region_id,
                    **({"account": account.uid} if account is not None else {}),
                    "record": service.stewardship(),
                },
            )
    return len(records)


def endpoint_service_adopt(*, service, owner, team=None, by_request=None):
    """Take a service the portal did not create into its care (the worker, once approved)."""
    attributes, resources, users, _records = endpoint_service_read(service)
    with transaction.atomic():
        service = _locked(service.pk)
        if service.managed:
            raise ServiceRefused(
                f"The portal already manages {service.service_id} (owner "
                f"{service.owner.get_username() if service.owner else 'none'}): nothing changed."
            )
        if attributes is None:
            _mark_gone(service, outside=True)
            return service
        _apply_reading(service, attributes, resources=resources, users=users)
        service.managed = True
        service.owner = owner
        service.team = team
        service.approved = plans.normalize(service.config())
        service.save()
        service.record(
            Action.ADOPTED,
            actor=None,
            details={
                "by_request": by_request,
                "owner": owner.get_username() if owner else None,
                "team": team.name if team else None,
                "record": service.stewardship(),
            },
        )
        _note_drift(service)
    return service


def endpoint_service_transfer(*, service, team, by_request):
    """Give the service to `team` (the worker, once a transfer is approved): audited."""
    with transaction.atomic():
        service = _locked(service.pk)
        if service.status == ServiceStatus.DELETED:
            raise ServiceRefused(f"{service.service_id} is deleted: nothing to transfer.")
        if service.team_id == team.pk:
            return service  # a worker's second run of the same transfer
        before = service.team
        service.team = team
        service.save(update_fields=["team", "updated_at"])
        service.record(
            Action.TRANSFERRED,
            actor=None,
            details={
                "by_request": by_request,
                "from_team": before.name if before else None,
                "from_owner": service.owner.get_username() if service.owner_id else None,
                "to_team": team.name,
                "record": service.stewardship(),
            },
        )
    return service


def endpoint_service_note_reading(*, pk, attributes):
    """Keep what a Get during a request's work said (status, attributes) on the record."""
    if pk is None:
        return
    with transaction.atomic():
        service = _locked(pk)
        if service.status == ServiceStatus.DELETED:
            return
        _apply_reading(service, attributes)
        service.save()


def endpoint_service_deleted(*, pk):
    """A decommission request's Delete is done: the record stays, as deleted."""
    service = _locked(pk)
    _mark_gone(service, outside=False)
    return service


def connected_endpoints(region_id, service_id, reach=cloud.HOME):
    """Say which endpoints still hold a connection to a service, for a refusal's message."""
    try:
        connections, _records = cloud.endpoint_connections(
            region_id=region_id, service_id=service_id, reach=reach
        )
    except cloud.CloudError:
        return ""
    busy = [c for c in connections if c["connection_status"] not in ("Disconnected", "")]
    if not busy:
        return ""
    named = ", ".join(
        f"{c['endpoint_id']} (account {c['endpoint_owner_id']}, {c['connection_status']})"
        for c in busy
    )
    return f" Still connected: {named}. Nothing was deleted."


def endpoint_service_operation_applied(*, pk, operation, by_request):
    """One operation of an approved plan is applied: fold it into what the portal approves."""
    service = _locked(pk)
    approved = dict(service.approved or service.config())
    if operation["action"] in (plans.ADD_USER, plans.REMOVE_USER):
        # Records approved before the portal kept allow-lists: start from the list as read.
        approved.setdefault("allowed_users", list(service.allowed_users))
    service.approved = plans.apply_operations(approved, [operation])
    # Until the next reading, what was just applied is the best knowledge of the cloud.
    applied = plans.apply_operations(service.config(), [operation])
    for name in CONFIG_FIELDS:
        setattr(service, name, applied[name])
    service.resources = applied["resources"]
    service.zones = sorted({r["zone_id"] for r in applied["resources"] if r["zone_id"]})
    service.tags = applied["tags"]
    service.allowed_users = applied["allowed_users"]
    service.save()
    service.record(
        Action.APPROVED_CONFIGURATION,
        actor=None,
        saved=True,
        details={"by_request": by_request, "operation": operation, "record": service.stewardship()},
    )
    return service


def endpoint_service_note_drift(*, pk):
    """Compare a service with what the portal approves now (after a plan, say)."""
    service = _locked(pk)
    _note_drift(service)
    return service

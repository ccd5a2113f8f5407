"""A service's consumers' connections: read from the cloud, accepted or rejected by its keepers.

ListVpcEndpointConnections is the truth; `EndpointConnection` rows keep what it said last,
which access request admitted each consumer account, and what the owner last asked of each.
An accept or a reject is claimed on the row (under its lock) before the cloud call, so that
a double click, or two keepers at once, make one call; the call happens outside any lock,
and its outcome is an audit event on the service's chain.
"""

import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from portal.cloud import services as cloud
from portal.endpoint_services.models import EndpointConnection, EndpointService, ServiceStatus
from portal.lib.queue import enqueue_on_commit
from portal.service_requests import policy
from portal.service_requests.models import Kind, State

log = logging.getLogger(__name__)
# A claim older than this is a click whose call never finished (a worker killed in between):
# the next click may call again (the cloud's answer to a repeat is a no-op).
CLAIM_TIMEOUT = timedelta(minutes=2)
READ_FIELDS = (
    "endpoint_owner_id",
    "endpoint_vpc_id",
    "status",
    "bandwidth",
    "zones",
    "modified_time",
)


class ConnectionRefused(Exception):
    """The user may not do this to this connection now; the message says why."""


def _row(item):
    return {
        "endpoint_owner_id": item["endpoint_owner_id"],
        "endpoint_vpc_id": item["endpoint_vpc_id"],
        "status": item["connection_status"],
        "bandwidth": item["bandwidth"],
        "zones": item["zones"],
        "modified_time": item["modified_time"],
    }


def _admitting_requests(service, accounts):
    """Return {account id: the newest applied access request for it} on `service`."""
    admitted = {}
    rows = (
        service.requests.filter(kind=Kind.ACCESS, state=State.APPLIED, account_id__in=accounts)
        .order_by("pk")
        .only("pk", "account_id", "requester_id", "state_changed_at")
    )
    for request in rows:
        admitted[request.account_id] = request
    return admitted


def connections_read(service):
    """Read the service's connections from the cloud into its rows; return what is new.

    Returns the rows that appeared in this reading. Raises CloudError when the cloud does
    not answer; the rows keep the last reading then.
    """
    items, _records = cloud.endpoint_connections(
        region_id=service.region_id, service_id=service.service_id
    )
    now = timezone.now()
    listed = {item["endpoint_id"]: _row(item) for item in items if item["endpoint_id"]}
    with transaction.atomic():
        service = EndpointService.objects.select_for_update().get(pk=service.pk)
        existing = {c.endpoint_id: c for c in service.connections.all()}
        admitted = _admitting_requests(service, {r["endpoint_owner_id"] for r in listed.values()})
        new, changed = [], []
        for endpoint_id, row in listed.items():
            request = admitted.get(row["endpoint_owner_id"])
            connection = existing.get(endpoint_id)
            if connection is None:
                new.append(
                    EndpointConnection(
                        service=service,
                        endpoint_id=endpoint_id,
                        access_request=request,
                        first_seen_at=now,
                        read_at=now,
                        **row,
                    )
                )
                continue
            before = [getattr(connection, name) for name in READ_FIELDS]
            for name, value in row.items():
                setattr(connection, name, value)
            settled = _settled(connection)
            if settled:
                connection.pending_action, connection.pending_since = "", None
            if request is not None and connection.access_request_id is None:
                connection.access_request = request
            if (
                before != [getattr(connection, name) for name in READ_FIELDS]
                or settled
                or connection.gone
                or connection.access_request_id != (request.pk if request else None)
            ):
                connection.gone = False
                connection.read_at = now
                changed.append(connection)
        for endpoint_id, connection in existing.items():
            if endpoint_id not in listed and not connection.gone:
                connection.gone, connection.read_at = True, now
                connection.pending_action, connection.pending_since = "", None
                changed.append(connection)
        EndpointConnection.objects.bulk_create(new)
        EndpointConnection.objects.bulk_update(
            changed,
            [*READ_FIELDS, "access_request", "pending_action", "pending_since", "gone", "read_at"],
        )
        service.connections_read_at = now
        if new or changed:
            service.save(update_fields=["connections_read_at", "updated_at"])
        else:
            type(service).objects.filter(pk=service.pk).update(connections_read_at=now)
    return new


def _settled(connection):
    """Whether what the owner asked of a connection is done (or can no longer be)."""
    if not connection.pending_action:
        return False
    wanted = "Connected" if connection.pending_action == "accept" else "Disconnected"
    stale = (
        connection.pending_since is not None
        and timezone.now() - connection.pending_since > CLAIM_TIMEOUT
    )
    return connection.status == wanted or stale


def connections_read_quietly(service, *, max_age):
    """Read the connections unless a reading is younger than `max_age` seconds (shared by
    every viewer and poll of the service). Return (whether they were read, the message of a
    failed reading or "")."""
    read_at = service.connections_read_at
    if read_at is not None and timezone.now() - read_at < timedelta(seconds=max_age):
        return False, ""
    if not cache.add(f"connections-read:{service.pk}", 1, timeout=max(1, max_age)):
        return False, ""  # Someone else reads them right now.
    try:
        connections_read(service)
    except cloud.CloudError as error:
        log.warning("could not read the connections of %s: %s", service.service_id, error)
        return False, error.message
    return True, ""


def connection_decide(*, service, endpoint_id, actor, accept):
    """Accept or reject one endpoint's connection; return the connection.

    Raises ConnectionRefused when `actor` may not, when the connection is not in a state the
    decision applies to, or when the cloud refuses.
    """
    verb = "accept" if accept else "reject"
    if not policy.may_manage(actor, service):
        raise ConnectionRefused(f"Only the service's owner and approvers can {verb} connections.")
    if service.status in (ServiceStatus.DELETING, ServiceStatus.DELETED):
        raise ConnectionRefused(f"The service is {service.get_status_display().lower()}.")
    with transaction.atomic():
        connection = (
            EndpointConnection.objects.select_for_update()
            .filter(service=service, endpoint_id=endpoint_id)
            .first()
        )
        if connection is None or connection.gone:
            raise ConnectionRefused(f"No endpoint {endpoint_id} is connected to this service.")
        now = timezone.now()
        if connection.pending_action and now - connection.pending_since < CLAIM_TIMEOUT:
            raise ConnectionRefused(
                f"The connection of {endpoint_id} is being "
                f"{'accepted' if connection.pending_action == 'accept' else 'rejected'} already."
            )
        target = "Connected" if accept else "Disconnected"
        if connection.status == target:
            raise ConnectionRefused(
                f"The connection of {endpoint_id} is {target.lower()} already: nothing to do."
            )
        if accept and connection.status != "Disconnected":
            raise ConnectionRefused(
                f"The connection of {endpoint_id} is {connection.status}; it can be accepted "
                "once it waits (Disconnected)."
            )
        if not accept and connection.status not in ("Connected", "Disconnected"):
            raise ConnectionRefused(
                f"The connection of {endpoint_id} is {connection.status}; wait until it settles."
            )
        connection.pending_action, connection.pending_since = verb, now
        connection.save(update_fields=["pending_action", "pending_since"])
    try:
        _body, record = cloud.endpoint_connection_decide(
            accept=accept,
            region_id=service.region_id,
            service_id=service.service_id,
            endpoint_id=endpoint_id,
            client_token=f"plc-{uuid.uuid4().hex}",
        )
    except cloud.CloudError as error:
        with transaction.atomic():
            connection = EndpointConnection.objects.select_for_update().get(pk=connection.pk)
            connection.pending_action, connection.pending_since = "", None
            if error.code == "EndpointConnectionNotFound":
                connection.gone = True
            connection.save(update_fields=["pending_action", "pending_since", "gone"])
            _record(service, connection, actor, f"connection_{verb}_failed", error.record)
        raise ConnectionRefused(f"The cloud did not {verb} it: {error.message}") from error
    with transaction.atomic():
        connection = EndpointConnection.objects.select_for_update().get(pk=connection.pk)
        # What the cloud does next; the page follows it until the reading says it is done.
        connection.status = "Connecting" if accept else "Disconnecting"
        connection.waiting_notified_at = connection.waiting_notified_at or timezone.now()
        connection.save(update_fields=["status", "waiting_notified_at"])
        _record(service, connection, actor, f"connection_{verb}ed", record)
    return connection


def _record(service, connection, actor, action, record):
    service = EndpointService.objects.select_for_update().get(pk=service.pk)
    service.record(
        action,
        actor=actor,
        details={
            "endpoint_id": connection.endpoint_id,
            "account": connection.endpoint_owner_id,
            "access_request": connection.access_request_id,
            "cloud_call": record.as_dict(),
        },
    )


def services_to_watch():
    """Services whose new connections wait for their owner: managed, active, not auto-accepting,
    with someone on the allow-list (nobody else can connect)."""
    return (
        EndpointService.objects.filter(
            managed=True, status=ServiceStatus.ACTIVE, auto_accept_enabled=False
        )
        .exclude(allowed_users=[])
        .order_by("connections_read_at", "pk")
    )


def connections_pass(*, limit=None):
    """Read the connections of every watched service; tell owners, once per connection, of
    endpoints waiting for them. Returns (services read, owners told)."""
    from portal.endpoint_services import tasks

    read = told = 0
    for service in services_to_watch()[: limit or settings.CONNECTIONS_PASS_LIMIT]:
        try:
            connections_read(service)
        except cloud.CloudError as error:
            log.warning("connections of %s not read: %s", service.service_id, error)
            continue
        read += 1
        with transaction.atomic():
            waiting = list(
                service.connections.select_for_update().filter(
                    status="Disconnected", gone=False, waiting_notified_at__isnull=True
                )
            )
            if waiting:
                EndpointConnection.objects.filter(pk__in=[c.pk for c in waiting]).update(
                    waiting_notified_at=timezone.now()
                )
                enqueue_on_commit(
                    tasks.notify_connections_waiting, service.pk, [c.pk for c in waiting]
                )
                told += 1
    return read, told

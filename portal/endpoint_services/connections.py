"""A service's consumers' connections: read from the cloud, accepted or rejected by its keepers.

ListVpcEndpointConnections is the truth; `EndpointConnection` rows keep what it said last,
which access request admitted each consumer account, and what the owner last asked of each.
An accept or a reject is claimed on the row before the cloud call, with an audit event and
the ClientToken the call will carry, so that a double click, or two keepers at once, make one
call, and a repeat after a lost answer is the same call; the call happens outside any lock,
and its outcome is another event on the service's chain. Every transaction here locks the
service's row first, then its connections, in that order.
"""

import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from portal.cloud import services as cloud
from portal.endpoint_services import about, keepers, plans, services
from portal.endpoint_services.models import EndpointConnection, EndpointService, ServiceStatus
from portal.lib.queue import enqueue_on_commit

log = logging.getLogger(__name__)
# A claim older than this is a click whose call never finished (a worker killed in between):
# the next click may call again (the cloud's answer to a repeat is a no-op).
CLAIM_TIMEOUT = timedelta(minutes=2)
READING_TIMEOUT = 10  # seconds: longer than a reading takes (the SDK's own timeouts aside)
READ_FIELDS = (
    "endpoint_owner_id",
    "endpoint_vpc_id",
    "status",
    "bandwidth",
    "zones",
    "modified_time",
    "ready",
    "resource_owner",
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
        "ready": item.get("ready", True),
        "resource_owner": item.get("resource_owner", False),
    }


def _locked_service(service):
    return EndpointService.objects.select_for_update().get(pk=service.pk)


def endpoint_service_refresh_with_connections(*, pk, actor):
    """Re-read a service now, and its connections unless it is gone (Refresh); return it.

    Raises CloudError when the cloud does not answer; what was read before stays.
    """
    service = services.endpoint_service_refresh(pk=pk, actor=actor)
    if service.status != ServiceStatus.DELETED:
        connections_read(service)
    return service


def connections_read(service):
    """Read the service's connections from the cloud into its rows; return what is new.

    Returns the rows that appeared in this reading. Raises CloudError when the cloud does
    not answer; the rows keep the last reading then.
    """
    items, _records = cloud.endpoint_connections(
        region_id=service.region_id, service_id=service.service_id, reach=service.reach()
    )
    now = timezone.now()
    listed = {item["endpoint_id"]: _row(item) for item in items if item["endpoint_id"]}
    with transaction.atomic():
        service = _locked_service(service)
        existing = {c.endpoint_id: c for c in service.connections.select_for_update()}
        admitted = about.admitting(service, {r["endpoint_owner_id"] for r in listed.values()})
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
                connection.pending_token = ""
            linked = request is not None and connection.access_request_id is None
            if linked:
                connection.access_request = request
            if connection.status == "Connected" and connection.rejected_at:
                connection.rejected_at, connection.rejected_by = None, None  # accepted since
                settled = True
            if (
                before != [getattr(connection, name) for name in READ_FIELDS]
                or settled
                or connection.gone
                or linked
            ):
                connection.gone = False
                connection.read_at = now
                changed.append(connection)
        for endpoint_id, connection in existing.items():
            if endpoint_id not in listed and not connection.gone:
                connection.gone, connection.read_at = True, now
                connection.pending_action, connection.pending_since = "", None
                connection.pending_token = ""
                changed.append(connection)
        EndpointConnection.objects.bulk_create(new)
        EndpointConnection.objects.bulk_update(
            changed,
            [
                *READ_FIELDS,
                "access_request",
                "pending_action",
                "pending_since",
                "pending_token",
                "rejected_at",
                "rejected_by",
                "gone",
                "read_at",
            ],
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
    # While one request reads them, the others show the last reading. The mark lasts only as
    # long as a reading can (a page's 30 s must not hold back a poll's 2 s).
    reading = f"connections-reading:{service.pk}"
    if not cache.add(reading, 1, timeout=READING_TIMEOUT):
        return False, ""
    try:
        connections_read(service)
    except cloud.CloudError as error:
        log.warning("could not read the connections of %s: %s", service.service_id, error)
        return False, error.message
    finally:
        cache.delete(reading)
    return True, ""


def admitted(service, connection):
    """Whether the service's allow-list, as the portal approved it, admits the endpoint's
    account (the owner's own account always is)."""
    if connection.resource_owner:
        return True
    approved = service.approved.get("allowed_users")
    allowed = service.allowed_users if approved is None else approved
    return plans.EVERY_ACCOUNT in allowed or connection.endpoint_owner_id in allowed


def _claim(service, endpoint_id, actor, accept):
    """Claim the connection for one call (or refuse); return (connection, client token)."""
    verb = "accept" if accept else "reject"
    with transaction.atomic():
        service = _locked_service(service)
        connection = service.connections.select_for_update().filter(endpoint_id=endpoint_id).first()
        if connection is None or connection.gone:
            raise ConnectionRefused(f"No endpoint {endpoint_id} is connected to this service.")
        now = timezone.now()
        if connection.pending_action and now - connection.pending_since < CLAIM_TIMEOUT:
            raise ConnectionRefused(
                f"The connection of {endpoint_id} is being "
                f"{'accepted' if connection.pending_action == 'accept' else 'rejected'} already."
            )
        if accept:
            if connection.status == "Connected":
                raise ConnectionRefused(
                    f"The connection of {endpoint_id} is connected already: nothing to do."
                )
            if connection.status != "Disconnected":
                raise ConnectionRefused(
                    f"The connection of {endpoint_id} is {connection.status}; it can be "
                    "accepted once it waits (Disconnected)."
                )
            if not connection.ready:
                raise ConnectionRefused(
                    f"The endpoint {endpoint_id} is still being created: accept it once it is "
                    "ready (reload the page in a moment)."
                )
            if not admitted(service, connection):
                revoke = about.revoking(service, connection.endpoint_owner_id)
                why = f" (revoked by request #{revoke.pk})" if revoke else ""
                raise ConnectionRefused(
                    f"Account {connection.endpoint_owner_id} is not on the allow-list the portal "
                    f"approved{why}: it needs an approved access request before its endpoints "
                    "are accepted."
                )
        else:
            if connection.status not in ("Connected", "Disconnected"):
                raise ConnectionRefused(
                    f"The connection of {endpoint_id} is {connection.status}; "
                    "wait until it settles."
                )
            if connection.status == "Disconnected" and connection.rejected_at:
                raise ConnectionRefused(f"The endpoint {endpoint_id} is rejected already.")
        # A claim that timed out keeps its token: the repeat is the same call to the cloud.
        token = connection.pending_token if connection.pending_action == verb else ""
        token = token or f"plc-{uuid.uuid4().hex}"
        connection.pending_action, connection.pending_since = verb, now
        connection.pending_token = token
        connection.save(update_fields=["pending_action", "pending_since", "pending_token"])
        _record(service, connection, actor, f"connection_{verb}_requested", client_token=token)
    return connection, token


def connection_decide(*, service, endpoint_id, actor, accept):
    """Accept or reject one endpoint's connection; return the connection.

    Rejecting a connected endpoint disconnects it; rejecting one that waits turns it down
    (it stays Disconnected, and is no longer shown nor announced as waiting). Raises
    ConnectionRefused when `actor` may not, when the connection is not in a state the
    decision applies to, when its account is not on the approved allow-list (accept), or when
    the cloud refuses.
    """
    verb = "accept" if accept else "reject"
    if not keepers.may_manage(actor, service):
        raise ConnectionRefused(f"Only the service's owner and approvers can {verb} connections.")
    if service.status in (ServiceStatus.DELETING, ServiceStatus.DELETED):
        raise ConnectionRefused(f"The service is {service.get_status_display().lower()}.")
    connection, token = _claim(service, endpoint_id, actor, accept)
    was_waiting = connection.status == "Disconnected"
    try:
        _body, record = cloud.endpoint_connection_decide(
            accept=accept,
            region_id=service.region_id,
            service_id=service.service_id,
            endpoint_id=endpoint_id,
            client_token=token,
            reach=service.reach(),
        )
    except cloud.CloudError as error:
        with transaction.atomic():
            locked = _locked_service(service)
            connection = locked.connections.select_for_update().get(pk=connection.pk)
            connection.pending_action, connection.pending_since = "", None
            connection.pending_token = ""
            if error.code == "EndpointConnectionNotFound":
                connection.gone = True
            connection.save(
                update_fields=["pending_action", "pending_since", "pending_token", "gone"]
            )
            _record(locked, connection, actor, f"connection_{verb}_failed", record=error.record)
        raise ConnectionRefused(f"The cloud did not {verb} it: {error.message}") from error
    with transaction.atomic():
        locked = _locked_service(service)
        connection = locked.connections.select_for_update().get(pk=connection.pk)
        now = timezone.now()
        if not accept and was_waiting:
            # Nothing for the cloud to move: the endpoint stays Disconnected, turned down.
            connection.rejected_at, connection.rejected_by = now, actor
            connection.pending_action, connection.pending_since = "", None
            connection.pending_token = ""
        else:
            # What the cloud does next; the page follows it until a reading says it is done.
            connection.status = "Connecting" if accept else "Disconnecting"
        connection.waiting_notified_at = connection.waiting_notified_at or now
        connection.save()
        _record(locked, connection, actor, f"connection_{verb}ed", record=record)
    return connection


def _record(service, connection, actor, action, *, record=None, client_token=None):
    """An event on the (locked) service's chain about one connection."""
    details = {
        "endpoint_id": connection.endpoint_id,
        "account": connection.endpoint_owner_id,
        "access_request": connection.access_request_id,
    }
    if record is not None:
        details["cloud_call"] = record.as_dict()
    if client_token:
        details["client_token"] = client_token
    service.record(action, actor=actor, details=details)


def services_to_watch():
    """Services whose new connections wait for their owner: managed, active, not auto-accepting,
    with someone on the allow-list (nobody else can connect)."""
    return (
        EndpointService.objects.filter(
            managed=True, status=ServiceStatus.ACTIVE, auto_accept_enabled=False
        )
        .exclude(allowed_users=[])
        # Never read first (PostgreSQL would put NULLs last).
        .order_by(F("connections_read_at").asc(nulls_first=True), "pk")
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
            service = _locked_service(service)
            waiting = list(
                service.connections.select_for_update().filter(
                    status="Disconnected",
                    ready=True,
                    gone=False,
                    rejected_at__isnull=True,
                    waiting_notified_at__isnull=True,
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

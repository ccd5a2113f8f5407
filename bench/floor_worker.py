"""The floor the worker pipeline is measured against: bare Celery tasks that do a create
request's cloud work and nothing else.

`floor_create(pk)` reads what it sends in one query, calls CreateVpcEndpointService (the
request's region, resource type, resource and ClientToken, as the portal sends them) and
schedules `floor_poll` after the portal's first poll interval; `floor_poll` calls
GetVpcEndpointServiceAttribute, backing off as the portal does, until the service is Active,
then saves the row (state and service id) in one UPDATE. No audit check, no events, no first
reading, no notices: what is left is Celery, the SDK and the ORM.

The tasks are registered on the portal's own Celery app, so that workers started with

    celery -A bench.floor_worker worker ...

take the portal's tasks and the floor's from the same broker into the same pool
(bench/pipeline.py starts them so).
"""

import threading

from alibabacloud_privatelink20200415 import models as sdk
from alibabacloud_privatelink20200415.client import Client
from alibabacloud_tea_openapi.models import Config
from darabonba.runtime import RuntimeOptions
from django.conf import settings

from portal.celery import app

_clients = threading.local()


def client():
    """Return this thread's SDK client, made from the settings the portal makes its own from."""
    if not hasattr(_clients, "client"):
        _clients.client = Client(
            Config(
                endpoint=settings.PRIVATELINK_ENDPOINT,
                protocol=settings.PRIVATELINK_PROTOCOL,
                region_id=settings.PRIVATELINK_REGION_ID,
                access_key_id=settings.ALIBABA_CLOUD_ACCESS_KEY_ID,
                access_key_secret=settings.ALIBABA_CLOUD_ACCESS_KEY_SECRET,
            )
        )
    return _clients.client


def runtime():
    """Return the portal's runtime options: its timeouts, and no retry inside the SDK."""
    timeout = settings.PRIVATELINK_TIMEOUT_MS
    return RuntimeOptions(read_timeout=timeout, connect_timeout=min(timeout, 5000), autoretry=False)


def poll_delay(attempt):
    """Return the portal's wait before poll `attempt`, so that both sides poll alike."""
    # Imported here: the worker loads this module before Django's app registry is ready.
    from portal.provisioning.services import poll_delay as portal_poll_delay

    return portal_poll_delay(attempt)


def save_active(pk, service_id):
    """Save the request's one row: Active, with its service."""
    from portal.service_requests.models import ServiceRequest, State

    ServiceRequest.objects.filter(pk=pk).update(
        state=State.ACTIVE, service_id=service_id, cloud_status="Active"
    )


@app.task(name="bench.floor_create", acks_late=True, ignore_result=True)
def floor_create(pk):
    """Create the request's endpoint service; poll it, or save the row if already Active."""
    from portal.service_requests.models import ServiceRequest

    rows = list(
        ServiceRequest.objects.filter(pk=pk).values_list(
            "region_id",
            "client_token",
            "service_resource_type",
            "resources__resource_type",
            "resources__resource_id",
            "resources__zone_id",
        )
    )
    region_id, client_token, resource_type = rows[0][:3]
    request = sdk.CreateVpcEndpointServiceRequest(
        region_id=region_id,
        service_resource_type=resource_type,
        resource=[
            sdk.CreateVpcEndpointServiceRequestResource(
                resource_type=kind, resource_id=resource_id, zone_id=zone_id or None
            )
            for *_request, kind, resource_id, zone_id in rows
        ],
        client_token=client_token,
    )
    body = client().create_vpc_endpoint_service_with_options(request, runtime()).body
    if body.service_status == "Active":
        save_active(pk, body.service_id)
    else:
        floor_poll.apply_async((pk, region_id, body.service_id, 0), countdown=poll_delay(0))


@app.task(name="bench.floor_poll", acks_late=True, ignore_result=True)
def floor_poll(pk, region_id, service_id, attempt=0):
    """Read the service; save the row once it is Active, else poll again later."""
    request = sdk.GetVpcEndpointServiceAttributeRequest(region_id=region_id, service_id=service_id)
    body = client().get_vpc_endpoint_service_attribute_with_options(request, runtime()).body
    if body.service_status == "Active":
        save_active(pk, service_id)
    else:
        floor_poll.apply_async(
            (pk, region_id, service_id, attempt + 1), countdown=poll_delay(attempt + 1)
        )

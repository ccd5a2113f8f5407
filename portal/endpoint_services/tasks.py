"""Celery tasks: re-read a service, the periodic drift pass over every region, the periodic
connections pass, and telling owners of endpoints that wait for them."""

import logging

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail

from portal.cloud import services as cloud
from portal.endpoint_services import services

log = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def refresh_service(pk):
    try:
        services.endpoint_service_refresh(pk=pk)
    except cloud.CloudError as error:
        # The drift pass reads every service again later; a missed reading loses nothing.
        log.warning("could not refresh service %s: %s", pk, error)


@shared_task(ignore_result=True)
def drift_pass():
    """Compare the services of every account's regions in the cloud with the portal's records:
    each cloud account's regions through its role, and the portal's own account (DRIFT_REGIONS,
    else every region) while there are no account records or services made before them."""
    from portal.endpoint_services.models import EndpointService
    from portal.teams.models import CloudAccount

    walks = [
        (account, region_id)
        for account in CloudAccount.objects.all()
        for region_id in account.regions
    ]
    if not walks or EndpointService.objects.filter(cloud_account=None).exists():
        regions = settings.DRIFT_REGIONS or [region_id for region_id, _name in cloud.regions()[0]]
        walks += [(None, region_id) for region_id in regions]
    summaries = []
    for account, region_id in walks:
        try:
            summaries.append(
                services.endpoint_services_drift_pass(region_id=region_id, account=account)
            )
        except cloud.CloudError as error:
            where = f"{account.name}/{region_id}" if account is not None else region_id
            log.warning("drift pass of %s stopped: %s", where, error)
    log.info("drift pass: %s", summaries)
    return summaries


@shared_task(ignore_result=True)
def connections_pass():
    """Read the connections of services that wait for their owner; tell owners of new ones."""
    from portal.endpoint_services import connections

    read, told = connections.connections_pass()
    log.info("connections pass: %d service(s) read, %d owner(s) told", read, told)
    return read, told


@shared_task(
    autoretry_for=(OSError,),
    retry_backoff=30,
    retry_backoff_max=1800,
    max_retries=8,
    ignore_result=True,
)
def notify_connections_waiting(service_pk, connection_pks):
    """Tell a service's owners (its team's members, or its person) which endpoints wait for
    them to accept or reject them (the approvers, who may accept them too, when no owner can
    be reached by email)."""
    from django.contrib.auth import get_user_model

    from portal.accounts.rights import APPROVERS_GROUP
    from portal.endpoint_services.keepers import owners
    from portal.endpoint_services.models import EndpointConnection, EndpointService

    service = EndpointService.objects.get(pk=service_pk)
    recipients = sorted(set(owners(service).exclude(email="").values_list("email", flat=True)))
    if not recipients:
        recipients = sorted(
            set(
                get_user_model()
                .objects.filter(groups__name=APPROVERS_GROUP, is_active=True)
                .exclude(email="")
                .values_list("email", flat=True)
            )
        )
    if not recipients:
        return
    waiting = EndpointConnection.objects.filter(pk__in=connection_pks).order_by("endpoint_id")
    lines = [
        f"  {c.endpoint_id} from account {c.endpoint_owner_id} (VPC {c.endpoint_vpc_id})"
        for c in waiting
    ]
    described = f", {service.service_description}" if service.service_description else ""
    send_mail(
        f"[PrivateLink portal] {len(lines)} endpoint(s) wait to connect to {service.service_id}",
        f"These endpoints ask to connect to {service.service_id} "
        f"({service.service_name}; {service.region_id}{described}):\n"
        + "\n".join(lines)
        + "\n\nAccept or reject them on the service's page:\n"
        f"{settings.SITE_URL}{service.get_absolute_url()}#connections\n",
        None,
        recipients,
    )

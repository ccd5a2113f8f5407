"""Celery tasks: re-read a service, and the periodic drift pass over every region."""

import logging

from celery import shared_task
from django.conf import settings

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
    """Compare every region's services in the cloud with the portal's records."""
    regions = settings.DRIFT_REGIONS or [region_id for region_id, _name in cloud.regions()[0]]
    summaries = []
    for region_id in regions:
        try:
            summaries.append(services.endpoint_services_drift_pass(region_id=region_id))
        except cloud.CloudError as error:
            log.warning("drift pass of %s stopped: %s", region_id, error)
    log.info("drift pass: %s", summaries)
    return summaries

from celery import shared_task

from portal.insights import figures


@shared_task(ignore_result=True)
def refresh_insights():
    figures.refresh_default()

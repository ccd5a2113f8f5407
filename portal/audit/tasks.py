import logging

from celery import shared_task

from portal.audit.services import audit_chain_check, audit_checkpoint_write

log = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def verify_audit_chain():
    report = audit_chain_check()
    (log.info if report.ok else log.error)("%s", report)


@shared_task(ignore_result=True)
def write_checkpoint():
    line = audit_checkpoint_write()
    if line:
        log.info("audit checkpoint at #%s", line["seq"])

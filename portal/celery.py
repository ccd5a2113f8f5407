"""The Celery application, configured from Django's settings (the CELERY_ namespace)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_time_limit=120,
    task_soft_time_limit=90,
    broker_connection_retry_on_startup=True,
)
app.autodiscover_tasks()

# The file-system broker needs its folders before the first message is sent or read.
for option in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
    folder = (app.conf.broker_transport_options or {}).get(option)
    if folder:
        os.makedirs(folder, exist_ok=True)
        # Workers claim a message by renaming it into TMPDIR (see the Procfile).
        os.makedirs(os.path.join(os.path.dirname(folder), "tmp"), exist_ok=True)

"""The notices' and reminders' Celery tasks keep the names they had before the approvals app
had its own module: a message queued by a portal before an upgrade finds its task after it."""

from django.conf import settings

from portal.celery import app

KEPT = {
    "portal.service_requests.tasks.notify_approvers",
    "portal.service_requests.tasks.notify_requester",
    "portal.service_requests.tasks.notify_admins_refused",
    "portal.service_requests.tasks.send_reminder",
    "portal.service_requests.tasks.post_to_chat",
    "portal.service_requests.tasks.approval_reminders",
}


def test_the_tasks_answer_to_their_old_names():
    app.loader.import_default_modules()
    assert set(app.tasks) >= KEPT
    assert app.tasks["portal.service_requests.tasks.send_reminder"].__module__ == (
        "portal.approvals.tasks"
    )


def test_every_scheduled_task_is_one_the_workers_know():
    app.loader.import_default_modules()
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["task"] in app.tasks, name

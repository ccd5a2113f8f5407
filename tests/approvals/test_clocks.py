"""SLA clocks: each waiting request shows its wait against the reminder and escalation times,
in the queue and on its page; the queue lists what is due first."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from portal.approvals import queue, reminders
from portal.service_requests.models import ServiceRequest, State
from tests.support.factories import ServiceRequestFactory

pytestmark = pytest.mark.django_db
HOUR = 3600


@pytest.fixture(autouse=True)
def times(settings):
    settings.APPROVAL_REMIND_AFTER = 24 * HOUR
    settings.APPROVAL_ESCALATE_AFTER = 72 * HOUR


def waiting(requester, hours_ago, **fields):
    request = ServiceRequestFactory(requester=requester, state=State.PENDING_APPROVAL, **fields)
    submitted = timezone.now() - timedelta(hours=hours_ago)
    ServiceRequest.objects.filter(pk=request.pk).update(submitted_at=submitted)
    queue.changed()
    return request


@pytest.mark.parametrize(
    "hours, stage, upcoming",
    [
        (5, "on-time", ("reminder", 19)),
        (30, "reminded", ("escalation", 42)),
        (80, "escalated", None),
    ],
)
def test_the_clock_says_where_a_wait_stands(hours, stage, upcoming):
    now = timezone.now()
    found = reminders.clock(now - timedelta(hours=hours), now=now)
    assert found.stage == stage
    assert found.waited == timedelta(hours=hours)
    if upcoming is None:
        assert found.next is None
    else:
        what, _when, left = found.next
        assert (what, left) == (upcoming[0], timedelta(hours=upcoming[1]))


def test_no_clock_without_notices_or_a_submission(settings):
    assert reminders.clock(None) is None
    settings.APPROVAL_REMIND_AFTER = settings.APPROVAL_ESCALATE_AFTER = 0
    assert reminders.clock(timezone.now()) is None


def test_the_queue_shows_each_clock_and_lists_what_is_due_first(login, requester, approver):
    fresh = waiting(requester, 5)
    late = waiting(requester, 80)
    reminded = waiting(requester, 30)
    page = login(approver).get("/approvals/").content.decode()
    rows = re.findall(r'<a href="/requests/(\d+)/">#', page)
    assert rows == [str(late.pk), str(reminded.pk), str(fresh.pk)]  # the oldest is due first
    clocks = re.findall(r'<small class="clock clock-([a-z-]+)"[^>]*>(.*?)</small>', page)
    assert [(stage, re.sub(r"<[^>]+>", "", text)) for stage, text in clocks] == [
        ("escalated", "waiting 3 d · escalated"),
        ("reminded", "waiting 30 h · reminded · escalation in 42 h"),
        ("on-time", "waiting 5 h · reminder in 19 h"),
    ]


def test_a_pending_request_shows_its_clock_and_others_do_not(login, requester, approver):
    request = waiting(requester, 30)
    page = login(approver).get(f"/requests/{request.pk}/").content.decode()
    assert 'data-stage="reminded"' in page
    assert "escalation in" in page
    ServiceRequest.objects.filter(pk=request.pk).update(state=State.APPROVED)
    page = login(approver).get(f"/requests/{request.pk}/").content.decode()
    assert 'class="clock' not in page

"""Notifications people can act on: what the emails say and to whom, chat through webhooks
(against a real HTTP receiver on 127.0.0.1), and reminders and escalation on a frozen clock.
"""

import base64
import hashlib
import hmac
import io
import json
import logging
import socket
import subprocess
import sys
import threading
import time
from collections import namedtuple
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import Group, User
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.utils import timezone

from portal.accounts import rights
from portal.approvals import reminders, tasks
from portal.approvals import services as approval_services
from portal.celery import app
from portal.endpoint_services.models import EndpointConnection
from portal.endpoint_services.tasks import notify_connections_waiting
from portal.lib import webhooks
from portal.provisioning import services as provisioning
from portal.requests import services
from portal.service_requests.integrity import request_events_verify
from portal.service_requests.models import ServiceRequest, State
from tests.support.day2 import ROOT, run
from tests.support.factories import ServiceRequestFactory, UserFactory
from tests.support.workers import running_worker, wait_for

pytestmark = pytest.mark.django_db

Post = namedtuple("Post", "path query json content_type")
DINGTALK_SECRET = "SEC0123456789abcdef-test-signing-secret"
SLACK_PATH = "/services/T000/B000/slack-secret-token"
DINGTALK_PATH = "/robot/send"


class WebhookReceiver:
    """A chat service on 127.0.0.1, in a thread. It keeps every POST (path, query, JSON) and
    answers the statuses a test scripts (`answers`), then 200. Given DingTalk's secret, it
    checks each signature and answers a wrong one as DingTalk does: HTTP 200, errcode 310000."""

    def __init__(self):
        self.posts = []
        self.answers = []
        self.dingtalk_secret = None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                receiver.posts.append(Post(url.path, query, body, self.headers.get("Content-Type")))
                status = receiver.answers.pop(0) if receiver.answers else 200
                answer = b"error" if status != 200 else receiver.answer(url.path, query)
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path):
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def answer(self, path, query):
        if path != DINGTALK_PATH:
            return b"ok"
        if self.dingtalk_secret and not self.signed(query):
            return json.dumps({"errcode": 310000, "errmsg": "sign not match"}).encode()
        return json.dumps({"errcode": 0, "errmsg": "ok"}).encode()

    def signed(self, query):
        """DingTalk's check: sign = base64(HMAC-SHA256(secret, "timestamp\\nsecret")), and the
        timestamp within an hour of now."""
        timestamp = query.get("timestamp", "0")
        expected = base64.b64encode(
            hmac.new(
                self.dingtalk_secret.encode(),
                f"{timestamp}\n{self.dingtalk_secret}".encode(),
                hashlib.sha256,
            ).digest()
        ).decode()
        fresh = abs(time.time() * 1000 - int(timestamp)) < 3600 * 1000
        return fresh and hmac.compare_digest(expected, query.get("sign", ""))

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def owned(service):
    """`service`, with the approvers who made it (the factory's) out of the approvers' group."""
    Group.objects.get(name="approvers").user_set.remove(
        *User.objects.filter(username__startswith="factory-approver")
    )
    return service


@pytest.fixture
def slack(receiver, settings):
    settings.SLACK_WEBHOOK_URL = receiver.url(SLACK_PATH)
    return receiver


@pytest.fixture
def dingtalk(receiver, settings):
    settings.DINGTALK_WEBHOOK_URL = receiver.url(f"{DINGTALK_PATH}?access_token=robot-token")
    settings.DINGTALK_SECRET = receiver.dingtalk_secret = DINGTALK_SECRET
    return receiver


def submit(service_request, capture):
    with capture(execute=True):
        services.service_request_submit(
            service_request=service_request, actor=service_request.requester
        )
    service_request.refresh_from_db()
    return service_request


def decide(service_request, approver, decision, capture, comment=""):
    service_request.refresh_from_db()
    with capture(execute=True):
        approval_services.service_request_decide(
            pk=service_request.pk,
            approver=approver,
            decision=decision,
            revision=service_request.revision,
            comment=comment,
        )
    service_request.refresh_from_db()


# --- chat ---


def test_a_submission_posts_the_slack_payload(
    slack, requester, approver, django_capture_on_commit_callbacks
):
    request = submit(ServiceRequestFactory(requester=requester), django_capture_on_commit_callbacks)
    [post] = slack.posts
    assert post.path == SLACK_PATH
    assert post.content_type == "application/json; charset=utf-8"
    assert post.json["text"] == f"Request #{request.pk} awaits approval"
    title, body, context = post.json["blocks"]
    assert title == {
        "type": "section",
        "text": {"type": "mrkdwn", "text": f"*Request #{request.pk} awaits approval*"},
    }
    assert body["text"]["text"].splitlines() == [
        f"requester asks for an endpoint service in cn-hangzhou: {request.service_description}",
        "It needs 1 approval.",
    ]
    link = f"http://127.0.0.1:8000/requests/{request.pk}/"
    assert context["elements"] == [{"type": "mrkdwn", "text": f"<{link}|Open in the portal>"}]


def test_a_dingtalk_robot_gets_a_signed_markdown_payload(
    dingtalk, requester, approver, django_capture_on_commit_callbacks
):
    request = submit(ServiceRequestFactory(requester=requester), django_capture_on_commit_callbacks)
    [post] = dingtalk.posts
    assert post.path == DINGTALK_PATH
    assert post.query["access_token"] == "robot-token"
    assert dingtalk.signed(post.query)  # the receiver answered errcode 0 to it
    assert post.json["msgtype"] == "markdown"
    markdown = post.json["markdown"]
    assert markdown["title"] == f"Request #{request.pk} awaits approval"
    assert markdown["text"] == (
        f"#### Request #{request.pk} awaits approval\n\n"
        f"requester asks for an endpoint service in cn-hangzhou: {request.service_description}"
        "\n\nIt needs 1 approval.\n\n"
        f"[Open in the portal](http://127.0.0.1:8000/requests/{request.pk}/)"
    )


def test_both_chats_hear_of_each_event_once(
    slack, dingtalk, settings, requester, approver, django_capture_on_commit_callbacks
):
    request = submit(ServiceRequestFactory(requester=requester), django_capture_on_commit_callbacks)
    decide(
        request,
        approver,
        "reject",
        django_capture_on_commit_callbacks,
        comment="Use the shared one.",
    )
    paths = sorted(post.path for post in slack.posts)
    assert paths == sorted([SLACK_PATH, SLACK_PATH, DINGTALK_PATH, DINGTALK_PATH])
    rejected = [p for p in slack.posts if p.path == DINGTALK_PATH][-1].json["markdown"]
    assert rejected["title"] == f"Request #{request.pk} was rejected by approver"
    assert "Comment from approver: Use the shared one." in rejected["text"]


def test_a_wrong_dingtalk_secret_is_refused_and_not_retried(
    dingtalk, settings, caplog, requester, approver, django_capture_on_commit_callbacks
):
    settings.DINGTALK_SECRET = "SECthe-wrong-secret"
    with caplog.at_level(logging.INFO):
        submit(ServiceRequestFactory(requester=requester), django_capture_on_commit_callbacks)
    assert len(dingtalk.posts) == 1
    assert "refused the message (310000: sign not match)" in caplog.text


def test_a_server_error_is_retried_and_the_message_arrives(
    slack, requester, approver, django_capture_on_commit_callbacks
):
    slack.answers = [500]
    submit(ServiceRequestFactory(requester=requester), django_capture_on_commit_callbacks)
    first, second = slack.posts
    assert first.json == second.json  # the same message, sent again (eagerly: at once)


def test_a_refusal_is_not_retried_and_the_webhook_is_not_logged(
    slack, caplog, requester, approver, django_capture_on_commit_callbacks
):
    slack.answers = [400]
    with caplog.at_level(logging.DEBUG):
        submit(ServiceRequestFactory(requester=requester), django_capture_on_commit_callbacks)
    assert len(slack.posts) == 1
    assert "the slack webhook answered HTTP 400" in caplog.text
    assert "slack-secret-token" not in caplog.text


def test_a_failing_webhook_is_retried_a_bounded_number_of_times(slack, caplog):
    slack.answers = [503] * 20
    with caplog.at_level(logging.DEBUG):
        result = tasks.post_to_chat.apply(("slack", "Title", ["a line"], "http://x/"))
    assert result.failed()
    assert isinstance(result.result, webhooks.WebhookUnavailable)
    assert len(slack.posts) == 1 + tasks.post_to_chat.max_retries
    assert "slack-secret-token" not in caplog.text


def test_an_unreachable_webhook_is_retried_too(settings, monkeypatch):
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    settings.SLACK_WEBHOOK_URL = f"http://127.0.0.1:{port}{SLACK_PATH}"  # nothing listens
    with pytest.raises(webhooks.WebhookUnavailable, match="unreachable"):
        webhooks.post("slack", "Title", [], "http://x/")
    attempts = []
    post = webhooks.post
    monkeypatch.setattr(webhooks, "post", lambda *args: attempts.append(1) or post(*args))
    result = tasks.post_to_chat.apply(("slack", "Title", [], "http://x/"))
    assert result.failed() and len(attempts) == 1 + tasks.post_to_chat.max_retries
    assert "slack-secret-token" not in str(result.result)


def test_a_dingtalk_throttle_is_retried(dingtalk, monkeypatch):
    answers = [b'{"errcode": 130101, "errmsg": "send too fast"}']
    answer = dingtalk.answer
    monkeypatch.setattr(
        dingtalk, "answer", lambda *args: answers.pop(0) if answers else answer(*args)
    )
    assert tasks.post_to_chat.apply(("dingtalk", "Title", [], "http://x/")).successful()
    assert len(dingtalk.posts) == 2


def test_failures_and_outcomes_say_the_reason_and_the_service_name(
    slack, requester, approver, simulator, django_capture_on_commit_callbacks
):
    broken = ServiceRequestFactory(
        requester=requester,
        state=State.APPROVED,
        resources=[
            {
                "resource_type": "nlb",
                "resource_id": "nlb-hz9999999999999999",
                "zone_id": "cn-hangzhou-h",
            }
        ],
    )
    with django_capture_on_commit_callbacks(execute=True):
        provisioning.service_request_provision(pk=broken.pk)
    failed = slack.posts[-1].json
    assert failed["text"] == f"Request #{broken.pk} failed"
    body = failed["blocks"][1]["text"]["text"]
    assert "What the cloud said: Resource 1 (nlb-hz9999999999999999" in body
    assert "(LoadBalancerNotFound)" in body
    assert "An approver can retry it" in body
    made = ServiceRequestFactory(requester=requester, state=State.APPROVED)
    with django_capture_on_commit_callbacks(execute=True):
        run(provisioning.service_request_provision, made.pk)
    made.refresh_from_db()
    active = slack.posts[-1].json
    assert active["text"] == f"Request #{made.pk} is now active"
    assert f"ServiceName: {made.service_name}" in active["blocks"][1]["text"]["text"]


def test_text_from_people_cannot_ping_a_slack_channel(
    slack, requester, approver, django_capture_on_commit_callbacks
):
    request = submit(
        ServiceRequestFactory(requester=requester, service_description="<!channel> & <@U1>"),
        django_capture_on_commit_callbacks,
    )
    text = json.dumps(slack.posts[-1].json)
    assert "<!channel>" not in text and "<@U1>" not in text
    assert "&lt;!channel&gt; &amp; &lt;@U1&gt;" in slack.posts[-1].json["blocks"][1]["text"]["text"]
    assert request.state == State.PENDING_APPROVAL


def test_without_a_webhook_nothing_is_posted(
    receiver, requester, approver, django_capture_on_commit_callbacks
):
    assert webhooks.targets() == []
    submit(ServiceRequestFactory(requester=requester), django_capture_on_commit_callbacks)
    assert receiver.posts == []


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SLACK_WEBHOOK_URL", "hooks.slack.com/services/T/B/x", "SLACK_WEBHOOK_URL must be"),
        ("SLACK_WEBHOOK_URL", "ftp://hooks.example.com/x", "SLACK_WEBHOOK_URL must be"),
        ("DINGTALK_WEBHOOK_URL", "https:///robot/send", "DINGTALK_WEBHOOK_URL must be"),
        ("DINGTALK_SECRET", "SECabc", "DINGTALK_SECRET is set but DINGTALK_WEBHOOK_URL is not"),
        ("CHAT_TIMEOUT", 0, "CHAT_TIMEOUT must be"),
    ],
)
def test_webhook_settings_that_cannot_work_are_refused(settings, name, value, message):
    setattr(settings, name, value)
    with pytest.raises(ImproperlyConfigured, match=message) as refused:
        webhooks.check_settings()
    assert str(value) not in str(refused.value) or name == "CHAT_TIMEOUT"


def test_a_bad_webhook_url_stops_the_portal_at_start():
    secret = "hooks.slack.com/services/T/B/start-secret"
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "SLACK_WEBHOOK_URL": secret, "DEBUG": "true"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "SLACK_WEBHOOK_URL must be an http(s) URL of the slack webhook" in result.stderr
    assert "start-secret" not in result.stderr + result.stdout


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_posts_and_retries(receiver, simulator, tmp_path):
    receiver.answers = [500]
    url = receiver.url(SLACK_PATH)
    with running_worker(simulator.endpoint, tmp_path, SLACK_WEBHOOK_URL=url) as worker:
        tasks.post_to_chat.apply_async(("slack", "Request #1 awaits approval", ["x"], "http://x/"))
        wait_for(lambda: len(receiver.posts) == 2, message="a retried post", worker=worker)
        assert "Retry in" in worker.output()
        assert "slack-secret-token" not in worker.output()
    assert receiver.posts[1].json["text"] == "Request #1 awaits approval"


# --- who hears what, by email ---


def test_a_decision_email_says_who_decided(requester, approver, django_capture_on_commit_callbacks):
    request = submit(ServiceRequestFactory(requester=requester), django_capture_on_commit_callbacks)
    decide(request, approver, "reject", django_capture_on_commit_callbacks, comment="No.")
    message = mail.outbox[-1]
    assert message.subject == f"[PrivateLink portal] Request #{request.pk} rejected"
    assert message.body.startswith(f"Your request #{request.pk} was rejected by approver.")
    assert "Comment from approver: No." in message.body


def test_a_resubmission_tells_the_approvers_what_they_asked_before(
    requester, approver, django_capture_on_commit_callbacks
):
    request = submit(ServiceRequestFactory(requester=requester), django_capture_on_commit_callbacks)
    decide(request, approver, "send_back", django_capture_on_commit_callbacks, comment="Add a tag.")
    submit(request, django_capture_on_commit_callbacks)
    message = mail.outbox[-1]
    assert message.to == [approver.email]
    assert (
        f"Resubmitted (revision {request.revision}) after approver sent it back: Add a tag."
        in message.body
    )


def test_access_for_every_account_is_for_the_approvers_not_the_owner(
    service,
    owned,
    requester,
    requester2,
    approver,
    approver2,
    simulator,
    django_capture_on_commit_callbacks,
):
    asked = services.access_request_create(
        requester=requester2, service=service, account_id="*", justification="Open it."
    )
    mail.outbox.clear()
    submit(asked, django_capture_on_commit_callbacks)
    [message] = mail.outbox
    assert sorted(message.to) == sorted([approver.email, approver2.email])
    assert f"that every Alibaba Cloud account may connect to {service.service_name}" in message.body
    # The owner could not decide it, but hears what became of it.
    decide(asked, approver, "approve", django_capture_on_commit_callbacks)
    decide(asked, approver2, "approve", django_capture_on_commit_callbacks)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        run(provisioning.service_request_apply, asked.pk)
    [owner] = [m for m in mail.outbox if m.to == [requester.email]]
    assert owner.subject == (
        f"[PrivateLink portal] Request #{asked.pk} about {service.service_id} applied"
    )
    assert (
        f"Request #{asked.pk} by requester2, about your service {service.service_id}, was applied."
        in owner.body
    )


def test_a_connection_notice_names_the_service_and_reaches_approvers_when_the_owner_cannot(
    service, owned, requester, approver
):
    waiting = EndpointConnection.objects.create(
        service=service,
        endpoint_id="ep-waiting1",
        endpoint_owner_id="1000000000000003",
        endpoint_vpc_id="vpc-1",
        status="Disconnected",
    )
    notify_connections_waiting.apply((service.pk, [waiting.pk]), throw=True)
    [owner] = mail.outbox
    assert owner.to == [requester.email]
    assert f"{service.service_id} ({service.service_name}; cn-hangzhou, Orders API)" in owner.body
    assert f"http://127.0.0.1:8000/services/{service.service_id}/#connections" in owner.body
    requester.email = ""
    requester.save()
    notify_connections_waiting.apply((service.pk, [waiting.pk]), throw=True)
    assert mail.outbox[-1].to == [approver.email]


# --- reminders and escalation, on a frozen clock ---


class Clock:
    """The portal's clock (django.utils.timezone.now), standing still until a test moves it."""

    def __init__(self, start):
        self.now = start

    def __call__(self):
        return self.now

    def advance(self, **delta):
        self.now += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch, settings):
    settings.APPROVAL_REMIND_AFTER = 3600
    settings.APPROVAL_ESCALATE_AFTER = 4 * 3600
    settings.ESCALATION_GROUP = "escalation"
    clock = Clock(datetime.now(UTC).replace(second=0, microsecond=0))
    monkeypatch.setattr(timezone, "now", clock)
    return clock


@pytest.fixture
def lead(db):
    user = UserFactory(username="lead")
    user.groups.add(Group.objects.get_or_create(name="escalation")[0])
    return user


@pytest.fixture
def remind(django_capture_on_commit_callbacks):
    """Run one pass as beat would; return (reminded, escalated) and the emails it sent."""

    def run_pass():
        mail.outbox.clear()
        with django_capture_on_commit_callbacks(execute=True):
            counts = reminders.approval_reminders_pass()
        return counts, {tuple(m.to): m for m in mail.outbox}

    return run_pass


@pytest.fixture
def pending(clock, requester, approver, approver2, lead, django_capture_on_commit_callbacks):
    return submit(ServiceRequestFactory(requester=requester), django_capture_on_commit_callbacks)


def test_a_waiting_request_reminds_those_it_waits_on_once_per_period(
    pending, clock, remind, approver, approver2, requester
):
    clock.advance(minutes=59)
    assert remind() == ((0, 0), {})
    clock.advance(minutes=1)
    (counts, emails) = remind()
    assert counts == (1, 0)
    assert set(emails) == {(approver.email,), (approver2.email,)}
    message = emails[(approver.email,)]
    assert (
        message.subject == "[PrivateLink portal] 1 request has waited more than 1 hour for approval"
    )
    assert f"#{pending.pk} by requester, waiting 1 hour: for an endpoint service" in message.body
    assert f"http://127.0.0.1:8000/requests/{pending.pk}/" in message.body
    clock.advance(minutes=50)
    assert remind() == ((0, 0), {})  # once per period
    clock.advance(minutes=10)
    assert remind()[0] == (1, 0)  # and again after another
    event = pending.events.filter(action="reminded").last()
    assert event.actor is None
    assert event.details["told"] == ["approver", "approver2"]
    assert event.details["waiting_since"] == pending.submitted_at.isoformat()


def test_escalation_tells_the_group_later_on_whom_the_request_waits(
    pending, clock, remind, lead, approver
):
    clock.advance(hours=3, minutes=59)
    assert remind()[0] == (1, 0)
    clock.advance(minutes=1)
    (counts, emails) = remind()
    assert counts == (0, 1)  # the reminder given a minute ago is not due again
    message = emails[(lead.email,)]
    assert message.subject == (
        "[PrivateLink portal] Escalation: 1 request has waited more than 4 hours for approval"
    )
    assert "waits on approver, approver2" in message.body
    event = pending.events.get(action="escalated")
    assert event.details["told"] == ["lead"] and event.details["group"] == "escalation"
    clock.advance(hours=3)
    assert remind()[0] == (1, 0)  # escalated once per escalation period
    clock.advance(hours=1)
    assert remind()[0] == (1, 1)


@pytest.mark.parametrize("decision", ["approve", "reject", "send_back"])
def test_a_decision_stops_the_reminders(
    pending, clock, remind, approver, decision, django_capture_on_commit_callbacks
):
    clock.advance(hours=1)
    assert remind()[0] == (1, 0)
    decide(pending, approver, decision, django_capture_on_commit_callbacks)
    clock.advance(hours=10)
    assert remind() == ((0, 0), {})


def test_a_resubmission_restarts_the_clock(
    pending, clock, remind, approver, django_capture_on_commit_callbacks
):
    clock.advance(hours=1)
    assert remind()[0] == (1, 0)  # reminded at 10:00
    clock.advance(minutes=30)
    decide(pending, approver, "send_back", django_capture_on_commit_callbacks)
    submit(pending, django_capture_on_commit_callbacks)  # resubmitted at 10:30
    clock.advance(minutes=45)
    assert remind() == ((0, 0), {})  # 11:15: due by the old clock, not by the new one
    clock.advance(minutes=15)
    assert remind()[0] == (1, 0)  # 11:30


def test_who_approved_already_is_not_reminded(
    clock, remind, requester, approver, approver2, lead, django_capture_on_commit_callbacks
):
    risky = submit(
        ServiceRequestFactory(requester=requester, auto_accept_enabled=True),
        django_capture_on_commit_callbacks,
    )
    decide(risky, approver, "approve", django_capture_on_commit_callbacks)
    clock.advance(hours=1)
    (_counts, emails) = remind()
    assert set(emails) == {(approver2.email,)}
    assert "needs 2 approvals: auto-accept is on" in emails[(approver2.email,)].body


def test_the_owner_is_reminded_of_access_to_their_service(
    service,
    owned,
    clock,
    remind,
    requester,
    requester2,
    approver,
    lead,
    django_capture_on_commit_callbacks,
):
    asked = services.access_request_create(
        requester=requester2, service=service, account_id="1000000000000003", justification="x"
    )
    submit(asked, django_capture_on_commit_callbacks)
    clock.advance(hours=1)
    (_counts, emails) = remind()
    assert set(emails) == {(approver.email,), (requester.email,)}
    assert "may connect to" in emails[(requester.email,)].body
    # The owner decides on the request's page; the queue is the approvers'.
    assert "approvals queue" not in emails[(requester.email,)].body
    assert "approvals queue: http://127.0.0.1:8000/approvals/" in emails[(approver.email,)].body


def test_one_email_per_person_lists_every_request_due(
    clock, remind, requester, requester2, approver, lead, django_capture_on_commit_callbacks
):
    first = submit(ServiceRequestFactory(requester=requester), django_capture_on_commit_callbacks)
    clock.advance(minutes=5)
    second = submit(ServiceRequestFactory(requester=requester2), django_capture_on_commit_callbacks)
    clock.advance(hours=1)
    (counts, emails) = remind()
    assert counts == (2, 0)
    assert list(emails) == [(approver.email,)]
    body = emails[(approver.email,)].body
    assert body.index(f"#{first.pk} by requester,") < body.index(f"#{second.pk} by requester2,")
    assert "2 requests have waited more than 1 hour" in emails[(approver.email,)].subject


def test_reminders_are_audited_and_the_log_still_verifies(pending, clock, remind):
    clock.advance(hours=4)
    remind()
    assert list(
        pending.events.filter(action__in=["reminded", "escalated"]).values_list(
            "action", "from_state", "to_state"
        )
    ) == [
        ("reminded", "pending_approval", "pending_approval"),
        ("escalated", "pending_approval", "pending_approval"),
    ]
    assert request_events_verify(ServiceRequest.objects.get(pk=pending.pk)).ok


def test_nobody_to_tell_is_recorded_once_per_period(
    clock, remind, requester, settings, django_capture_on_commit_callbacks
):
    lonely = submit(ServiceRequestFactory(requester=requester), django_capture_on_commit_callbacks)
    clock.advance(hours=1)
    assert remind() == ((1, 0), {})
    assert remind() == ((0, 0), {})
    assert lonely.events.get(action="reminded").details["told"] == []


def test_reminders_go_to_chat_in_one_message_per_pass(
    slack, clock, remind, requester, approver, lead, django_capture_on_commit_callbacks
):
    first = submit(ServiceRequestFactory(requester=requester), django_capture_on_commit_callbacks)
    second = submit(ServiceRequestFactory(requester=requester), django_capture_on_commit_callbacks)
    slack.posts.clear()
    clock.advance(hours=4)
    remind()
    reminder, escalation = (post.json for post in slack.posts)
    assert reminder["text"] == "2 requests have waited more than 1 hour for approval"
    assert escalation["text"] == "Escalation: 2 requests have waited more than 4 hours for approval"
    lines = escalation["blocks"][1]["text"]["text"].splitlines()
    assert lines[0].startswith(f"#{first.pk} by requester, waiting 4 hours")
    assert lines[1].endswith("; waits on approver")
    assert f"#{second.pk}" in lines[1]
    assert "http://127.0.0.1:8000/approvals/" in escalation["blocks"][2]["elements"][0]["text"]
    assert pending_told(first) == ["approver"]


def pending_told(service_request):
    return service_request.events.get(action="reminded").details["told"]


def test_a_setting_of_0_turns_reminders_off(pending, clock, remind, settings):
    settings.APPROVAL_REMIND_AFTER = 0
    clock.advance(hours=3)
    assert remind() == ((0, 0), {})
    settings.APPROVAL_ESCALATE_AFTER = 0
    clock.advance(hours=30)
    assert remind() == ((0, 0), {})


def test_beat_runs_the_pass(pending, clock, approver, django_capture_on_commit_callbacks):
    schedule = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert tasks.approval_reminders.name in schedule
    clock.advance(hours=1)
    with django_capture_on_commit_callbacks(execute=True):
        result = tasks.approval_reminders.apply()
    assert result.get() == (1, 0)


def race_two_passes(request_pk, now):
    """Two passes at once: each lists the request before either claims it."""
    barrier = threading.Barrier(2, timeout=30)
    claim = reminders._claim
    outcomes = []

    def claim_together(*args):
        barrier.wait()
        return claim(*args)

    def one_pass():
        try:
            outcomes.append(reminders.approval_reminders_pass(now=now))
        finally:
            connection.close()

    reminders._claim = claim_together
    try:
        threads = [threading.Thread(target=one_pass) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        reminders._claim = claim
    return sorted(outcomes)


def two_passes_at_once_remind_once(requester, approver, settings):
    settings.APPROVAL_REMIND_AFTER = 3600
    request = ServiceRequestFactory(requester=requester)
    services.service_request_submit(service_request=request, actor=requester)
    request.refresh_from_db()
    mail.outbox.clear()
    assert race_two_passes(request.pk, request.submitted_at + timedelta(hours=1)) == [
        (0, 0),
        (1, 0),
    ]
    assert request.events.filter(action="reminded").count() == 1
    assert [m.to for m in mail.outbox] == [[approver.email]]


@pytest.mark.django_db(transaction=True)
def test_two_passes_at_once_remind_once(requester, approver, settings):
    two_passes_at_once_remind_once(requester, approver, settings)


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_two_passes_at_once_remind_once_on_postgresql(requester, approver, settings):
    assert connection.vendor == "postgresql"
    two_passes_at_once_remind_once(requester, approver, settings)


def test_the_demo_has_someone_to_escalate_to_who_can_open_the_requests(settings):
    from django.core.management import call_command

    settings.DEBUG = True
    call_command("seed_demo", stdout=io.StringIO())
    lead = User.objects.get(username="lead")
    assert list(reminders.escalation_group()) == [lead]
    assert rights.is_auditor(lead) and not rights.is_approver(lead)

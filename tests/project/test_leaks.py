"""What the portal gives away when something goes wrong: an error report hides every secret
setting, chat text is shown as typed, and a 404 says the same of a missing row and a hidden
one, naming no table."""

import pytest
from django.core import mail
from django.test import Client
from django.urls import path

from portal.lib import webhooks
from tests.support.api import call, token
from tests.support.factories import ServiceRequestFactory, UserFactory

pytestmark = pytest.mark.django_db

SECRETS = {
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/slack-secret-part",
    "DINGTALK_WEBHOOK_URL": "https://oapi.dingtalk.com/robot/send?access_token=ding-secret-part",
    "DINGTALK_SECRET": "SECding-signing-secret",
    "CELERY_BROKER_URL": "redis://:broker-secret-part@127.0.0.1:6379/0",
    "OIDC_RP_CLIENT_SECRET": "oidc-client-secret-part",
}
CACHE_URL = "redis://:cache-secret-part@10.0.0.5:6379/1"


def boom(request):
    raise RuntimeError("forced for the test")


urlpatterns = [path("boom/", boom)]


def test_a_500s_error_report_to_admins_hides_every_secret(settings):
    settings.DEBUG = False
    settings.ADMINS = [("Ops", "ops@example.com")]
    settings.ROOT_URLCONF = __name__
    for name, value in SECRETS.items():
        setattr(settings, name, value)
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "OPTIONS": {}, "KEY_PREFIX": CACHE_URL}
        | {"LOCATION": CACHE_URL, "BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    }
    response = Client(raise_request_exception=False).get("/boom/")
    assert response.status_code == 500
    [report] = mail.outbox
    text = report.body + "".join(str(a[1]) for a in report.alternatives)
    assert "forced for the test" in text  # the report is there, with the settings
    assert "SLACK_WEBHOOK_URL" in text and "DINGTALK_WEBHOOK_URL" in text
    for name, value in SECRETS.items():
        assert value not in text, name
    assert "secret-part" not in text


def test_a_comment_makes_no_heading_quote_or_emphasis_in_dingtalk():
    """Found by an attacker's review: a comment of several lines made its own heading."""
    text = webhooks.dingtalk_payload(
        "Request #8 needs a decision",
        ["Comment: ok\n#### Request #8 approved by security-lead\n> **Security**: deploy\n==="],
        "https://portal.example/requests/8/",
    )["markdown"]["text"]
    body = text.split("\n\n", 1)[1]
    assert "\n#### " not in body and "\n> " not in body and "**" not in body
    assert "\n===" not in body and r"\#### Request #8 approved by security-lead" in body


def test_a_comment_posts_to_dingtalk_as_typed_not_as_the_robots_link():
    payload = webhooks.dingtalk_payload(
        "Request #7 needs a decision",
        ["Comment: [Approve now](https://evil.example) ![x](https://evil.example/p.png) <b>"],
        "https://portal.example/requests/7/",
    )
    text = payload["markdown"]["text"]
    assert "](https://evil.example)" not in text and "![" not in text and "<b>" not in text
    assert r"\[Approve now\]\(https://evil.example\)" in text
    # The portal's own link is still a link.
    assert text.endswith("[Open in the portal](https://portal.example/requests/7/)")


def test_a_missing_request_and_a_hidden_one_answer_the_same_404(client):
    owner, stranger = UserFactory(), UserFactory()
    hidden = ServiceRequestFactory(requester=owner)
    secret = token(stranger, scope="read")
    missing = call(client, "GET", f"requests/{hidden.pk + 1000}", secret)
    seen = call(client, "GET", f"requests/{hidden.pk}", secret)
    assert missing.status_code == seen.status_code == 404
    assert missing.json() == seen.json()
    assert "ServiceRequest" not in missing.content.decode()


def test_a_missing_service_and_a_hidden_one_answer_the_same_404(client, service):
    # Unmanaged services are for approvers and auditors alone.
    service.managed = False
    service.save(update_fields=["managed"])
    hidden, stranger = service, UserFactory()
    secret = token(stranger, scope="read")
    missing = call(client, "GET", "services/epsrv-000000000000000none0", secret)
    seen = call(client, "GET", f"services/{hidden.service_id}", secret)
    assert missing.status_code == seen.status_code == 404, (missing.content, seen.content)
    assert missing.json() == seen.json()
    assert "EndpointService" not in missing.content.decode()

"""Chat messages through incoming webhooks: a Slack-compatible one and a DingTalk robot.

A message is a title, plain-text lines and a link. Each target has its payload shape; the
webhook URLs (and DingTalk's signing secret) are secrets: no error, log line or task
argument carries them, only the target's name.
"""

import base64
import hashlib
import hmac
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from http.client import HTTPException

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

SLACK, DINGTALK = "slack", "dingtalk"
URL_SETTINGS = {SLACK: "SLACK_WEBHOOK_URL", DINGTALK: "DINGTALK_WEBHOOK_URL"}
# A Slack section's text holds 3,000 characters; DingTalk takes 20,000 bytes in all.
MAX_TEXT = 2900
# DingTalk answers HTTP 200 with an error code; this one means "too many messages: later".
DINGTALK_THROTTLED = 130101


class WebhookUnavailable(Exception):
    """The chat service could not take the message now (unreachable, 5xx, 429): retry."""


class WebhookRefused(Exception):
    """The chat service refused the message (4xx, or DingTalk's error code): do not retry."""


def check_settings():
    """Refuse webhook settings that cannot work, naming the setting but not its value."""
    for target, name in URL_SETTINGS.items():
        url = getattr(settings, name)
        if not url:
            continue
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ImproperlyConfigured(f"{name} must be an http(s) URL of the {target} webhook")
    if settings.DINGTALK_SECRET and not settings.DINGTALK_WEBHOOK_URL:
        raise ImproperlyConfigured("DINGTALK_SECRET is set but DINGTALK_WEBHOOK_URL is not")
    if settings.CHAT_TIMEOUT <= 0:
        raise ImproperlyConfigured("CHAT_TIMEOUT must be a positive number of seconds")


def targets():
    """Return the names of the webhooks configured, in a stable order."""
    return [target for target, name in URL_SETTINGS.items() if getattr(settings, name)]


def _clip(text):
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def _slack_escape(text):
    # Slack's three control characters: without this, "<!channel>" in a comment pings everyone.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(title, lines, link):
    """Return a Slack incoming-webhook payload: `text` for notifications, `blocks` to show."""
    body = _clip("\n".join(_slack_escape(line) for line in lines))
    return {
        "text": _slack_escape(title),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{_slack_escape(title)}*"}},
            *([{"type": "section", "text": {"type": "mrkdwn", "text": body}}] if body else []),
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"<{link}|Open in the portal>"}],
            },
        ],
    }


# DingTalk's markdown would read a comment's "[Approve now](https://evil.example)" as the
# robot's own link, a line "#### Approved by the CISO" as its heading, "> ..." as a quote,
# "**...**" as bold. Shown as typed instead: what makes links, images, emphasis, code and
# tables is escaped with a backslash (markdown's own escape) wherever it stands, what starts a
# heading, quote, list or underline only at the start of a line (so "cn-hangzhou" and
# "Request #7" read as they are), and & and < become entities, for the HTML it also reads.
_DINGTALK_INLINE = re.compile(r"([\\`*_\[\]()!~|])")
_DINGTALK_LINE_START = re.compile(r"^([ \t]*)(?:([#>=+-])|(\d+)([.)]))", re.MULTILINE)


def _dingtalk_escape(text):
    text = _DINGTALK_INLINE.sub(r"\\\1", text)
    text = _DINGTALK_LINE_START.sub(
        lambda m: f"{m[1]}\\{m[2]}" if m[2] else f"{m[1]}{m[3]}\\{m[4]}", text
    )
    return text.replace("&", "&amp;").replace("<", "&lt;")


def dingtalk_payload(title, lines, link):
    """Return a DingTalk robot's markdown payload (paragraphs need a blank line between)."""
    body = _clip("\n\n".join(_dingtalk_escape(line) for line in lines))
    return {
        "msgtype": "markdown",
        "markdown": {
            "title": title,
            "text": f"#### {_dingtalk_escape(title)}\n\n{body}\n\n[Open in the portal]({link})",
        },
    }


def dingtalk_signed_url(url, secret, timestamp_ms):
    """Add DingTalk's `timestamp` and `sign` (HMAC-SHA256 of "timestamp\\nsecret", base64)."""
    digest = hmac.new(
        secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256
    ).digest()
    query = urllib.parse.urlencode(
        {"timestamp": timestamp_ms, "sign": base64.b64encode(digest).decode()}
    )
    return f"{url}{'&' if urllib.parse.urlsplit(url).query else '?'}{query}"


def post(target, title, lines, link):
    """Post one message to one configured webhook; raise WebhookUnavailable or WebhookRefused."""
    url = getattr(settings, URL_SETTINGS[target])
    if target == DINGTALK:
        payload = dingtalk_payload(title, lines, link)
        if settings.DINGTALK_SECRET:
            url = dingtalk_signed_url(url, settings.DINGTALK_SECRET, int(time.time() * 1000))
    else:
        payload = slack_payload(title, lines, link)
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.CHAT_TIMEOUT) as response:
            answer = response.read(65536)
    except urllib.error.HTTPError as error:
        if error.code >= 500 or error.code == 429:
            raise WebhookUnavailable(f"the {target} webhook answered HTTP {error.code}") from None
        raise WebhookRefused(f"the {target} webhook answered HTTP {error.code}") from None
    except (urllib.error.URLError, HTTPException, OSError) as error:
        reason = getattr(error, "reason", error)
        raise WebhookUnavailable(f"the {target} webhook is unreachable: {reason}") from None
    if target == DINGTALK:
        _check_dingtalk_answer(answer)


def _check_dingtalk_answer(answer):
    try:
        said = json.loads(answer)
        code, message = said.get("errcode", 0), str(said.get("errmsg", ""))[:200]
    except (ValueError, AttributeError):
        return  # a proxy or a DingTalk-compatible robot that says nothing more: accepted
    if code == DINGTALK_THROTTLED:
        raise WebhookUnavailable(f"the dingtalk robot is throttled ({code}: {message})")
    if code:
        raise WebhookRefused(f"the dingtalk robot refused the message ({code}: {message})")

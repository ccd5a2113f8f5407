"""The embedded identity provider as the tests use it: a real `python -m idp` process,
its control path, and a sign-in driven through it the way a browser would, step by step."""

import re
import subprocess
import sys
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from portal.accounts.roles import role_groups
from portal.teams.models import Membership, Role

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "portal-demo"
CLIENT_ID = "portal"
CLIENT_SECRET = "test-idp-client-secret"
# Where the Django test client's portal lives, as the provider must have it registered.
TEST_PORTAL = "http://testserver"


class IdentityProvider:
    """A running provider process and its control path (/_idp/)."""

    def __init__(self):
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "idp",
                "--port",
                "0",
                "--portal-url",
                TEST_PORTAL,
                "--client-id",
                CLIENT_ID,
                "--client-secret",
                CLIENT_SECRET,
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        first = self.process.stdout.readline()
        found = re.match(r"identity provider at (\S+)", first)
        if not found:
            self.stop()
            raise RuntimeError(f"the identity provider did not start: {first!r}")
        self.issuer = found.group(1)
        self.portals = [TEST_PORTAL]

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)

    def control(self, method, path, payload=None):
        response = requests.request(method, f"{self.issuer}/_idp/{path}", json=payload, timeout=10)
        response.raise_for_status()
        return response.json()

    def reset(self):
        """Back to the demo users and the test portal's client; no session, code or token."""
        self.control("POST", "reset")
        self.portals = [TEST_PORTAL]

    def put_user(self, username, groups=(), **claims):
        return self.control("PUT", f"users/{username}", {"groups": list(groups), **claims})

    def add_portal(self, url):
        """Register another address of the portal (a live server) with the portal's client."""
        self.portals.append(url.rstrip("/"))
        self.control(
            "PUT",
            f"clients/{CLIENT_ID}",
            {
                "client_secret": CLIENT_SECRET,
                "redirect_uris": [f"{url}/oidc/callback/" for url in self.portals],
                "post_logout_redirect_uris": [f"{url}/accounts/login/" for url in self.portals],
            },
        )

    def sessions(self):
        return [session["username"] for session in self.control("GET", "sessions")["sessions"]]

    def use(self, settings):
        """Point the portal (through pytest-django's `settings`) at this provider."""
        settings.OIDC_ISSUER = self.issuer
        settings.OIDC_RP_CLIENT_ID = CLIENT_ID
        settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
        for name in (
            "OIDC_OP_AUTHORIZATION_ENDPOINT",
            "OIDC_OP_TOKEN_ENDPOINT",
            "OIDC_OP_USER_ENDPOINT",
            "OIDC_OP_JWKS_ENDPOINT",
            "OIDC_OP_LOGOUT_ENDPOINT",
        ):
            setattr(settings, name, "")
        policy = settings.CONTENT_SECURITY_POLICY
        settings.CONTENT_SECURITY_POLICY = {
            **policy,
            "DIRECTIVES": {
                **policy["DIRECTIVES"],
                "form-action": ["'self'", self.issuer],
            },
        }


class _Form(HTMLParser):
    """The fields of the provider's sign-in form."""

    def __init__(self):
        super().__init__()
        self.fields = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "input" and attrs.get("name"):
            self.fields[attrs["name"]] = attrs.get("value") or ""


@dataclass
class Browser:
    """A Django test client for the portal and a requests session for the provider: the two
    halves of one browser, cookies included, following the redirects between them by hand."""

    client: object
    provider: requests.Session

    def start(self, next_url=None):
        """Press "Sign in with ...": return the provider's authorization URL."""
        path = "/oidc/authenticate/" + (f"?next={next_url}" if next_url else "")
        response = self.client.get(path)
        assert response.status_code == 302, response
        return response["Location"]

    def authorize(self, url, username, password=PASSWORD):
        """At the provider: sign in (or find the session) and return where it sends us back."""
        page = self.provider.get(url, allow_redirects=False)
        if page.status_code == 200:
            form = _Form()
            form.feed(page.text)
            assert set(form.fields) >= {"username", "password"}, page.text
            page = self.provider.post(
                url, data={"username": username, "password": password}, allow_redirects=False
            )
        assert page.status_code == 302, (page.status_code, page.text[:500])
        return page.headers["Location"]

    def callback(self, url):
        """Back at the portal with the provider's answer."""
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}" == TEST_PORTAL, url
        return self.client.get(f"{parts.path}?{parts.query}")

    def sign_in(self, username, password=PASSWORD, next_url=None):
        return self.callback(self.authorize(self.start(next_url), username, password))

    def sign_out(self, at_the_provider=False):
        """Press "Log out": the portal ends its session and sends us to the provider's (where
        the provider ends its own, with `at_the_provider`); return where the portal sent us."""
        response = self.client.post("/accounts/logout/")
        assert response.status_code == 302, response
        if at_the_provider:
            ended = self.provider.get(response["Location"], allow_redirects=False)
            assert ended.status_code == 302, (ended.status_code, ended.text[:500])
        return response["Location"]


def query(url):
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def mirror(user):
    """Make the provider's user say what the portal's user is: its roles and teams as groups.

    Browser tests set people up in the database; signing in through the provider then
    gives them the same roles back, whatever their names.
    """
    provider_groups = role_groups()
    groups = []
    for name in user.groups.values_list("name", flat=True):
        if name in provider_groups:
            groups.append(provider_groups[name])
    for team, role in Membership.objects.filter(user=user).values_list("team__name", "role"):
        groups.append(team)
        if role == Role.APPROVER:
            groups.append(team + settings.OIDC_TEAM_APPROVERS_SUFFIX)
    if user.is_superuser:
        groups.append(settings.OIDC_ADMINS_GROUP)
    response = requests.put(
        f"{settings.OIDC_ISSUER}/_idp/users/{user.get_username()}",
        json={"groups": groups, "email": user.email},
        timeout=10,
    )
    response.raise_for_status()


def log_in(page, base, username):
    """Sign in a browser page as production does, through the provider (the fixtures in
    conftest.py start it for browser tests), which first learns `username`'s roles."""
    mirror(get_user_model().objects.get(username=username))
    page.goto(f"{base}/accounts/login/")
    page.get_by_role("button", name=re.compile("^Sign in with")).click()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name=f"Log out {username}")).to_be_visible()

"""Single sign-on with OpenID Connect: the provider's endpoints, and the views that start a
sign-in, take the provider's answer and sign out at the provider.

mozilla-django-oidc does the protocol (state, nonce, PKCE, the token exchange, the ID token's
signature); this module adds what it leaves out: the endpoints from the issuer's discovery
document, and a plain message on the login page for every way a sign-in can fail.
"""

import hashlib
import logging
from urllib.parse import urlencode

import requests
from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation
from django.shortcuts import redirect, resolve_url
from django.urls import reverse
from django.views.generic import View
from mozilla_django_oidc.utils import import_from_settings
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

log = logging.getLogger(__name__)

# mozilla-django-oidc's endpoint settings, and the discovery document's names for them.
DISCOVERED = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
    "OIDC_OP_LOGOUT_ENDPOINT": "end_session_endpoint",
}
REQUIRED = ("authorization_endpoint", "token_endpoint", "jwks_uri")
DISCOVERY_SECONDS = 3600


class ProviderUnavailable(Exception):
    """The identity provider's discovery document could not be had."""


class SignInRefused(Exception):
    """The provider vouched for someone the portal will not sign in; says why, for them."""


def provider_name():
    return settings.OIDC_PROVIDER_NAME


def _discovery():
    issuer = settings.OIDC_ISSUER.rstrip("/")
    if not issuer:
        raise ProviderUnavailable("OIDC_ISSUER is not set")
    key = "oidc-discovery:" + hashlib.sha256(issuer.encode()).hexdigest()
    document = cache.get(key)
    if document is None:
        url = f"{issuer}/.well-known/openid-configuration"
        try:
            response = requests.get(url, timeout=settings.OIDC_TIMEOUT)
            response.raise_for_status()
            document = response.json()
        except (requests.RequestException, ValueError) as error:
            log.warning("OIDC discovery at %s failed: %s", url, error)
            raise ProviderUnavailable(str(error)) from error
        if not (
            isinstance(document, dict)
            and str(document.get("issuer", "")).rstrip("/") == issuer
            and all(document.get(name) for name in REQUIRED)
        ):
            log.error("OIDC discovery at %s is not %s's, or lacks one of %s", url, issuer, REQUIRED)
            raise ProviderUnavailable(f"{url} is not the discovery document of {issuer}")
        cache.set(key, document, DISCOVERY_SECONDS)
    return document


def setting(name, *default):
    """A mozilla-django-oidc setting; an endpoint left unset comes from discovery."""
    explicit = getattr(settings, name, None)
    if name in DISCOVERED and not explicit:
        value = _discovery().get(DISCOVERED[name])
        if value:
            return value
        if default:
            return default[0]
        raise ImproperlyConfigured(f"{name} is not set and the provider does not publish it")
    return import_from_settings(name, *default)


def provider_logout_url(request):
    """Where sign-out sends the browser: the provider's end_session_endpoint, telling it whose
    session to end (the ID token) and where to send the browser back (the login page)."""
    here = resolve_url(settings.LOGOUT_REDIRECT_URL)
    id_token = request.session.get("oidc_id_token")
    if not id_token:
        return here  # a break-glass session: nothing to end at the provider
    try:
        end_session = setting("OIDC_OP_LOGOUT_ENDPOINT", "")
    except ProviderUnavailable:
        return here
    if not end_session:
        return here
    query = urlencode(
        {
            "id_token_hint": id_token,
            "post_logout_redirect_uri": request.build_absolute_uri(reverse("login")),
            "client_id": settings.OIDC_RP_CLIENT_ID,
        }
    )
    return f"{end_session}?{query}"


def _back_to_login(request, message):
    messages.error(request, message[:1].upper() + message[1:])  # "The demo provider did ..."
    return redirect("login")


UNAVAILABLE = (
    "{name} does not answer, so nobody can sign in with it right now. Try again in a minute; "
    "if it lasts, tell the platform team."
)


class SignIn(OIDCAuthenticationRequestView):
    """Send the browser to the provider, with a fresh state, nonce and PKCE challenge."""

    get_settings = staticmethod(setting)

    def __init__(self, **kwargs):
        # The endpoint is read per request (discovery may be down), not when the view is made.
        View.__init__(self, **kwargs)

    def get(self, request):
        try:
            self.OIDC_OP_AUTH_ENDPOINT = setting("OIDC_OP_AUTHORIZATION_ENDPOINT")
        except ProviderUnavailable:
            return _back_to_login(request, UNAVAILABLE.format(name=provider_name()))
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        return super().get(request)


class Callback(OIDCAuthenticationCallbackView):
    """Take the provider's answer; on any failure, the login page says what went wrong."""

    get_settings = staticmethod(setting)

    def get(self, request):
        # Anyone can send a browser here with an error and a text of their own: the text is
        # shown only as the answer to a sign-in this browser started.
        self.answers_our_request = request.GET.get("state") in request.session.get(
            "oidc_states", {}
        )
        try:
            return super().get(request)
        except SignInRefused as refusal:
            return self.login_failure(str(refusal))
        except ProviderUnavailable:
            return self.login_failure(UNAVAILABLE.format(name=provider_name()))
        except SuspiciousOperation as error:
            log.warning("OIDC callback refused: %s", error)
            return self.login_failure(
                "This answer from the identity provider does not match a sign-in started in "
                "this browser (it may be stale, replayed or meant for another session). "
                "Sign in again."
            )
        except requests.RequestException as error:
            log.warning("OIDC token exchange failed: %s", error)
            return self.login_failure(
                f"{provider_name()} did not confirm this sign-in (the code was refused, used "
                "already or expired). Sign in again."
            )

    def login_failure(self, reason=None):
        if reason is None:
            said = self.request.GET.get("error_description") or self.request.GET.get("error")
            reason = (
                f"{provider_name()} did not sign you in: {said[:300]}"
                if said and self.answers_our_request
                else "The sign-in was not completed. Sign in again."
            )
        return _back_to_login(self.request, reason)

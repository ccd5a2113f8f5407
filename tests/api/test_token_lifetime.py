"""No token works for ever unless the operator says so: API_TOKEN_MAX_DAYS bounds every token,
those made before there was a bound included; "never" is offered only with
API_TOKEN_NEVER_EXPIRE."""

from datetime import timedelta

import pytest
from django.utils import timezone

from portal.api import services
from portal.api.models import AccessToken
from tests.support.api import call

pytestmark = pytest.mark.django_db


def made_days_ago(token, days, expires_at=None):
    """The token as a portal made it `days` ago (before tokens had a longest life): written
    through the model, so the log records it as made (a row changed by SQL works not at all)."""
    token.created_at, token.expires_at = timezone.now() - timedelta(days=days), expires_at
    token.save(update_fields=["created_at", "expires_at"])


def test_the_form_offers_no_never_and_refuses_it(login, requester):
    client = login(requester)
    page = client.get("/account/tokens/").content.decode()
    assert 'value="never"' not in page and "365 days at most" in page
    refused = client.post("/account/tokens/", {"name": "x", "scope": "read", "expires": "never"})
    assert refused.status_code == 400 and "expires" in refused.context["form"].errors
    assert not AccessToken.objects.exists()


def test_a_token_asked_without_an_end_gets_the_longest_life(requester):
    token, _secret = services.token_create(user=requester, name="ci", scope="read")
    longest = timezone.now() + timedelta(days=365)
    assert abs(token.expires_at - longest) < timedelta(minutes=1)


def test_a_never_token_made_before_the_bound_stops_at_it(client, requester):
    young, young_secret = services.token_create(user=requester, name="young", scope="read")
    old, old_secret = services.token_create(user=requester, name="old", scope="write")
    made_days_ago(young, 364)
    made_days_ago(old, 366)
    assert call(client, "GET", "me", young_secret).status_code == 200
    assert call(client, "GET", "me", old_secret).status_code == 401
    listed = call(client, "GET", "tokens", young_secret).json()
    ends = {token["name"]: token["expires_at"] for token in listed}
    assert ends["old"] is not None and ends["young"] is not None


def test_a_lower_bound_shortens_tokens_already_made(client, requester, settings):
    token, secret = services.token_create(
        user=requester, name="ci", scope="read", expires_at=timezone.now() + timedelta(days=300)
    )
    made_days_ago(token, 40, expires_at=timezone.now() + timedelta(days=260))
    assert call(client, "GET", "me", secret).status_code == 200
    settings.API_TOKEN_MAX_DAYS = 30
    assert call(client, "GET", "me", secret).status_code == 401


def test_never_where_the_operator_allows_it(login, client, requester, settings):
    settings.API_TOKEN_NEVER_EXPIRE = True
    browser = login(requester)
    assert 'value="never"' in browser.get("/account/tokens/").content.decode()
    made = browser.post("/account/tokens/", {"name": "x", "scope": "read", "expires": "never"})
    assert made.status_code == 302
    token = AccessToken.objects.get()
    assert token.expires_at is None
    _token, secret = services.token_create(user=requester, name="y", scope="read")
    made_days_ago(_token, 3650)
    assert call(client, "GET", "me", secret).status_code == 200


@pytest.mark.parametrize("days", [0, -5, 3651, 3_000_000])
def test_a_longest_life_out_of_range_stops_the_portal_at_start(settings, days):
    from django.apps import apps
    from django.core.exceptions import ImproperlyConfigured

    settings.API_TOKEN_MAX_DAYS = days
    with pytest.raises(ImproperlyConfigured, match="API_TOKEN_MAX_DAYS"):
        apps.get_app_config("api").ready()

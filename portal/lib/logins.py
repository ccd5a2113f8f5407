"""What django-axes records of a login attempt."""

from django.conf import settings

MAX_USERNAME = 150  # Django's own limit; axes stores up to 255


def attempted_username(request, credentials):
    """The username a login attempt named, cut to what a username can be: a 20,000-character
    one would not fit axes' column (a 500 on PostgreSQL) and names no user anyway."""
    field = getattr(settings, "AXES_USERNAME_FORM_FIELD", "username")
    value = (credentials or {}).get(field) or request.POST.get(field)
    return None if value is None else str(value)[:MAX_USERNAME]

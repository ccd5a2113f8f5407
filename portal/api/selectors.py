from django.shortcuts import get_object_or_404

from portal.api.models import AccessToken


def token_of_user(user, pk):
    """Return one of `user`'s own tokens; 404 for anyone else's, so ids leak nothing."""
    return get_object_or_404(AccessToken, pk=pk, user=user)

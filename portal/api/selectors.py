from portal.api.models import AccessToken
from portal.lib.lookups import one_or_404


def token_of_user(user, pk):
    """Return one of `user`'s own tokens; 404 for anyone else's, so ids leak nothing."""
    return one_or_404(AccessToken.objects.filter(user=user), "No such token.", pk=pk)

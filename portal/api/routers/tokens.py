"""Who calls, and their tokens (tag `account`): /me, /tokens."""

from ninja import Router

from portal.accounts import rights
from portal.api import auth, schemas, selectors, services
from portal.api.errors import ERRORS
from portal.teams.models import Membership

router = Router(tags=["account"])


@router.get("/me", response={200: schemas.Me, **ERRORS}, url_name="me")
def me(request):
    """The token's user, their roles and the token's scope."""
    user = request.user
    roles = [
        role
        for role, has in (
            ("approver", rights.is_approver(user)),
            ("auditor", rights.is_auditor(user)),
            ("admin", user.is_superuser),
        )
        if has
    ]
    return {
        "username": user.get_username(),
        "roles": roles,
        "teams": [
            {"name": name, "role": role}
            for name, role in Membership.objects.filter(user=user)
            .order_by("team__name")
            .values_list("team__name", "role")
        ],
        "token": request.auth.label,
        "scope": request.auth.scope,
        "expires_at": request.auth.ends_at,
    }


@router.get("/tokens", response={200: list[schemas.TokenOut], **ERRORS}, url_name="tokens")
def token_list(request):
    """The caller's tokens, newest first, without their secrets (made on /account/tokens/)."""
    return request.user.access_tokens.all()


@router.post(
    "/tokens/{int:pk}/revoke",
    response={200: schemas.TokenOut, **ERRORS},
    auth=auth.write,
    url_name="token_revoke",
)
def token_revoke(request, pk: int):
    """Revoke one of the caller's tokens (this one too): it gets 401 from then on."""
    token = selectors.token_of_user(request.user, pk)
    return services.token_revoke(token=token, actor=request.user)

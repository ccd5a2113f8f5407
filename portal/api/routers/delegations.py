"""Lending one's deciding for a while (tag `account`): /delegations."""

from django.utils import timezone
from ninja import Router, Status

from portal.api import auth, schemas
from portal.api.errors import BODY_ERRORS, ERRORS, Invalid
from portal.approvals import policy
from portal.approvals import selectors as approval_selectors
from portal.approvals import services as approval_services
from portal.approvals.forms import DelegationForm
from portal.approvals.models import Delegation
from portal.service_requests import exceptions

router = Router(tags=["account"])


@router.get("", response={200: schemas.DelegationList, **ERRORS}, url_name="delegations")
def delegation_list(request):
    """The delegations the caller gave and holds, newest first (100 of each at most)."""
    delegations = Delegation.objects.select_related("delegator", "delegate", "revoked_by")
    return {
        "given": delegations.filter(delegator=request.user)[:100],
        "received": delegations.filter(delegate=request.user)[:100],
    }


@router.post(
    "",
    response={201: schemas.DelegationOut, **BODY_ERRORS},
    auth=auth.write,
    url_name="delegations",
)
def delegation_create(request, payload: schemas.DelegationIn):
    """Lend the caller's deciding to `delegate` for [starts_at, ends_at) (approvers): the
    delegate decides with the caller's right only; one delegate at a time."""
    if not policy.may_delegate(request.user):
        raise exceptions.NotAllowed("Only those who decide requests can delegate their deciding.")
    form = DelegationForm(
        {
            "delegate": payload.delegate,
            "starts_at": payload.starts_at or "",
            "ends_at": payload.ends_at,
            "reason": payload.reason,
        },
        delegator=request.user,
    )
    if not form.is_valid():
        raise Invalid.of(form)
    data = form.cleaned_data
    try:
        delegation = approval_services.delegation_create(
            delegator=request.user,
            delegate=data["delegate"],
            starts_at=data["starts_at"] or timezone.now(),
            ends_at=data["ends_at"],
            reason=data["reason"],
        )
    except approval_services.DelegationInvalid as error:
        raise Invalid([(error.field, str(error))]) from error
    return Status(201, delegation)


@router.post(
    "/{int:pk}/revoke",
    response={200: schemas.DelegationOut, **ERRORS},
    auth=auth.write,
    url_name="delegation_revoke",
)
def delegation_revoke(request, pk: int):
    """End a delegation now: its delegator, its delegate, or an admin."""
    delegation = approval_selectors.delegation_for_user(request.user, pk)
    return approval_services.delegation_revoke(delegation=delegation, actor=request.user)

"""What a create request's resources can name (tag `requests`): /load-balancers."""

from ninja import Query, Router

from portal.api import schemas
from portal.api.errors import ERRORS, Invalid, cloud_budget
from portal.requests import selectors
from portal.teams import services as teams

router = Router(tags=["requests"])


@router.get("", response={200: schemas.LoadBalancerList, **ERRORS}, url_name="load_balancers")
def load_balancer_list(request, filters: Query[schemas.LoadBalancersIn]):
    """The account's load balancers of a type in a region, each with its zones and whether
    PrivateLink takes it: what a request's resources name (not for auditors)."""
    selectors.require_requester(request.user)
    account = None
    if filters.cloud_account:
        account = teams.accounts_of(request.user).filter(name=filters.cloud_account).first()
        if account is None:
            raise Invalid(
                [("cloud_account", f"None of your teams has an account {filters.cloud_account!r}.")]
            )
    cloud_budget(request)
    picker = selectors.load_balancer_picker(
        filters.region_id, filters.service_resource_type.value, account=account
    )
    return {
        "region_id": filters.region_id,
        "service_resource_type": filters.service_resource_type,
        "load_balancers": picker.get("load_balancers", []),
        "total": picker.get("total", 0),
        "zone_required": not picker.get("one_zone", False),
        "note": picker.get("note", ""),
        "warning": picker.get("warning") or "",
    }

"""What waits for the caller's decision (tag `requests`): /approvals."""

from django.http import Http404
from ninja import Router
from ninja.pagination import paginate

from portal.api import schemas
from portal.api.errors import ERRORS
from portal.api.paging import Paged
from portal.approvals import selectors as approval_selectors
from portal.lib.paging import MAX_PAGE

router = Router(tags=["requests"])


@router.get("", response={200: schemas.QueuePage, **ERRORS}, url_name="queue")
def approval_queue(request, page: int = 1):
    """The requests waiting for the caller's decision, oldest submission first (approvers)."""
    # Paged by the queue itself, as the page is: the delegated rows join page 1.
    if page > MAX_PAGE:
        raise Http404("No such page.")
    split = approval_selectors.approval_queue(request.user, page, others_per_page=0)
    found = split.mine
    rows = list(found.object_list) if found is not None else []
    if page == 1:
        rows += split.delegated
    return {
        "items": rows,
        "page": found.number if found is not None else 1,
        "has_next": found.has_next() if found is not None else False,
        "count": (found.paginator.count if found is not None else 0) + len(split.delegated),
        "lent": split.lent,
    }


@router.get(
    "/owned", response={200: list[schemas.OwnerQueueItem], **ERRORS}, url_name="owner_queue"
)
@paginate(Paged)
def owner_queue(request):
    """The access and revoke requests about the caller's services that wait for their
    decision as owner, oldest submission first (anyone: owners decide these)."""
    return approval_selectors.owner_queue(request.user)

"""The history, for auditors (tag `audit`): the page's filters, pages and exports. /audit."""

from django.db.models import Prefetch
from django.http import QueryDict
from ninja import Query, Router
from ninja.pagination import paginate

from portal.api import schemas
from portal.api.errors import ERRORS, Invalid
from portal.api.paging import Paged
from portal.history import exports
from portal.history import selectors as audit_selectors
from portal.service_requests.models import Approval

router = Router(tags=["audit"])

HISTORY_HELP = (
    " Filters as on /audit/ (repeat `state` and `kind` for several); an invalid one is 422 at "
    "its field, never every request."
)


def _history(request, filters):
    data = QueryDict(mutable=True)
    for name, value in filters.dict().items():
        data.setlist(name, value if isinstance(value, list) else [value])
    history = audit_selectors.request_history(request.user, data)
    if not history.is_valid():
        raise Invalid.of(history.form, detail="The filters have errors, each at its field.")
    return history


@router.get(
    "/requests",
    response={200: list[schemas.HistoryItem], **ERRORS},
    url_name="history",
    description="Every request, filtered, 50 a page: `page` counts from 1 and `has_next` "
    "says whether another follows (no total: at a million rows counting costs more than the "
    "page). Each with the decisions on it." + HISTORY_HELP,
)
@paginate(Paged)
def history(request, filters: Query[schemas.HistoryFilterIn]):
    decisions = Approval.objects.select_related("approver")
    return (
        audit_selectors.history_ordered(_history(request, filters))
        .select_related("requester")
        .prefetch_related(Prefetch("approvals", decisions, to_attr="decisions"))
    )


def _export(media_type, what):
    """The 200 of an export: a stream that is not JSON, as a string of its media type."""
    return {
        "responses": {
            "200": {
                "description": what,
                "content": {media_type: {"schema": {"type": "string"}}},
            }
        }
    }


@router.get(
    "/export.csv",
    response=ERRORS,
    url_name="export_csv",
    openapi_extra=_export("text/csv", "The filtered requests, one a row, streamed."),
    description="The filtered requests as CSV, in id order, streamed; the columns are the "
    "history page's export's." + HISTORY_HELP,
)
def history_csv(request, filters: Query[schemas.HistoryFilterIn]):
    return exports.csv_response(_history(request, filters).qs)


@router.get(
    "/export.jsonl",
    response=ERRORS,
    url_name="export_jsonl",
    openapi_extra=_export(
        "application/x-ndjson", "The filtered requests, one JSON object a line, streamed."
    ),
    description="The filtered requests as JSON Lines, in id order, streamed." + HISTORY_HELP,
)
def history_jsonl(request, filters: Query[schemas.HistoryFilterIn]):
    return exports.jsonl_response(_history(request, filters).qs)

"""The API's pages: `page` from 1 and `has_next`, as ninja paginators.

A page reads one row more than it shows to know whether another follows, so no list counts
its whole set (at a million rows counting costs more than the page); the lists whose pages
say `count` count what they list.
"""

from typing import Any

from django.http import Http404
from ninja import Field, Schema
from ninja.pagination import PaginationBase

from portal.lib.paging import MAX_PAGE

PAGE_SIZE = 50


class PageIn(Schema):
    page: int = Field(1, description="The page, counted from 1.")


class Paged(PaginationBase):
    """`page` (from 1) of the rows the view returns, and whether another follows."""

    Input = PageIn

    class Output(Schema):
        items: list[Any]
        page: int
        has_next: bool = Field(description="Another page follows.")

    def __init__(self, *, page_size=PAGE_SIZE, **kwargs):
        super().__init__(**kwargs)
        self.page_size = page_size

    def paginate_queryset(self, queryset, pagination, request, **params):
        page = pagination.page
        if page > MAX_PAGE:
            raise Http404("No such page.")
        offset = (max(1, page) - 1) * self.page_size
        rows = list(queryset[offset : offset + self.page_size + 1])
        return {
            "items": rows[: self.page_size],
            "page": page,
            "has_next": len(rows) > self.page_size,
        }


class Counted(Paged):
    """A page of a list short enough to count: with `count`, how many there are in all."""

    class Output(Paged.Output):
        count: int = Field(description="How many there are on every page together.")

    def paginate_queryset(self, queryset, pagination, request, **params):
        page = super().paginate_queryset(queryset, pagination, request, **params)
        return {**page, "count": self._items_count(queryset)}

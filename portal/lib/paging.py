"""Page numbers from a query string, as a person could type them."""

from django.http import Http404

# Far past any real page (50 rows a page: 50 million rows), and far from integer overflow.
MAX_PAGE = 1_000_000


def page_number(request, name="page"):
    """Return the page asked for (1 when none or not a number); 404 beyond any real page."""
    try:
        number = int(request.GET.get(name, 1))
    except ValueError:
        return 1
    if number > MAX_PAGE:
        raise Http404("No such page.")
    return max(1, number)

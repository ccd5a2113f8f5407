"""Middleware the whole portal shares."""

from django.http import HttpResponseBadRequest


class RefuseNulMiddleware:
    """Answer 400 to a NUL character in the path or the query string.

    No page takes one, and PostgreSQL refuses it in any text it is compared with: it would
    otherwise be a 500 wherever a URL part or a filter reaches a query (the admin's too).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path or any(
            "\x00" in key or any("\x00" in value for value in values)
            for key, values in request.GET.lists()
        ):
            return HttpResponseBadRequest(
                "A NUL character is not allowed in a URL.\n", content_type="text/plain"
            )
        return self.get_response(request)

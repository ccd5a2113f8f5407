"""Middleware the whole portal shares."""

from urllib.parse import urlsplit

from django.conf import settings
from django.http import Http404, HttpResponseBadRequest
from django.shortcuts import render, resolve_url
from django.urls import Resolver404, resolve


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


class NotFoundPageMiddleware:
    """Answer a missing page with the portal's own 404 page in development too.

    With DEBUG, Django shows its technical 404 (the URL patterns, the settings' names) to
    anyone; people trying the portal on `make run` should see what production shows. The
    technical page stays one setting away (DEBUG_404_PAGE=true).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if settings.DEBUG and not settings.DEBUG_404_PAGE:
            # An address no pattern matches never reaches a view (nor process_exception).
            try:
                resolve(request.path_info)
            except Resolver404:
                return render(request, "404.html", status=404)
        return self.get_response(request)

    def process_exception(self, request, exception):
        if settings.DEBUG and isinstance(exception, Http404) and not settings.DEBUG_404_PAGE:
            return render(request, "404.html", status=404)
        return None


class SignedOutHtmxMiddleware:
    """Answer an htmx action of someone whose session has ended with 401 and a way to sign in
    again in a new tab, not with the login page.

    htmx follows the login redirect and would paste the whole login page inside the form being
    typed; the 401 leaves the form as it is, and the page says what happened (failures.js).
    Once signed in again, the same action works from the same page (failures.js sends the
    CSRF token the new session set).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            getattr(request, "htmx", False)
            and response.status_code == 302
            and not request.user.is_authenticated
            and urlsplit(response["Location"]).path == resolve_url(settings.LOGIN_URL)
        ):
            return render(request, "signed_out.html", status=401)
        return response


class RenderedForMiddleware:
    """Refuse a post from a page opened for another account (409), rather than act as
    whoever is signed in now.

    A page keeps working after its session ends and the person signs in again in another tab
    (failures.js sends the new session's CSRF token): should that be someone else, the page,
    opened for the first, would act as the second. Every page says whom it was opened for
    (`X-Rendered-For` on htmx requests, `rendered_for` in plain forms; failures.js adds
    both); a post that names another account is refused, and says to reload.
    """

    UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method in self.UNSAFE and request.user.is_authenticated:
            claimed = request.headers.get("X-Rendered-For")
            if claimed is None and request.content_type in (
                "application/x-www-form-urlencoded",
                "multipart/form-data",
            ):
                claimed = request.POST.get("rendered_for")
            if claimed and claimed != str(request.user.pk):
                context = {
                    "message": "this page was opened for another account, and you are now "
                    f"signed in as {request.user.get_username()}. Reload it to act as "
                    f"{request.user.get_username()}",
                    "back": request.path,
                }
                return render(request, "conflict.html", context, status=409)
        return self.get_response(request)

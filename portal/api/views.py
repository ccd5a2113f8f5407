from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from portal.api import selectors, services
from portal.api.forms import TokenForm
from portal.http import HttpRequest

MADE_KEY = "api-token-made"


@login_required
@require_http_methods(["GET", "POST"])
def token_list(request: HttpRequest):
    """One's API tokens; POST makes one, whose secret the next page shows, this once.

    The secret waits in the session for that one GET (post, redirect, get), so that a
    reload neither makes a second token nor shows the secret again.
    """
    form = TokenForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        token, secret = services.token_create(
            user=request.user,
            name=form.cleaned_data["name"],
            scope=form.cleaned_data["scope"],
            expires_at=form.expires_at(),
        )
        request.session[MADE_KEY] = {"pk": token.pk, "secret": secret}
        return redirect("tokens:list")
    made = request.session.pop(MADE_KEY, None)
    tokens = list(request.user.access_tokens.all())
    if made is not None:
        token = next((t for t in tokens if t.pk == made["pk"]), None)
        made = {"token": token, "secret": made["secret"]} if token else None
    context = {"form": form if form.is_bound else TokenForm(user=request.user), "made": made}
    response = render(
        request,
        "api/token_list.html",
        {**context, "tokens": tokens},
        status=400 if form.is_bound else 200,
    )
    response["Cache-Control"] = "no-store"  # the secret must not outlive the page
    return response


@login_required
@require_POST
def token_revoke(request: HttpRequest, pk):
    token = selectors.token_of_user(request.user, pk)
    services.token_revoke(token=token, actor=request.user)
    messages.success(request, f"Token {token.label} ({token.name}) revoked.")
    return redirect("tokens:list")

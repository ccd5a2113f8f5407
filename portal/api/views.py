from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from portal.api import services
from portal.api.forms import TokenForm
from portal.api.models import AccessToken
from portal.http import HttpRequest


@login_required
@require_http_methods(["GET", "POST"])
def token_list(request: HttpRequest):
    """One's API tokens; POST makes one and shows its secret, this once."""
    form = TokenForm(request.POST or None, user=request.user)
    made, status = None, 200
    if request.method == "POST":
        if form.is_valid():
            token, secret = services.token_create(
                user=request.user,
                name=form.cleaned_data["name"],
                scope=form.cleaned_data["scope"],
                expires_at=form.expires_at(),
            )
            made, status = {"token": token, "secret": secret}, 201
            form = TokenForm(user=request.user)
        else:
            status = 400
    context = {"form": form, "made": made, "tokens": request.user.access_tokens.all()}
    response = render(request, "api/token_list.html", context, status=status)
    response["Cache-Control"] = "no-store"  # the secret must not outlive the page
    return response


@login_required
@require_POST
def token_revoke(request: HttpRequest, pk):
    token = get_object_or_404(AccessToken, pk=pk, user=request.user)
    services.token_revoke(token=token, actor=request.user)
    messages.success(request, f"Token {token.label} ({token.name}) revoked.")
    return redirect("tokens:list")

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.shortcuts import render
from django.views.decorators.http import require_safe

from portal.accounts.backends import local_login_enabled
from portal.accounts.oidc import provider_name


class BreakGlassForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": (
            "Your username and password did not match, or this is not a break-glass account. "
            "Everyone else signs in with %(provider)s."
        ),
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The page's first choice is the provider's button, not this form.
        self.fields["username"].widget.attrs.pop("autofocus", None)

    def get_invalid_login_error(self):
        error = super().get_invalid_login_error()
        error.params = {**(error.params or {}), "provider": provider_name()}
        return error


class LoginView(auth_views.LoginView):
    """The login page: "Sign in with <provider>", and the break-glass password form when on."""

    authentication_form = BreakGlassForm

    def post(self, request, *args, **kwargs):
        if not local_login_enabled():
            context = self.get_context_data(form=None, password_off=True)
            return self.render_to_response(context, status=403)
        return super().post(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            provider_name=provider_name(), local_login=local_login_enabled(), **kwargs
        )


@login_required
@require_safe
def signed_in_again(request):
    """Where signing in again from a page whose session had ended lands (in a new tab)."""
    return render(request, "registration/signed_in_again.html")

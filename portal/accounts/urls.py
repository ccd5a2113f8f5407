from django.urls import path
from mozilla_django_oidc.views import OIDCLogoutView

from portal.accounts import oidc, views

urlpatterns = [
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    # Where "Sign in again in a new tab" (a session that ended mid-form) lands.
    path("accounts/signed-in/", views.signed_in_again, name="signed_in_again"),
    # Ends the portal's session, then the provider's (OIDC_OP_LOGOUT_URL_METHOD); POST only.
    path("accounts/logout/", OIDCLogoutView.as_view(), name="logout"),
    path("oidc/authenticate/", oidc.SignIn.as_view(), name="oidc_authentication_init"),
    path("oidc/callback/", oidc.Callback.as_view(), name="oidc_authentication_callback"),
]

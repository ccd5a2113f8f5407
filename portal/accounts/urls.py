from django.urls import path
from mozilla_django_oidc.views import OIDCLogoutView

from portal.accounts import oidc, views

urlpatterns = [
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    # Ends the portal's session, then the provider's (OIDC_OP_LOGOUT_URL_METHOD); POST only.
    path("accounts/logout/", OIDCLogoutView.as_view(), name="logout"),
    path("oidc/authenticate/", oidc.SignIn.as_view(), name="oidc_authentication_init"),
    path("oidc/callback/", oidc.Callback.as_view(), name="oidc_authentication_callback"),
]

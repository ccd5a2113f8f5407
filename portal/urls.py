from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from portal import views
from portal.api.api import api

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz/", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("account/tokens/", include("portal.api.urls")),
    path("audit/", include("portal.audit.urls")),
    path("services/", include("portal.endpoint_services.urls")),
    path("insights/", include("portal.insights.urls")),
    path("", include("portal.service_requests.urls")),
]

from django.contrib import admin
from django.urls import include, path

from portal import views
from portal.api.api import api

urlpatterns = [
    path("", include("portal.accounts.urls")),
    path("healthz/", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    # The identity provider's SCIM client (portal/accounts/directory.py).
    path("scim/v2/", include("django_scim.urls", namespace="scim")),
    path("account/tokens/", include("portal.api.urls")),
    path("audit/", include("portal.history.urls")),
    path("services/", include("portal.catalog.urls")),
    path("insights/", include("portal.insights.urls")),
    path("", include("portal.requests.urls")),
]

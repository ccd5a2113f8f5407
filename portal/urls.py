from django.contrib import admin
from django.urls import include, path

from portal import views
from portal.api.api import api

urlpatterns = [
    path("", include("portal.accounts.urls")),
    path("healthz/", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("account/tokens/", include("portal.api.urls")),
    path("audit/", include("portal.history.urls")),
    path("services/", include("portal.catalog.urls")),
    path("insights/", include("portal.insights.urls")),
    path("", include("portal.requests.urls")),
]

from django.contrib import admin
from django.urls import include, path

from portal import views

urlpatterns = [
    path("", include("portal.accounts.urls")),
    path("healthz/", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("audit/", include("portal.audit.urls")),
    path("services/", include("portal.endpoint_services.urls")),
    path("", include("portal.service_requests.urls")),
]

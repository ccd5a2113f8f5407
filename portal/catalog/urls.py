from django.urls import path

from portal.catalog import views
from portal.requests import views as request_views
from portal.requests.kinds import FORM_KINDS

app_name = "endpoint_services"
urlpatterns = [
    path("", views.service_list, name="list"),
    path("unmanaged/", views.unmanaged_list, name="unmanaged"),
    path("<str:service_id>/", views.service_detail, name="detail"),
    path("<str:service_id>/status/", views.service_status, name="status"),
    path("<str:service_id>/refresh/", views.service_refresh, name="refresh"),
    path("<str:service_id>/accept-drift/", views.service_accept_drift, name="accept_drift"),
    # Requests about the service: the requests app's forms, under the service's address.
    path("<str:service_id>/change/", request_views.service_change, name="change"),
    *(
        path(
            f"<str:service_id>/{kind}/",
            request_views.service_request_form,
            {"kind": kind},
            name=kind.value,
        )
        for kind in FORM_KINDS
    ),
    path(
        "<str:service_id>/connections/<str:endpoint_id>/accept/",
        views.connection_accept,
        name="connection_accept",
    ),
    path(
        "<str:service_id>/connections/<str:endpoint_id>/reject/",
        views.connection_reject,
        name="connection_reject",
    ),
]

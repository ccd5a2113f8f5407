from django.urls import path

from portal.catalog import views
from portal.service_requests import views as request_views

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
    path("<str:service_id>/decommission/", request_views.service_decommission, name="decommission"),
    path("<str:service_id>/adopt/", request_views.service_adopt, name="adopt"),
    path("<str:service_id>/transfer/", request_views.service_transfer, name="transfer"),
    path("<str:service_id>/access/", request_views.service_access, name="access"),
    path("<str:service_id>/revoke/", request_views.service_revoke, name="revoke"),
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

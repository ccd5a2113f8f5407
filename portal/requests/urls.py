from django.urls import path

from portal.approvals import views as approval_views
from portal.requests import views

app_name = "service_requests"
urlpatterns = [
    path("", views.home, name="home"),
    path("approvals/", approval_views.approval_queue, name="queue"),
    path("requests/new/", views.request_new, name="new"),
    path("requests/load-balancers/", views.load_balancer_list, name="load_balancers"),
    path("requests/<int:pk>/", views.request_detail, name="detail"),
    path("requests/<int:pk>/status/", views.request_status, name="status"),
    path("requests/<int:pk>/calls/", views.request_calls, name="calls"),
    path("requests/<int:pk>/edit/", views.request_edit, name="edit"),
    path("requests/<int:pk>/submit/", views.request_submit, name="submit"),
    path("requests/<int:pk>/cancel/", views.request_cancel, name="cancel"),
    path("requests/<int:pk>/validate/", views.request_validate, name="validate"),
    path("requests/<int:pk>/clone/", views.request_clone, name="clone"),
    path("requests/<int:pk>/approve/", views.request_approve, name="approve"),
    path("requests/<int:pk>/reject/", views.request_reject, name="reject"),
    path("requests/<int:pk>/send-back/", views.request_send_back, name="send_back"),
    path("requests/<int:pk>/retry/", views.request_retry, name="retry"),
    path("approvals/count/", approval_views.pending_count, name="pending_count"),
    path("account/delegations/", approval_views.delegation_list, name="delegations"),
    path(
        "account/delegations/<int:pk>/revoke/",
        approval_views.delegation_revoke,
        name="delegation_revoke",
    ),
]

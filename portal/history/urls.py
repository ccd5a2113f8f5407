from django.urls import path

from portal.history import views

app_name = "history"
urlpatterns = [
    path("", views.history, name="history"),
    path("export.csv", views.export_csv, name="export_csv"),
    path("export.jsonl", views.export_jsonl, name="export_jsonl"),
    path("requests/<int:pk>/", views.timeline, name="timeline"),
    path("access/", views.access_review, name="access_review"),
]

from django.urls import path

from portal.audit import views

app_name = "audit"
urlpatterns = [
    path("", views.history, name="history"),
    path("export.csv", views.export_csv, name="export_csv"),
    path("export.jsonl", views.export_jsonl, name="export_jsonl"),
    path("requests/<int:pk>/", views.timeline, name="timeline"),
]

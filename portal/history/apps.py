from django.apps import AppConfig


class HistoryConfig(AppConfig):
    """The auditors' history: every request filtered, each one's timeline, the exports, and the
    read-only rule for auditors; above the requests and services it shows (the audit log
    itself, which it reads, is portal.audit)."""

    name = "portal.history"
    label = "history"
    verbose_name = "History"

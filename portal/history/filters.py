from datetime import date, datetime, time, timedelta

import django_filters
from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from portal.service_requests.models import (
    Approval,
    Kind,
    RequestResource,
    ServiceRequest,
    State,
)

DATE = forms.DateInput(attrs={"type": "date"})
# Dates a history can hold: the end of 9999 would overflow the day after it.
SANE_DATES = [
    MinValueValidator(date(2000, 1, 1), "Choose a date from 2000 on."),
    MaxValueValidator(date(2999, 12, 31), "Choose a date before 3000."),
]


def start_of(day):
    return timezone.make_aware(datetime.combine(day, time.min))


class RequestHistoryFilter(django_filters.FilterSet):
    """The auditors' filters; every one is served by an index (see docs/performance.md)."""

    # No DISTINCT: the filter joins nothing, and DISTINCT over every column costs a sort.
    state = django_filters.MultipleChoiceFilter(choices=State.choices, distinct=False)
    kind = django_filters.MultipleChoiceFilter(choices=Kind.choices, distinct=False)
    region_id = django_filters.CharFilter(label="Region")
    requester = django_filters.CharFilter(
        field_name="requester__username", label="Requester (username)"
    )
    approver = django_filters.CharFilter(method="filter_approver", label="Approver (username)")
    created_after = django_filters.DateFilter(
        method="filter_from",
        field_name="created_at",
        label="Created from",
        widget=DATE,
        validators=SANE_DATES,
    )
    created_before = django_filters.DateFilter(
        method="filter_until",
        field_name="created_at",
        label="Created until",
        widget=DATE,
        validators=SANE_DATES,
    )
    decided_after = django_filters.DateFilter(
        method="filter_from",
        field_name="decided_at",
        label="Decided from",
        widget=DATE,
        validators=SANE_DATES,
    )
    decided_before = django_filters.DateFilter(
        method="filter_until",
        field_name="decided_at",
        label="Decided until",
        widget=DATE,
        validators=SANE_DATES,
    )
    service = django_filters.CharFilter(method="filter_service", label="ServiceId or ServiceName")
    resource_id = django_filters.CharFilter(method="filter_resource", label="Resource id")
    q = django_filters.CharFilter(
        method="filter_text", label="Text in description or justification"
    )
    ordering = django_filters.OrderingFilter(
        fields=[
            ("created_at", "created"),
            ("decided_at", "decided"),
            ("state", "state"),
            ("region_id", "region"),
        ],
        field_labels={"created_at": "Created", "decided_at": "Decided"},
        label="Sort by",
    )

    class Meta:
        model = ServiceRequest
        fields = []

    # Dates become ranges of the column itself (not date(column)), so indexes serve them.
    def filter_from(self, queryset, name, value):
        return queryset.filter(**{f"{name}__gte": start_of(value)})

    def filter_until(self, queryset, name, value):
        return queryset.filter(**{f"{name}__lt": start_of(value + timedelta(days=1))})

    def filter_approver(self, queryset, name, value):
        """Requests this user decided on: approved, rejected or sent back."""
        # EXISTS per row in date order: an approver decides thousands, and the page needs 50.
        decided = Approval.objects.filter(request=OuterRef("pk"), approver__username=value.strip())
        return queryset.filter(Exists(decided))

    def filter_service(self, queryset, name, value):
        value = value.strip()
        return queryset.filter(Q(service_id=value) | Q(service_name=value))

    def filter_resource(self, queryset, name, value):
        # IN by id: a resource backs a handful of requests, found through its own index.
        used = RequestResource.objects.filter(resource_id=value.strip()).values("request_id")
        return queryset.filter(pk__in=used)

    def filter_text(self, queryset, name, value):
        return queryset.filter(
            Q(service_description__icontains=value) | Q(justification__icontains=value)
        )

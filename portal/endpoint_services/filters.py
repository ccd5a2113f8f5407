import django_filters
from django import forms
from django.db.models import Q

from portal.endpoint_services import keepers
from portal.endpoint_services.models import EndpointService, ServiceStatus


class ServiceFilter(django_filters.FilterSet):
    """The service list's filters; each is served by an index (or is a short text scan)."""

    mine = django_filters.BooleanFilter(
        method="filter_mine", label="Only mine", widget=forms.CheckboxInput
    )
    region_id = django_filters.CharFilter(label="Region")
    status = django_filters.MultipleChoiceFilter(choices=ServiceStatus.choices, distinct=False)
    q = django_filters.CharFilter(
        method="filter_text", label="ServiceId, ServiceName or description"
    )

    class Meta:
        model = EndpointService
        fields = []

    def filter_mine(self, queryset, name, value):
        return queryset.filter(keepers.owned_by(self.request.user)) if value else queryset

    def filter_text(self, queryset, name, value):
        value = value.strip()
        if value.startswith("epsrv-"):
            return queryset.filter(service_id=value)
        if value.startswith("com.aliyuncs.privatelink."):
            return queryset.filter(service_name=value)
        return queryset.filter(
            Q(service_description__icontains=value)
            | Q(service_id__icontains=value)
            | Q(service_name__icontains=value)
        )

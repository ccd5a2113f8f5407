from datetime import UTC, datetime, time, timedelta

from django import forms
from django.utils import timezone


class AccessReviewForm(forms.Form):
    on = forms.DateField(
        label="Rights held at the end of",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="A day (UTC); today if empty.",
    )

    def clean_on(self):
        day = self.cleaned_data["on"]
        if day is not None and day > timezone.now().date():
            raise forms.ValidationError("That day has not ended: choose today or a day before.")
        return day

    def moment(self):
        """The day's last instant (UTC), or now for today or no day."""
        day = self.cleaned_data.get("on") if self.is_bound else None
        now = timezone.now()
        if day is None or day >= now.date():
            return now
        return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC) - timedelta(
            microseconds=1
        )

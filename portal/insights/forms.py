from datetime import timedelta

from django import forms

from portal.history.filters import DATE, SANE_DATES

DEFAULT_WEEKS = 12
# Each week is a bar, a point and a table row: two years is as many as a page should hold.
MAX_DAYS = 2 * 366


class RangeForm(forms.Form):
    """The weeks the insights cover: from the week of `start` to the week of `end`.

    Left blank, `end` is today and `start` DEFAULT_WEEKS weeks before `end`, this one included.
    """

    start = forms.DateField(label="From", required=False, widget=DATE, validators=SANE_DATES)
    end = forms.DateField(label="To", required=False, widget=DATE, validators=SANE_DATES)

    def __init__(self, data=None, *, today):
        self.today = today
        super().__init__(data, initial=self.filled(None, None))

    def filled(self, start, end):
        end = end or max(self.today, start or self.today)
        return {"start": start or end - timedelta(weeks=DEFAULT_WEEKS - 1), "end": end}

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        cleaned.update(self.filled(cleaned.get("start"), cleaned.get("end")))
        if cleaned["start"] > cleaned["end"]:
            self.add_error("end", "Choose an end on or after the start.")
        elif (cleaned["end"] - cleaned["start"]).days > MAX_DAYS:
            self.add_error("start", "Choose at most two years: each week is a row of the tables.")
        return cleaned

    def range(self):
        """Return (start, end): as given and filled in, or the default when not bound."""
        values = self.cleaned_data if self.is_bound else self.initial
        return values["start"], values["end"]

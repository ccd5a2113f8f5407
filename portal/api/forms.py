from datetime import timedelta

from django import forms
from django.conf import settings
from django.utils import timezone

from portal.accounts import rights
from portal.api.models import Scope
from portal.lib.text import single_line

NEVER = "never"


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        validators=[single_line],
        help_text="What will use it, such as the pipeline's name.",
        error_messages={"required": "Name the token after what will use it."},
    )
    scope = forms.ChoiceField(
        choices=Scope.choices,
        initial=Scope.READ,
        widget=forms.RadioSelect,
        help_text="A read token reads; a write token also files, submits, cancels and decides.",
    )
    expires = forms.ChoiceField(label="Expires")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        longest = settings.API_TOKEN_MAX_DAYS
        days = sorted(n for n in {7, 30, settings.API_TOKEN_DAYS, 365, longest} if n <= longest)
        never = [(NEVER, "never")] if settings.API_TOKEN_NEVER_EXPIRE else []
        self.fields["expires"].choices = [*((str(n), f"in {n} days") for n in days), *never]
        self.fields["expires"].initial = str(min(settings.API_TOKEN_DAYS, longest))
        self.fields["expires"].help_text = (
            "" if settings.API_TOKEN_NEVER_EXPIRE else f"A token lasts {longest} days at most."
        )
        if rights.is_read_only(user):
            # Auditors read: a write token would be refused at every write anyway.
            self.fields["scope"].choices = [(Scope.READ, Scope.READ.label)]

    def expires_at(self):
        expires = self.cleaned_data["expires"]
        if expires == NEVER:
            return None
        return timezone.now() + timedelta(days=int(expires))

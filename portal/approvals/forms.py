"""The approvers' forms: a decision bound to the revision and content the page showed, and a
delegation of one's deciding."""

from django import forms

from portal.approvals import policy
from portal.lib.text import shown_as_typed, single_line


class DecisionForm(forms.Form):
    """An approver's decision; it carries the revision the page showed, to bind to it."""

    revision = forms.IntegerField(
        min_value=1,
        widget=forms.HiddenInput,
        error_messages={"required": "The decision does not say which revision it is about."},
    )
    digest = forms.RegexField(
        regex=r"^[0-9a-f]{64}$",
        widget=forms.HiddenInput,
        error_messages={
            "required": "The decision does not say which content it is about.",
            "invalid": "The decision does not say which content it is about.",
        },
    )
    comment = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        validators=[shown_as_typed],
    )


class SendBackForm(DecisionForm):
    comment = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        validators=[shown_as_typed],
        error_messages={"required": "Say what the requester should change."},
    )


class DelegationForm(forms.Form):
    """Lend one's deciding to someone for a while; the rules are the service's
    (services.delegation_create), whose refusals come back at their field."""

    delegate = forms.ModelChoiceField(
        queryset=None,
        to_field_name="username",
        empty_label="Choose someone",
        help_text="They decide with your right, and only while it lasts; they cannot pass it on.",
        error_messages={
            "required": "Choose who decides for you.",
            "invalid_choice": (
                "Choose someone who may decide: an active user, not yourself, not an auditor."
            ),
        },
    )
    starts_at = forms.DateTimeField(
        label="Starts (UTC)",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Empty: now.",
        error_messages={"invalid": "Enter a date and time, such as 2026-12-01 09:00."},
    )
    ends_at = forms.DateTimeField(
        label="Ends (UTC)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="The first moment it no longer holds.",
        error_messages={
            "required": "Say when it ends.",
            "invalid": "Enter a date and time, such as 2026-12-15 09:00.",
        },
    )
    reason = forms.CharField(
        max_length=300,
        validators=[single_line],
        help_text="Why, for the audit log: a holiday, a conference, parental leave.",
        error_messages={"required": "Say why, for the audit log."},
    )

    def __init__(self, *args, delegator, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["delegate"].queryset = policy.delegate_candidates(delegator)
        self.fields["delegate"].label_from_instance = lambda user: user.get_username()

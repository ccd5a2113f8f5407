"""The request form: the main fields, the resources and tags formsets, and their rules.

The formsets are plain (not bound to rows): a request's resources and tags are replaced as a
whole on save, which keeps adding and removing rows a matter of data, with or without htmx.
"""

import re

from django import forms
from django.core.validators import RegexValidator
from django.forms.utils import ErrorDict
from django.http import QueryDict

from portal.approvals import policy
from portal.cloud import services as cloud
from portal.lib.text import shown_as_typed, single_line
from portal.service_requests.models import (
    CHANGE_FIELDS,
    CLOUD_FIELDS,
    EDITABLE_FIELDS,
    AddressIpVersion,
    Kind,
    ResourceType,
    ServiceRequest,
)
from portal.teams import services as teams
from portal.teams.models import CloudAccount, Team

MAX_RESOURCES = 10
# A service holds at most 20 resource rows; Create takes at most 10 of them.
MAX_SERVICE_RESOURCES = 20
MAX_TAGS = 20
ZONE_REQUIRED_TYPES = {"alb", "nlb", "gwlb"}
DUAL_STACK_TYPES = {"nlb", "gwlb"}
REGION_PATTERN = re.compile(r"^[a-z]{2}(-[a-z0-9]+)+$")
RESOURCE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
ZONE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


class ServiceRequestForm(forms.ModelForm):
    region_id = forms.ChoiceField(label="Region")
    supported_region_list = forms.MultipleChoiceField(
        label="Supported regions",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Regions whose consumers may connect; none means the service's own region.",
    )

    class Meta:
        model = ServiceRequest
        fields = EDITABLE_FIELDS
        widgets = {"justification": forms.Textarea(attrs={"rows": 3})}

    team = forms.ModelChoiceField(
        queryset=Team.objects.none(),
        label="Owning team",
        empty_label="Choose a team…",
        help_text="The team that will own the service: any of its members looks after it.",
    )

    cloud_account = forms.ModelChoiceField(
        queryset=CloudAccount.objects.none(),
        label="Cloud account",
        empty_label="Choose an account…",
        help_text="The account the service lives in: one of your team's.",
    )

    def __init__(self, *args, regions=(), teams=None, accounts=None, **kwargs):
        super().__init__(*args, **kwargs)
        if teams is None or not teams.exists():
            # Someone in no team owns what they ask for until it is transferred to a team.
            del self.fields["team"]
        else:
            self.fields["team"].queryset = teams
        if accounts is None or not accounts.exists():
            # No account records (one account, the portal's own) or none of the person's.
            del self.fields["cloud_account"]
        else:
            self.fields["cloud_account"].queryset = accounts
        self.fields["service_description"].validators.append(single_line)
        self.fields["justification"].validators.append(shown_as_typed)
        choices = list(regions)
        current = self.data.get("region_id") if self.is_bound else self.initial.get("region_id")
        if not choices and current and REGION_PATTERN.match(current):
            # No region list (the API is down and nothing is cached): keep what was chosen;
            # the dry run at submission checks it.
            choices.append((current, current))
        self.fields["region_id"].choices = [("", "Choose a region…"), *choices]
        self.fields["supported_region_list"].choices = choices
        self.fields["service_description"].widget.attrs["placeholder"] = "Orders API for team X"
        self.fields["resource_group_id"].widget.attrs["placeholder"] = "rg-acfm… (optional)"

    def clean(self):
        data = super().clean()
        version = data.get("address_ip_version")
        resource_type = data.get("service_resource_type")
        if version == AddressIpVersion.DUAL_STACK and resource_type not in DUAL_STACK_TYPES:
            self.add_error(
                "address_ip_version", "DualStack is only available for nlb and gwlb services."
            )
        account = data.get("cloud_account")
        if account is not None and "team" in self.fields and data.get("region_id"):
            refusal = policy.account_refusal(data.get("team"), account, data["region_id"])
            if refusal:
                self.add_error("cloud_account", refusal)
        return data


class ChangeForm(forms.ModelForm):
    """The attributes of an existing service that a change may set (the desired state)."""

    supported_region_list = forms.MultipleChoiceField(
        label="Supported regions",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Regions whose consumers may connect.",
    )
    connect_bandwidth = forms.IntegerField(
        label="Connection bandwidth (Mbit/s)",
        min_value=100,
        max_value=10240,
        required=False,
        help_text="Default bandwidth of new slb/alb connections, 100-10240.",
    )

    class Meta:
        model = ServiceRequest
        fields = [*CHANGE_FIELDS, "justification"]
        widgets = {"justification": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, regions=(), service=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["service_description"].validators.append(single_line)
        self.fields["justification"].validators.append(shown_as_typed)
        self.service = service
        choices = list(regions)
        known = {region_id for region_id, _name in choices}
        for region_id in service.supported_region_list if service else []:
            if region_id not in known:
                choices.append((region_id, region_id))
        self.fields["supported_region_list"].choices = choices

    def clean(self):
        data = super().clean()
        resource_type = self.service.service_resource_type if self.service else None
        if (
            data.get("address_ip_version") == AddressIpVersion.DUAL_STACK
            and resource_type not in DUAL_STACK_TYPES
        ):
            self.add_error(
                "address_ip_version", "DualStack is only available for nlb and gwlb services."
            )
        if self.service and not data.get("supported_region_list"):
            self.add_error("supported_region_list", "Keep at least the service's own region.")
        return data


class ResourceForm(forms.Form):
    resource_type = forms.ChoiceField(label="Type", choices=ResourceType.choices)
    resource_id = forms.CharField(
        label="Resource id",
        max_length=64,
        validators=[
            RegexValidator(
                RESOURCE_ID_PATTERN,
                "A load balancer id has letters, digits and dashes, like nlb-hz0000000000000001.",
            )
        ],
    )
    zone_id = forms.CharField(label="Zone", max_length=64, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        n = self.prefix.rsplit("-", 1)[-1]
        self.fields["resource_type"].widget.attrs["aria-label"] = f"Resource {int(n) + 1} type"
        self.fields["resource_id"].widget.attrs.update(
            {"aria-label": f"Resource {int(n) + 1} id", "placeholder": "nlb-…"}
        )
        self.fields["zone_id"].widget.attrs.update(
            {"aria-label": f"Resource {int(n) + 1} zone", "list": "zone-options"}
        )

    def has_changed(self):
        # The type select always posts a value; a row is empty when id and zone are.
        return bool(self.data.get(self.add_prefix("resource_id"), "").strip()) or bool(
            self.data.get(self.add_prefix("zone_id"), "").strip()
        )


class TagForm(forms.Form):
    key = forms.CharField(label="Key", max_length=64, validators=[single_line])
    value = forms.CharField(
        label="Value", max_length=128, required=False, strip=False, validators=[single_line]
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        n = int(self.prefix.rsplit("-", 1)[-1]) + 1
        self.fields["key"].widget.attrs["aria-label"] = f"Tag {n} key"
        self.fields["value"].widget.attrs["aria-label"] = f"Tag {n} value"

    def has_changed(self):
        return any(self.data.get(self.add_prefix(n), "") for n in ("key", "value"))

    def clean_key(self):
        return check_tag_text(self.cleaned_data["key"], "key")

    def clean_value(self):
        return check_tag_text(self.cleaned_data["value"], "value")


def check_tag_text(text, what):
    lowered = text.lower()
    if lowered.startswith(("aliyun", "acs:")):
        raise forms.ValidationError(f"A tag {what} cannot start with “aliyun” or “acs:”.")
    if "http://" in lowered or "https://" in lowered:
        raise forms.ValidationError(f"A tag {what} cannot contain http:// or https://.")
    return text


class ResourceFormSet(forms.BaseFormSet):
    default_error_messages = {
        **forms.BaseFormSet.default_error_messages,
        "too_many_forms": "At most %(num)d resources.",
    }
    service_resource_type = None
    region_id = None
    zones = ()
    for_submit = False
    maximum = MAX_RESOURCES

    def clean(self):
        rows = [f for f in self.forms if f.has_changed() and not f.errors]
        seen = {}
        for form in rows:
            resource_type = form.cleaned_data["resource_type"]
            resource_id = form.cleaned_data["resource_id"]
            zone = form.cleaned_data.get("zone_id", "").strip()
            expected = self.service_resource_type
            if expected and resource_type != expected:
                form.add_error("resource_type", f"Must be the service resource type ({expected}).")
            if resource_type in ZONE_REQUIRED_TYPES and not zone:
                form.add_error("zone_id", "A zone is required for alb, nlb and gwlb resources.")
            elif zone and self.zones and zone not in self.zones:
                form.add_error("zone_id", f"{zone} is not a zone of {self.region_id}.")
            # An alb/nlb/gwlb resource is the pair (id, zone): one load balancer in two zones
            # is two rows. An slb is its id alone.
            key = (resource_id, zone) if resource_type in ZONE_REQUIRED_TYPES else resource_id
            if key in seen:
                form.add_error(
                    "resource_id",
                    f"This resource is listed twice in {zone}."
                    if resource_type in ZONE_REQUIRED_TYPES
                    else "This resource is listed twice.",
                )
            seen[key] = form
        filled = [f for f in self.forms if f.has_changed()]
        if len(filled) > self.maximum:
            raise forms.ValidationError(
                f"At most {self.maximum} resources"
                + (" at creation." if self.maximum == MAX_RESOURCES else " on a service.")
            )
        if self.for_submit and not filled:
            raise forms.ValidationError("Add at least one resource to back the service.")


class TagFormSet(forms.BaseFormSet):
    default_error_messages = {
        **forms.BaseFormSet.default_error_messages,
        "too_many_forms": "At most %(num)d tags.",
    }

    def clean(self):
        seen = set()
        for form in self.forms:
            if not form.has_changed() or form.errors:
                continue
            key = form.cleaned_data["key"]
            if key in seen:
                form.add_error("key", "Each tag key may appear only once.")
            seen.add(key)
        if len([f for f in self.forms if f.has_changed()]) > MAX_TAGS:
            raise forms.ValidationError(f"At most {MAX_TAGS} tags.")


# absolute_max: a post claiming 2,000 rows builds at most the API's maximum of forms (10 at
# creation, 20 on a service), and says so.
CreateResourceRows, ServiceResourceRows = (
    forms.formset_factory(
        ResourceForm,
        formset=ResourceFormSet,
        extra=0,
        max_num=maximum,
        absolute_max=maximum,
    )
    for maximum in (MAX_RESOURCES, MAX_SERVICE_RESOURCES)
)
TagRows = forms.formset_factory(
    TagForm, formset=TagFormSet, extra=0, max_num=MAX_TAGS, absolute_max=MAX_TAGS
)
RESOURCE_FIELDS = ["resource_type", "resource_id", "zone_id"]
TAG_FIELDS = ["key", "value"]


def rows_from(data, prefix, names):
    """Read the rows of a posted formset as plain dicts, whatever their validity."""
    try:
        total = min(int(data.get(f"{prefix}-TOTAL_FORMS", 0)), MAX_SERVICE_RESOURCES)
    except ValueError:
        total = 0
    return [{n: data.get(f"{prefix}-{i}-{n}", "") for n in names} for i in range(total)]


def with_rows(data, prefix, rows):
    """Return a copy of posted data whose formset `prefix` holds exactly `rows`."""
    changed = QueryDict(mutable=True)
    for key, values in data.lists():
        if not key.startswith(f"{prefix}-"):
            changed.setlist(key, values)
    changed.update(management_data(prefix, rows))
    return changed


def management_data(prefix, rows):
    """Return a formset's posted form: its management fields and each row's fields."""
    data = {f"{prefix}-TOTAL_FORMS": str(len(rows)), f"{prefix}-INITIAL_FORMS": "0"}
    for i, row in enumerate(rows):
        for name, value in row.items():
            data[f"{prefix}-{i}-{name}"] = value
    return data


def _posted(data, fields, values):
    """Write `values` into post-shaped `data` the way a browser would post them."""
    for name in fields:
        value = values.get(name)
        if isinstance(value, list):
            data.setlist(name, value)
        elif isinstance(value, bool):
            if value:
                data[name] = "on"
        elif value is not None:
            data[name] = value


def posted_data(names, values, resources, tags):
    """Post-shaped data, as a browser would post the form, from plain `values` (of the fields
    `names`) and rows: how the API hands what it was given to the forms."""
    data = QueryDict(mutable=True)
    _posted(data, names, values)
    data.update(management_data("resources", resources))
    data.update(management_data("tags", tags))
    return data


class RequestEditor:
    """The whole request form: main fields plus resources and tags, validated together.

    A create request edits CreateVpcEndpointService's parameters; a change request edits the
    desired state of its service (`service`), from which the plan is computed.
    """

    def __init__(
        self,
        data=None,
        *,
        instance=None,
        for_submit=False,
        service=None,
        start=None,
        requester=None,
    ):
        self.instance = instance or ServiceRequest(
            kind=Kind.CHANGE if service else Kind.CREATE, endpoint_service=service
        )
        if requester is None and self.instance.pk:
            requester = self.instance.requester
        self.requester = requester
        self.service = service or self.instance.endpoint_service
        self.is_change = self.instance.kind == Kind.CHANGE
        self.regions, self.regions_warning = cloud.regions()
        if data is None:
            data = self.initial_data(self.instance, start)
            quiet = True
        else:
            quiet = False
        self.data = data
        if self.is_change:
            self.form = ChangeForm(
                data, instance=self.instance, regions=self.regions, service=self.service
            )
            region_id = self.service.region_id
            service_type = self.service.service_resource_type
        else:
            self.form = ServiceRequestForm(
                data,
                instance=self.instance,
                regions=self.regions,
                teams=teams.teams_of(requester) if requester is not None else None,
                accounts=teams.accounts_of(requester) if requester is not None else None,
            )
            region_id = data.get("region_id", "")
            service_type = data.get("service_resource_type")
        if region_id and REGION_PATTERN.match(region_id):
            self.zones, self.zones_warning = cloud.zones(region_id)
        else:
            self.zones, self.zones_warning = [], ""
        rows = ServiceResourceRows if self.is_change else CreateResourceRows
        self.resources = rows(data, prefix="resources")
        self.resources.service_resource_type = service_type
        self.resources.region_id = region_id
        self.resources.zones = {zone_id for zone_id, _name in self.zones}
        self.resources.for_submit = for_submit
        self.resources.maximum = MAX_SERVICE_RESOURCES if self.is_change else MAX_RESOURCES
        self.tags = TagRows(data, prefix="tags")
        self.for_submit = for_submit
        self.show_errors = True
        # The load balancer picker: shown when asked for, or to say what a pick lacked.
        self.picker_open = False
        self.picker_error = ""
        if quiet:
            self.quiet()

    def initial_data(self, instance, start=None):
        """Post-shaped data for an unbound editor, so that one code path renders both.

        `start` is a configuration to begin a change from (the service's, or the one the
        portal approved, to restore it); an existing request starts from itself.
        """
        data = QueryDict(mutable=True)
        if instance.pk:
            _posted(data, CHANGE_FIELDS if self.is_change else EDITABLE_FIELDS, vars(instance))
            _posted(data, ["justification"], vars(instance))
            if instance.target_team_id:
                data["team"] = str(instance.target_team_id)
            if instance.cloud_account_id:
                data["cloud_account"] = str(instance.cloud_account_id)
            resources = [
                {
                    "resource_type": r.resource_type,
                    "resource_id": r.resource_id,
                    "zone_id": r.zone_id,
                }
                for r in instance.resources.all()
            ]
            tags = [{"key": t.key, "value": t.value} for t in instance.tags.all()]
        elif self.is_change:
            start = start or self.service.config()
            _posted(data, CHANGE_FIELDS, start)
            resources = [
                {k: r.get(k, "") for k in RESOURCE_FIELDS} for r in start.get("resources", [])
            ]
            tags = [{"key": t["key"], "value": t["value"]} for t in start.get("tags", [])]
        else:
            data.update(
                {"service_resource_type": "slb", "address_ip_version": "IPv4", "payer": "Endpoint"}
            )
            mine = list(teams.teams_of(self.requester)[:2]) if self.requester else []
            if len(mine) == 1:
                data["team"] = str(mine[0].pk)
            accounts = list(teams.accounts_of(self.requester)[:2]) if self.requester else []
            if len(accounts) == 1:
                data["cloud_account"] = str(accounts[0].pk)
            resources = [{"resource_type": "slb", "resource_id": "", "zone_id": ""}]
            tags = []
        data.update(management_data("resources", resources))
        data.update(management_data("tags", tags))
        return data

    def restructure(self, action):
        """Add or remove a row; return a new editor that keeps everything else as typed."""
        resources = rows_from(self.data, "resources", RESOURCE_FIELDS)
        tags = rows_from(self.data, "tags", TAG_FIELDS)
        if action == "add-resource" and len(resources) < self.resources.maximum:
            service_type = self.resources.service_resource_type or "slb"
            resources.append({"resource_type": service_type, "resource_id": "", "zone_id": ""})
        elif action == "add-tag" and len(tags) < MAX_TAGS:
            tags.append({"key": "", "value": ""})
        elif action.startswith("remove-resource-"):
            resources = _without(resources, action.removeprefix("remove-resource-"))
        elif action.startswith("remove-tag-"):
            tags = _without(tags, action.removeprefix("remove-tag-"))
        error = ""
        if action == "pick-load-balancer":
            resources, error = self._with_picked(resources)
        data = with_rows(with_rows(self.data, "resources", resources), "tags", tags)
        editor = RequestEditor(
            data, instance=self.instance, service=self.service, requester=self.requester
        )
        editor.quiet()
        editor.picker_open = action == "load-balancers" or bool(error)
        editor.picker_error = error
        return editor

    def _with_picked(self, resources):
        """Return (rows, error): the rows plus the load balancer chosen in the picker, once per
        zone chosen (an slb is one row, in at most one zone), in place of the empty rows."""
        resource_id = (self.data.get("pick_resource_id") or "").strip()
        if not RESOURCE_ID_PATTERN.match(resource_id) or len(resource_id) > 64:
            return resources, "Choose a load balancer first."
        resource_type = self.resources.service_resource_type or "slb"
        zones = [z for z in self.data.getlist(f"pick_zone_{resource_id}") if ZONE_PATTERN.match(z)]
        if resource_type in ZONE_REQUIRED_TYPES and not zones:
            return resources, f"Choose at least one zone of {resource_id}."
        if resource_type not in ZONE_REQUIRED_TYPES:
            zones = zones[:1] or [""]

        def key(row):
            zoned = row["resource_type"] in ZONE_REQUIRED_TYPES
            return (row["resource_id"], row["zone_id"]) if zoned else row["resource_id"]

        kept = [r for r in resources if r["resource_id"].strip() or r["zone_id"].strip()]
        present = {key(r) for r in kept}
        picked = [
            row
            for row in (
                {"resource_type": resource_type, "resource_id": resource_id, "zone_id": zone}
                for zone in dict.fromkeys(zones)
            )
            if key(row) not in present
        ]
        if not picked:
            return resources, f"{resource_id} is already in the request in the zones chosen."
        room = self.resources.maximum - len(kept)
        if len(picked) > room:
            return resources, (
                f"Only {room} more resource rows fit (at most {self.resources.maximum})."
            )
        return kept + picked, ""

    def blame_rows(self, result):
        """Put a refusal about some resources at their rows, to show it there."""
        if result is None or result.ok:
            return
        at_fault = {(r["resource_id"], r.get("zone_id") or "") for r in result.at_fault}
        for form in self.resources.forms:
            row = (
                self.data.get(form.add_prefix("resource_id"), "").strip(),
                self.data.get(form.add_prefix("zone_id"), "").strip(),
            )
            if row in at_fault:
                form.cloud_error = result.message

    def quiet(self):
        """Render without validating: a half-typed form is not an error yet."""
        self.show_errors = False
        self.form._errors = ErrorDict()
        for formset in (self.resources, self.tags):
            formset._errors = []
            formset._non_form_errors = formset.error_class()
            for form in formset.forms:
                form._errors = ErrorDict()

    @property
    def has_errors(self):
        return bool(self.error_summary)

    @property
    def error_summary(self):
        """Return [(field name, [messages])] for the summary at the top of the form."""
        summary = [(name, list(errors)) for name, errors in self.form.errors.items()]
        for name, formset in (("resources", self.resources), ("tags", self.tags)):
            messages = list(formset.non_form_errors())
            for i, form_errors in enumerate(formset.errors):
                for field_errors in form_errors.values():
                    messages += [f"row {i + 1}: {e}" for e in field_errors]
            if messages:
                summary.append((name, messages))
        return summary

    def is_valid(self):
        valid = all([self.form.is_valid(), self.resources.is_valid(), self.tags.is_valid()])
        if self.for_submit and not (self.form.cleaned_data.get("justification") or "").strip():
            if "justification" not in self.form.errors:
                what = "change" if self.is_change else "service"
                self.form.add_error(
                    "justification", f"Tell the approvers why this {what} is needed."
                )
            valid = False
        return valid

    def cleaned(self):
        """Return (fields, resources, tags) as plain data; call after is_valid()."""
        names = CHANGE_FIELDS if self.is_change else CLOUD_FIELDS
        fields = {name: self.form.cleaned_data.get(name) for name in names}
        if not self.is_change:
            fields["resource_group_id"] = fields["resource_group_id"] or ""
        fields["service_description"] = fields["service_description"] or ""
        fields["justification"] = self.form.cleaned_data.get("justification", "")
        if not self.is_change:
            fields["target_team"] = self.form.cleaned_data.get("team")
            if "cloud_account" in self.form.fields:
                fields["cloud_account"] = self.form.cleaned_data.get("cloud_account")
        resources = [
            {
                "resource_type": f.cleaned_data["resource_type"],
                "resource_id": f.cleaned_data["resource_id"],
                "zone_id": f.cleaned_data.get("zone_id", "").strip(),
            }
            for f in self.resources.forms
            if f.has_changed()
        ]
        tags = [
            {"key": f.cleaned_data["key"], "value": f.cleaned_data["value"]}
            for f in self.tags.forms
            if f.has_changed()
        ]
        return fields, resources, tags

    @property
    def can_add_resource(self):
        return self.resources.total_form_count() < self.resources.maximum

    @property
    def can_add_tag(self):
        return self.tags.total_form_count() < MAX_TAGS

    def cloud_errors(self, result):
        """Return {field: message} for a failed dry run, to show at the field at fault (a
        refusal of named resources is shown at their rows instead, see blame_rows)."""
        if result is None or result.ok or not result.field:
            return {}
        if result.field == "resources" and result.at_fault:
            return {}
        return {result.field: result.message}


def _without(rows, index):
    if index.isdigit() and int(index) < len(rows):
        return rows[: int(index)] + rows[int(index) + 1 :]
    return rows


class DecommissionForm(forms.Form):
    justification = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why the service can go, and how its consumers were told.",
        validators=[shown_as_typed],
        error_messages={"required": "Tell the approvers why this service can be deleted."},
    )


class AdoptionForm(forms.Form):
    owner = forms.CharField(
        label="Owner (username)",
        max_length=150,
        validators=[single_line],
        help_text="Who will own the service in the portal from now on.",
    )
    justification = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        validators=[shown_as_typed],
        error_messages={"required": "Tell the approvers why the portal should manage it."},
    )

    team = forms.ModelChoiceField(
        queryset=Team.objects.all(),
        required=False,
        label="Owning team",
        empty_label="(none: the owner alone)",
        help_text="The team whose members look after the service from now on.",
    )

    def clean_owner(self):
        from django.contrib.auth import get_user_model

        username = self.cleaned_data["owner"].strip()
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise forms.ValidationError(f"No active user is called “{username}”.")
        return user


class TransferForm(forms.Form):
    team = forms.ModelChoiceField(
        queryset=Team.objects.all(),
        label="To the team",
        empty_label="Choose a team…",
        help_text="Its approvers accept the service; then its members look after it.",
        error_messages={"required": "Choose the team that takes the service on."},
    )
    justification = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        validators=[shown_as_typed],
        error_messages={"required": "Tell the team why it should take the service on."},
    )

    def __init__(self, *args, service=None, **kwargs):
        super().__init__(*args, **kwargs)
        if service is not None and service.team_id is not None:
            self.fields["team"].queryset = Team.objects.exclude(pk=service.team_id)


ACCOUNT_ID = re.compile(r"^[1-9][0-9]{15}$")


def account_id_field(**kwargs):
    return forms.CharField(
        label="Consumer's account id",
        max_length=32,
        validators=[single_line],
        # The company's accounts are offered by name (company-accounts, a datalist).
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "spellcheck": "false", "list": "company-accounts"}
        ),
        **kwargs,
    )


def clean_account_id(value):
    """An account id as typed: 16 digits, `*`, or a company account's name (as listed)."""
    value = value.strip()
    if value == "*":
        return value
    named = teams.account_by_name(value)
    if named is not None:
        return named
    digits = value.replace(" ", "")
    if not ACCOUNT_ID.match(digits):
        raise forms.ValidationError(
            "An Alibaba Cloud account id is 16 digits, such as 1000000000000003 (the console "
            "shows it under the account's avatar), or the name of one of the company's "
            "accounts; or * for every account."
        )
    return digits


class AccessForm(forms.Form):
    account_id = account_id_field(
        help_text="The account whose VPCs will connect: 16 digits, or * for every account "
        "(two approvers then decide)."
    )
    justification = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Which team and system will connect, and why: the owner decides on it.",
        validators=[shown_as_typed],
        error_messages={"required": "Tell the owner who will connect and why."},
    )

    def clean_account_id(self):
        return clean_account_id(self.cleaned_data["account_id"])


class RevokeForm(forms.Form):
    account_id = account_id_field(help_text="The account to take off the allow-list.")
    justification = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why this account may no longer connect. Its existing endpoints stay "
        "connected until rejected.",
        validators=[shown_as_typed],
        error_messages={"required": "Say why this account may no longer connect."},
    )

    def clean_account_id(self):
        return clean_account_id(self.cleaned_data["account_id"])

"""What the API is given, handed to the portal's forms; and the request it answers with.

The forms judge the input, so that an error says what the page would say, at the field at
fault (`resources.0.zone_id` for a row's).
"""

from django.db.models import Prefetch, prefetch_related_objects
from django.urls import reverse
from ninja import Status

from portal.api.errors import Invalid
from portal.requests.forms import RequestEditor, posted_data
from portal.service_requests.models import Approval
from portal.teams.models import CloudAccount, Team


def rows(items):
    return [item.dict() for item in items]


def editor_errors(editor):
    """[(field, message)] of a request form, rows named by position."""
    errors = [
        (name, message) for name, messages in editor.form.errors.items() for message in messages
    ]
    for name, formset in (("resources", editor.resources), ("tags", editor.tags)):
        errors += [(name, message) for message in formset.non_form_errors()]
        for i, form_errors in enumerate(formset.errors):
            for field, messages in form_errors.items():
                errors += [(f"{name}.{i}.{field}", message) for message in messages]
    return errors


def team_pk(name):
    """The id of the team called `name` (for a form's choice), or a 422 at `team`."""
    team = Team.objects.filter(name=name).first()
    if team is None:
        raise Invalid([("team", f"No team is called {name!r}.")])
    return team.pk


def team_heard(editor, named):
    """Refuse a team named by someone in none (the form then has no team to choose): the
    page does not offer one, and the API must not drop it without a word."""
    if named and "team" not in editor.form.fields:
        raise Invalid(
            [
                (
                    "team",
                    "You are in no team: leave `team` out; the service will be yours until it "
                    "is transferred to a team.",
                )
            ]
        )


def account_pk(name):
    """The id of the cloud account called `name`, or a 422 at `cloud_account`."""
    account = CloudAccount.objects.filter(name=name).first()
    if account is None:
        raise Invalid([("cloud_account", f"No cloud account is called {name!r}.")])
    return account.pk


def valid_editor(values, names, resources, tags, service=None, requester=None):
    if values.get("team"):
        values = {**values, "team": team_pk(values["team"])}
        names = [*names, "team"]
    if values.get("cloud_account"):
        values = {**values, "cloud_account": account_pk(values["cloud_account"])}
        names = [*names, "cloud_account"]
    editor = RequestEditor(
        posted_data(names, values, resources, tags), service=service, requester=requester
    )
    team_heard(editor, values.get("team"))
    if not editor.is_valid():
        raise Invalid(editor_errors(editor))
    return editor


def fresh(service_request):
    """The request as it is now, with what its answer (schemas.RequestOut) reads of it in
    one query each: its content is read twice, for the digest and for its approvals'."""
    service_request.refresh_from_db()
    approvals = Approval.objects.select_related("approver", "on_behalf_of")
    prefetch_related_objects(
        [service_request], "resources", "tags", "operations", Prefetch("approvals", approvals)
    )
    return service_request


def created(request, response, service_request):
    """201 with the request as it is now, its address in Location."""
    path = reverse("api:request", args=[service_request.pk])
    response["Location"] = request.build_absolute_uri(path)
    return Status(201, fresh(service_request))

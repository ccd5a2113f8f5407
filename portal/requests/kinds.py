"""One description per kind of request: its form, who may file it, what it may not repeat,
its page. The pages (views), the API (portal.api.routers.services) and the creator
(services.request_about_service_create) read it; a new kind is described here.

Who decides a kind is policy.route's: a rule over the request and its service, not a fact of
the kind alone. The API's payload per kind is the API's own (portal.api).
"""

from collections.abc import Callable
from dataclasses import dataclass

from portal.approvals import policy
from portal.requests.forms import (
    AccessForm,
    AdoptionForm,
    DecommissionForm,
    RequestEditor,
    RevokeForm,
    TransferForm,
)
from portal.service_requests.models import Kind


@dataclass(frozen=True)
class KindDescription:
    kind: Kind
    # The form its page and the API judge input with; RequestEditor for the kinds whose
    # content is a service's configuration (create, change), which have pages of their own.
    form_class: type
    template: str
    summary: str  # what filing it asks, in a sentence (the API's description)
    # Why a user may not file it about a service (policy), or None if they may; None for
    # create, which is about no service yet.
    refusal: Callable | None = None
    # The form's fields the refusal judges as well (a transfer's team).
    refusal_judges: tuple[str, ...] = ()
    # The field a refusal of the moment (an account already asked for) is about, if one is.
    error_field: str = ""
    # Said when an open request of the kind about the service already asks it: only one
    # may be open, and filing again leads to it. Formatted with the earlier one's pk, state
    # and team.
    asked_already: str = ""
    # The form's first values, from the page's query string.
    initial: Callable[[dict], dict] | None = None
    # What the page shows beside the form, from the service.
    context: Callable | None = None
    form_takes_service: bool = False

    @property
    def has_form(self):
        """Whether it is filed through a plain form about a service, on the generic page."""
        return self.form_class is not RequestEditor

    def form(self, data=None, *, service, initial=None):
        """The kind's form about `service`, bound to `data` if given."""
        extra = {"service": service} if self.form_takes_service else {}
        return self.form_class(data, initial=initial, **extra)


KINDS = {
    description.kind: description
    for description in (
        KindDescription(
            Kind.CREATE,
            form_class=RequestEditor,
            template="service_requests/request_form.html",
            summary="File a new endpoint service.",
        ),
        KindDescription(
            Kind.CHANGE,
            form_class=RequestEditor,
            template="service_requests/request_form.html",
            summary="File a change: the desired state, from which the portal plans the cloud "
            "operations.",
            refusal=policy.change_refusal,
        ),
        KindDescription(
            Kind.DECOMMISSION,
            form_class=DecommissionForm,
            template="endpoint_services/decommission_form.html",
            summary="File the service's deletion (two approvers decide).",
            refusal=policy.change_refusal,
            asked_already="Request #{pk} already asks to decommission this service ({state}).",
            # What deleting it cuts off, as last read, for the person to weigh before asking.
            context=lambda service: {
                "connected": service.connections.filter(status="Connected", gone=False).count(),
                "allowed": len(service.allowed_users),
            },
        ),
        KindDescription(
            Kind.ACCESS,
            form_class=AccessForm,
            template="endpoint_services/access_form.html",
            summary="Ask that a consumer's account may connect; the service's owner decides.",
            refusal=policy.access_refusal,
            error_field="account_id",
        ),
        KindDescription(
            Kind.REVOKE,
            form_class=RevokeForm,
            template="endpoint_services/revoke_form.html",
            summary="Ask that an account be taken off the allow-list (owner or approver).",
            refusal=policy.revoke_refusal,
            error_field="account_id",
            initial=lambda query: {"account_id": query.get("account", "")[:32]},
        ),
        KindDescription(
            Kind.ADOPT,
            form_class=AdoptionForm,
            template="endpoint_services/adopt_form.html",
            summary="File the adoption of a service the portal did not make, naming its owner "
            "(approvers).",
            refusal=policy.adoption_refusal,
            asked_already="Request #{pk} already asks to adopt this service ({state}).",
        ),
        KindDescription(
            Kind.TRANSFER,
            form_class=TransferForm,
            template="endpoint_services/transfer_form.html",
            summary="File the service's transfer to another team; that team's approvers accept it.",
            refusal=policy.transfer_refusal,
            refusal_judges=("team",),
            error_field="team",
            asked_already="Request #{pk} already asks to transfer this service to the {team} "
            "team ({state}).",
            form_takes_service=True,
        ),
    )
}
# The kinds filed through a plain form about a service, in the order of Kind.
FORM_KINDS = tuple(kind for kind, description in KINDS.items() if description.has_form)

"""Why a person may not do what they asked to a request, as the services above raise it and
pages and the API translate it (a form error, 403, 409)."""


class DecisionRefused(Exception):
    """The user may not do this to this request now; the message says why."""


class NotAllowed(DecisionRefused):
    """The user may not do this at all (not the requester, not an approver, an auditor):
    pages answer it before they get here; the API answers 403 with the message."""


class AlreadyAsked(DecisionRefused):
    """What is asked for is already asked by an open request, or by the requester's draft."""

    def __init__(self, message, service_request):
        super().__init__(message)
        self.service_request = service_request


class StaleRevision(DecisionRefused):
    """A decision was taken on a page showing a revision that is no longer the request's."""

    def __init__(self, seen, current):
        changed = (
            f"you saw revision {seen}; it is now revision {current}"
            if seen != current
            else f"revision {current} was replanned since you saw it"
        )
        super().__init__(
            f"This request changed since you opened it ({changed}). Nothing was recorded: "
            "review the new content below."
        )
        self.seen, self.current = seen, current

"""How the API says no: the refusals its routers raise, and the answers the schema lists.

Every refusal is an Error (`detail`, and `errors` at the fields at fault): not visible 404,
not allowed 403, a refusal of the moment (a stale revision, a state that moved, a request
already open) 409, bad input 422, a spent budget 429 with Retry-After. portal/api/api.py
turns each into its answer.
"""

from django.core.exceptions import PermissionDenied

from portal.api import auth, schemas
from portal.lib.limits import cloud_budget_wait

# What every operation can answer besides its own success.
ERRORS = {status: schemas.Error for status in (401, 403, 404, 409, 422, 429)}
# What a call that takes a JSON body can answer besides: 400 when the body is not JSON.
BODY_ERRORS = {**ERRORS, 400: schemas.Error}


class Invalid(Exception):
    """Input the forms refused: [(field, message)]; 422."""

    def __init__(self, errors, detail="The request has errors, each at its field."):
        super().__init__(detail)
        self.errors = errors

    @classmethod
    def of(cls, form, **kwargs):
        """The errors of a form that is not valid, each at its field."""
        return cls(
            [(name, message) for name, messages in form.errors.items() for message in messages],
            **kwargs,
        )


class FieldConflict(Exception):
    """A refusal about one field's value (an account already asked for); 409 at the field."""

    def __init__(self, field, error):
        super().__init__(str(error))
        self.errors = [(field, str(error))]


def refuse(refusal):
    """403 with the reason policy gives, if it gives one."""
    if refusal:
        raise PermissionDenied(refusal)


def cloud_budget(request):
    """Count a call that makes the portal call the cloud, as the pages do (per user)."""
    wait = cloud_budget_wait(request)
    if wait is not None:
        raise auth.RateLimited(wait, "You made the portal call the cloud too often this minute.")

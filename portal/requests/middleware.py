from django.shortcuts import render

from portal.service_requests.exceptions import DecisionRefused
from portal.service_requests.models import TransitionNotAllowed


class ConflictMiddleware:
    """Answer a lost race with 409 and what happened, not a 500.

    Two clicks, two tabs or two people can each find a request in a state that, by the time
    the row is locked, has moved on: the state machine refuses the second, and the person
    is told so, with a way back to the request as it is now.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, TransitionNotAllowed | DecisionRefused):
            return None
        context = {"message": str(exception), "back": request.path.rsplit("/", 2)[0] + "/"}
        return render(request, "conflict.html", context, status=409)

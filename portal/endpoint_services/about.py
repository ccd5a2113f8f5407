"""What the services layer asks of the requests about a service, without importing them.

The service_requests app sits above this one (a request is about a service; it imports
services), yet four rules of a service depend on its requests: its drift is judged only once
the portal's own change is through, a decommission in flight is not a deletion outside the
portal, a connection is linked to the access request that admitted its account, and a refused
one names the revoke that took its account off. The service_requests app answers these at
start (portal.service_requests.apps), as the apps register their explainers with the audit log.
"""

from django.core.exceptions import ImproperlyConfigured

_answers = {}


def answer(**functions):
    """Register the service_requests app's answers, by the names of the questions below."""
    _answers.update(functions)


def _asked(question, *args):
    try:
        function = _answers[question]
    except KeyError:
        raise ImproperlyConfigured(
            f"nothing answers {question!r}: portal.service_requests is not installed"
        ) from None
    return function(*args)


def being_changed(service):
    """Whether the portal is applying an approved request to `service` right now."""
    return _asked("being_changed", service)


def being_deleted(service):
    """Whether the portal is applying an approved decommission of `service` right now."""
    return _asked("being_deleted", service)


def admitting(service, accounts):
    """{account: the newest applied access request that admitted it} among `accounts`."""
    return _asked("admitting", service, accounts)


def revoking(service, account):
    """The newest applied request that revoked `account` from `service`, or None."""
    return _asked("revoking", service, account)

from portal.api import services
from portal.audit import chain

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class ApiAuditMiddleware:
    """Record every write call made with an API token, with its answer, once it is made.

    A call over the token's rate limit did nothing and is not recorded (else a leaked token
    could fill the log); one refused for its scope or by the portal's rules is.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            response = self.get_response(request)
        finally:
            chain.via.set(None)
        token = getattr(request, "api_token", None)
        if token is not None and request.method not in SAFE_METHODS and response.status_code != 429:
            services.api_write_record(
                token=token,
                method=request.method,
                path=request.path,
                status=response.status_code,
                address=request.META.get("REMOTE_ADDR"),
            )
        return response

"""What an error report (the email Django sends ADMINS on a 500, the debug page) shows of the
settings: Django hides names with API, TOKEN, KEY, SECRET, PASS or SIGNATURE in them; the
portal's secrets also live in URLs (chat webhooks, the database and the broker with their
passwords) and in the OpenID Connect client's settings."""

import re

from django.views.debug import SafeExceptionReporterFilter


class SecretsHiddenFilter(SafeExceptionReporterFilter):
    hidden_settings = re.compile(
        r"API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|WEBHOOK|_URL$|DATABASE|BROKER|DSN"
        r"|CACHES|LOCATION|RESULT_BACKEND",
        flags=re.IGNORECASE,
    )

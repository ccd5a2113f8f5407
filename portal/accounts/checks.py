from django.conf import settings
from django.core.checks import Error, Tags, register

NEEDED = {
    "OIDC_ISSUER": "OIDC_ISSUER",
    "OIDC_RP_CLIENT_ID": "OIDC_CLIENT_ID",
    "OIDC_RP_CLIENT_SECRET": "OIDC_CLIENT_SECRET",
}


@register(Tags.security, deploy=True)
def single_sign_on_configured(app_configs, **kwargs):
    """In production everyone signs in through the company's provider: it must be named."""
    missing = [variable for name, variable in NEEDED.items() if not getattr(settings, name)]
    if settings.DEBUG or not missing:
        return []
    return [
        Error(
            f"single sign-on is not configured: set {', '.join(missing)}",
            hint="See the README's configuration section (Keycloak, Entra ID, Okta).",
            id="accounts.E001",
        )
    ]

"""The embedded OpenID Connect provider for `make run` and the tests.

A real provider (Authlib's grants behind a small Flask app) that signs the demo users in and
tells the portal their groups, as a company's Keycloak, Entra ID or Okta would. Like the
PrivateLink simulator, it is a process of its own, imports nothing from the portal, and is not
shipped with it: it runs from the repository root, `python -m idp`.
"""

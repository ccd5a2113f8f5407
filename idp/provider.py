"""The provider: Authlib's authorization code grant with OpenID Connect, PKCE (S256, required of
every client), userinfo and RP-initiated logout, for users and clients held in memory.

Its sign-in page asks for a username and a password, as a company's provider does; a signed-in
browser is not asked again until it signs out (RP-initiated logout ends the provider's session).
A control path under /_idp/ lets tests and demos change a user's groups, register a client's
addresses and see who has a session, as the simulator's /_simulator/ path does. With a SCIM
target (--scim-url, or PUT /_idp/scim), every change is pushed to the portal (scim.py).
"""

import copy
import hmac
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from pathlib import Path

import flask
from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin, grants
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import AuthorizationCodeMixin, OpenIDCode, UserInfoEndpoint
from authlib.oidc.rpinitiated import EndSessionEndpoint
from joserfc.jwk import KeySet, RSAKey

from idp import scim

DEMO_USERS = Path(__file__).with_name("demo_users.json")
DEMO_PASSWORD = "portal-demo"
SCOPES = ("openid", "profile", "email")
CODE_LIFETIME = 600
TOKEN_LIFETIME = 3600
# Subjects are opaque and stable across restarts, as a real provider's are; the portal binds
# each account to its subject at the first sign-in (a rename at the provider, through the
# control path's extra_claims `preferred_username`, keeps the subject).
SUBJECT_NAMESPACE = uuid.UUID("5f0c8a52-3c51-4d8e-9a43-6f1b0e2c7d11")


@dataclass
class User:
    username: str
    password: str = DEMO_PASSWORD
    given_name: str = ""
    family_name: str = ""
    email: str = ""
    groups: list[str] = field(default_factory=list)
    # A deactivated person cannot sign in here, and the portal is told (SCIM).
    active: bool = True
    # Anything else the provider says of them (a `roles` claim, say), over the above.
    extra_claims: dict = field(default_factory=dict)

    @property
    def sub(self):
        return str(uuid.uuid5(SUBJECT_NAMESPACE, self.username))

    def get_user_id(self):
        return self.sub

    def claims(self, scope):
        """The claims for a scope; groups always, as a provider with a groups mapper sends them."""
        scopes = (scope or "").split()
        claims = {"sub": self.sub, "groups": list(self.groups)}
        if "profile" in scopes:
            name = f"{self.given_name} {self.family_name}".strip()
            claims.update(
                preferred_username=self.username,
                name=name or self.username,
                given_name=self.given_name,
                family_name=self.family_name,
            )
        if "email" in scopes:
            claims.update(email=self.email or f"{self.username}@example.com", email_verified=True)
        return {**claims, **self.extra_claims}


@dataclass
class Client(ClientMixin):
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str] = field(default_factory=list)

    @property
    def client_metadata(self):
        return {"post_logout_redirect_uris": self.post_logout_redirect_uris}

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return None  # every request names its redirect_uri, and it must be registered

    def get_allowed_scope(self, scope):
        return " ".join(s for s in (scope or "").split() if s in SCOPES)

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret):
        return hmac.compare_digest(client_secret.encode(), self.client_secret.encode())

    def check_endpoint_auth_method(self, method, endpoint):
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type == "authorization_code"


@dataclass
class Code(AuthorizationCodeMixin):
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    username: str
    nonce: str | None
    code_challenge: str
    code_challenge_method: str
    sid: str
    auth_time: int
    expires_at: float

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope

    def get_nonce(self):
        return self.nonce

    def get_auth_time(self):
        return self.auth_time


@dataclass
class Token(TokenMixin):
    access_token: str
    client: Client
    user: User
    scope: str
    expires_at: float

    def check_client(self, client):
        return client.client_id == self.client.client_id

    def get_scope(self):
        return self.scope

    def get_expires_in(self):
        return max(0, int(self.expires_at - time.time()))

    def is_expired(self):
        return time.time() >= self.expires_at

    def is_revoked(self):
        return False

    def get_user(self):
        return self.user

    def get_client(self):
        return self.client


class Directory:
    """Everything the provider knows, in memory: users, clients, codes, tokens, sessions."""

    def __init__(self, *, issuer, users, clients):
        self.issuer = issuer
        self.key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"})
        self.key.ensure_kid()
        self._initial = (users, clients)
        self.lock = threading.Lock()
        self.pusher = None
        self.initial_scim = None
        self.reset()

    def reset(self):
        users, clients = self._initial
        self.scim(None)
        with self.lock:
            self.users = {user.username: copy.deepcopy(user) for user in users}
            self.clients = {client.client_id: copy.deepcopy(client) for client in clients}
            self.codes = {}
            self.tokens = {}
            self.sessions = {}  # sid: {"username", "auth_time"}
            self.nonces = set()
        self.scim(self.initial_scim)

    def scim(self, target):
        """Push changes to `target` ({"url", "token"}) from now on, starting with everyone; or
        stop pushing (None)."""
        if self.pusher is not None:
            self.pusher.stop()
            self.pusher = None
        if target:
            self.pusher = scim.Pusher(target["url"], target["token"])
            for user in sorted(self.users.values(), key=lambda u: u.username):
                self.pusher.push(user)

    def changed(self, user, *, groups_before=(), deleted=False):
        if self.pusher is not None:
            self.pusher.push(user, groups_before=groups_before, deleted=deleted)

    def take_code(self, code):
        """Return an authorization code once: a second redemption finds nothing."""
        with self.lock:
            found = self.codes.pop(code, None)
        if found is None or found.expires_at < time.time():
            return None
        return found

    def public_keys(self):
        return KeySet([RSAKey.import_key(self.key.as_dict(private=False))])


def directory() -> Directory:
    return flask.current_app.extensions["idp"]


class CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def save_authorization_code(self, code, request):
        data = request.payload.data
        known = directory()
        session = known.sessions[flask.session["sid"]]
        with known.lock:
            if data.get("nonce"):
                known.nonces.add(data["nonce"])
            known.codes[code] = Code(
                code=code,
                client_id=request.client.client_id,
                redirect_uri=request.payload.redirect_uri,
                scope=request.scope,
                username=request.user.username,
                nonce=data.get("nonce"),
                code_challenge=data["code_challenge"],
                code_challenge_method=data["code_challenge_method"],
                sid=flask.session["sid"],
                auth_time=session["auth_time"],
                expires_at=time.time() + CODE_LIFETIME,
            )

    def query_authorization_code(self, code, client):
        found = directory().take_code(code)
        if found is not None and found.client_id == client.client_id:
            return found
        return None

    def delete_authorization_code(self, authorization_code):
        """Nothing left to do: take_code() handed it out once."""

    def authenticate_user(self, authorization_code):
        return directory().users.get(authorization_code.username)


class OpenIDLogin(OpenIDCode):
    def exists_nonce(self, nonce, request):
        return nonce in directory().nonces

    def resolve_client_private_key(self, client):
        return directory().key

    def get_client_algorithm(self, client):
        return "RS256"

    def get_encode_header(self, client):
        return {"alg": "RS256", "kid": directory().key.kid}

    def get_client_claims(self, client):
        return {
            "iss": directory().issuer,
            "aud": client.client_id,
            "exp": int(time.time()) + TOKEN_LIFETIME,
        }

    def get_authorization_code_claims(self, authorization_code):
        claims = super().get_authorization_code_claims(authorization_code)
        claims["sid"] = authorization_code.sid
        return claims

    def generate_user_info(self, user, scope):
        return user.claims(scope)


class RequiredPKCE(CodeChallenge):
    """PKCE for every client, confidential ones too, and only S256."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if not data.get("code_challenge") or data.get("code_challenge_method") != "S256":
            raise InvalidRequestError(
                "This provider requires PKCE: send code_challenge with code_challenge_method=S256."
            )
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant, result):
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("This provider requires PKCE: send the code_verifier.")
        super().validate_code_verifier(grant, result)


class UserInfo(UserInfoEndpoint):
    def generate_user_info(self, user, scope):
        return user.claims(scope)

    def get_issuer(self):
        return directory().issuer


class EndSession(EndSessionEndpoint):
    def get_server_jwks(self):
        return directory().public_keys()

    def end_session(self, end_session_request):
        known = directory()
        ended = {flask.session.pop("sid", None)}
        if end_session_request.id_token_claims:
            ended.add(end_session_request.id_token_claims.get("sid"))
        with known.lock:
            for sid in ended - {None}:
                known.sessions.pop(sid, None)


class Tokens(BearerTokenValidator):
    def authenticate_token(self, token_string):
        return directory().tokens.get(token_string)


def create_app(*, issuer, users, clients, scim_target=None):
    """Return the provider's Flask app for `issuer`, serving these users and clients, pushing
    its directory to `scim_target` ({"url", "token"}) if given."""
    app = flask.Flask(__name__)
    app.secret_key = secrets.token_bytes(32)
    # Not "session": the portal on the same host (cookies ignore ports) has its own.
    app.config.update(
        SESSION_COOKIE_NAME="idp_session",
        SESSION_COOKIE_SAMESITE="Lax",
        OAUTH2_TOKEN_EXPIRES_IN={"authorization_code": TOKEN_LIFETIME},
    )
    known = Directory(issuer=issuer.rstrip("/"), users=users, clients=clients)
    app.extensions["idp"] = known
    if scim_target:
        known.initial_scim = scim_target
        known.scim(scim_target)

    def save_token(token, request):
        with known.lock:
            known.tokens[token["access_token"]] = Token(
                access_token=token["access_token"],
                client=request.client,
                user=request.user,
                scope=token.get("scope", ""),
                expires_at=time.time() + token["expires_in"],
            )

    # known.clients is replaced on reset: look it up at each call.
    server = AuthorizationServer(
        app, query_client=lambda client_id: known.clients.get(client_id), save_token=save_token
    )
    server.register_grant(CodeGrant, [OpenIDLogin(require_nonce=False), RequiredPKCE()])
    protector = ResourceProtector()
    protector.register_token_validator(Tokens())
    server.register_endpoint(UserInfo(resource_protector=protector))
    server.register_endpoint(EndSession)
    _add_routes(app, server)
    return app


def _add_routes(app, server):
    def signed_in():
        sid = flask.session.get("sid")
        session = directory().sessions.get(sid) if sid else None
        return directory().users.get(session["username"]) if session else None

    @app.get("/.well-known/openid-configuration")
    def discovery():
        base = directory().issuer
        return {
            "issuer": base,
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token",
            "userinfo_endpoint": f"{base}/userinfo",
            "jwks_uri": f"{base}/jwks",
            "end_session_endpoint": f"{base}/end_session",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": list(SCOPES),
            "token_endpoint_auth_methods_supported": CodeGrant.TOKEN_ENDPOINT_AUTH_METHODS,
            "code_challenge_methods_supported": RequiredPKCE.SUPPORTED_CODE_CHALLENGE_METHOD,
            "claims_supported": [
                "sub",
                "preferred_username",
                "name",
                "given_name",
                "family_name",
                "email",
                "email_verified",
                "groups",
            ],
        }

    @app.get("/jwks")
    def jwks():
        return directory().public_keys().as_dict()

    @app.route("/authorize", methods=["GET", "POST"])
    def authorize():
        user = signed_in()
        try:
            grant = server.get_consent_grant(end_user=user)
        except OAuth2Error as error:
            if error.redirect_uri:
                return server.handle_error_response(None, error)
            return _page("error.html", HTTPStatus.BAD_REQUEST, error=error)
        if flask.request.method == "GET":
            if user is not None and getattr(grant, "prompt", None) != "login":
                return server.create_authorization_response(grant=grant, grant_user=user)
            return _page("login.html", users=sorted(directory().users))
        username = flask.request.form.get("username", "")
        password = flask.request.form.get("password", "")
        user = directory().users.get(username)
        if (
            user is None
            or not hmac.compare_digest(password.encode(), user.password.encode())
            or not user.active
        ):
            return _page(
                "login.html",
                HTTPStatus.UNAUTHORIZED,
                users=sorted(directory().users),
                username=username,
                failed=True,
            )
        sid = secrets.token_urlsafe(16)
        with directory().lock:
            directory().sessions[sid] = {"username": username, "auth_time": int(time.time())}
        flask.session["sid"] = sid
        return server.create_authorization_response(grant=grant, grant_user=user)

    @app.post("/token")
    def token():
        return server.create_token_response()

    @app.route("/userinfo", methods=["GET", "POST"])
    def userinfo():
        return server.create_endpoint_response("userinfo")

    @app.route("/end_session", methods=["GET", "POST"])
    def end_session():
        try:
            request = server.validate_endpoint_request("end_session")
        except OAuth2Error as error:
            return _page("error.html", HTTPStatus.BAD_REQUEST, error=error)
        if request.needs_confirmation and flask.request.method == "GET":
            return _page("end_session.html", params=flask.request.args)
        return server.create_endpoint_response("end_session", request) or _page("signed_out.html")

    @app.put("/_idp/users/<username>")
    def put_user(username):
        """Create a user, or change the fields given of one (groups, names, email, ...)."""
        body = flask.request.get_json(force=True)
        known = directory()
        with known.lock:
            current = known.users.get(username)
            user = replace(
                current or User(username=username),
                **{k: v for k, v in body.items() if k != "username"},
            )
            known.users[username] = user
        known.changed(user, groups_before=current.groups if current else ())
        return {"username": username, "sub": user.sub, "groups": user.groups}

    @app.delete("/_idp/users/<username>")
    def delete_user(username):
        known = directory()
        with known.lock:
            user = known.users.pop(username, None)
        if user is None:
            return {"error": "no such user"}, HTTPStatus.NOT_FOUND
        known.changed(user, deleted=True)
        return {"deleted": username}

    @app.put("/_idp/scim")
    def put_scim():
        """Push to a portal's SCIM endpoint ({"url", "token"}), or stop ({})."""
        body = flask.request.get_json(force=True) or {}
        directory().scim(body if body.get("url") else None)
        return {"scim": body.get("url")}

    @app.get("/_idp/scim")
    def get_scim():
        pusher = directory().pusher
        return {"url": pusher.url if pusher else None, "idle": pusher.idle() if pusher else True}

    @app.put("/_idp/clients/<client_id>")
    def put_client(client_id):
        body = flask.request.get_json(force=True)
        client = Client(client_id=client_id, **body)
        with directory().lock:
            directory().clients[client_id] = client
        return {"client_id": client_id}

    @app.get("/_idp/sessions")
    def sessions():
        known = directory()
        return {"sessions": [{"sid": sid, **data} for sid, data in sorted(known.sessions.items())]}

    @app.post("/_idp/reset")
    def reset():
        directory().reset()
        return {"reset": True}


def _page(template, status=HTTPStatus.OK, **context):
    return flask.render_template(template, **context), status


def load_users(path=DEMO_USERS, password=DEMO_PASSWORD):
    """Read users from a JSON list of {username, given_name, family_name, email, groups}."""
    return [User(password=password, **entry) for entry in json.loads(Path(path).read_text())]

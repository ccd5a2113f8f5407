"""A threaded HTTP server: the simulated PrivateLink gateway plus a loopback control path."""

import ipaddress
import json
import logging
import random
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from .backend import API_VERSION, ApiError
from .legacy import COMMON, verify_legacy_signature
from .protocol import (
    NonceCache,
    error_body,
    nest,
    new_request_id,
    parse_params,
    success_body,
    verify_signature,
)

log = logging.getLogger("simulator")
MAX_BODY = 1024 * 1024
# A product's regional endpoint (privatelink.cn-shanghai.aliyuncs.com), as a client that
# reaches the simulator as its HTTP proxy sends it: the region of a call that names none.
REGIONAL_HOST = re.compile(r"^[a-z]+\.(?P<region>[a-z]{2}(?:-[a-z0-9]+)+)\.aliyuncs\.com(?::\d+)?$")


def region_of(host):
    match = REGIONAL_HOST.match(host or "")
    return match["region"] if match else ""


class Gateway:
    """What the cloud's API gateway does before and after the backend: auth, faults, envelope."""

    def __init__(self, backend):
        self.backend = backend
        self.nonces = NonceCache()

    def secret_for(self, access_key_id):
        """The secret a key signs with: an account's own, or an STS session's."""
        account = self.backend.account_for_key(access_key_id)
        if account is not None:
            return account.access_key_secret
        session = self.backend.session_for_key(access_key_id)
        return session.access_key_secret if session else None

    def handle(self, *, method, path, query, headers, body):
        """Answer one API request: return (status, extra headers, JSON body)."""
        request_id = new_request_id()
        host = headers.get("host", "")
        who = action = region = ""
        try:
            query_params, flat = parse_params(query, body, headers.get("content-type", ""))
            access_key_id, security_token = self.authenticate(
                method, path, query_params, flat, headers, body
            )
            who = access_key_id
            action, version = self.action_and_version(flat, headers)
            actions = self.backend.actions_for(version)
            if action not in actions:
                raise ApiError(
                    "InvalidAction.NotFound",
                    "Specified api is not found, please check your url and method.",
                    status=404,
                )
            if actions is self.backend.ACTIONS and version != API_VERSION:
                raise ApiError("InvalidVersion", f"Specified version {version!r} is not valid.")
            account, session = self.backend.caller(
                access_key_id, security_token, self.backend.clock()
            )
            who = f"account={account.uid} " + (
                f"session={session.arn}" if session else f"key={access_key_id}"
            )
            if "RegionId" not in flat and region_of(host):
                flat["RegionId"] = region_of(host)  # as the cloud reads it from the endpoint
            region = flat.get("RegionId", "")
            self.backend.check_permission(session, self.backend.product_of(version), action)
            self.inject_faults(action)
            answer = self.backend.call(account, action, nest(flat), version, session=session)
            log.info("%s %s region=%s host=%s ok %s", action, who, region, host, request_id)
            return 200, {}, success_body(answer, request_id)
        except ApiError as error:
            log.info(
                "%s %s region=%s host=%s %s %s",
                action or headers.get("x-acs-action"),
                who,
                region,
                host,
                error.code,
                request_id,
            )
            return error.status, error.headers, error_body(error, request_id, host)

    def authenticate(self, method, path, query_params, flat, headers, body):
        """Check the request's signature, ACS3 or the legacy version 1.0 (whose parameters
        are then taken out of `flat`); return (AccessKey id, security token or None)."""
        if not headers.get("authorization") and "Signature" in flat:
            signed = verify_legacy_signature(
                method=method, params=flat, secret_for=self.secret_for, nonces=self.nonces
            )
            for name in COMMON:
                flat.pop(name, None)
            return signed
        access_key_id = verify_signature(
            method=method,
            path=path,
            query_params=query_params,
            headers=headers,
            body=body,
            secret_for=self.secret_for,
            nonces=self.nonces,
        )
        return access_key_id, headers.get("x-acs-security-token")

    @staticmethod
    def action_and_version(flat, headers):
        """The operation a request names, taken out of `flat`. Clients of the legacy signature
        (the new SDK's v2, Terraform's) send it both as parameters and as x-acs-* headers;
        the parameters are what that signature covers, the headers what ACS3 covers."""
        named = flat.pop("Action", ""), flat.pop("Version", "")
        sent = headers.get("x-acs-action", ""), headers.get("x-acs-version", "")
        if headers.get("authorization"):
            return sent[0] or named[0], sent[1] or named[1]
        return named[0] or sent[0], named[1] or sent[1]

    def inject_faults(self, action):
        faults = self.backend.faults
        if faults.actions and action not in faults.actions:
            return
        if faults.latency_ms:
            time.sleep(faults.latency_ms / 1000)
        with self.backend._lock:
            throttle = faults.throttle_next > 0 or random.random() < faults.throttle_rate
            if faults.throttle_next > 0:
                faults.throttle_next -= 1
            error = not throttle and (faults.error_next > 0 or random.random() < faults.error_rate)
            if error and faults.error_next > 0:
                faults.error_next -= 1
        if throttle:
            raise ApiError(
                "Throttling.User",
                "Request was denied due to user flow control.",
                status=400,
                headers={"x-acs-retry-after": str(faults.retry_after)},
            )
        if error:
            if random.random() < 0.5:
                raise ApiError(
                    "ServiceUnavailable",
                    "The request has failed due to a temporary failure of the server.",
                    status=503,
                )
            raise ApiError(
                "InternalError",
                "The request processing has failed due to some unknown error.",
                status=500,
            )

    def control(self, method, path, payload):
        """Answer the loopback-only `/_simulator/...` paths used by tests and operators."""
        backend = self.backend
        if path == "/_simulator/health" and method == "GET":
            services, endpoints = backend.counts()
            return 200, {
                "status": "ok",
                **self.settings(),
                "services": services,
                "endpoints": endpoints,
            }
        if path == "/_simulator/reset" and method == "POST":
            backend.reset()
            self.nonces = NonceCache()
            return 200, {"status": "reset"}
        if path == "/_simulator/services" and method == "GET":
            return 200, {"Services": backend.snapshot()}
        if path == "/_simulator/accounts" and method == "GET":
            return 200, {"Accounts": backend.organization()}
        if path == "/_simulator/endpoints" and method == "GET":
            return 200, {"Endpoints": backend.endpoint_snapshot()}
        if path == "/_simulator/bulk-services" and method == "POST":
            return 200, backend.bulk_services(payload)
        if path == "/_simulator/business-status" and method == "POST":
            try:
                return 200, backend.set_business_status(payload)
            except LookupError as error:
                return 404, {"error": str(error.args[0])}
        if path == "/_simulator/faults" and method in ("GET", "POST"):
            if method == "POST":
                with backend._lock:
                    backend.faults.update(payload)
            return 200, backend.faults.as_dict()
        if path == "/_simulator/config" and method in ("GET", "POST"):
            if method == "POST":
                self.configure(payload)
            return 200, self.settings()
        return 404, {"error": f"no such control path: {method} {path}"}

    SETTINGS = {
        "create_delay": float,
        "quota": int,
        "strict_delete": bool,
        "endpoints_per_vpc": int,
    }

    def settings(self):
        return {name: getattr(self.backend, name) for name in self.SETTINGS}

    def configure(self, payload):
        for name, value in payload.items():
            kind = self.SETTINGS.get(name)
            if kind is None:
                raise ValueError(f"unknown setting {name!r}")
            if kind is bool:
                if not isinstance(value, bool):
                    raise ValueError(f"{name} must be true or false")
            elif isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{name} must be a non-negative number")
        with self.backend._lock:
            for name, value in payload.items():
                setattr(self.backend, name, self.SETTINGS[name](value))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Keep-alive clients otherwise wait ~40 ms per answer (Nagle against delayed ACK).
    disable_nagle_algorithm = True
    server_version = "PrivateLinkSimulator/1.0"

    def log_message(self, format, *args):
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def dispatch(self):
        try:
            self.answer()
        except Exception:
            # The real gateway answers InternalError rather than dropping the connection.
            log.exception("simulator error on %s", self.path)
            error = ApiError("InternalError", "The request processing has failed.", status=500)
            self.reply(500, {}, error_body(error, new_request_id(), self.headers.get("host", "")))

    def answer(self):
        try:
            length = int(self.headers.get("content-length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.refuse(400, "InvalidContentLength", "The Content-Length header is not valid.")
            return
        if length > MAX_BODY:
            self.refuse(413, "RequestEntityTooLarge", "The request body is too large.")
            return
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        gateway = self.server.gateway
        if url.path.startswith("/_simulator/"):
            if not ipaddress.ip_address(self.client_address[0]).is_loopback:
                self.reply(403, {}, b'{"error":"the control path answers loopback only"}')
                return
            try:
                payload = json.loads(body or b"{}")
                if not isinstance(payload, dict):
                    raise ValueError("the body must be a JSON object")
                status, answer = gateway.control(self.command, url.path, payload)
            except ValueError as error:
                status, answer = 400, {"error": str(error)}
            self.reply(status, {}, json.dumps(answer).encode())
            return
        if self.command not in ("GET", "POST") or url.path != "/":
            error = ApiError(
                "InvalidAction.NotFound",
                "Specified api is not found, please check your url and method.",
                status=404,
            )
            request_id = new_request_id()
            self.reply(404, {}, error_body(error, request_id, self.headers.get("host", "")))
            return
        status, headers, answer = gateway.handle(
            method=self.command, path=url.path, query=url.query, headers=self.headers, body=body
        )
        self.reply(status, headers, answer)

    def refuse(self, status, code, message):
        error = ApiError(code, message, status=status)
        self.reply(status, {}, error_body(error, new_request_id(), self.headers.get("host", "")))
        self.close_connection = True

    def reply(self, status, headers, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class SimulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, backend):
        super().__init__(address, Handler)
        self.gateway = Gateway(backend)

    @property
    def endpoint(self):
        host, port = self.server_address[:2]
        return f"{host}:{port}"


def start_in_thread(backend, host="127.0.0.1", port=0):
    """Serve in a daemon thread (port 0 picks a free one); stop with `server.shutdown()`."""
    server = SimulatorServer((host, port), backend)
    thread = threading.Thread(target=server.serve_forever, name="simulator", daemon=True)
    thread.start()
    return server

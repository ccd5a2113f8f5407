"""Run the demo identity provider: `python -m idp --port 8766`.

It registers one client (the portal) with the callback and sign-out addresses of each
`--portal-url`, and serves the demo users of demo_users.json (password `portal-demo`).
With `--port 0` it picks a free port; the first line it prints names its issuer.
"""

import argparse
import logging
import os

from werkzeug.serving import WSGIRequestHandler, make_server

from .provider import DEMO_USERS, Client, create_app, load_users


class QuietHandler(WSGIRequestHandler):
    """Log the path without its query: an end_session query holds an ID token."""

    def log_request(self, code="-", size="-"):
        self.log("info", '"%s %s" %s', self.command, self.path.split("?", 1)[0], code)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m idp", description="Embedded OpenID Connect provider"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--issuer", help="default: http://HOST:PORT")
    parser.add_argument(
        "--portal-url",
        action="append",
        help="where the portal is served (repeatable); default http://127.0.0.1:8000 and "
        "http://localhost:8000",
    )
    parser.add_argument("--client-id", default=os.environ.get("OIDC_CLIENT_ID", "portal"))
    parser.add_argument(
        "--client-secret",
        default=os.environ.get("OIDC_CLIENT_SECRET", "insecure-demo-idp-secret"),
    )
    parser.add_argument("--users", default=str(DEMO_USERS), help="a JSON list of users")
    parser.add_argument(
        "--scim-url",
        help="push the directory and its changes to this SCIM 2.0 endpoint (the portal's "
        "/scim/v2), with --scim-token",
    )
    parser.add_argument(
        "--scim-token", default=os.environ.get("SCIM_BEARER_TOKEN", "insecure-demo-scim-token")
    )
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s idp %(message)s")
    portals = [url.rstrip("/") for url in args.portal_url or []] or [
        "http://127.0.0.1:8000",
        "http://localhost:8000",
    ]
    client = Client(
        client_id=args.client_id,
        client_secret=args.client_secret,
        redirect_uris=[f"{url}/oidc/callback/" for url in portals],
        post_logout_redirect_uris=[f"{url}/accounts/login/" for url in portals],
    )
    server = make_server(
        args.host, args.port, app=None, threaded=True, request_handler=QuietHandler
    )
    issuer = args.issuer or f"http://{args.host}:{server.server_port}"
    target = {"url": args.scim_url, "token": args.scim_token} if args.scim_url else None
    server.app = create_app(
        issuer=issuer, users=load_users(args.users), clients=[client], scim_target=target
    )
    print(f"identity provider at {issuer}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()

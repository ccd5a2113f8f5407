"""What the API tests share: tokens, and calls signed with them."""

import json

from portal.api import services

# A create request the simulator accepts: an nlb in one zone of cn-hangzhou.
CREATE = {
    "region_id": "cn-hangzhou",
    "service_description": "Orders API from a pipeline",
    "service_resource_type": "nlb",
    "resources": [
        {
            "resource_type": "nlb",
            "resource_id": "nlb-hz0000000000000001",
            "zone_id": "cn-hangzhou-h",
        }
    ],
    "tags": [{"key": "team", "value": "orders"}],
    "justification": "The orders team's pipeline needs it.",
}


def token(user, scope="write", **kwargs):
    """Make a token for `user`; return its secret."""
    return services.token_create(user=user, name=f"{user.username}-{scope}", scope=scope, **kwargs)[
        1
    ]


def call(client, method, path, secret=None, body=None, **headers):
    """Call the API as a pipeline would: JSON in, JSON out, the token in the header."""
    if secret is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
    if not path.startswith("/"):
        path = f"/api/v1/{path}"
    send = getattr(client, method.lower())
    if method in ("GET", "HEAD"):
        return send(path, **headers)
    data = json.dumps(body if body is not None else {})
    return send(path, data, content_type="application/json", **headers)

"""The wire protocol of Alibaba Cloud's RPC-style OpenAPI, as the official SDK speaks it.

Parameters (query plus form body, arrays flattened 1-based), ACS3-HMAC-SHA256 signature
verification, and the JSON envelopes of success and error answers.
"""

import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from calendar import timegm
from urllib.parse import parse_qsl, quote

from .backend import ApiError

SIGNATURE_ALGORITHM = "ACS3-HMAC-SHA256"
MAX_CLOCK_SKEW = 15 * 60
AUTHORIZATION = re.compile(
    r"^ACS3-HMAC-SHA256\s+Credential=(?P<key>[^,]+),\s*SignedHeaders=(?P<headers>[^,]+),"
    r"\s*Signature=(?P<signature>[0-9a-fA-F]+)$"
)


def new_request_id():
    return str(uuid.uuid4()).upper()


def parse_params(query, body=b"", content_type=""):
    """Return (query parameters, all parameters): the form body merged over the query."""
    query_params = dict(parse_qsl(query, keep_blank_values=True))
    params = dict(query_params)
    if body and content_type.split(";")[0].strip() == "application/x-www-form-urlencoded":
        try:
            form = body.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError("IllegalParamFormat.Body", "The form body is not UTF-8.") from None
        params.update(parse_qsl(form, keep_blank_values=True))
    return query_params, params


def nest(flat):
    """Turn `Resource.1.ResourceId=x` style keys into lists, ordered by their 1-based index."""
    params, arrays = {}, {}
    for key, value in flat.items():
        name, _, rest = key.partition(".")
        index, _, member = rest.partition(".")
        if not (index.isdigit() and int(index) >= 1):
            params[key] = value
            continue
        slot = arrays.setdefault(name, {})
        if member:
            entry = slot.setdefault(int(index), {})
            if not isinstance(entry, dict):
                raise ApiError(f"IllegalParamFormat.{name}", f"The parameter {name} is malformed.")
            entry[member] = value
        else:
            slot[int(index)] = value
    for name, slot in arrays.items():
        if name in params:
            raise ApiError(f"IllegalParamFormat.{name}", f"The parameter {name} is malformed.")
        items = [slot[i] for i in sorted(slot)]
        kinds = {type(item) for item in items}
        if len(kinds) > 1:
            raise ApiError(f"IllegalParamFormat.{name}", f"The parameter {name} is malformed.")
        params[name] = items
    return params


def encode(text):
    """Percent-encode as RFC 3986: only A-Za-z0-9-_.~ stay as they are."""
    return quote(text, safe="~")


def canonical_query(query_params):
    return "&".join(f"{encode(k)}={encode(v)}" for k, v in sorted(query_params.items()))


class NonceCache:
    """Remember signature nonces for the clock-skew window, to refuse replays."""

    def __init__(self, window=MAX_CLOCK_SKEW):
        self.window = window
        self._seen = {}
        self._lock = threading.Lock()

    def add(self, nonce, now):
        with self._lock:
            if len(self._seen) > 10000:
                self._seen = {n: t for n, t in self._seen.items() if t > now - self.window}
            if nonce in self._seen:
                return False
            self._seen[nonce] = now
            return True


def verify_signature(*, method, path, query_params, headers, body, secret_for, nonces, now=None):
    """Check an ACS3-HMAC-SHA256 request; return the AccessKey id it was signed with."""
    now = time.time() if now is None else now
    authorization = headers.get("authorization")
    if not authorization:
        raise ApiError("IncompleteSignature", "The request is not signed (no Authorization).")
    match = AUTHORIZATION.match(authorization.strip())
    if match is None:
        raise ApiError(
            "IncompleteSignature",
            f"The Authorization header is not a {SIGNATURE_ALGORITHM} signature.",
        )
    access_key_id = match["key"]
    secret = secret_for(access_key_id)
    if secret is None:
        raise ApiError(
            "InvalidAccessKeyId.NotFound", "Specified access key is not found.", status=404
        )
    payload_hash = hashlib.sha256(body).hexdigest()
    if headers.get("x-acs-content-sha256", "") != payload_hash:
        raise ApiError(
            "SignatureDoesNotMatch", "The x-acs-content-sha256 header does not match the body."
        )
    signed = match["headers"].split(";")
    canonical_headers = "".join(
        f"{name}:{','.join(v.strip() for v in headers.get_all(name) or [])}\n" for name in signed
    )
    canonical_request = "\n".join(
        [
            method,
            path,
            canonical_query(query_params),
            canonical_headers,
            match["headers"],
            payload_hash,
        ]
    )
    string_to_sign = (
        f"{SIGNATURE_ALGORITHM}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"
    )
    expected = hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, match["signature"].lower()):
        raise ApiError(
            "SignatureDoesNotMatch",
            "The request signature does not conform to Aliyun standards. "
            f"server string to sign is:{string_to_sign}",
        )
    check_fresh(
        headers.get("x-acs-date", ""),
        headers.get("x-acs-signature-nonce"),
        nonces=nonces,
        now=now,
        named="The x-acs-date header",
    )
    return access_key_id


def check_fresh(stamp, nonce, *, nonces, now, named):
    """A signed request's time (`named` in the messages) is within the skew and its nonce new:
    a replay, whichever signature it carries, is refused."""
    try:
        signed_at = timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        raise ApiError("InvalidTimeStamp.Format", f"{named} is malformed.") from None
    if abs(now - signed_at) > MAX_CLOCK_SKEW:
        raise ApiError("InvalidTimeStamp.Expired", f"{named} is out of date.")
    if not nonce:
        raise ApiError("MissingParam.SignatureNonce", "The signature nonce is mandatory.")
    if not nonces.add(nonce, now):
        raise ApiError("SignatureNonceUsed", "The request signature nonce has been used.")


def success_body(body, request_id):
    return json.dumps({"RequestId": request_id, **body}).encode()


def error_body(error, request_id, host):
    return json.dumps(
        {
            "RequestId": request_id,
            "HostId": host,
            "Code": error.code,
            "Message": error.message,
            "Recommend": (
                f"https://api.aliyun.com/troubleshoot?q={error.code}"
                f"&product=Privatelink&requestId={request_id}"
            ),
        }
    ).encode()

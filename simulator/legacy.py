"""The RPC signature of older clients (version 1.0, HMAC-SHA1), beside ACS3.

The aliyun CLI, the Terraform provider, the legacy Python SDK (aliyun-python-sdk-core) and the
new SDK with `Config(signature_algorithm='v2')` sign this way: the common parameters
(AccessKeyId, SignatureMethod, SignatureVersion, SignatureNonce, Timestamp, Format, Version,
Action, SecurityToken for a session) travel with the operation's own, in the query string or a
form body, and `Signature` signs them all:

    StringToSign = METHOD + "&" + enc("/") + "&" + enc(sorted "enc(k)=enc(v)" joined by "&")
    Signature    = base64(HMAC-SHA1(secret + "&", StringToSign))
"""

import base64
import hashlib
import hmac
import time

from .params import ApiError
from .protocol import check_fresh, encode

# The parameters of the signature itself, which the operation never sees.
COMMON = {
    "AccessKeyId",
    "Format",
    "Signature",
    "SignatureMethod",
    "SignatureNonce",
    "SignatureType",
    "SignatureVersion",
    "SecurityToken",
    "Timestamp",
}


def string_to_sign(method, params):
    canonical = "&".join(
        f"{encode(key)}={encode(value)}"
        for key, value in sorted(params.items())
        if key != "Signature"
    )
    return f"{method}&{encode('/')}&{encode(canonical)}"


def verify_legacy_signature(*, method, params, secret_for, nonces, now=None):
    """Check a version 1.0 signature over `params` (query and form merged); return (AccessKey
    id, security token or None). Refusals are the gateway's codes."""
    now = time.time() if now is None else now
    if params.get("SignatureMethod") != "HMAC-SHA1":
        raise ApiError(
            "InvalidSignatureMethod",
            f"The SignatureMethod {params.get('SignatureMethod')!r} is not supported: HMAC-SHA1.",
        )
    if params.get("SignatureVersion") != "1.0":
        raise ApiError(
            "InvalidSignatureVersion",
            f"The SignatureVersion {params.get('SignatureVersion')!r} is not supported: 1.0.",
        )
    access_key_id = params.get("AccessKeyId") or ""
    if not access_key_id:
        raise ApiError("MissingParam.AccessKeyId", "The parameter AccessKeyId is mandatory.")
    secret = secret_for(access_key_id)
    if secret is None:
        raise ApiError(
            "InvalidAccessKeyId.NotFound", "Specified access key is not found.", status=404
        )
    signed = string_to_sign(method, params)
    digest = hmac.new(f"{secret}&".encode(), signed.encode(), hashlib.sha1).digest()
    expected = base64.b64encode(digest).decode()
    # As bytes: compare_digest refuses str with non-ASCII characters, which a forged
    # Signature may carry.
    if not hmac.compare_digest(expected.encode(), params.get("Signature", "").encode()):
        raise ApiError(
            "SignatureDoesNotMatch",
            "Specified signature is not matched with our calculation. "
            f"server string to sign is:{signed}",
        )
    stamp = params.get("Timestamp")
    if not stamp:
        raise ApiError("MissingParam.Timestamp", "The parameter Timestamp is mandatory.")
    check_fresh(stamp, params.get("SignatureNonce"), nonces=nonces, now=now, named="The Timestamp")
    return access_key_id, params.get("SecurityToken") or None

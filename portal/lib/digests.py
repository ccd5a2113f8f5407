"""A stable digest of plain data, for what approvals and the audit log bind to."""

import hashlib
import json


def content_digest(content):
    """Return the SHA-256 of `content` as canonical JSON."""
    encoded = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()

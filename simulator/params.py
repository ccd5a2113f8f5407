"""Reading request parameters the way the gateway does, and the API's error answers.

Parameters arrive as strings (lists and dicts for the flattened arrays), exactly as the wire
carries them, so every reader checks the type it gets: a `RegionId.1=x` in the query must be
refused with a code, never crash the simulator.
"""

import hashlib
import hmac

MAX_TAGS = 20
DEFAULT_MAX_RESULTS = 50
MAX_MAX_RESULTS = 1000
# Not a secret: it only makes NextToken values this simulator did not issue recognisable.
_TOKEN_KEY = b"privatelink-simulator-next-token"


class ApiError(Exception):
    """An error answer of the API: HTTP status, code and message."""

    def __init__(self, code, message, status=400, headers=None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.headers = headers or {}


def missing(param):
    return ApiError(f"MissingParam.{param}", f"The parameter {param} is mandatory for this action.")


def illegal(param, detail="is not valid"):
    return ApiError(f"IllegalParamFormat.{param}", f"The parameter {param} {detail}.")


def dry_run_passed():
    return ApiError("DryRunOperation", "Request validation has been passed with DryRun flag set.")


def scalar(params, name, required=False):
    """Return a plain string parameter, None when absent; a list or dict is malformed."""
    value = params.get(name)
    if value is None:
        if required:
            raise missing(name)
        return None
    if not isinstance(value, str):
        raise illegal(name, "must be a single value")
    if required and value == "":
        raise missing(name)
    return value


def parse_bool(params, name, default=False):
    """Read a boolean the way the gateway does: true/false in any case."""
    value = params.get(name)
    if value is None:
        return default
    if not isinstance(value, str) or value.lower() not in ("true", "false"):
        raise illegal(name, "must be true or false")
    return value.lower() == "true"


def parse_optional_bool(params, name):
    """Like parse_bool, but None when the parameter is absent."""
    if params.get(name) is None:
        return None
    return parse_bool(params, name)


def parse_choice(params, name, choices, default, code=None):
    value = scalar(params, name)
    if value is None:
        return default
    if value not in choices:
        if code:
            raise ApiError(code, f"The parameter {name} must be one of {', '.join(choices)}.")
        raise illegal(name, f"must be one of {', '.join(choices)}")
    return value


def parse_string(params, name, max_length, required=False):
    value = scalar(params, name, required=required)
    if value is None:
        return None
    if len(value) > max_length:
        raise illegal(name, f"must be a string of at most {max_length} characters")
    return value


def parse_int(params, name, low=None, high=None):
    """Return an integer parameter (None when absent), refusing it outside [low, high]."""
    value = scalar(params, name)
    if value is None:
        return None
    text = value[1:] if value.startswith("-") else value
    if not (text.isascii() and text.isdigit()) or len(text) > 19:
        raise illegal(name, "must be an integer")
    number = int(value)
    if (low is not None and number < low) or (high is not None and number > high):
        raise illegal(name, f"must be an integer from {low} to {high}")
    return number


def parse_list(params, name, kind):
    """Return the 1-based flattened array `name`, or [] when absent."""
    value = params.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, kind) for v in value):
        raise illegal(name, "is not a valid list")
    if kind is dict and not all(isinstance(x, str) for v in value for x in v.values()):
        raise illegal(name, "is not a valid list")
    return value


def parse_client_token(params):
    token = scalar(params, "ClientToken")
    if token is not None and (len(token) > 64 or not token.isascii() or token == ""):
        raise illegal("ClientToken", "must be 1 to 64 ASCII characters")
    return token


def tag_problem(key, value):
    """Return (part, reason) of the first rule a tag breaks, or None; see check_tag."""
    if key is None or key == "":
        return "Key", "missing"
    if len(key) > 64:
        return "Key", "must be at most 64 characters"
    if value is not None and len(value) > 128:
        return "Value", "must be at most 128 characters"
    for part, text in (("Key", key), ("Value", value or "")):
        lowered = text.lower()
        if lowered.startswith(("aliyun", "acs:")):
            return part, "must not start with aliyun or acs:"
        if "http://" in lowered or "https://" in lowered:
            return part, "must not contain http:// or https://"
    return None


def check_tag(key, value):
    """The tag rules of CreateVpcEndpointService (and CreateVpcEndpoint), with their codes."""
    problem = tag_problem(key, value)
    if problem is None:
        return
    part, reason = problem
    if reason == "missing":
        raise missing("Tag.Key")
    raise illegal(f"Tag.{part}", reason)


def parse_tags(params, name="Tag"):
    """Tag.N of a Create: at most 20, rules as check_tag, no repeated key."""
    tags = parse_list(params, name, dict)
    if len(tags) > MAX_TAGS:
        raise illegal(name, f"must hold at most {MAX_TAGS} tags")
    for item in tags:
        check_tag(item.get("Key"), item.get("Value"))
    keys = [t["Key"] for t in tags]
    if len(set(keys)) < len(keys):
        raise illegal(f"{name}.Key", "must not repeat a key")
    return [{"Key": t["Key"], "Value": t.get("Value") or ""} for t in tags]


def tags_match(have, wanted):
    """Whether tags `have` ([{Key, Value}]) hold every filter of `wanted` (Key alone: any value)."""
    if not wanted:
        return True
    pairs = {(t["Key"], t["Value"]) for t in have}
    keys = {t["Key"] for t in have}
    return all(
        (t.get("Key"), t.get("Value")) in pairs
        if t.get("Value") is not None
        else t.get("Key") in keys
        for t in wanted
    )


# --- paging ------------------------------------------------------------------------------


def _token_signature(scope, offset):
    digest = hmac.new(_TOKEN_KEY, f"{scope}:{offset}".encode(), hashlib.sha256).hexdigest()
    return digest[:12]


def issue_token(scope, offset):
    return f"pl-{offset}-{_token_signature(scope, offset)}"


def parse_next_token(params, scope):
    """Return the offset a NextToken of this list stands for (0 when absent or empty)."""
    token = scalar(params, "NextToken")
    if not token:
        return 0
    prefix, _, rest = token.partition("-")
    offset, _, signature = rest.partition("-")
    if (
        prefix != "pl"
        or not (offset.isascii() and offset.isdigit())
        or len(offset) > 12
        or not hmac.compare_digest(signature, _token_signature(scope, int(offset)))
    ):
        raise illegal("NextToken", "is not a token this API issued")
    return int(offset)


def parse_max_results(params, default=DEFAULT_MAX_RESULTS):
    value = scalar(params, "MaxResults")
    if value is None:
        return default
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_MAX_RESULTS:
        raise illegal("MaxResults", f"must be an integer from 1 to {MAX_MAX_RESULTS}")
    return int(value)


class Paging:
    """MaxResults and NextToken of one list request, read before anything is looked up."""

    def __init__(self, params, scope, max_results=None):
        self.scope = scope
        self.max_results = parse_max_results(params) if max_results is None else max_results
        self.start = parse_next_token(params, scope)

    def cut(self, items):
        """Return (this page of `items`, the next token: "" on the last page)."""
        page = items[self.start : self.start + self.max_results]
        end = self.start + len(page)
        return page, issue_token(self.scope, end) if end < len(items) else ""

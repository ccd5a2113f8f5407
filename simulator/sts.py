"""STS, as far as reaching another account goes: AssumeRole and GetCallerIdentity (API version
2015-04-01), the sessions they hand out, and what a session may call.

A mixin of `Backend`. Roles are declared in the inventory (`roles`: the account that holds
each, the accounts it trusts, the actions its policy allows); a session acts as the role's
account, within those actions. Sessions are kept in the state file, so that a restarted
simulator still knows the tokens it handed out until they expire.
"""

import fnmatch
import json
import re
import secrets
from dataclasses import asdict, dataclass, field

from .model import iso
from .params import ApiError, scalar

STS_VERSION = "2015-04-01"
ROLE_ARN = re.compile(r"^acs:ram::(?P<uid>\d+):role/(?P<name>[A-Za-z0-9.@_-]{1,64})$")
SESSION_NAME = re.compile(r"^[A-Za-z0-9.@_-]{2,64}$")
DEFAULT_DURATION = 3600
# What any identity may call, whatever its policy (as STS documents GetCallerIdentity).
FREE_ACTIONS = {"sts:GetCallerIdentity"}
MIN_DURATION = 900
SESSIONS_TABLE = (
    "CREATE TABLE IF NOT EXISTS sts_sessions (access_key_id TEXT PRIMARY KEY, data TEXT NOT NULL)"
)


@dataclass
class Role:
    account_id: str
    name: str
    trusted: list = field(default_factory=list)  # account uids that may assume it
    actions: list = field(default_factory=lambda: ["*"])  # RAM action patterns it allows
    max_session_duration: int = 3600
    external_id: str = ""  # what its trust policy requires as sts:ExternalId, if anything

    def arn(self, uid):
        return f"acs:ram::{uid}:role/{self.name.lower()}"

    def allows(self, action):
        return any(fnmatch.fnmatchcase(action.lower(), p.lower()) for p in self.actions)


@dataclass
class Session:
    access_key_id: str
    access_key_secret: str
    security_token: str
    account_id: str  # the role's account: whose resources the session's calls act on
    role_name: str
    session_name: str
    arn: str
    expires: float
    actions: list = field(default_factory=list)

    def allows(self, action):
        return any(fnmatch.fnmatchcase(action.lower(), p.lower()) for p in self.actions)


def load_roles(items):
    return {
        (item["account"], item["name"].lower()): Role(
            account_id=item["account"],
            name=item["name"],
            trusted=[str(uid) for uid in item.get("trusted", [])],
            actions=list(item.get("actions", ["*"])),
            max_session_duration=int(item.get("max_session_duration", 3600)),
            external_id=item.get("external_id", ""),
        )
        for item in items
    }


class StsOperations:
    """AssumeRole, GetCallerIdentity, and the check of every call made with a session."""

    # --- sessions ----------------------------------------------------------------------

    def _session_store(self):
        if not hasattr(self, "_sessions"):
            self.store.db.execute(SESSIONS_TABLE)
            self._sessions = {
                key: Session(**json.loads(data))
                for key, data in self.store.db.execute("SELECT * FROM sts_sessions")
            }
        return self._sessions

    def _forget_sessions(self):
        self.store.db.execute(SESSIONS_TABLE)
        self.store.db.execute("DELETE FROM sts_sessions")
        self._sessions = {}

    def session_for_key(self, access_key_id):
        with self._lock:
            return self._session_store().get(access_key_id)

    def caller(self, access_key_id, security_token, now):
        """(account, session or None) a signed call acts as, or the gateway's refusal."""
        session = self.session_for_key(access_key_id)
        if session is None:
            account = self.account_for_key(access_key_id)
            if account is None:
                raise ApiError(
                    "InvalidAccessKeyId.NotFound", "Specified access key is not found.", 404
                )
            return account, None
        if not security_token or not secrets.compare_digest(security_token, session.security_token):
            raise ApiError(
                "InvalidSecurityToken.MismatchWithAccessKey",
                "The security token does not match the access key.",
            )
        if now >= session.expires:
            raise ApiError("InvalidSecurityToken.Expired", "Specified SecurityToken is expired.")
        account = self.accounts_by_id.get(session.account_id)
        if account is None:
            raise ApiError("InvalidAccessKeyId.NotFound", "Specified access key is not found.", 404)
        return account, session

    def check_permission(self, session, product, action):
        """A session may call only what its role's policy allows (an account's own key may call
        anything): checked before the call's parameters, as RAM is."""
        name = f"{product}:{action}"
        if session is not None and name not in FREE_ACTIONS and not session.allows(name):
            raise ApiError(
                "Forbidden.RAM",
                "User not authorized to operate on the specified resource, or this API doesn't "
                f"support RAM. (action {product}:{action}, {session.arn})",
                status=403,
            )

    def organization(self):
        """Every account with its uid and the roles it holds, for the control path."""
        return [
            {
                "account_id": account.account_id,
                "uid": account.uid,
                "roles": [
                    {
                        "arn": role.arn(account.uid),
                        "trusted": role.trusted,
                        "actions": role.actions,
                    }
                    for (holder, _name), role in sorted(self.roles.items())
                    if holder == account.account_id
                ],
            }
            for account in sorted(self.accounts_by_id.values(), key=lambda a: a.uid)
        ]

    # --- the operations ----------------------------------------------------------------

    def assume_role(self, account, params):
        arn = scalar(params, "RoleArn")
        if not arn:
            raise ApiError("MissingRoleArn", "RoleArn is mandatory for this action.")
        name = scalar(params, "RoleSessionName")
        if not name:
            raise ApiError(
                "MissingRoleSessionName", "RoleSessionName is mandatory for this action."
            )
        if not SESSION_NAME.match(name):
            raise ApiError(
                "InvalidParameter.RoleSessionName",
                "The parameter RoleSessionName is wrongly formed.",
            )
        match = ROLE_ARN.match(arn)
        if match is None:
            raise ApiError("InvalidParameter.RoleArn", "The parameter RoleArn is wrongly formed.")
        target = next((a for a in self.accounts_by_id.values() if a.uid == match["uid"]), None)
        role = self.roles.get((target.account_id, match["name"].lower())) if target else None
        if role is None:
            raise ApiError("EntityNotExist.Role", f"The role {arn} does not exist.", status=404)
        if account.uid not in role.trusted:
            raise ApiError(
                "NoPermission",
                "You are not authorized to do this action. You should be authorized by RAM. "
                f"(the trust policy of {role.arn(target.uid)} does not name {account.uid})",
                status=403,
            )
        if role.external_id and not secrets.compare_digest(
            scalar(params, "ExternalId") or "", role.external_id
        ):
            raise ApiError(
                "NoPermission",
                "You are not authorized to do this action. You should be authorized by RAM. "
                f"(the trust policy of {role.arn(target.uid)} requires its sts:ExternalId)",
                status=403,
            )
        duration = scalar(params, "DurationSeconds") or str(DEFAULT_DURATION)
        if not duration.isdigit() or not MIN_DURATION <= int(duration) <= role.max_session_duration:
            raise ApiError(
                "InvalidParameter.DurationSeconds",
                f"DurationSeconds must be {MIN_DURATION} to {role.max_session_duration}.",
            )
        now = self.clock()
        session = Session(
            access_key_id=f"STS.{secrets.token_hex(12)}",
            access_key_secret=secrets.token_urlsafe(24),
            security_token=f"CAIS{secrets.token_urlsafe(48)}",
            account_id=target.account_id,
            role_name=role.name.lower(),
            session_name=name,
            arn=f"{role.arn(target.uid).replace(':role/', ':assumed-role/')}/{name}",
            expires=now + int(duration),
            actions=list(role.actions),
        )
        self._session_store()[session.access_key_id] = session
        self.store.db.execute(
            "INSERT INTO sts_sessions VALUES (?, ?)",
            (session.access_key_id, json.dumps(asdict(session))),
        )
        role_id = str(int.from_bytes(role.name.lower().encode(), "big") % 10**17).zfill(17)
        return {
            "Credentials": {
                "AccessKeyId": session.access_key_id,
                "AccessKeySecret": session.access_key_secret,
                "SecurityToken": session.security_token,
                "Expiration": iso(session.expires),
            },
            "AssumedRoleUser": {"Arn": session.arn, "AssumedRoleId": f"{role_id}:{name}"},
        }

    def get_caller_identity(self, account, params):
        session = self._calling_session
        if session is None:
            return {
                "AccountId": account.uid,
                "UserId": account.uid,
                "Arn": f"acs:ram::{account.uid}:root",
                "IdentityType": "Account",
                "PrincipalId": account.uid,
            }
        return {
            "AccountId": account.uid,
            "UserId": session.access_key_id,
            "Arn": session.arn,
            "IdentityType": "AssumedRoleUser",
            "PrincipalId": session.access_key_id,
            "RoleId": session.role_name,
        }

    STS_ACTIONS = {"AssumeRole": assume_role, "GetCallerIdentity": get_caller_identity}

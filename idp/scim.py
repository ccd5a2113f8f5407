"""The provider's SCIM 2.0 client: it pushes its directory's changes to the portal, as a
company's provider (Okta, Entra ID, Keycloak's SCIM plugin) does.

A change of a user (made on the control path) is queued and sent by one thread, in order:
the user (found by `externalId`, the subject it signs them in with; made if new; replaced
otherwise), then each group it joined or left (found by `displayName`; made if new), by a
PATCH of the group's members. A call the portal cannot answer (not up yet, a 5xx) is retried
every second until it can; one it refuses (4xx) is logged and dropped, as providers do.
Started with the whole directory, so the portal knows everyone before their first sign-in.
"""

import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

log = logging.getLogger(__name__)
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


class Refused(Exception):
    """The portal said no (a 4xx): retrying would not change its answer."""


class Pusher:
    def __init__(self, url, token):
        self.url, self.token = url.rstrip("/"), token
        self.changes = queue.Queue()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="scim-push", daemon=True)
        self.thread.start()

    def push(self, user, *, groups_before=(), deleted=False):
        """Queue `user` as it now is (a copy), with the groups it was in before the change."""
        self.changes.put((user.sub, _payload(user), list(user.groups), set(groups_before), deleted))

    def stop(self):
        self.stopped.set()
        self.changes.put(None)

    def idle(self):
        """Whether every queued change was sent (or dropped)."""
        return self.changes.unfinished_tasks == 0

    def _run(self):
        while not self.stopped.is_set():
            change = self.changes.get()
            try:
                while change is not None and not self.stopped.is_set():
                    try:
                        self._send(*change)
                        break
                    except Refused as error:
                        log.warning("the portal refused a SCIM change: %s", error)
                        break
                    except OSError as error:  # not up yet, reset, 5xx
                        log.info("SCIM push to %s failed (%s); retrying", self.url, error)
                        time.sleep(1)
            finally:
                self.changes.task_done()

    def _send(self, subject, user, groups, groups_before, deleted):
        found = self._find("Users", "externalId", subject)
        if deleted:
            if found:
                self._call("DELETE", f"Users/{found}")
            return
        if found:
            self._call("PUT", f"Users/{found}", user)
        else:
            found = self._call("POST", "Users", user)["id"]
        for name in sorted(set(groups) | groups_before):
            joined = name in groups
            if joined == (name in groups_before) and groups_before:
                continue  # unchanged
            group = self._find("Groups", "displayName", name)
            if group is None:
                if not joined:
                    continue
                group = self._call(
                    "POST", "Groups", {"schemas": [GROUP_SCHEMA], "displayName": name}
                )["id"]
            operation = {"op": "add" if joined else "remove", "path": "members"}
            operation["value"] = [{"value": found}]
            self._call(
                "PATCH", f"Groups/{group}", {"schemas": [PATCH_SCHEMA], "Operations": [operation]}
            )

    def _find(self, resource, attribute, value):
        query = urllib.parse.urlencode({"filter": f'{attribute} eq "{value}"'})
        found = self._call("GET", f"{resource}?{query}").get("Resources", [])
        return found[0]["id"] if found else None

    def _call(self, method, path, body=None):
        request = urllib.request.Request(
            f"{self.url}/{path}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/scim+json",
                "Accept": "application/scim+json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                text = response.read()
        except urllib.error.HTTPError as error:
            if 400 <= error.code < 500:
                raise Refused(f"{method} {path}: {error.code} {error.read()[:300]!r}") from None
            raise
        return json.loads(text) if text else {}


def _payload(user):
    return {
        "schemas": [USER_SCHEMA],
        # What it signs them in as: a rename (extra_claims) keeps the subject.
        "userName": user.claims("profile")["preferred_username"],
        "externalId": user.sub,
        "name": {"givenName": user.given_name, "familyName": user.family_name},
        "emails": [{"value": user.email or f"{user.username}@example.com", "primary": True}],
        "active": user.active,
    }

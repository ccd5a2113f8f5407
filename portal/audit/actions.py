"""What the audit log records: one enumeration of every action an event can name.

An event's action is part of what its hash seals, so a value here is never renamed; a new kind
of fact is a new member. `chain.append` refuses an action not listed, so a typo fails the
transaction that tried to record it rather than writing a fact nobody can search for.
"""

from django.db import models


class Action(models.TextChoices):
    # A request's life: made, changed, and each transition of its lifecycle (the transitions'
    # names in service_requests.models.TRANSITIONS are these members).
    CREATED = "created", "Created"
    EDITED = "edited", "Edited"
    CLONED = "cloned", "Cloned"
    DRY_RUN = "dry_run", "Validated (dry run)"
    SUBMIT = "submit", "Submitted"
    APPROVAL_ADDED = "approval_added", "Approval added"
    APPROVE = "approve", "Approved"
    REJECT = "reject", "Rejected"
    SEND_BACK = "send_back", "Sent back"
    CANCEL = "cancel", "Cancelled"
    REROUTED = "rerouted", "Routed anew"
    REPLANNED = "replanned", "Planned anew"
    START_PROVISIONING = "start_provisioning", "Provisioning started"
    MARK_CREATING = "mark_creating", "Creating"
    MARK_ACTIVE = "mark_active", "Active"
    START_APPLYING = "start_applying", "Applying started"
    MARK_APPLIED = "mark_applied", "Applied"
    FAIL = "fail", "Failed"
    RETRY = "retry", "Retried"
    RECONCILED = "reconciled", "Resumed by the reconciler"
    CLOUD_CALL = "cloud_call", "Cloud call"
    NOTE = "note", "Note"
    REMINDED = "reminded", "Reminded"
    ESCALATED = "escalated", "Escalated"

    # A service's life outside any request.
    APPROVED_CONFIGURATION = "approved_configuration", "Approved configuration recorded"
    REFRESHED = "refreshed", "Read from the cloud"
    DRIFT_DETECTED = "drift_detected", "Drift detected"
    DRIFT_CLEARED = "drift_cleared", "Drift cleared"
    DRIFT_ACCEPTED = "drift_accepted", "Drift accepted"
    DISCOVERED = "discovered", "Discovered"
    ADOPTED = "adopted", "Adopted"
    CLAIMED = "claimed", "Claimed by the request that made it"
    TRANSFERRED = "transferred", "Transferred"
    DELETED = "deleted", "Deleted"
    DELETED_OUTSIDE_PORTAL = "deleted_outside_portal", "Deleted outside the portal"
    CONNECTION_ACCEPT_REQUESTED = "connection_accept_requested", "Connection accept asked"
    CONNECTION_ACCEPTED = "connection_accepted", "Connection accepted"
    CONNECTION_REJECT_REQUESTED = "connection_reject_requested", "Connection reject asked"
    CONNECTION_REJECTED = "connection_rejected", "Connection rejected"

    # Rights and who holds them.
    IDENTITY_LINKED = "identity_linked", "Account bound to its provider identity"
    USERNAME_CHANGED = "username_changed", "Username changed at the provider"
    ROLES_CHANGED = "roles_changed", "Roles changed"
    TEAM_CREATED = "team_created", "Team created"
    TEAM_RENAMED = "team_renamed", "Team renamed"
    TEAM_DELETED = "team_deleted", "Team deleted"
    TEAM_MEMBER_ADDED = "team_member_added", "Team member added"
    TEAM_MEMBER_CHANGED = "team_member_changed", "Team member's role changed"
    TEAM_MEMBER_REMOVED = "team_member_removed", "Team member removed"
    DELEGATION_CREATED = "delegation_created", "Delegation made"
    DELEGATION_REVOKED = "delegation_revoked", "Delegation revoked"
    TOKEN_CREATED = "token_created", "API token made"
    TOKEN_REVOKED = "token_revoked", "API token revoked"
    BREAK_GLASS_LOGIN = "break_glass_login", "Break-glass sign-in"
    LOGIN_LOCKED_OUT = "login_locked_out", "Sign-in locked out"
    # A row of a table that grants a right, as written (grants.py): whatever the path.
    RIGHT_RECORDED = "right_recorded", "Right recorded"

    # Calls to the API.
    API_WRITE = "api_write", "API write"
    API_READ = "api_read", "API read"

    # The first event of each subject carried over from the per-subject chains (0006_one_log).
    BASELINE = "baseline", "Carried over"

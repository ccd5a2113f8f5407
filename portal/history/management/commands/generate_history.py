"""Fill the database with a realistic history, for benchmarks and demos.

Requests in every state, over a year, by many requesters, with resources, tags, decisions and
about ten audit events each (edits, dry runs, decisions, cloud calls with RequestIds and
durations), all sealed into the one audit log, recording each request's content and decisions
as the portal does, so that `verify_audit_chain` passes.
"""

import random
import uuid
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from portal.accounts.rights import APPROVERS_GROUP
from portal.audit import chain
from portal.audit.models import AuditEvent, ChainHead
from portal.service_requests.models import (
    Approval,
    RequestResource,
    RequestTag,
    ServiceRequest,
    State,
)

REGIONS = ["cn-hangzhou"] * 5 + ["cn-shanghai"] * 3 + ["ap-southeast-1"] * 2 + ["cn-huhehaote"]
ZONES = {
    "cn-hangzhou": ["cn-hangzhou-h", "cn-hangzhou-i", "cn-hangzhou-j"],
    "cn-shanghai": ["cn-shanghai-e", "cn-shanghai-f"],
    "ap-southeast-1": ["ap-southeast-1a", "ap-southeast-1b"],
    "cn-huhehaote": ["cn-huhehaote-a", "cn-huhehaote-b"],
}
STATES = [
    (State.ACTIVE, 55),
    (State.FAILED, 8),
    (State.REJECTED, 8),
    (State.CANCELLED, 5),
    (State.PENDING_APPROVAL, 8),
    (State.DRAFT, 6),
    (State.CHANGES_REQUESTED, 4),
    (State.CREATING, 3),
    (State.PROVISIONING, 2),
    (State.APPROVED, 1),
]
TEAMS = ["payments", "orders", "search", "identity", "billing", "logistics", "ads", "data"]
WORDS = ["API", "gateway", "ledger", "catalog", "events", "metrics", "auth", "export", "sync"]
FAILURES = [
    ("LoadBalancerNotFound", "A load balancer in this request does not exist in this region."),
    (
        "EndpointServiceExist",
        "A load balancer in this request already backs another endpoint service.",
    ),
    ("ProvisioningTimeout", "The cloud did not report the service Active within 30 minutes."),
    ("QuotaMisMatched", "The endpoint service quota of this region is used up."),
]


def request_id():
    return str(uuid.uuid4()).upper()


class Command(BaseCommand):
    help = "Generate a realistic history of requests and hash-chained audit events."

    def add_arguments(self, parser):
        parser.add_argument("--requests", type=int, default=1000)
        parser.add_argument("--batch", type=int, default=2000)
        parser.add_argument("--seed", type=int, default=7)

    def handle(self, *args, requests, batch, seed, **options):
        rng = random.Random(seed)
        # Times after the decision come from their own generator, so that the rest of a
        # seed's history stays what it was before they were added.
        timing = random.Random(seed + 1)
        requesters, approvers = self.cast()
        now = timezone.now()
        made = events = 0
        while made < requests:
            size = min(batch, requests - made)
            with transaction.atomic():
                events += self.make_batch(rng, timing, size, requesters, approvers, now)
            made += size
            self.stdout.write(f"\r{made} requests, {events} events", ending="")
            self.stdout.flush()
        self.stdout.write(f"\nGenerated {made} requests and {events} audit events.")

    def cast(self):
        User = get_user_model()
        approvers_group, _ = Group.objects.get_or_create(name=APPROVERS_GROUP)
        requesters = [
            User.objects.get_or_create(
                username=f"dev{n:03d}", defaults={"email": f"dev{n:03d}@example.com"}
            )[0]
            for n in range(60)
        ]
        approvers = []
        for n in range(8):
            user, _ = User.objects.get_or_create(
                username=f"lead{n:02d}", defaults={"email": f"lead{n:02d}@example.com"}
            )
            user.groups.add(approvers_group)
            approvers.append(user)
        return requesters, approvers

    def make_batch(self, rng, timing, size, requesters, approvers, now):
        states = rng.choices([s for s, _ in STATES], weights=[w for _, w in STATES], k=size)
        requests = []
        for state in states:
            region = rng.choice(REGIONS)
            created = now - timedelta(seconds=rng.randint(60, 365 * 86400))
            kind = rng.choice(["slb", "nlb", "nlb", "alb"])
            decided = state not in (State.DRAFT, State.PENDING_APPROVAL, State.CANCELLED)
            request = ServiceRequest(
                requester=rng.choice(requesters),
                state=state,
                region_id=region,
                service_resource_type=kind,
                service_description=f"{rng.choice(TEAMS).title()} {rng.choice(WORDS)}",
                justification=f"{rng.choice(TEAMS)} needs private access for "
                f"{rng.choice(WORDS)} traffic.",
                auto_accept_enabled=rng.random() < 0.15,
                payer="EndpointService" if rng.random() < 0.1 else "Endpoint",
                submitted_at=created + timedelta(minutes=5) if state != State.DRAFT else None,
                decided_at=created + timedelta(hours=rng.randint(1, 48)) if decided else None,
                dry_run_ok=True,
                dry_run_code="DryRunOperation",
                state_changed_at=created,
            )
            request.created_at = created
            self.time_outcome(timing, request)
            if state in (State.ACTIVE, State.CREATING):
                service_id = "epsrv-" + "".join(
                    rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=20)
                )
                request.service_id = service_id
                request.service_name = f"com.aliyuncs.privatelink.{region}.{service_id}"
                request.service_domain = f"{service_id}.{region}.privatelink.aliyuncs.com"
                request.cloud_status = "Active" if state == State.ACTIVE else "Creating"
                request.cloud_request_id = request_id()
            if state == State.FAILED:
                request.error_code, request.error_message = rng.choice(FAILURES)
                request.cloud_request_id = request_id()
            requests.append(request)
        created = [request.created_at for request in requests]
        ServiceRequest.objects.bulk_create(requests)
        # auto_now_add set every instance's creation time to now: put the generated ones back
        # (the events below start from them; bulk_update saves them).
        for request, at in zip(requests, created, strict=True):
            request.created_at = at
        resources, tags, approvals, events = [], [], [], []
        for request in requests:
            zones = ZONES[request.region_id]
            mine = [
                RequestResource(
                    request=request,
                    position=position,
                    resource_type=request.service_resource_type,
                    resource_id=f"{request.service_resource_type}-{uuid.uuid4().hex[:18]}",
                    zone_id=rng.choice(zones),
                )
                for position in range(rng.randint(1, 3))
            ]
            labels = [
                RequestTag(request=request, position=position, key=key, value=rng.choice(TEAMS))
                for position, key in enumerate(
                    rng.sample(["team", "env", "cost-center", "owner"], rng.randint(0, 4))
                )
            ]
            resources += mine
            tags += labels
            # request.content() reads these, as the portal's own events would record them.
            request._prefetched_objects_cache = {
                "resources": mine,
                "tags": labels,
                "operations": [],
            }
            events += self.chain(rng, request, approvers, approvals)
        RequestResource.objects.bulk_create(resources)
        RequestTag.objects.bulk_create(tags)
        Approval.objects.bulk_create(approvals)
        self.seal(events)
        AuditEvent.objects.bulk_create(events, batch_size=5000)
        ServiceRequest.objects.bulk_update(requests, ["created_at", "revision"], batch_size=1000)
        return len(events)

    def time_outcome(self, rng, request):
        """Put the request's last change of state where its life had it: at its submission or
        decision, or, once approved, after the cloud's work (which starts a few seconds later)."""
        if request.state == State.CANCELLED:
            request.state_changed_at = request.created_at + timedelta(minutes=rng.randint(1, 600))
        elif request.decided_at is None:
            request.state_changed_at = request.submitted_at or request.created_at
        elif request.state in (State.REJECTED, State.CHANGES_REQUESTED, State.APPROVED):
            request.state_changed_at = request.decided_at
        else:
            request.provisioning_started_at = request.decided_at + timedelta(
                seconds=rng.randint(1, 30)
            )
            request.state_changed_at = request.provisioning_started_at + timedelta(
                seconds=rng.randint(20, 1800)
            )

    def seal(self, events):
        """Put `events` at the end of the one log, in order, as the portal would."""
        head = chain.locked_head()
        key_id, secrets = chain.current_key_id(), chain.keys()
        seq, prev = head.seq, head.hash or chain.GENESIS
        for event in events:
            seq += 1
            event.seq, event.key_id, event.prev_hash = seq, key_id, prev
            event.actor_name = event.actor.get_username() if event.actor else ""
            event.hash = prev = chain.seal(prev, chain.event_content(event), key_id, secrets)
        ChainHead.objects.filter(pk=ChainHead.ONLY).update(seq=seq, hash=prev)

    def chain(self, rng, request, approvers, approvals):
        """Return the request's events, as its life would have written them (unsealed)."""
        created = request.created_at
        request.revision = 1
        steps = [("created", State.DRAFT, State.DRAFT, request.requester, request.explained(), "")]
        if rng.random() < 0.3:
            request.revision += 1
            edited = request.explained(changed=["tags"])
            steps.append(("edited", State.DRAFT, State.DRAFT, request.requester, edited, ""))
        dry_run = {
            "cloud_call": {
                "action": "CreateVpcEndpointService",
                "outcome": "DryRunOperation",
                "request_id": request_id(),
                "duration_ms": rng.randint(20, 400),
                "status": 400,
                "parameters": {"RegionId": request.region_id, "DryRun": True},
            },
            "ok": True,
        }
        final = request.state
        if final == State.DRAFT:
            steps.append(("dry_run", State.DRAFT, State.DRAFT, request.requester, dry_run, ""))
        elif final == State.CANCELLED:
            steps.append(("cancel", State.DRAFT, State.CANCELLED, request.requester, {}, ""))
        else:
            steps.append(("dry_run", State.DRAFT, State.DRAFT, request.requester, dry_run, ""))
            request.revision += 1
            submitted = request.explained(dry_run="DryRunOperation")
            steps.append(
                ("submit", State.DRAFT, State.PENDING_APPROVAL, request.requester, submitted, "")
            )
            digest = submitted["digest"]
            approver = rng.choice(approvers)
            decision = {
                State.REJECTED: ("reject", State.REJECTED, "Not needed: use the shared gateway."),
                State.CHANGES_REQUESTED: (
                    "send_back",
                    State.CHANGES_REQUESTED,
                    "Add a cost-center tag.",
                ),
                State.PENDING_APPROVAL: None,
            }.get(final, ("approve", State.APPROVED, "Looks right."))
            if decision:
                action, to_state, comment = decision
                approval = Approval(
                    request=request,
                    approver=approver,
                    revision=request.revision,
                    digest=digest,
                    decision=action,
                    comment=comment,
                )
                approvals.append(approval)
                details = {
                    "revision": request.revision,
                    "digest": digest,
                    "approval": approval.as_record(),
                }
                steps.append((action, State.PENDING_APPROVAL, to_state, approver, details, comment))
                if action == "approve":
                    steps += self.provisioning(rng, request)
        events = []
        for action, from_state, to_state, actor, details, comment in steps:
            created += timedelta(seconds=rng.randint(1, 600))
            events.append(
                AuditEvent(
                    request_id=request.pk,
                    actor=actor,
                    action=action,
                    from_state=from_state,
                    to_state=to_state,
                    comment=comment,
                    details=details,
                    created_at=created,
                )
            )
        return events

    def provisioning(self, rng, request):
        final = request.state
        if final == State.APPROVED:
            return []
        steps = [("start_provisioning", State.APPROVED, State.PROVISIONING, None, {}, "")]

        def call(action, outcome, status=200):
            return (
                "cloud_call",
                State.PROVISIONING,
                State.PROVISIONING,
                None,
                {
                    "cloud_call": {
                        "action": action,
                        "outcome": outcome,
                        "request_id": request_id(),
                        "duration_ms": rng.randint(15, 900),
                        "status": status,
                        "parameters": {"RegionId": request.region_id},
                    }
                },
                "",
            )

        if rng.random() < 0.2:
            steps.append(call("CreateVpcEndpointService", "Throttling.User", 400))
        if final == State.PROVISIONING:
            return steps
        if final == State.FAILED:
            steps.append(call("CreateVpcEndpointService", request.error_code, 400))
            steps.append(
                (
                    "fail",
                    State.PROVISIONING,
                    State.FAILED,
                    None,
                    {"code": request.error_code, "message": request.error_message},
                    "",
                )
            )
            return steps
        steps.append(call("CreateVpcEndpointService", "ok"))
        steps.append(
            (
                "mark_creating",
                State.PROVISIONING,
                State.CREATING,
                None,
                {"service_id": request.service_id},
                "",
            )
        )
        for _ in range(rng.randint(2, 7)):
            action, _f, _t, actor, details, comment = call("GetVpcEndpointServiceAttribute", "ok")
            steps.append((action, State.CREATING, State.CREATING, actor, details, comment))
        if final == State.ACTIVE:
            steps.append(("mark_active", State.CREATING, State.ACTIVE, None, {}, ""))
        return steps

"""Add a large routed queue to a `generate_history` database, for bench/queue_split.py.

`manage.py generate_history` leaves about 8% of its requests pending, with no approvals on
them and no routing (`decided_by` empty). This adds, in bulk (no audit events: the queue does
not read them):
- `--pending` more pending requests, submitted over the last year;
- a team (`--team`, default `payments`) with three approvers (`teamlead00`..`02`, in no
  `approvers` group) and two members (`teammember00`, `01`);
- routing for every pending request: `--routed-to-team` of them (kind `change`, decided by the
  team's approvers), the rest `platform`;
- approvals on pending requests, as approvers at work leave them: each `lead*` approved each
  platform request's current revision with probability `--approved` (and an older revision
  with a fifth of that), each team approver each team request's with three times that.

Run once, after generate_history (it refuses a second run):

    DATABASE_URL=postgres://... .venv/bin/python bench/routed_queue_data.py [--pending 6300]
"""

import argparse
import os
import random
import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from portal.service_requests.models import (  # noqa: E402
    Approval,
    Deciders,
    Decision,
    Kind,
    ServiceRequest,
    State,
)
from portal.teams.models import Membership, Role, Source, Team  # noqa: E402

REGIONS = ["cn-hangzhou", "cn-shanghai", "ap-southeast-1", "cn-huhehaote"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pending", type=int, default=6300)
    parser.add_argument("--routed-to-team", type=int, default=400)
    parser.add_argument("--approved", type=float, default=0.08)
    parser.add_argument("--team", default="payments")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    User = get_user_model()
    if Team.objects.filter(name=args.team).exists():
        sys.exit(f"The {args.team} team exists: this database has its routed queue already.")
    requesters = list(User.objects.filter(username__startswith="dev"))
    leads = list(User.objects.filter(username__startswith="lead"))
    assert requesters and leads, "run manage.py generate_history first"
    now = timezone.now()
    with transaction.atomic():
        team = Team.objects.create(name=args.team)
        team_approvers = []
        for n in range(3):
            user = User.objects.create(username=f"teamlead{n:02d}")
            Membership.objects.create(team=team, user=user, role=Role.APPROVER, source=Source.ADMIN)
            team_approvers.append(user)
        for n in range(2):
            user = User.objects.create(username=f"teammember{n:02d}")
            Membership.objects.create(team=team, user=user, role=Role.MEMBER, source=Source.ADMIN)
        made = []
        for _ in range(args.pending):
            created = now - timedelta(seconds=rng.randint(600, 365 * 86400))
            made.append(
                ServiceRequest(
                    requester=rng.choice(requesters),
                    state=State.PENDING_APPROVAL,
                    region_id=rng.choice(REGIONS),
                    service_resource_type=rng.choice(["slb", "nlb", "alb"]),
                    service_description=f"Bulk pending {rng.randint(1, 999)}",
                    justification="Bench: a large queue.",
                    auto_accept_enabled=rng.random() < 0.15,
                    payer="EndpointService" if rng.random() < 0.1 else "Endpoint",
                    submitted_at=created + timedelta(minutes=5),
                    state_changed_at=created + timedelta(minutes=5),
                    dry_run_ok=True,
                    dry_run_code="DryRunOperation",
                    revision=rng.choice([3, 3, 4]),
                    decided_by=Deciders.PLATFORM,
                )
            )
        ServiceRequest.objects.bulk_create(made, batch_size=2000)
        pending = list(
            ServiceRequest.objects.filter(state=State.PENDING_APPROVAL).values_list(
                "pk", "revision"
            )
        )
        to_team = rng.sample(pending, args.routed_to_team)
        ServiceRequest.objects.filter(state=State.PENDING_APPROVAL).update(
            decided_by=Deciders.PLATFORM
        )
        ServiceRequest.objects.filter(pk__in=[pk for pk, _ in to_team]).update(
            decided_by=Deciders.TEAM,
            deciding_team=team,
            kind=Kind.CHANGE,
            service_id="epsrv-benchteam0000000000",
            routing_reason=f"a change without risk to a service of the {team} team",
        )
        team_ids = {pk for pk, _ in to_team}
        approvals = []
        for pk, revision in pending:
            if pk in team_ids:
                deciders, p = team_approvers, min(1.0, args.approved * 3)
            else:
                deciders, p = leads, args.approved
            for approver in deciders:
                roll = rng.random()
                if roll < p:
                    at = revision
                elif roll < p * 1.2:
                    at = revision - 1
                else:
                    continue
                approvals.append(
                    Approval(
                        request_id=pk,
                        approver=approver,
                        revision=at,
                        digest="0" * 64,
                        decision=Decision.APPROVE,
                        comment="Bench.",
                    )
                )
        Approval.objects.bulk_create(approvals, batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(
        f"{len(made):,} pending requests added: {len(pending):,} pending in all, "
        f"{len(team_ids):,} routed to the {team} team; {len(approvals):,} approvals on them"
    )


if __name__ == "__main__":
    main()

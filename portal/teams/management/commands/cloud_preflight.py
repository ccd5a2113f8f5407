"""Before go-live: can the portal do its work in each cloud account and region?

For the portal's own identity, then for each account (its role) and each of its regions: who
the cloud takes the portal for, whether the role can be assumed, whether listing services and
load balancers works, and whether a create and a change would be let through (dry runs only:
nothing is created or changed, so it is safe against a real organization). Each refusal is
printed with what to fix. The exit status is 1 when anything was refused.
"""

import json
import logging

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from portal.cloud import services as cloud
from portal.teams.models import CloudAccount

# What a refusal means for an operator, by the cloud's code.
FIXES = {
    "NoPermission": "the role's trust policy must let the portal's account assume it: "
    '{{"Statement": [{{"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": '
    '{{"RAM": ["acs:ram::{portal}:root"]}}}}], "Version": "1"}}; and the portal\'s identity '
    "needs docs/ram-policy-portal.json",
    "EntityNotExist.Role": "create the role in account {uid} (it must trust account {portal}) "
    "or correct the role ARN in the admin",
    "Forbidden.RAM": "attach docs/ram-policy.json to the role {role}",
    "InvalidAccessKeyId.NotFound": "the portal's own AccessKey is unknown: fix "
    "ALIBABA_CLOUD_ACCESS_KEY_ID (or the credential chain)",
    "SignatureDoesNotMatch": "the portal's own AccessKey secret is wrong: fix "
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
    "Unreachable": "the API cannot be reached from here: check PRIVATELINK_ENDPOINT, "
    "PRIVATELINK_PROXY and the network",
}
# What says the portal may not make the call (its identity, the role, the policy, the product,
# the network); any other answer of a dry run (DryRunOperation, EndpointServiceNotFound for the
# probe, a load balancer in use...) came from the checks behind the permission: it may.
NOT_PERMITTED = {
    "Forbidden.RAM",
    "NoPermission",
    "EntityNotExist.Role",
    "InvalidAccessKeyId.NotFound",
    "SignatureDoesNotMatch",
    "InvalidSecurityToken.Expired",
    "InvalidSecurityToken.MismatchWithAccessKey",
    "NeedOpenProduct",
    "Unreachable",
}
PROBE_SERVICE = "epsrv-preflight0000000000000"  # answers EndpointServiceNotFound when allowed


class Command(BaseCommand):
    help = "Check, for each cloud account and region, that the portal can do its work there."

    def add_arguments(self, parser):
        parser.add_argument("--account", action="append", help="only this account (name or id)")
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="print one JSON line per check"
        )

    def handle(self, *args, account=None, as_json=False, **options):
        # The report says what each call answered: the cloud layer's own lines would only
        # interleave with it.
        logging.getLogger("portal.cloud.services").setLevel(logging.WARNING)
        self.as_json, self.refused = as_json, 0
        accounts = CloudAccount.objects.all()
        if account:
            accounts = [a for a in accounts if a.name in account or a.uid in account]
            if not accounts:
                raise CommandError(f"no cloud account named {', '.join(account)}")
        portal = self.identity()
        if not accounts:
            self.line(
                "(no account records)",
                "-",
                "accounts",
                "note",
                "the portal works in its "
                "own account only; add accounts in the admin (Teams, Cloud accounts)",
            )
            for region_id in settings.DRIFT_REGIONS or [settings.PRIVATELINK_REGION_ID]:
                self.region(None, region_id, portal)
        for item in accounts:
            if self.assume(item, portal):
                for region_id in item.regions or [settings.PRIVATELINK_REGION_ID]:
                    self.region(item, region_id, portal)
        if self.refused:
            raise CommandError(f"{self.refused} check(s) refused: fix them before go-live")
        self.stdout.write(self.style.SUCCESS("every check passed"))

    def identity(self):
        try:
            who, _record = cloud.caller_identity()
        except cloud.CloudError as error:
            self.failed("portal", "-", "own identity", error, {})
            raise CommandError(
                "the portal's own identity does not work: nothing else can"
            ) from None
        self.line(
            "portal", "-", "own identity", "ok", f"{who['arn']} (account {who['account_id']})"
        )
        return who["account_id"]

    def assume(self, account, portal):
        where = f"{account.name} ({account.uid})"
        try:
            cloud.role_session(account.role_arn, account.external_id).get_credential()
            who, _record = cloud.caller_identity(account.reach())
        except cloud.CloudError as error:
            self.failed(where, "-", "assume role", error, self.context(account, portal))
            return False
        if who["account_id"] != account.uid:
            self.refused += 1
            self.line(
                where,
                "-",
                "assume role",
                "refused",
                f"the role is in account "
                f"{who['account_id']}, not {account.uid}: correct the record",
            )
            return False
        self.line(where, "-", "assume role", "ok", who["arn"])
        return True

    def region(self, account, region_id, portal):
        reach = account.reach() if account is not None else cloud.HOME
        where = f"{account.name} ({account.uid})" if account is not None else "portal"
        context = self.context(account, portal)
        checks = [
            (
                "list services",
                lambda: cloud.endpoint_services_page(
                    region_id=region_id, max_results=1, reach=reach
                ),
            ),
            ("list load balancers", lambda: cloud.LISTINGS["slb"](region_id, reach)),
        ]
        first_lb = None
        for name, check in checks:
            try:
                answer = check()
            except cloud.CloudError as error:
                self.failed(where, region_id, name, error, context)
                continue
            if name == "list load balancers":
                found = [lb for lb in answer[0] if lb["privatelink"]]
                first_lb = found[0]["id"] if found else None
                self.line(where, region_id, name, "ok", f"{answer[1]} slb instance(s)")
            else:
                self.line(
                    where, region_id, name, "ok", f"{answer[0].get('TotalCount', 0)} service(s)"
                )
        create = cloud.endpoint_service_dry_run(
            fields={"region_id": region_id, "service_resource_type": "slb"},
            resources=[
                {"resource_type": "slb", "resource_id": first_lb or "lb-preflight", "zone_id": ""}
            ],
            tags=[],
            reach=reach,
        )
        self.dry_run(where, region_id, "dry-run a create", create, context)
        change = cloud.endpoint_service_operation_dry_run(
            action="UpdateVpcEndpointServiceAttribute",
            region_id=region_id,
            service_id=PROBE_SERVICE,
            params={"service_description": "preflight"},
            reach=reach,
        )
        self.dry_run(where, region_id, "dry-run a change", change, context)

    def dry_run(self, where, region_id, name, result, context):
        if result.ok or not (result.transient or result.code in NOT_PERMITTED):
            detail = "the cloud would accept it" if result.ok else f"allowed ({result.code})"
            self.line(where, region_id, name, "ok", detail)
            return
        self.refused += 1
        fix = FIXES.get(result.code, "")
        self.line(
            where,
            region_id,
            name,
            "refused",
            f"{result.code}: {result.message}" + (f" Fix: {fix.format(**context)}" if fix else ""),
        )

    def context(self, account, portal):
        return {
            "portal": portal,
            "uid": account.uid if account else portal,
            "role": account.role_arn if account else "(none)",
        }

    def failed(self, where, region_id, name, error, context):
        self.refused += 1
        fix = FIXES.get(error.code, "")
        said = error.message if error.code == "Unreachable" else error.cloud_message
        detail = f"{error.code}: {said or error.message}"
        if fix:
            detail += f" Fix: {fix.format(**{'portal': '?', 'uid': '?', 'role': '?', **context})}"
        self.line(where, region_id, name, "refused", detail)

    def line(self, where, region_id, name, outcome, detail):
        if self.as_json:
            self.stdout.write(
                json.dumps(
                    {
                        "account": where,
                        "region": region_id,
                        "check": name,
                        "outcome": outcome,
                        "detail": detail,
                    }
                )
            )
            return
        style = {"ok": self.style.SUCCESS, "refused": self.style.ERROR}.get(outcome, str)
        self.stdout.write(f"{where:<34} {region_id:<16} {name:<20} {style(outcome):<8} {detail}")

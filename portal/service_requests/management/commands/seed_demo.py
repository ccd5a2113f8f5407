from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

from portal.accounts.rights import APPROVERS_GROUP, AUDITORS_GROUP
from portal.teams.models import AccountTeam, CloudAccount, Team

PASSWORD = "portal-demo"
USERS = [
    ("requester", (), "A developer of the payments team who asks for endpoint services."),
    ("requester2", (), "A developer of the checkout team, who must not see requester's."),
    (
        "teamlead",
        (),
        "Approver of the payments team: decides its services' changes without risk.",
    ),
    ("approver", (APPROVERS_GROUP,), "Decides requests."),
    ("approver2", (APPROVERS_GROUP,), "The second approver for risky requests."),
    ("auditor", (AUDITORS_GROUP,), "Reads everything, changes nothing."),
    (
        "lead",
        (settings.ESCALATION_GROUP, AUDITORS_GROUP),
        "Hears of requests nobody decided in time; reads them.",
    ),
    ("admin", (), "Superuser: Django admin."),
    ("breakglass", (), "Superuser with a local password, for when the provider is down."),
]


# The simulator's organization (simulator/inventory.json): the platform's networking account,
# which the portal's own keys belong to, and the payments team's account; the portal reaches
# both through the role PrivateLinkPortal, which trusts the networking account.
ACCOUNTS = [
    ("networking", "1000000000000001", ["cn-hangzhou", "cn-shanghai"], ["payments", "checkout"]),
    ("payments-prod", "1000000000000004", ["cn-shanghai", "cn-hangzhou"], ["payments"]),
]


class Command(BaseCommand):
    help = "Create the demo users and groups (embedded development set-up only)."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("Demo users exist only in the embedded set-up (DEBUG=true).")
        for name in (APPROVERS_GROUP, AUDITORS_GROUP, settings.ESCALATION_GROUP):
            Group.objects.get_or_create(name=name)
        User = get_user_model()
        for username, groups, _purpose in USERS:
            user, created = User.objects.get_or_create(
                username=username, defaults={"email": f"{username}@example.com"}
            )
            # Everyone signs in at the demo identity provider (idp/), which holds their
            # passwords and groups; only the break-glass account has one here.
            if username in settings.BREAK_GLASS_USERS:
                user.set_password(PASSWORD)
            elif created:
                user.set_unusable_password()
            user.is_superuser = user.is_staff = username in ("admin", "breakglass")
            user.save()
            user.groups.set(Group.objects.filter(name__in=groups))
        for name, uid, regions, team_names in ACCOUNTS:
            # Made once: an administrator's later changes in the admin are theirs to keep.
            account, created = CloudAccount.objects.get_or_create(
                uid=uid,
                defaults={
                    "name": name,
                    "role_arn": f"acs:ram::{uid}:role/PrivateLinkPortal",
                    "regions": regions,
                },
            )
            if created:
                for team_name in team_names:
                    team, _ = Team.objects.get_or_create(name=team_name)
                    AccountTeam.objects.create(account=account, team=team)
        self.stdout.write(
            f"Demo logins: 'Sign in with {settings.OIDC_PROVIDER_NAME}' at {settings.OIDC_ISSUER}"
            f", password {PASSWORD!r} (breakglass: the password form, same password):"
        )
        for username, _groups, purpose in USERS:
            self.stdout.write(f"  {username:<11} {purpose}")

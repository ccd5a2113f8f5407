from django.apps import AppConfig


class TeamsConfig(AppConfig):
    name = "portal.teams"
    label = "teams"
    verbose_name = "Teams"

    def ready(self):
        from portal.audit import grants
        from portal.teams.models import AccountTeam, CloudAccount, Membership

        # Who is in which team, and who among them approves: sealed however written.
        grants.track(
            Membership,
            name="team_membership",
            # The source too: a membership the provider gave, relabelled as an admin's, would
            # outlive the provider's removal (team_memberships_sync leaves admins' alone).
            record=lambda row: {
                "team": row.team_id,
                "user": row.user_id,
                "role": row.role,
                "source": row.source,
            },
            holder=lambda row: row.user_id,
            label=lambda row: {"team": row.team.name, "user": row.user.get_username()},
            fields=("team", "user", "role", "source"),
        )
        # Which cloud accounts the portal works in, as whom, and which teams file services
        # there: a forged row would send a team's services into another account.
        grants.track(
            CloudAccount,
            name="cloud_account",
            record=lambda row: row.as_record(),
            holder=lambda row: None,
            label=lambda row: {"account": row.name},
            fields=("uid", "name", "role_arn", "external_id", "regions"),
        )
        grants.track(
            AccountTeam,
            name="cloud_account_team",
            record=lambda row: {"account": row.account_id, "team": row.team_id},
            holder=lambda row: None,
            label=lambda row: {"account": row.account.name, "team": row.team.name},
            fields=("account", "team"),
        )

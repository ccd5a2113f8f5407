from django.apps import AppConfig


class TeamsConfig(AppConfig):
    name = "portal.teams"
    label = "teams"
    verbose_name = "Teams"

    def ready(self):
        from portal.audit import grants
        from portal.teams.models import Membership

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

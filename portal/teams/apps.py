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
            record=lambda row: {"team": row.team_id, "user": row.user_id, "role": row.role},
            holder=lambda row: row.user_id,
            label=lambda row: {"team": row.team.name, "user": row.user.get_username()},
            fields=("team", "user", "role"),
        )

from django.contrib import admin

from portal.audit import chain
from portal.audit.actions import Action
from portal.teams.models import AccountTeam, CloudAccount, Membership, Source, Team


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    fields = ["user", "role", "source"]
    readonly_fields = ["source"]
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    """Teams and their members. Members the identity provider named are replaced at their next
    sign-in; add here only those the provider does not know of. Every change is audited."""

    list_display = ["name", "created_at"]
    search_fields = ["name"]
    inlines = [MembershipInline]

    def save_formset(self, request, form, formset, change):
        instances = formset.save(commit=False)
        for deleted in formset.deleted_objects:
            chain.append(
                action=Action.TEAM_MEMBER_REMOVED, actor=request.user, details=deleted.as_record()
            )
            deleted.delete()
        for membership in instances:
            if membership._state.adding:
                membership.source = Source.ADMIN
            action = (
                Action.TEAM_MEMBER_ADDED if membership._state.adding else Action.TEAM_MEMBER_CHANGED
            )
            membership.save()
            chain.append(action=action, actor=request.user, details=membership.as_record())
        formset.save_m2m()

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            chain.append(action=Action.TEAM_CREATED, actor=request.user, details={"team": obj.name})
        elif "name" in form.changed_data:
            # The name is the provider group the team follows: a rename changes who will be in
            # it at their next sign-in, so it is audited like a membership.
            chain.append(
                action=Action.TEAM_RENAMED,
                actor=request.user,
                details={"team": obj.name, "was": form.initial.get("name")},
            )

    def delete_model(self, request, obj):
        # Its memberships go with it: the event keeps who was in it.
        members = [
            {"user": m.user.get_username(), "role": m.role, "source": m.source}
            for m in obj.memberships.select_related("user").order_by("user__username")
        ]
        chain.append(
            action=Action.TEAM_DELETED,
            actor=request.user,
            details={"team": obj.name, "members": members},
        )
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for team in queryset:
            self.delete_model(request, team)

    def has_delete_permission(self, request, obj=None):
        # A team that owns services keeps them: it is renamed or emptied, not deleted.
        return (
            obj is not None
            and not obj.services.exists()
            and super().has_delete_permission(request, obj)
        )


class AccountTeamInline(admin.TabularInline):
    model = AccountTeam
    extra = 1
    fields = ["team"]
    autocomplete_fields = ["team"]


@admin.register(CloudAccount)
class CloudAccountAdmin(admin.ModelAdmin):
    """The cloud accounts the portal works in, the role it assumes in each, and the teams
    that file services there. Every change is a sealed event (the rights log); before go-live,
    `manage.py cloud_preflight` says whether each role lets the portal do its work."""

    list_display = ["name", "uid", "role_arn", "regions"]
    fields = ["name", "uid", "role_arn", "external_id", "regions"]
    search_fields = ["name", "uid"]
    inlines = [AccountTeamInline]

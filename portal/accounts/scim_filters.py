"""What SCIM filters (`userName eq "x"`, `externalId eq "s"`) read of the directory's tables:
django-scim2 imports these while it defines its adapters, so they import nothing of ours."""

from django_scim.filters import GroupFilterQuery, UserFilterQuery


def directory_user_model():
    from portal.accounts.models import DirectoryUser

    return DirectoryUser


def directory_group_model():
    from portal.accounts.models import DirectoryGroup

    return DirectoryGroup


class DirectoryUserFilter(UserFilterQuery):
    model_getter = directory_user_model
    attr_map = {**UserFilterQuery.attr_map, ("externalId", None, None): "scim_external_id"}


class DirectoryGroupFilter(GroupFilterQuery):
    model_getter = directory_group_model
    attr_map = {
        ("displayName", None, None): "name",
        ("externalId", None, None): "scim_external_id",
    }

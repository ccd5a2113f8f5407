import factory
from django.contrib.auth import get_user_model

from portal.service_requests.models import (
    Approval,
    RequestResource,
    RequestTag,
    ServiceRequest,
    State,
)

# The events the factory writes to explain what it made; tests of later events leave them out.
FACTORY_EVENTS = ("created", "approval_added", "approve")
# States a request reaches only through enough approvals.
APPROVED_STATES = {
    State.APPROVED,
    State.PROVISIONING,
    State.CREATING,
    State.ACTIVE,
    State.APPLYING,
    State.APPLIED,
    State.FAILED,
}


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("portal-demo")


class ServiceRequestFactory(factory.django.DjangoModelFactory):
    """A valid nlb request in cn-hangzhou that the simulator would accept."""

    class Meta:
        model = ServiceRequest
        skip_postgeneration_save = True

    requester = factory.SubFactory(UserFactory)
    region_id = "cn-hangzhou"
    service_description = factory.Sequence(lambda n: f"Service {n}")
    service_resource_type = "nlb"
    justification = "Team X needs private access to its API."

    @factory.post_generation
    def resources(self, create, extracted, **kwargs):
        if not create:
            return
        rows = (
            extracted
            if extracted is not None
            else [
                {
                    "resource_type": "nlb",
                    "resource_id": "nlb-hz0000000000000001",
                    "zone_id": "cn-hangzhou-h",
                }
            ]
        )
        for i, row in enumerate(rows):
            RequestResource.objects.create(request=self, position=i, **row)

    @factory.post_generation
    def tags(self, create, extracted, **kwargs):
        if create and extracted:
            for i, (key, value) in enumerate(extracted):
                RequestTag.objects.create(request=self, position=i, key=key, value=value)

    @factory.post_generation
    def history(self, create, extracted, **kwargs):
        """Write the events the portal would have written, so that the audit log explains
        the row: its content and, for a request past approval, the approvals it needed (by
        `history__approvers`, or made-up approvers). `history=False` makes a row with no
        events, as someone writing the database would."""
        if not create or extracted is False:
            return
        from django.contrib.auth.models import Group

        from portal.service_requests import policy

        self.record("created", actor=self.requester, details=self.explained())
        if self.state not in APPROVED_STATES:
            return
        group, _ = Group.objects.get_or_create(name=policy.APPROVERS_GROUP)
        needed = policy.required_approvals(self).needed
        approvers = kwargs.get("approvers") or [
            UserFactory(username=f"factory-approver{n + 1}") for n in range(needed)
        ]
        for n, approver in enumerate(approvers):
            approver.groups.add(group)
            approval = Approval.objects.create(
                request=self,
                approver=approver,
                revision=self.revision,
                digest=self.digest(),
                decision="approve",
            )
            self.record(
                "approve" if n == len(approvers) - 1 else "approval_added",
                actor=approver,
                details={
                    "revision": self.revision,
                    "digest": approval.digest,
                    "approval": approval.as_record(),
                },
            )

import factory
from django.contrib.auth import get_user_model

from portal.accounts import rights
from portal.service_requests.models import (
    Approval,
    RequestResource,
    RequestTag,
    ServiceRequest,
    State,
)

# The events the factory writes to explain what it made; tests of later events leave them out.
FACTORY_EVENTS = ("created", "submit", "approval_added", "approve")


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

        final = self.state
        path = lifecycle_path(self.kind, final)
        if path is None:  # a state this kind never reaches: a row no history explains
            self.record("created", actor=self.requester, details=self.explained())
            return
        self.state = State.DRAFT
        self.record("created", actor=self.requester, details=self.explained())
        for action, source, target in path:
            if action == "approve":
                write_approvals(self, source, target, kwargs.get("approvers"))
                continue
            self.state = target
            details = {}
            if action == "submit":
                details = self.explained()
            elif action in ("mark_creating", "mark_active") and self.service_id:
                details = {"service_id": self.service_id}
            actor = self.requester if action in ("submit", "cancel") else None
            self.record(action, actor=actor, details=details, from_state=source)
        self.state = final


def write_approvals(self, source, target, approvers):  # self: the request
    """The approvals a request needed, as approvers would have given them."""
    from django.contrib.auth.models import Group

    from portal.approvals import policy

    group, _ = Group.objects.get_or_create(name=rights.APPROVERS_GROUP)
    needed = policy.required_approvals(self).needed
    approvers = approvers or [
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
        last = n == len(approvers) - 1
        self.state = target if last else source
        self.record(
            "approve" if last else "approval_added",
            actor=approver,
            details={
                "revision": self.revision,
                "digest": approval.digest,
                "approval": approval.as_record(),
            },
            from_state=source,
        )


def lifecycle_path(kind, final):
    """The shortest lawful way from a draft to `final`: [(action, from, to)], or None."""
    from collections import deque

    from portal.service_requests.models import TRANSITIONS

    moves = [(a, src, dst) for a, (srcs, dst) in TRANSITIONS[kind].items() for src in srcs]
    paths, queue = {State.DRAFT: []}, deque([State.DRAFT])
    while queue:
        state = queue.popleft()
        for action, source, target in moves:
            if source == state and target not in paths:
                paths[target] = [*paths[state], (action, source, target)]
                queue.append(target)
    return paths.get(final)

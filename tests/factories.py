import factory
from django.contrib.auth import get_user_model

from portal.service_requests.models import RequestResource, RequestTag, ServiceRequest


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

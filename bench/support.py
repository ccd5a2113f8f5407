"""What the benchmark scripts share: free loopback ports and waiting for a listener."""

import socket
import time


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def approved_requests(count, *, resource_type, resource_prefix, username, first=1):
    """Make `count` approved requests, each on its own pool resource, the way people would:
    created, submitted (with its dry run against the simulator, which must be up) and
    approved, so that the audit log explains each one and the worker acts on it. Nothing is
    handed to the workers yet; return [(id, work token)] for the caller to start the clock.
    """
    from unittest import mock

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from portal.provisioning import tasks
    from portal.service_requests import services
    from portal.service_requests.models import ServiceRequest, State
    from portal.service_requests.policy import APPROVERS_GROUP

    User = get_user_model()
    requester, _ = User.objects.get_or_create(username=username)
    approver, _ = User.objects.get_or_create(username=f"{username}-approver")
    approver.groups.add(Group.objects.get_or_create(name=APPROVERS_GROUP)[0])
    made = []
    with mock.patch.object(tasks.provision, "delay", lambda *args: None):
        for n in range(first, first + count):
            request = services.service_request_create(
                requester=requester,
                fields={
                    "region_id": "cn-hangzhou",
                    "service_resource_type": resource_type,
                    "service_description": f"Bench {n}",
                    "justification": "benchmark",
                },
                resources=[
                    {
                        "resource_type": resource_type,
                        "resource_id": f"{resource_prefix}{n:06d}",
                        "zone_id": "cn-hangzhou-h",
                    }
                ],
                tags=[],
            )
            services.service_request_submit(service_request=request, actor=requester)
            request.refresh_from_db()
            services.service_request_decide(
                pk=request.pk,
                approver=approver,
                decision="approve",
                revision=request.revision,
                digest=request.digest(),
            )
            request.refresh_from_db()
            assert request.state == State.APPROVED, (request.pk, request.state)
            made.append(request.pk)
    return list(
        ServiceRequest.objects.filter(pk__in=made).order_by("pk").values_list("pk", "work_token")
    )

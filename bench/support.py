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


def approved_requests(count, *, resource_type, resource_prefix, username):
    """Create `count` approved requests, each on its own pool resource; return their ids."""
    from django.contrib.auth import get_user_model

    from portal.service_requests.models import RequestResource, ServiceRequest, State

    user, _ = get_user_model().objects.get_or_create(username=username)
    ids = []
    for n in range(1, count + 1):
        request = ServiceRequest.objects.create(
            requester=user,
            region_id="cn-hangzhou",
            service_resource_type=resource_type,
            state=State.APPROVED,
        )
        RequestResource.objects.create(
            request=request,
            resource_type=resource_type,
            resource_id=f"{resource_prefix}{n:06d}",
            zone_id="cn-hangzhou-h",
        )
        ids.append(request.pk)
    return ids

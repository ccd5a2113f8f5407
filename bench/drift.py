"""A full drift pass over 10,000 services in one region, some changed outside the portal,
against the floor: the SDK paging through the same services alone (ceil(N/1000) List calls)
plus one resources read per changed service.

Paired, interleaved rounds; before each round --changed services are changed through the SDK
(a description or a tag), as someone in the console would. Prints the median of the per-round
time ratios (aim: <= 1.5) and both call counts (aim: equal).

    .venv/bin/python bench/drift.py [--services 10000] [--changed 50] [--rounds 7]
    .venv/bin/python bench/drift.py --database-url postgres://postgres@127.0.0.1:5432/portal_bench_drift

The simulator runs as its own process, as in `make run`; the portal's records live in a
throw-away database. The first pass discovers every service (one resources read each) and
the bench then marks them managed, as if the portal had made them.
"""

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.update(
    {
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DEBUG": "false",
        "AUDIT_HMAC_KEYS": "bench:bench-only-audit-key-" + "x" * 32,
        "SECRET_KEY": "bench-only-" + "x" * 40,
        "ALLOWED_HOSTS": "testserver",
        "LOG_LEVEL": "WARNING",
        "ALIBABA_CLOUD_ACCESS_KEY_ID": "dev-access-key-id",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "dev-access-key-secret",
        "PRIVATELINK_PROTOCOL": "http",
    }
)
REGION = "cn-hangzhou"


def control(port, path, payload):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/_simulator/{path}",
        data=json.dumps(payload).encode(),
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=300) as response:
        return json.loads(response.read())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--changed", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    if args.database_url:
        os.environ["DATABASE_URL"] = args.database_url

    from bench.support import free_port, wait_for_port

    port = free_port()
    os.environ["PRIVATELINK_ENDPOINT"] = f"127.0.0.1:{port}"
    simulator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "portal.simulator",
            "--port",
            str(port),
            "--state",
            ":memory:",
            "--create-delay",
            "0",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        run(args, port)
    finally:
        simulator.terminate()
        simulator.wait()


def run(args, port):
    import django

    django.setup()
    from alibabacloud_privatelink20200415 import models as sdk
    from django.db import connection
    from django.test.utils import setup_test_environment

    from bench.paired import summary
    from portal.cloud import services as cloud
    from portal.endpoint_services import plans
    from portal.endpoint_services.models import EndpointService
    from portal.endpoint_services.services import endpoint_services_drift_pass

    started = time.perf_counter()
    ids = control(port, "bulk-services", {"count": args.services, "region_id": REGION})[
        "ServiceIds"
    ]
    print(f"loaded {len(ids)} services into the simulator in {time.perf_counter() - started:.1f} s")
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        started = time.perf_counter()
        endpoint_services_drift_pass(region_id=REGION, resource_sweep=0)
        for service in EndpointService.objects.iterator(chunk_size=2000):
            EndpointService.objects.filter(pk=service.pk).update(
                managed=True, approved=plans.normalize(service.config())
            )
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        print(
            f"discovered and adopted {EndpointService.objects.count()} records in "
            f"{time.perf_counter() - started:.1f} s ({connection.vendor})"
        )
        rng = random.Random(7)
        client = cloud.get_client()

        def change_outside(round_number):
            changed = rng.sample(ids, args.changed)
            for n, service_id in enumerate(changed):
                if n % 2:
                    client.update_vpc_endpoint_service_attribute(
                        sdk.UpdateVpcEndpointServiceAttributeRequest(
                            region_id=REGION,
                            service_id=service_id,
                            service_description=f"console edit {round_number}",
                        )
                    )
                else:
                    client.tag_resources(
                        sdk.TagResourcesRequest(
                            region_id=REGION,
                            resource_type="vpcendpointservice",
                            resource_id=[service_id],
                            tag=[sdk.TagResourcesRequestTag(key="edited", value=str(round_number))],
                        )
                    )
            return changed

        def floor(changed):
            calls, token = 0, None
            while True:
                body, _record = cloud.endpoint_services_page(region_id=REGION, next_token=token)
                calls += 1
                token = body.get("NextToken")
                if not token:
                    break
            for service_id in changed:
                _rows, records = cloud.endpoint_service_resources(
                    region_id=REGION, service_id=service_id
                )
                calls += len(records)
            return calls

        ours_times, floor_times, ratios, counts = [], [], [], set()
        for n in range(args.rounds):
            changed = change_outside(n)
            sides = [("floor", lambda changed=changed: floor(changed)), ("ours", None)]
            if n % 2:
                sides.reverse()
            times = {}
            for side, _ in sides:
                started = time.perf_counter()
                if side == "floor":
                    floor_calls = floor(changed)
                else:
                    result = endpoint_services_drift_pass(region_id=REGION, resource_sweep=0)
                times[side] = time.perf_counter() - started
            assert result["changed"] == len(set(changed)), result
            counts.add((result["calls"], floor_calls))
            ours_times.append(times["ours"])
            floor_times.append(times["floor"])
            ratios.append(times["ours"] / times["floor"])
        drifted = EndpointService.objects.filter(drifted=True).count()
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    expected = math.ceil(args.services / 1000) + args.changed
    print(
        summary(
            f"drift pass, {args.services} services, {args.changed} changed per round",
            ours_times,
            floor_times,
            ratios,
            unit="s",
            scale=1,
        )
    )
    print(f"calls per pass (ours, floor): {sorted(counts)}; expected {expected} each")
    print(f"services flagged as drifted at the end: {drifted}")
    print(f"median ratio {statistics.median(ratios):.2f} (aim <= 1.5)")


if __name__ == "__main__":
    main()

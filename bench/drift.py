"""A full drift pass over 10,000 services in one region, some changed outside the portal,
against the floor: the SDK paging through the same services alone (ceil(N/1000) List calls)
plus one resources read per changed service.

Paired, interleaved rounds; before each round --changed services are changed through the SDK
(a description or a tag), as someone in the console would.

    .venv/bin/python bench/drift.py [--services 10000] [--changed 50] [--rounds 7]
    .venv/bin/python bench/drift.py --database-url postgres://postgres@127.0.0.1:5432/portal_bench_drift

The simulator runs as its own process, as in `make run`; the portal's records live in a
throw-away database. The first pass discovers every service (one resources read each) and
the bench then marks them managed, as if the portal had made them.

Figures, each a value per round, <database> being sqlite or postgresql: drift.<database>.ratio
(our pass's time over the floor's; aim <= 1.5), drift.<database>.seconds and
drift.<database>.floor_seconds, drift.<database>.calls_vs_floor (our calls over the floor's;
aim <= 1).

What it checks, and stops on (exit status 2) when it did not time what it claims: the simulator
holds --services services and the first pass recorded each of them; in every round our pass
listed them all, found no new or gone one, and found exactly the --changed services changed,
each with its drift event; the floor made ceil(N/1000) List calls plus one per changed service.
"""

import argparse
import json
import math
import random
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import support  # noqa: E402
from bench.report import Run, expect  # noqa: E402
from bench.support import free_port, start_simulator  # noqa: E402

REGION = "cn-hangzhou"


def configure(port, database_url=None):
    """Production's settings, the simulator on `port` as the cloud, the database asked for."""
    support.configure(
        database_url,
        ALIBABA_CLOUD_ACCESS_KEY_ID="dev-access-key-id",
        ALIBABA_CLOUD_ACCESS_KEY_SECRET="dev-access-key-secret",
        PRIVATELINK_PROTOCOL="http",
        PRIVATELINK_ENDPOINT=f"127.0.0.1:{port}",
    )


def control(port, path, payload):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/_simulator/{path}",
        data=json.dumps(payload).encode(),
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=300) as response:
        return json.loads(response.read())


def floor_calls(services, changed):
    """The calls the floor makes: a List call per 1,000 services, a read per changed one."""
    return math.ceil(services / 1000) + changed


def check_loaded(held, recorded, services):
    expect(held == services, f"the simulator holds {held} services, not the {services} asked")
    expect(
        recorded == services,
        f"the first pass recorded {recorded} services of the {services} in the simulator",
    )


def check_pass(result, events, services, changed):
    """Our pass listed every service and found the `changed` ones, each with a drift event."""
    expect(
        (result["listed"], result["new"], result["gone"]) == (services, 0, 0),
        f"the drift pass listed {result['listed']} services of {services}, found "
        f"{result['new']} new and {result['gone']} gone: {result}",
    )
    expect(
        result["changed"] == changed,
        f"the drift pass found {result['changed']} services changed, not the {changed} "
        "changed before it",
    )
    expect(
        events == changed,
        f"the drift pass recorded {events} drift events for the {changed} services changed",
    )


def check_floor(calls, services, changed):
    expected = floor_calls(services, changed)
    expect(
        calls == expected,
        f"the floor made {calls} calls, not ceil({services}/1000) + {changed} = {expected}",
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--changed", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    if args.changed > args.services:
        parser.error("--changed cannot exceed --services")

    port = free_port()
    configure(port, args.database_url)
    with Run("bench/drift.py") as run:
        simulator = start_simulator(port, "--create-delay", 0)
        try:
            measure(run, args, port)
        finally:
            simulator.terminate()
            simulator.wait()


def measure(run, args, port):
    from alibabacloud_privatelink20200415 import models as sdk
    from django.db import connection
    from django.test.utils import setup_test_environment

    from portal.audit.models import AuditEvent
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
        recorded = EndpointService.objects.count()
        print(
            f"discovered and adopted {recorded} records in "
            f"{time.perf_counter() - started:.1f} s ({connection.vendor})"
        )
        check_loaded(len(set(ids)), recorded, args.services)
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

        def drift_events():
            return AuditEvent.objects.filter(action="drift_detected").count()

        ours_times, floor_times, calls_vs_floor = [], [], []
        for n in range(args.rounds):
            changed = change_outside(n)
            sides = ["floor", "ours"]
            if n % 2:
                sides.reverse()
            times = {}
            for side in sides:
                if side == "floor":
                    started = time.perf_counter()
                    made = floor(changed)
                    times[side] = time.perf_counter() - started
                else:
                    events = drift_events()
                    started = time.perf_counter()
                    result = endpoint_services_drift_pass(region_id=REGION, resource_sweep=0)
                    times[side] = time.perf_counter() - started
                    events = drift_events() - events
            check_pass(result, events, args.services, len(set(changed)))
            check_floor(made, args.services, args.changed)
            ours_times.append(times["ours"])
            floor_times.append(times["floor"])
            calls_vs_floor.append(result["calls"] / made)
        drifted = EndpointService.objects.filter(drifted=True).count()
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    database = connection.vendor
    print(f"drift pass, {args.services} services, {args.changed} changed per round")
    print(f"services flagged as drifted at the end: {drifted}")
    run.note(services=args.services, changed=args.changed, database=database, drifted=drifted)
    run.figure(f"drift.{database}.seconds", ours_times, unit="s, our pass", digits=3)
    run.figure(f"drift.{database}.floor_seconds", floor_times, unit="s, the floor", digits=3)
    run.figure(
        f"drift.{database}.calls_vs_floor",
        calls_vs_floor,
        unit=f"x the floor's {floor_calls(args.services, args.changed)} calls",
        aim=("<=", 1.0),
    )
    run.figure(
        f"drift.{database}.ratio",
        [o / f for o, f in zip(ours_times, floor_times, strict=True)],
        unit="x the floor's time",
        aim=("<=", 1.5),
    )


if __name__ == "__main__":
    main()

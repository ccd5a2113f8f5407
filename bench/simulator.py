"""GetVpcEndpointServiceAttribute calls per second through the official SDK: the simulator
against a bare HTTP server that returns a canned body, in paired, interleaved rounds.

    .venv/bin/python bench/simulator.py [--calls 2000] [--threads 1] [--rounds 7]

Both servers run in their own process (the simulator exactly as `make simulator` starts it,
the bare one on the same http.server base), so the client never shares a GIL with them.

Figures, each a value per round: simulator.ratio (the simulator's calls per second over the
bare server's; aim >= 0.5), simulator.calls_per_s and simulator.bare_calls_per_s.

What it checks, and stops on (exit status 2) when it did not time what it claims: every call
timed, on every client thread, answered without an error and named the service each server
holds (the simulator's, made by CreateVpcEndpointService, or the canned one) as Active, and
the simulator holds that one service at the end.
"""

import argparse
import json
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from alibabacloud_privatelink20200415 import models
from alibabacloud_privatelink20200415.client import Client
from alibabacloud_tea_openapi.models import Config

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import Run, expect  # noqa: E402
from bench.support import free_port, start_simulator, wait_for_port  # noqa: E402

CANNED = {
    "RequestId": "4B9F1C2E-0000-4000-8000-000000000000",
    "ServiceId": "epsrv-benchbenchbenchbench",
    "ServiceName": "com.aliyuncs.privatelink.cn-hangzhou.epsrv-benchbenchbenchbench",
    "ServiceDomain": "epsrv-benchbenchbenchbench.cn-hangzhou.privatelink.aliyuncs.com",
    "ServiceStatus": "Active",
    "ServiceBusinessStatus": "Normal",
    "ServiceResourceType": "nlb",
    "ServiceType": "Interface",
    "RegionId": "cn-hangzhou",
    "Payer": "Endpoint",
    "AutoAcceptEnabled": False,
    "ZoneAffinityEnabled": False,
    "AddressIpVersion": "IPv4",
    "ConnectBandwidth": 3072,
    "Zones": ["cn-hangzhou-h"],
}


def serve_canned(port):
    body = json.dumps(CANNED).encode()

    class Canned(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_POST(self):
            self.rfile.read(int(self.headers.get("content-length") or 0))
            self.send_response(200)
            self.send_header("Content-Type", "application/json;charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer(("127.0.0.1", port), Canned).serve_forever()


def client_for(port):
    return Client(
        Config(
            access_key_id="dev-access-key-id",
            access_key_secret="dev-access-key-secret",
            endpoint=f"127.0.0.1:{port}",
            protocol="http",
            region_id="cn-hangzhou",
        )
    )


def measure(port, service_id, calls, threads):
    """Return calls per second of GetVpcEndpointServiceAttribute spread over `threads`, and
    what was answered: [(ServiceId, ServiceStatus)] and the errors raised."""
    request = models.GetVpcEndpointServiceAttributeRequest(
        region_id="cn-hangzhou", service_id=service_id
    )
    per_thread = calls // threads
    answers, errors = [], []

    def run():
        client = client_for(port)
        try:
            for _ in range(per_thread):
                body = client.get_vpc_endpoint_service_attribute(request).body
                answers.append((body.service_id, body.service_status))
        except Exception as error:  # checked by the main thread: a thread cannot stop the run
            errors.append(error)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    rate = per_thread * threads / (time.perf_counter() - started)
    return rate, answers, errors


def check_answers(side, answers, errors, asked, service_id):
    """Every call asked of `side` answered `service_id` as Active, without an error."""
    expect(not errors, f"{side}: {len(errors)} client threads failed; the first: {errors[:1]}")
    expect(
        len(answers) == asked,
        f"{side}: {len(answers)} calls answered of the {asked} timed",
    )
    wrong = Counter(a for a in answers if a != (service_id, "Active"))
    expect(
        not wrong,
        f"{side}: {wrong.total()} answers were not {service_id} Active: "
        f"{dict(wrong.most_common(3))}",
    )


def check_health(health):
    """The simulator answered its own health path and holds the one service made."""
    expect(
        health.get("status") == "ok" and health.get("services") == 1,
        f"the simulator's health says {health}, not ok with the 1 service made",
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--serve-canned", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_canned:
        serve_canned(args.serve_canned)
        return

    with Run("bench/simulator.py") as run:
        sim_rates, bare_rates = measure_both(args)
        print(
            f"calls per round: {args.calls}, client threads: {args.threads}, rounds: {args.rounds}"
        )
        run.note(calls=args.calls, threads=args.threads)
        run.figure("simulator.calls_per_s", sim_rates, unit="Get calls/s", digits=0)
        run.figure("simulator.bare_calls_per_s", bare_rates, unit="Get calls/s", digits=0)
        run.figure(
            "simulator.ratio",
            [s / b for s, b in zip(sim_rates, bare_rates, strict=True)],
            unit="x the bare server's calls/s",
            aim=(">=", 0.5),
        )


def measure_both(args):
    """Start both servers, time them in paired rounds, stop them; return both sides' rates."""
    sim_port, bare_port = free_port(), free_port()
    processes = [
        start_simulator(sim_port, "--create-delay", 0),
        subprocess.Popen([sys.executable, __file__, "--serve-canned", str(bare_port)]),
    ]
    try:
        wait_for_port(bare_port)
        created = client_for(sim_port).create_vpc_endpoint_service(
            models.CreateVpcEndpointServiceRequest(
                region_id="cn-hangzhou",
                service_resource_type="nlb",
                resource=[
                    models.CreateVpcEndpointServiceRequestResource(
                        resource_type="nlb",
                        resource_id="nlb-hz0000000000000001",
                        zone_id="cn-hangzhou-h",
                    )
                ],
            )
        )
        service_id = created.body.service_id
        sides = {
            "simulator": (sim_port, service_id, []),
            "bare server": (bare_port, CANNED["ServiceId"], []),
        }
        per_round = args.calls // args.threads * args.threads
        for side, (port, answer_id, _rates) in sides.items():
            _rate, answers, errors = measure(port, service_id, 100, 1)
            check_answers(side, answers, errors, 100, answer_id)
        # Paired, interleaved rounds (A B, B A, ...): drift in the machine's load hits both.
        for n in range(args.rounds):
            order = list(sides.items())
            for side, (port, answer_id, rates) in order if n % 2 == 0 else order[::-1]:
                rate, answers, errors = measure(port, service_id, args.calls, args.threads)
                check_answers(side, answers, errors, per_round, answer_id)
                rates.append(rate)
        with urllib.request.urlopen(f"http://127.0.0.1:{sim_port}/_simulator/health") as reply:
            check_health(json.loads(reply.read()))
    finally:
        for process in processes:
            process.terminate()
            process.wait()
    return sides["simulator"][2], sides["bare server"][2]


if __name__ == "__main__":
    main()

"""GetVpcEndpointServiceAttribute calls per second through the official SDK: the simulator
against a bare HTTP server that returns a canned body, in one run. Prints the ratio.

    .venv/bin/python bench/simulator.py [--calls 2000] [--threads 1]

Both servers run in their own process (the simulator exactly as `make simulator` starts it,
the bare one on the same http.server base), so the client never shares a GIL with them.
"""

import argparse
import json
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from alibabacloud_privatelink20200415 import models
from alibabacloud_privatelink20200415.client import Client
from alibabacloud_tea_openapi.models import Config

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import free_port, wait_for_port  # noqa: E402

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
    """Return calls per second of GetVpcEndpointServiceAttribute spread over `threads`."""
    request = models.GetVpcEndpointServiceAttributeRequest(
        region_id="cn-hangzhou", service_id=service_id
    )
    per_thread = calls // threads

    def run():
        client = client_for(port)
        for _ in range(per_thread):
            body = client.get_vpc_endpoint_service_attribute(request).body
            assert body.service_status == "Active"

    workers = [threading.Thread(target=run) for _ in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return per_thread * threads / (time.perf_counter() - started)


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

    sim_port, bare_port = free_port(), free_port()
    simulator = ["-m", "portal.simulator", "--port", str(sim_port), "--state", ":memory:"]
    processes = [
        subprocess.Popen(
            [sys.executable, *simulator, "--create-delay", "0"],
            cwd=ROOT,
            stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen([sys.executable, __file__, "--serve-canned", str(bare_port)]),
    ]
    try:
        wait_for_port(sim_port)
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
        measure(sim_port, service_id, 100, 1)
        measure(bare_port, service_id, 100, 1)
        sim_rates, bare_rates = [], []
        # Paired, interleaved rounds (A B, B A, ...): drift in the machine's load hits both.
        for n in range(args.rounds):
            sides = [(sim_port, sim_rates), (bare_port, bare_rates)]
            for port, rates in sides if n % 2 == 0 else sides[::-1]:
                rates.append(measure(port, service_id, args.calls, args.threads))
        with urllib.request.urlopen(f"http://127.0.0.1:{sim_port}/_simulator/health") as reply:
            assert json.loads(reply.read())["services"] == 1
    finally:
        for process in processes:
            process.terminate()
            process.wait()
    ratios = [s / b for s, b in zip(sim_rates, bare_rates, strict=True)]
    median = statistics.median
    print(f"calls per round: {args.calls}, client threads: {args.threads}, rounds: {args.rounds}")
    print(f"simulator:   {median(sim_rates):8.0f} Get calls/s (median)")
    print(f"bare server: {median(bare_rates):8.0f} Get calls/s (median)")
    print(
        f"ratio simulator/bare: median of rounds {median(ratios):.2f} (min {min(ratios):.2f}, "
        f"max {max(ratios):.2f}; aim: 0.5 or better)"
    )


if __name__ == "__main__":
    main()

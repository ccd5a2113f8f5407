"""Run the simulator: `python -m simulator --port 8765 --state var/simulator.sqlite3`."""

import argparse
import logging
import os

from .backend import DEFAULT_INVENTORY, Account, Backend, load_inventory
from .server import SimulatorServer


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m simulator", description="Embedded Alibaba Cloud PrivateLink API"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--state", default="var/simulator.sqlite3", help="SQLite file, or :memory: to keep nothing"
    )
    parser.add_argument(
        "--create-delay",
        type=float,
        default=3.0,
        help="seconds each transitional status lasts (Creating, Pending, Connecting, ...)",
    )
    parser.add_argument("--quota", type=int, default=20, help="endpoint services per region")
    parser.add_argument(
        "--strict-delete",
        action="store_true",
        help="DeleteVpcEndpointService refuses a service with resources left",
    )
    parser.add_argument(
        "--endpoints-per-vpc", type=int, default=50, help="live endpoints per VPC and account"
    )
    parser.add_argument("--inventory", default=str(DEFAULT_INVENTORY))
    parser.add_argument("--throttle-rate", type=float, default=0.0)
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--stuck-creating", action="store_true")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s simulator %(message)s",
    )
    account = Account(
        "dev",
        os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_ID", "dev-access-key-id"),
        os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "dev-access-key-secret"),
        uid="1000000000000001",
    )
    backend = Backend(
        args.state,
        create_delay=args.create_delay,
        quota=args.quota,
        inventory=load_inventory(args.inventory),
        accounts=[account],
        strict_delete=args.strict_delete,
        endpoints_per_vpc=args.endpoints_per_vpc,
    )
    backend.faults.update(
        {
            "throttle_rate": args.throttle_rate,
            "error_rate": args.error_rate,
            "latency_ms": args.latency_ms,
            "stuck_creating": args.stuck_creating,
        }
    )
    server = SimulatorServer((args.host, args.port), backend)
    logging.getLogger("simulator").info(
        "PrivateLink simulator on http://%s (state %s, create delay %ss)",
        server.endpoint,
        args.state,
        args.create_delay,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()

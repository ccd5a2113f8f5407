"""Do what someone at the cloud console would, through the official SDK only.

For demos and tours on `make run`: change a service behind the portal's back (so that drift
shows), and play a consumer account that connects to a service. It knows nothing of the
portal; it is a client of the PrivateLink API like any other (the simulator, or the cloud).

    .venv/bin/python scripts/console.py show epsrv-...
    .venv/bin/python scripts/console.py describe epsrv-... "edited in the console"
    .venv/bin/python scripts/console.py tag epsrv-... owner=someone-else
    .venv/bin/python scripts/console.py allow epsrv-... 1000000000000009
    .venv/bin/python scripts/console.py --consumer create-endpoint com.aliyuncs.privatelink...
    .venv/bin/python scripts/console.py --consumer endpoints
    .venv/bin/python scripts/console.py --consumer delete-endpoint ep-...

Keys: the simulator's dev account by default, its consumer account with --consumer, or
ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET. Endpoint: PRIVATELINK_ENDPOINT, else the simulator at
SIMULATOR_PORT (8765; `make run PORT=8100` puts it at 8865), read as the portal reads them: from
the environment, then `.env`.
"""

import argparse
import json
import os
import sys
from pathlib import Path

import environ
from alibabacloud_privatelink20200415 import models
from alibabacloud_privatelink20200415.client import Client
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
from alibabacloud_tea_openapi.models import Config
from Tea.exceptions import UnretryableException

ROOT = Path(__file__).resolve().parents[1]

ACCOUNTS = {
    "dev": ("dev-access-key-id", "dev-access-key-secret"),
    "consumer": ("consumer-access-key-id", "consumer-access-key-secret"),
}


def endpoint_of(environment):
    """PRIVATELINK_ENDPOINT as the portal's settings read it (main() reads .env in first)."""
    port = environment.get("SIMULATOR_PORT") or "8765"
    return environment.get("PRIVATELINK_ENDPOINT") or f"127.0.0.1:{port}"


def client_for(args):
    key_id, secret = ACCOUNTS["consumer" if args.consumer else "dev"]
    if not args.consumer and os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_ID"):
        key_id = os.environ["ALIBABA_CLOUD_ACCESS_KEY_ID"]
        secret = os.environ["ALIBABA_CLOUD_ACCESS_KEY_SECRET"]
    endpoint = endpoint_of(os.environ)
    local = endpoint.startswith(("127.", "localhost"))
    return Client(
        Config(
            access_key_id=key_id,
            access_key_secret=secret,
            endpoint=endpoint,
            protocol="http" if local else "https",
            region_id=args.region,
        )
    )


def show(client, args):
    body = client.list_vpc_endpoint_services(
        models.ListVpcEndpointServicesRequest(region_id=args.region, service_id=args.service_id)
    ).body
    resources = client.list_vpc_endpoint_service_resources(
        models.ListVpcEndpointServiceResourcesRequest(
            region_id=args.region, service_id=args.service_id
        )
    ).body
    return {
        "Services": body.to_map().get("Services"),
        "Resources": resources.to_map().get("Resources"),
    }


def describe(client, args):
    client.update_vpc_endpoint_service_attribute(
        models.UpdateVpcEndpointServiceAttributeRequest(
            region_id=args.region,
            service_id=args.service_id,
            service_description=args.description,
        )
    )
    return {"ServiceId": args.service_id, "ServiceDescription": args.description}


def tag(client, args):
    key, _, value = args.tag.partition("=")
    client.tag_resources(
        models.TagResourcesRequest(
            region_id=args.region,
            resource_type="vpcendpointservice",
            resource_id=[args.service_id],
            tag=[models.TagResourcesRequestTag(key=key, value=value)],
        )
    )
    return {"ServiceId": args.service_id, "Tag": {key: value}}


def allow(client, args):
    # "*" is every account, which the console adds by UserARN, as the cloud keeps it.
    every = args.account == "*"
    client.add_user_to_vpc_endpoint_service(
        models.AddUserToVpcEndpointServiceRequest(
            region_id=args.region,
            service_id=args.service_id,
            **({"user_arn": "acs:ram:*:*:*"} if every else {"user_id": int(args.account)}),
        )
    )
    return {"ServiceId": args.service_id, "Allowed": args.account}


def create_endpoint(client, args):
    service = client.list_vpc_endpoint_services_by_end_user(
        models.ListVpcEndpointServicesByEndUserRequest(
            region_id=args.region, service_name=args.service_name
        )
    ).body.services
    zones = args.zone or (service[0].zones[:1] if service else [])
    body = client.create_vpc_endpoint(
        models.CreateVpcEndpointRequest(
            region_id=args.region,
            service_name=args.service_name,
            vpc_id=args.vpc_id,
            security_group_id=[args.security_group_id],
            endpoint_name=args.name,
            zone=[
                models.CreateVpcEndpointRequestZone(zone_id=zone, v_switch_id=f"vsw-{zone}")
                for zone in zones
            ],
        )
    ).body
    return body.to_map()


def endpoints(client, args):
    body = client.list_vpc_endpoints(models.ListVpcEndpointsRequest(region_id=args.region)).body
    return body.to_map().get("Endpoints")


def delete_endpoint(client, args):
    client.delete_vpc_endpoint(
        models.DeleteVpcEndpointRequest(region_id=args.region, endpoint_id=args.endpoint_id)
    )
    return {"EndpointId": args.endpoint_id, "deleted": True}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="console.py", description=__doc__.split("\n")[0])
    parser.add_argument("--region", default="cn-hangzhou")
    parser.add_argument("--consumer", action="store_true", help="act as the consumer account")
    commands = parser.add_subparsers(dest="command", required=True)
    command = commands.add_parser("show", help="a service's attributes, tags and resources")
    command.add_argument("service_id")
    command.set_defaults(run=show)
    command = commands.add_parser("describe", help="set a service's description")
    command.add_argument("service_id")
    command.add_argument("description")
    command.set_defaults(run=describe)
    command = commands.add_parser("tag", help="set a tag on a service (key=value)")
    command.add_argument("service_id")
    command.add_argument("tag")
    command.set_defaults(run=tag)
    command = commands.add_parser(
        "allow", help="add an account to a service's allow-list ('*': every account)"
    )
    command.add_argument("service_id")
    command.add_argument("account")
    command.set_defaults(run=allow)
    command = commands.add_parser("create-endpoint", help="connect to a service by its name")
    command.add_argument("service_name")
    command.add_argument("--vpc-id", default="vpc-consumer000000001")
    command.add_argument("--security-group-id", default="sg-consumer000000001")
    command.add_argument("--zone", action="append", help="zone id (default: the first)")
    command.add_argument("--name", default="demo-endpoint")
    command.set_defaults(run=create_endpoint)
    command = commands.add_parser("endpoints", help="this account's endpoints")
    command.set_defaults(run=endpoints)
    command = commands.add_parser("delete-endpoint", help="delete one of this account's")
    command.add_argument("endpoint_id")
    command.set_defaults(run=delete_endpoint)
    args = parser.parse_args(argv)
    environ.Env.read_env(ROOT / ".env")  # what the environment sets already stays
    try:
        result = args.run(client_for(args), args)
    except AlibabaCloudException as error:
        print(f"{error.code}: {error.message}", file=sys.stderr)
        return 1
    except (UnretryableException, OSError) as error:
        endpoint = endpoint_of(os.environ)
        print(
            f"Cannot reach the PrivateLink API at {endpoint}: {_reason(error)}.\n"
            "Is the simulator running? `make run` starts it (or `make simulator` alone); "
            "PRIVATELINK_ENDPOINT or SIMULATOR_PORT, in the environment or .env, names "
            "where it listens.",
            file=sys.stderr,
        )
        return 2
    print(json.dumps(result, indent=2, default=str))
    return 0


def _reason(error):
    """The last line of what the SDK says, not its whole chain of wrapped exceptions."""
    text = str(getattr(error, "inner_exception", None) or error)
    if "Connection refused" in text:
        return "connection refused"
    return text.strip().splitlines()[-1][:200] if text.strip() else type(error).__name__


if __name__ == "__main__":
    sys.exit(main())

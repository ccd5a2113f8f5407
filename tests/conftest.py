import fcntl
import itertools
import json
import sqlite3
import urllib.request

import pytest
from alibabacloud_privatelink20200415.client import Client
from alibabacloud_tea_openapi.models import Config

from simulator.backend import Account, Backend
from simulator.server import start_in_thread

DEV_KEY_ID = "dev-access-key-id"
DEV_KEY_SECRET = "dev-access-key-secret"


class Simulator:
    """A running simulator, its official SDK client, and its loopback control path."""

    def __init__(self, server):
        self.server = server
        self.endpoint = server.endpoint
        self.client = self.make_client()

    def make_client(self, key_id=DEV_KEY_ID, secret=DEV_KEY_SECRET):
        return Client(
            Config(
                access_key_id=key_id,
                access_key_secret=secret,
                endpoint=self.endpoint,
                protocol="http",
                region_id="cn-hangzhou",
            )
        )

    def control(self, path, payload=None):
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            f"http://{self.endpoint}/_simulator/{path}",
            data=data,
            method="GET" if payload is None else "POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def faults(self, **faults):
        return self.control("faults", faults)

    def configure(self, **settings):
        return self.control("config", settings)

    def services(self):
        return self.control("services")["Services"]


@pytest.fixture(scope="session")
def django_db_modify_db_settings(request, tmp_path_factory, django_db_blocker):
    """Keep the SQLite test database in a file, so that worker processes can share it.

    Under xdist the first worker migrates a database for the run and the others copy it
    (django_db_keepdb then finds it migrated): each worker migrating its own cost about 2.5 s
    of CPU apiece, at the start, when all of them are busy. The migration tests still migrate
    their copy backwards and forwards for real."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    if not db["ENGINE"].endswith("sqlite3"):
        return
    name = tmp_path_factory.mktemp("db") / "test.sqlite3"
    db.setdefault("TEST", {})["NAME"] = str(name)
    if not hasattr(request.config, "workerinput"):
        return
    # The workers' base folders are popen-gw0, popen-gw1, ... in the run's own folder.
    template = tmp_path_factory.getbasetemp().parent / "migrated.sqlite3"
    with open(template.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = template.with_suffix(".done")
        if not done.exists():
            with django_db_blocker.unblock():
                _migrate_into(template, db)
            done.touch()
    # SQLite's backup reads the database whole, whatever its write-ahead log still holds.
    with sqlite3.connect(template) as source, sqlite3.connect(name) as copy:
        source.backup(copy)
    source.close()
    copy.close()
    request.config.stash[_COPIED_MIGRATED_DB] = True


_COPIED_MIGRATED_DB = pytest.StashKey[bool]()


def _migrate_into(template, db):
    """Create and migrate a test database at `template`, as Django's test runner does."""
    from django.db import connections

    name, test_name = db["NAME"], db["TEST"]["NAME"]
    db["TEST"]["NAME"] = str(template)
    try:
        connections["default"].creation.create_test_db(
            verbosity=0, autoclobber=True, serialize=False
        )
    finally:
        connections["default"].close()
        db["NAME"], db["TEST"]["NAME"] = name, test_name


@pytest.fixture(scope="session")
def django_db_keepdb(request, django_db_modify_db_settings):
    """Keep (and so do not migrate again) the migrated copy made above."""
    return request.config.getvalue("reuse_db") or request.config.stash.get(
        _COPIED_MIGRATED_DB, False
    )


@pytest.fixture(scope="session", autouse=True)
def celery_broker(tmp_path_factory):
    """Give the session its own file-system broker, apart from a developer's `make run`."""
    from portal.celery import app

    if not app.conf.broker_url.startswith("filesystem://"):
        return None
    folder = tmp_path_factory.mktemp("broker")
    for name in ("queue", "processed", "tmp", "control"):
        (folder / name).mkdir()
    app.conf.broker_transport_options = {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
        "store_processed": False,
        "polling_interval": 0.1,
    }
    return folder


@pytest.fixture(scope="session")
def simulator_server():
    backend = Backend(
        ":memory:", create_delay=0.2, accounts=[Account("dev", DEV_KEY_ID, DEV_KEY_SECRET)]
    )
    server = start_in_thread(backend)
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def simulator(cloud):
    """A clean simulator (no services, no faults, 0.2 s create delay) and its SDK client."""
    return cloud


@pytest.fixture(scope="session")
def checkpoint_files(tmp_path_factory):
    """A new checkpoint file name for each test, all in one folder. Few tests write one;
    a tmp_path for each of the suite's tests made and later removed about 3,000 folders."""
    folder = tmp_path_factory.mktemp("checkpoints")
    return (folder / f"{n}.jsonl" for n in itertools.count())


@pytest.fixture(autouse=True)
def cloud(request, simulator_server, checkpoint_files):
    """Point the portal's service layer at the in-process simulator, with a clean cache."""
    from django.core.cache import cache

    sim = Simulator(simulator_server)
    # What `sim.control("reset", {})` and `sim.configure(...)` would ask over HTTP, called as
    # the server's handler calls it: the server runs in this process, and two loopback round
    # trips before every test (most never call the simulator) cost about 4 ms each time.
    gateway = simulator_server.gateway
    gateway.control("POST", "/_simulator/reset", {})
    gateway.control("POST", "/_simulator/config", {"create_delay": 0.2, "quota": 20})
    settings = request.getfixturevalue("settings")
    # Hashing demo passwords properly would dominate the suite's time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.PRIVATELINK_ENDPOINT = sim.endpoint
    settings.PRIVATELINK_PROTOCOL = "http"
    settings.ALIBABA_CLOUD_ACCESS_KEY_ID = DEV_KEY_ID
    settings.ALIBABA_CLOUD_ACCESS_KEY_SECRET = DEV_KEY_SECRET
    # Not var/'s: `make run`'s beat writes the checkpoints of a real log there, which no test
    # database matches (verification then says the newest events were removed).
    settings.AUDIT_CHECKPOINT_FILE = str(next(checkpoint_files))
    cache.clear()
    yield sim
    cache.clear()


@pytest.fixture
def groups(db):
    from django.contrib.auth.models import Group

    return {name: Group.objects.get_or_create(name=name)[0] for name in ("approvers", "auditors")}


def _user(username, groups, *group_names, **extra):
    from tests.support.factories import UserFactory

    user = UserFactory(username=username, **extra)
    user.groups.set([groups[name] for name in group_names])
    return user


@pytest.fixture
def requester(groups):
    return _user("requester", groups)


@pytest.fixture
def requester2(groups):
    return _user("requester2", groups)


@pytest.fixture
def approver(groups):
    return _user("approver", groups, "approvers")


@pytest.fixture
def approver2(groups):
    return _user("approver2", groups, "approvers")


@pytest.fixture
def auditor(groups):
    return _user("auditor", groups, "auditors")


@pytest.fixture
def login(client):
    def as_user(user):
        client.force_login(user)
        return client

    return as_user


# --- the PrivateLink simulator with a clock the test moves (appended for the day-2 tests) ---


class SimulatorClock:
    """A clock for the simulator's backend: time stands still until a test moves it."""

    def __init__(self):
        self.now = 1_700_000_000.0

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


@pytest.fixture(scope="session")
def clocked_simulator_server():
    clock = SimulatorClock()
    backend = Backend(
        ":memory:",
        create_delay=10,
        accounts=[Account("dev", DEV_KEY_ID, DEV_KEY_SECRET)],
        clock=clock,
    )
    server = start_in_thread(backend)
    yield server, clock
    server.shutdown()
    server.server_close()


@pytest.fixture
def clocked_simulator(clocked_simulator_server):
    """A clean simulator whose time moves only by `sim.clock.advance(s)`; create delay 10 s.

    Every transitional status (Creating, Pending, Connecting, ...) lasts exactly 10 s of
    this clock, so a test sees each one deterministically, without sleeping.
    """
    server, clock = clocked_simulator_server
    sim = Simulator(server)
    sim.control("reset", {})
    sim.configure(create_delay=10, quota=20, strict_delete=False, endpoints_per_vpc=50)
    sim.clock = clock
    yield sim
    sim.configure(create_delay=10, quota=20, strict_delete=False, endpoints_per_vpc=50)


@pytest.fixture(autouse=True)
def notices_in_process(monkeypatch):
    """Send the email tasks in the test's own process, as a worker would, when enqueued.

    Provisioning tasks still go to the broker (the worker tests start real workers); email
    is what unit tests assert on, and a message left on the broker would reach no one.
    """
    from portal.approvals import tasks
    from portal.endpoint_services import tasks as service_tasks

    for task in (
        tasks.notify_approvers,
        tasks.notify_requester,
        tasks.notify_admins_refused,
        tasks.send_reminder,
        tasks.post_to_chat,
        service_tasks.notify_connections_waiting,
    ):
        monkeypatch.setattr(task, "delay", lambda *args, task=task: task.apply(args))


@pytest.fixture
def service(requester, simulator):
    """An active nlb service in two zones, owned by `requester`, as the portal made it."""
    from tests.support.day2 import make_service

    return make_service(requester)


# --- the embedded identity provider (appended for single sign-on) ---


@pytest.fixture(scope="session")
def idp_server():
    from tests.support.idp import IdentityProvider

    provider = IdentityProvider()
    yield provider
    provider.stop()


@pytest.fixture
def idp(idp_server, settings):
    """The embedded identity provider (a real process), reset, with the portal pointed at it."""
    idp_server.reset()
    idp_server.use(settings)
    return idp_server


@pytest.fixture(autouse=True)
def browsers_sign_in_at_the_provider(request):
    """Browser tests sign in as production does, through the provider: register the live
    server's addresses with it (tests.browser.test_tour.log_in does the rest)."""
    if request.node.get_closest_marker("browser") is None:
        return
    provider = request.getfixturevalue("idp")
    provider.add_portal(request.getfixturevalue("live_server").url)

"""The portal's load test: people of every role doing what they do all day, read-mostly.

Run by bench/load.py (which prepares the database, the sessions and gunicorn); by hand:

    LOAD_FIXTURE=var/load/fixture.json .venv/bin/locust -f bench/locustfile.py \
        --host http://127.0.0.1:8300 --headless -u 50 -r 50 -t 60s

Each simulated person holds a real session of a real user (made by bench/load.py, as a
sign-in would: signing in is not what a day is made of). What they do, and how often:
- requesters (weight 6): mostly watch a request's page, which polls its status every 2 s;
  now and then open their dashboard or the page itself;
- approvers (weight 2): the queue, which re-polls every 10 s, the pending badge (15 s),
  their dashboard, a request to decide on;
- auditors (weight 1): the history with filters, a timeline, a small filtered export;
- owners (weight 1): their services and a service's page.

Every answer is checked (bench/page_checks.py): redirects are not followed, and an answer that
is not its page (a login page, an error) is a failure, with the reason as its message.

With LOAD_PAGE=<name> every person opens that one page as fast as answers come (the
per-page capacity runs).
"""

import json
import os
import random
import re
import sys
from pathlib import Path

from locust import HttpUser, between, constant, task

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.page_checks import ONE_PAGE, verdict

FIXTURE = json.loads(Path(os.environ.get("LOAD_FIXTURE", "var/load/fixture.json")).read_text())
HTMX = {"HX-Request": "true"}
QUEUE_VERSION = re.compile(r"/approvals/\?v=([0-9a-f]+)&amp;page=")
BADGE_VERSION = re.compile(r'/approvals/count/\?v=([0-9a-f]+)"')
ONLY = os.environ.get("LOAD_PAGE")


class Person(HttpUser):
    abstract = True
    role = ""

    def on_start(self):
        self.me = random.choice(FIXTURE[self.role])
        self.client.cookies.set("sessionid", self.me["session"])

    def get(self, path, name, **kwargs):
        """GET `path` as page `name`, not following redirects; a failure unless it is that page."""
        with self.client.get(
            path, name=name, allow_redirects=False, catch_response=True, **kwargs
        ) as response:
            why = verdict(name, response.status_code, response.content or b"", self.me["username"])
            if why:
                response.failure(why)
            return response

    def status_poll(self, request):
        query = {"v": request["version"], "r": request["revision"], "s": request["state"]}
        self.get(
            f"/requests/{request['id']}/status/",
            "/requests/[id]/status/ (poll)",
            params=query,
            headers=HTMX,
        )


class Requester(Person):
    role = "requesters"
    weight = 6
    wait_time = between(1.5, 2.5)

    @task(8)
    def watch(self):
        self.status_poll(random.choice(self.me["watching"]))

    @task(1)
    def request_page(self):
        request = random.choice(self.me["watching"])
        self.get(f"/requests/{request['id']}/", "/requests/[id]/")

    @task(1)
    def dashboard(self):
        self.get("/", "/ (requester)")


class Approver(Person):
    role = "approvers"
    weight = 2
    wait_time = between(2, 4)
    queue_version = badge_version = ""

    @task(2)
    def queue(self):
        page = random.choice([1, 1, 1, 2, 3])
        response = self.get("/approvals/", "/approvals/", params={"page": page})
        found = QUEUE_VERSION.search(response.text)
        self.queue_version = found.group(1) if found else ""

    @task(6)
    def queue_poll(self):
        self.get(
            "/approvals/",
            "/approvals/ (poll)",
            params={"v": self.queue_version, "page": 1},
            headers=HTMX,
        )

    @task(4)
    def badge_poll(self):
        response = self.get(
            "/approvals/count/",
            "/approvals/count/ (poll)",
            params={"v": self.badge_version},
            headers=HTMX,
        )
        found = BADGE_VERSION.search(response.text)
        if found:
            self.badge_version = found.group(1)

    @task(1)
    def dashboard(self):
        self.get("/", "/ (approver)")

    @task(1)
    def decide_on(self):
        pk = random.choice(FIXTURE["pending"])
        self.get(f"/requests/{pk}/", "/requests/[id]/ (approver)")


class Auditor(Person):
    role = "auditors"
    weight = 1
    wait_time = between(3, 6)

    @task(4)
    def history(self):
        query = random.choice(FIXTURE["audit_queries"])
        self.get(f"/audit/?{query}", "/audit/")

    @task(2)
    def timeline(self):
        pk = random.choice(FIXTURE["pending"])
        self.get(f"/audit/requests/{pk}/", "/audit/requests/[id]/")

    @task(1)
    def export(self):
        requester = random.choice(FIXTURE["requester_names"])
        self.get(
            "/audit/export.csv",
            "/audit/export.csv (filtered)",
            params={"requester": requester, "state": "failed"},
        )


class Owner(Person):
    role = "owners"
    weight = 1
    wait_time = between(3, 6)

    @task(1)
    def services(self):
        self.get("/services/", "/services/")

    @task(2)
    def service_page(self):
        service = random.choice(self.me["services"])
        self.get(f"/services/{service}/", "/services/[id]/")


if ONLY:
    role, path, name = ONE_PAGE[ONLY]

    class OnePage(Person):
        role = role
        wait_time = constant(0)

        @task
        def page(self):
            self.get(path, name)

    # Only OnePage runs.
    del Requester, Approver, Auditor, Owner

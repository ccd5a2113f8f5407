"""The checks of the small benchmarks refuse what they were not meant to time.

A benchmark that times a redirect to the login page, or a poll that found a change, reports a
figure about the wrong thing (the load test did so for months). These tests hand each check
such an answer, taken from the portal itself where one is at hand, and expect NotMeasured.
"""

import importlib
import os
import re
from contextlib import contextmanager

import pytest
from django.http import HttpResponse

from bench import assume_role, drift, poll, service_page, services_list, soak, step_log, support
from bench import simulator as simulator_bench
from bench.report import NotMeasured
from portal.catalog.views import ALLOW_LIST_PAGE, CONNECTIONS_PAGE, PAGE_SIZE

BENCHES = [assume_role, drift, poll, service_page, services_list, simulator_bench, soak, step_log]


@contextmanager
def not_measured(why):
    """The check stops the benchmark (exit status 2) with a reason that says `why`."""
    with pytest.raises(NotMeasured) as caught:
        yield
    assert caught.value.code == 2
    assert re.search(why, caught.value.why), caught.value.why


@pytest.mark.parametrize("bench", BENCHES, ids=lambda module: module.__name__)
def test_importing_a_bench_changes_no_setting(bench):
    """Its settings are set by its main(): a test importing its checks keeps the suite's."""
    before = dict(os.environ)
    importlib.reload(bench)
    assert dict(os.environ) == before


@pytest.fixture
def sign_in_page(client, db):
    """What an anonymous client gets for the portal's pages: a redirect, then the login page."""
    redirect = client.get("/services/")
    assert redirect.status_code == 302
    page = client.get(redirect.url)
    assert page.status_code == 200
    return redirect, page


@pytest.fixture
def admin_sign_in_page(client, db):
    redirect = client.get(services_list.ADMIN)
    assert redirect.status_code == 302
    page = client.get(redirect.url)
    assert page.status_code == 200
    return redirect, page


@pytest.fixture
def bench_admin(db):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_superuser(services_list.USERNAME, password="x")


# --- poll.py ---


def test_a_poll_of_a_signed_out_session_is_not_measured(client, db):
    # An htmx poll without a session answers 401 ("sign in again"), not the login page.
    response = client.get("/requests/1/status/?v=1&r=0&s=creating", headers=poll.HTMX)
    assert response.status_code == 401
    with not_measured(r"answered 401 with"):
        poll.check_poll(response, "creating as requester")
    with not_measured("bare view answered 401"):
        poll.check_bare(response)
    plain = client.get("/requests/1/status/?v=1&r=0&s=creating")
    assert plain.status_code == 302
    with not_measured(r"answered 302 to .*login"):
        poll.check_poll(plain, "creating as requester")


def test_a_poll_that_found_a_change_is_not_a_no_change_poll():
    with not_measured("answered 200 with 17 bytes"):
        poll.check_poll(HttpResponse('<div id="status">'), "approved as auditor")
    poll.check_poll(HttpResponse(status=204), "approved as auditor")
    poll.check_bare(HttpResponse("ok"))


def test_every_timed_answer_must_be_the_one_checked():
    support.check_timed([poll.NO_CHANGE] * 3, poll.NO_CHANGE, "the poll")
    with not_measured(r"1 of 3 timed answers were not \(204, 0\)"):
        support.check_timed([poll.NO_CHANGE, (302, 0), poll.NO_CHANGE], poll.NO_CHANGE, "the poll")
    with not_measured("no answer was timed"):
        support.check_timed([], poll.NO_CHANGE, "the poll")


def test_queries_beyond_session_need_the_session_and_user_counted():
    assert poll.check_queries(3, 2, "cell") == 1
    with not_measured("bare view made 0 queries"):
        poll.check_queries(1, 0, "cell")


# --- step_log.py ---


def test_the_step_log_check_counts_the_calls_of_a_real_fragment(client, requester):
    from portal.service_requests.models import ServiceRequest

    request = ServiceRequest.objects.create(requester=requester, region_id="cn-hangzhou")
    ServiceRequest.objects.filter(pk=request.pk).update(state="creating")
    for _ in range(3):
        request.record("cloud_call", actor=None, details={"cloud_call": step_log.CALL})
    client.force_login(requester)
    url = f"/requests/{request.pk}/status/?v=1&r=0&s=creating"
    fragment = client.get(url, headers=step_log.HTMX)
    assert step_log.check_fragment(fragment, 3, page=100) == 3
    with not_measured("shows 3 calls and leaves out 0, for a request of 4"):
        step_log.check_fragment(fragment, 4, page=100)
    with not_measured("more than a page of 2"):
        step_log.check_fragment(fragment, 3, page=2)
    with not_measured("answered 204"):
        step_log.check_fragment(HttpResponse(status=204), 3, page=100)


def test_the_step_log_check_refuses_the_sign_in_page(sign_in_page):
    redirect, page = sign_in_page
    with not_measured("answered 302"):
        step_log.check_fragment(redirect, 3, page=100)
    with not_measured("has no step log"):
        step_log.check_fragment(page, 3, page=100)


# --- services_list.py ---


def test_the_service_list_checks_pass_the_real_pages(client, bench_admin):
    services_list.load(120)
    client.force_login(bench_admin)
    ours = client.get("/services/")
    services_list.check_ours(ours, "ours", 1, PAGE_SIZE)
    theirs = client.get(services_list.ADMIN)
    services_list.check_admin(theirs, "the admin", 1, 100)
    with not_measured(f"shows {PAGE_SIZE} rows, not a full page of 60"):
        services_list.check_ours(ours, "ours", 1, 60)
    with not_measured("<li>Page 2</li>"):
        services_list.check_ours(ours, "ours", 2, PAGE_SIZE)
    # An admin page past the last is not a page of rows: the admin redirects it to ?e=1.
    beyond = client.get(f"{services_list.ADMIN}?p=20")
    with not_measured("answered 302"):
        services_list.check_admin(beyond, "the admin, page 20", 20, 100)


def test_the_service_list_checks_refuse_the_sign_in_pages(sign_in_page, admin_sign_in_page):
    for response in sign_in_page:
        with not_measured("not the page"):
            services_list.check_ours(response, "ours", 1, PAGE_SIZE)
        with not_measured("not the page"):
            services_list.check_plain(response, "the plain ListView", 50)
    with not_measured(r"Service catalog.*missing"):
        services_list.check_ours(sign_in_page[1], "ours", 1, PAGE_SIZE)
    for response in admin_sign_in_page:
        with not_measured("not the page"):
            services_list.check_admin(response, "the admin", 1, 100)


def test_the_service_list_checks_refuse_another_user(client, db):
    from django.contrib.auth import get_user_model

    services_list.load(60)
    client.force_login(get_user_model().objects.create_superuser("someone", password="x"))
    with not_measured(r"Log out bench-admin.*missing"):
        services_list.check_ours(client.get("/services/"), "ours", 1, PAGE_SIZE)


# --- service_page.py ---


def test_the_service_page_checks_pass_the_real_pages(client, bench_admin):
    _user, service = service_page.load("epsrv-test000000000000000", 60, admin_user=bench_admin)
    client.force_login(bench_admin)
    page = client.get(f"/services/{service.service_id}/")
    service_page.check_service_page(page, service.service_id, CONNECTIONS_PAGE, ALLOW_LIST_PAGE)
    with not_measured("connections shows 50 rows, not 60"):
        service_page.check_service_page(page, service.service_id, 60, ALLOW_LIST_PAGE)
    with not_measured("epsrv-other"):
        service_page.check_service_page(page, "epsrv-other", CONNECTIONS_PAGE, ALLOW_LIST_PAGE)
    theirs = client.get(f"{service_page.ADMIN}?q={service.service_id}")
    service_page.check_admin(theirs, service.service_id, 60)
    with not_measured("shows 60 rows, not 100"):
        service_page.check_admin(theirs, service.service_id, 100)


def test_the_service_page_checks_refuse_the_sign_in_pages(sign_in_page, admin_sign_in_page):
    for response in sign_in_page:
        with not_measured("not the page"):
            service_page.check_service_page(response, "epsrv-x", 1, 1)
    for response in admin_sign_in_page:
        with not_measured("not the page"):
            service_page.check_admin(response, "epsrv-x", 1)


def test_the_service_page_queries_must_not_grow_with_its_rows():
    service_page.check_queries({10: 12, 1000: 12})
    with not_measured("12 with 10 of each, 14 with 1000 of each"):
        service_page.check_queries({10: 12, 1000: 14})


# --- simulator.py ---


def test_the_simulator_check_passes_what_the_simulator_answers(simulator):
    from alibabacloud_privatelink20200415 import models

    def create():
        return simulator.client.create_vpc_endpoint_service(
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
        ).body.service_id

    port = int(simulator.endpoint.rsplit(":", 1)[1])
    simulator.configure(create_delay=0)
    service_id = create()
    _rate, answers, errors = simulator_bench.measure(port, service_id, 4, 2)
    simulator_bench.check_answers("simulator", answers, errors, 4, service_id)
    simulator_bench.check_health(simulator.control("health"))
    canned = simulator_bench.CANNED["ServiceId"]
    with not_measured(f"4 answers were not {canned} Active"):
        simulator_bench.check_answers("bare server", answers, errors, 4, canned)
    with not_measured("4 calls answered of the 8 timed"):
        simulator_bench.check_answers("simulator", answers, errors, 8, service_id)


def test_the_simulator_check_refuses_errors_and_a_service_not_yet_active(simulator):
    port = int(simulator.endpoint.rsplit(":", 1)[1])
    _rate, answers, errors = simulator_bench.measure(port, "epsrv-nosuchservice00000", 2, 1)
    with not_measured("1 client threads failed"):
        simulator_bench.check_answers("simulator", answers, errors, 2, "epsrv-nosuchservice00000")
    with not_measured("1 answers were not epsrv-a Active"):
        simulator_bench.check_answers("simulator", [("epsrv-a", "Creating")], [], 1, "epsrv-a")
    with not_measured("not ok with the 1 service made"):
        simulator_bench.check_health(simulator.control("health"))


# --- drift.py ---


def test_the_drift_checks_want_every_change_found_with_its_event():
    found = {"listed": 1000, "new": 0, "gone": 0, "changed": 20, "calls": 21}
    drift.check_pass(found, 20, 1000, 20)
    with not_measured("found 19 services changed, not the 20"):
        drift.check_pass({**found, "changed": 19}, 19, 1000, 20)
    with not_measured("recorded 0 drift events for the 20"):
        drift.check_pass(found, 0, 1000, 20)
    with not_measured("listed 900 services of 1000"):
        drift.check_pass({**found, "listed": 900, "gone": 100}, 20, 1000, 20)


def test_the_drift_floor_and_load_checks():
    drift.check_floor(30, 10_000, 20)
    with not_measured(r"ceil\(10000/1000\) \+ 20 = 30"):
        drift.check_floor(20, 10_000, 20)
    drift.check_loaded(1000, 1000, 1000)
    with not_measured("recorded 999 services of the 1000"):
        drift.check_loaded(1000, 999, 1000)


# --- soak.py ---


def test_the_soak_counts_lost_and_duplicated_services():
    held = [{"ServiceId": "epsrv-a"}, {"ServiceId": "epsrv-b"}]
    assert soak.outcome([("active", "epsrv-a"), ("active", "epsrv-b")], held) == (2, 0, 0)
    assert soak.outcome([("active", "epsrv-a"), ("failed", "")], held) == (1, 1, 1)
    assert soak.outcome([("active", "epsrv-a"), ("active", "epsrv-a")], held) == (2, 0, 2)


def test_a_soak_that_lost_a_request_exits_non_zero():
    soak.check_outcome(2, 2, 2, 0, 0)
    with pytest.raises(SystemExit, match="1 of 2 requests active, 2 services in the simulator"):
        soak.check_outcome(2, 1, 2, 1, 1)


def test_a_soak_without_kills_or_faults_is_not_measured():
    args = soak.argparse.Namespace(kill_every=4.0, throttle_rate=0.3, error_rate=0.1)
    soak.check_soaked(args, 3, 5, 1)
    with not_measured("no worker was SIGKILLed"):
        soak.check_soaked(args, 0, 5, 1)
    with not_measured("no call was throttled"):
        soak.check_soaked(args, 3, 0, 1)
    with not_measured("no call failed with a 5xx"):
        soak.check_soaked(args, 3, 5, 0)
    calm = soak.argparse.Namespace(kill_every=4.0, throttle_rate=0, error_rate=0)
    soak.check_soaked(calm, 3, 0, 0)


def test_the_soak_tells_throttled_and_failed_calls():
    calls = [
        {"outcome": "ok", "status": 200},
        {"outcome": "Throttling.User", "status": 400},
        {"outcome": "ServiceUnavailable", "status": 503},
        {"outcome": "ConnectionError", "status": None},
    ]
    assert soak.faults_met(calls) == (1, 1)


@pytest.mark.django_db
def test_the_pipelines_requests_are_made_as_people_make_them(simulator):
    """bench/support.approved_requests, which the pipeline, profile and soak runs start from:
    created, submitted and approved through the services, ready for the worker."""
    from portal.service_requests.models import ServiceRequest, State

    made = support.approved_requests(
        2, resource_type="nlb", resource_prefix="nlb-hzpool", username="bench-test"
    )
    assert len(made) == 2 and all(token for _pk, token in made)
    assert set(ServiceRequest.objects.values_list("state", flat=True)) == {State.APPROVED}


def test_the_role_bench_refuses_a_session_in_another_account(monkeypatch, simulator):
    """bench/assume_role.py times calls through the payments role only once the cloud takes
    its session for one in the payments account."""
    from bench import assume_role
    from portal.cloud import services as cloud

    def elsewhere(reach=cloud.HOME):
        return {
            "account_id": "1000000000000003",
            "arn": "acs:ram::1:root",
            "identity_type": "",
        }, None

    monkeypatch.setattr(cloud, "caller_identity", elsewhere)
    with not_measured("not a session in 1000000000000004"):
        assume_role.measure(None, cloud, type("Args", (), {"calls": 1, "rounds": 1}))

"""The approver's panel on a request's page: what changed since the revision they (or anyone)
last saw, the comments so far, and who has approved and who still can."""

import re
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portal.requests import services
from portal.service_requests import revisions
from portal.service_requests.models import RevisionSeen, State
from tests.support.factories import ServiceRequestFactory, UserFactory
from tests.support.helpers import decide

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}
SEEN_TABLE = RevisionSeen._meta.db_table


def submitted(requester, **fields):
    """A request submitted the way the portal does it, so that its submission is in the log."""
    request = ServiceRequestFactory(requester=requester, **fields)
    services.service_request_submit(service_request=request, actor=requester)
    request.refresh_from_db()
    assert request.state == State.PENDING_APPROVAL
    return request


def edit_and_resubmit(request, requester, **changes):
    """The requester edits a sent-back request (fields, and `resources` / `tags` rows) and
    submits it again."""
    request.refresh_from_db()
    fields, resources, tags = request.create_parameters()
    fields["justification"] = request.justification
    resources = changes.pop("resources", resources)
    tags = changes.pop("tags", tags)
    fields.update(changes)
    services.service_request_update(
        pk=request.pk, actor=requester, fields=fields, resources=resources, tags=tags
    )
    request.refresh_from_db()
    services.service_request_submit(service_request=request, actor=requester)
    request.refresh_from_db()
    assert request.state == State.PENDING_APPROVAL
    return request


def section(html, element_id):
    """The inner HTML of the element with `element_id`, up to its closing tag."""
    start = re.search(rf'<(\w+) id="{element_id}"[^>]*>', html)
    assert start, f"no #{element_id}"
    tag = start.group(1)
    return html[start.end() : html.index(f"</{tag}>", start.end())]


def text(markup):
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", markup)).strip())


SECOND_ZONE = {
    "resource_type": "nlb",
    "resource_id": "nlb-hzpool000001",
    "zone_id": "cn-hangzhou-i",
}


def test_an_edit_and_resubmission_shows_as_a_diff_with_the_send_back(
    login, requester, approver, approver2
):
    request = submitted(requester, service_description="Orders API", tags=[("team", "pay")])
    first = request.revision
    decide(login(approver2), request, "send_back", comment="Name the version; add a zone.")
    request = edit_and_resubmit(
        request,
        requester,
        service_description="Orders API v2",
        justification="Team X needs private access to its API from the new VPC.",
        resources=[
            {
                "resource_type": "nlb",
                "resource_id": "nlb-hz0000000000000001",
                "zone_id": "cn-hangzhou-h",
            },
            SECOND_ZONE,
        ],
        tags=[{"key": "team", "value": "payments"}, {"key": "env", "value": "prod"}],
    )
    html = login(approver).get(f"/requests/{request.pk}/").content.decode()
    changes = section(html, "changes")
    assert "Resubmitted after approver2 sent it back: “Name the version; add a zone.”" in text(
        changes
    )
    assert f"What changed since revision {first}" in changes
    assert "the last one decided on: approver2 sent it back" in changes
    lines = [text(li) for li in re.findall(r"<li class=\"diff-\w+\">(.*?)</li>", changes, re.S)]
    assert lines == [
        "~ changed: description: “Orders API” → “Orders API v2”",
        "+ added: resource nlb nlb-hzpool000001 in cn-hangzhou-i",
        "~ changed: tag team: pay → payments",
        "+ added: tag env=prod",
        "~ changed: justification: Team X needs private access to its API.API from the new VPC.",
    ]
    # The prose shows which words went and which came.
    assert "its <del>API.</del><ins>API from the new VPC.</ins>" in changes


def test_a_request_the_log_holds_no_earlier_submission_of_shows_no_diff(login, approver):
    request = ServiceRequestFactory(state=State.PENDING_APPROVAL, revision=5, history=False)
    html = login(approver).get(f"/requests/{request.pk}/").content.decode()
    assert "No earlier submission to compare with." in text(section(html, "changes"))


def test_what_each_decider_saw_is_kept_once_per_revision_and_never_by_a_poll(
    login, requester, approver, approver2
):
    request = submitted(requester, service_description="Orders API", auto_accept_enabled=True)
    opened = request.revision
    client = login(approver)
    page = client.get(f"/requests/{request.pk}/").content.decode()
    assert "No earlier submission to compare with." in page
    seen = RevisionSeen.objects.get(request=request, user=approver)
    assert (seen.revision, seen.previous_revision) == (opened, None)
    # Opening it again writes nothing.
    with CaptureQueriesContext(connection) as queries:
        client.get(f"/requests/{request.pk}/")
    writes = [q["sql"] for q in queries.captured_queries if SEEN_TABLE in q["sql"]]
    assert writes and all(sql.lstrip().upper().startswith("SELECT") for sql in writes)

    decide(login(approver2), request, "send_back", comment="rename it")
    request = edit_and_resubmit(request, requester, service_description="Orders API v2")
    # The open page's poll brings the new revision and its diff, and records nothing.
    client.force_login(approver)
    url = f"/requests/{request.pk}/status/?v=1&s=pending_approval&r={opened}"
    with CaptureQueriesContext(connection) as queries:
        poll = client.get(url, headers=HTMX).content.decode()
    assert '<section id="changes" hx-swap-oob="true">' in poll
    assert f"What changed since revision {opened}" in poll
    assert not [
        q for q in queries.captured_queries if SEEN_TABLE in q["sql"] and "SELECT" not in q["sql"]
    ]
    assert RevisionSeen.objects.get(request=request, user=approver).revision == opened

    page = client.get(f"/requests/{request.pk}/").content.decode()
    assert f"What changed since revision {opened}" in page
    assert "the last one you saw" in page
    seen.refresh_from_db()
    assert (seen.revision, seen.previous_revision) == (request.revision, opened)
    # A reload still compares with what they saw before this revision, not with itself.
    again = client.get(f"/requests/{request.pk}/").content.decode()
    assert section(again, "changes") == section(page, "changes")
    assert RevisionSeen.objects.filter(request=request).count() == 1


def test_each_decider_compares_with_their_own_last_look(login, requester, approver, approver2):
    request = submitted(requester, service_description="v1", auto_accept_enabled=True)
    first = request.revision
    login(approver).get(f"/requests/{request.pk}/")
    decide(login(approver2), request, "send_back", comment="more")
    request = edit_and_resubmit(request, requester, service_description="v2")
    second = request.revision
    decide(login(approver2), request, "send_back", comment="and more")
    request = edit_and_resubmit(request, requester, service_description="v3")
    mine = login(approver).get(f"/requests/{request.pk}/").content.decode()
    assert f"What changed since revision {first}" in mine
    assert "description: “v1” → “v3”" in mine
    # approver2 never opened the page: the last revision anyone decided on.
    theirs = login(approver2).get(f"/requests/{request.pk}/").content.decode()
    assert f"What changed since revision {second}" in theirs
    assert "description: “v2” → “v3”" in theirs
    assert "Resubmitted after approver2 sent it back: “and more”" in theirs
    # The requester is shown the same, and nothing is kept of what they saw.
    own = login(requester).get(f"/requests/{request.pk}/").content.decode()
    assert "description: “v2” → “v3”" in own
    assert not RevisionSeen.objects.filter(user=requester).exists()


def test_only_deciders_of_a_pending_request_are_tracked(login, requester, approver, auditor):
    pending = submitted(requester)
    draft = ServiceRequestFactory(requester=requester)
    for user, request in [(requester, pending), (auditor, pending), (approver, draft)]:
        assert login(user).get(f"/requests/{request.pk}/").status_code == 200
    assert not RevisionSeen.objects.exists()


def test_a_resubmission_without_a_change_says_so(login, requester, approver, approver2):
    request = submitted(requester)
    decide(login(approver2), request, "send_back", comment="Are you sure?")
    request.refresh_from_db()
    login(requester).post(f"/requests/{request.pk}/submit/")
    request.refresh_from_db()
    html = login(approver).get(f"/requests/{request.pk}/").content.decode()
    assert "Resubmitted after approver2 sent it back: “Are you sure?”" in html
    assert f"Nothing changed: revision {request.revision} says exactly what" in html


def test_the_comments_are_pinned_in_order_with_who_and_when(login, requester, approver, approver2):
    request = submitted(requester, auto_accept_enabled=True)
    sent_back_at = request.revision
    decide(login(approver2), request, "send_back", comment="Say which team.")
    request = edit_and_resubmit(request, requester, justification="Team payments needs it.")
    decide(login(approver), request, "approve", comment="Fine by me.")
    html = login(requester).get(f"/requests/{request.pk}/").content.decode()
    thread = section(html, "thread")
    entries = [text(li) for li in re.findall(r"<li>(.*?)</li>", thread, re.S)]
    assert len(entries) == 2
    assert entries[0].startswith(f"approver2 sent back revision {sent_back_at}")
    assert entries[0].endswith("Say which team.")
    assert entries[1].startswith(f"approver approved revision {request.revision}")
    assert entries[1].endswith("Fine by me.")
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", entries[0])
    # Above the decision, not only at the foot of the history.
    assert html.index('id="thread"') < html.index('id="approvals"') < html.index('id="history"')


def test_a_rejection_reason_stays_at_the_top_once_final(login, requester, approver):
    request = submitted(requester)
    decide(login(approver), request, "reject", comment="Use the shared gateway instead.")
    html = login(requester).get(f"/requests/{request.pk}/").content.decode()
    assert "approver rejected revision" in text(section(html, "thread"))
    assert "Use the shared gateway instead." in section(html, "thread")


def test_comments_and_diffs_are_escaped(login, requester, approver, approver2):
    request = submitted(requester)
    decide(login(approver2), request, "send_back", comment="<script>alert(1)</script>")
    request = edit_and_resubmit(request, requester, justification="<img src=x onerror=alert(2)>")
    html = login(approver).get(f"/requests/{request.pk}/").content.decode()
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(2)&gt;" in html


def test_who_has_approved_and_who_still_can(login, requester, approver, approver2, groups):
    approver3 = UserFactory(username="approver3")
    approver3.groups.add(groups["approvers"])
    UserFactory(username="gone", is_active=False).groups.add(groups["approvers"])
    UserFactory(username="admin", is_superuser=True)
    request = submitted(approver3, auto_accept_enabled=True)  # an approver's own request
    decide(login(approver), request, "approve", comment="ok")
    html = login(approver2).get(f"/requests/{request.pk}/").content.decode()
    approvals = text(section(html, "approvals"))
    assert "this request needs 2 approvals: auto-accept is on · 1 so far" in approvals
    assert f"approver: approved revision {request.revision}" in approvals
    # Neither the requester, who may not, nor who has decided, nor an inactive account.
    assert "1 more needed, from any of: admin, you (approver2)." in approvals
    assert "policy-shortfall" not in html


def test_a_break_glass_account_is_not_named_among_who_may_approve(
    login, requester, approver, settings
):
    """It may decide (an admin) but is for emergencies: nobody waits on it, and a request only
    it could decide still says it waits for ever."""
    settings.BREAK_GLASS_USERS = ["breakglass"]
    UserFactory(username="breakglass", is_superuser=True)
    request = submitted(requester)
    approvals = text(
        section(login(approver).get(f"/requests/{request.pk}/").content.decode(), "approvals")
    )
    assert "1 more needed, from any of: you (approver)." in approvals
    assert "breakglass" not in approvals
    lonely = submitted(approver)  # an approver's own request: nobody else but the account
    html = login(approver).get(f"/requests/{lonely.pk}/").content.decode()
    assert "policy-shortfall" in html


def test_who_still_can_lists_a_few_and_counts_the_rest(login, requester, approver, groups):
    for n in range(12):
        UserFactory(username=f"lead{n:02d}").groups.add(groups["approvers"])
    request = submitted(requester)
    approvals = text(
        section(login(approver).get(f"/requests/{request.pk}/").content.decode(), "approvals")
    )
    assert "1 more needed, from any of: you (approver), lead00," in approvals
    assert "lead08 and 3 more." in approvals


def test_nobody_left_to_approve_is_said_with_the_shortfall(login, approver, approver2):
    request = submitted(approver, auto_accept_enabled=True)
    decide(login(approver2), request, "approve")
    html = login(approver).get(f"/requests/{request.pk}/").content.decode()
    assert "1 more needed, and nobody left who may give it." in text(section(html, "approvals"))
    assert 'id="policy-shortfall"' in html


def test_an_approval_by_someone_else_moves_who_still_can_on_the_live_page(
    login, requester, approver, approver2
):
    request = submitted(requester, auto_accept_enabled=True)
    client = login(approver)
    client.get(f"/requests/{request.pk}/")
    decide(login(approver2), request, "approve", comment="looks right")
    client.force_login(approver)
    url = f"/requests/{request.pk}/status/?v=1&s=pending_approval&r={request.revision}"
    poll = client.get(url, headers=HTMX).content.decode()
    assert "1 more needed, from any of: you (approver)." in text(section(poll, "approvals"))
    assert "looks right" in section(poll, "thread")
    assert 'id="changes"' not in poll  # the revision did not move: the diff stays as it is


def test_a_change_request_diff_shows_its_plan(login, requester, approver, approver2, service):
    from tests.support.day2 import form

    client = login(requester)
    client.post(
        f"/services/{service.service_id}/change/",
        form(service, service_description="first", action="submit"),
    )
    request = service.requests.get(kind="change")
    assert request.state == State.PENDING_APPROVAL
    decide(login(approver2), request, "send_back", comment="add the env tag")
    request = edit_and_resubmit(request, requester, tags=[{"key": "env", "value": "prod"}])
    html = login(approver).get(f"/requests/{request.pk}/").content.decode()
    changes = text(section(html, "changes"))
    assert "+ added: tag env=prod" in changes
    assert '+ added: operation TagResources {"tags": [{"key": "env", "value": "prod"}]}' in changes


def test_content_diff_of_regions_order_and_other_keys():
    before = {
        "supported_region_list": ["cn-hangzhou"],
        "resources": [
            {"resource_type": "nlb", "resource_id": "a", "zone_id": "z1"},
            {"resource_type": "nlb", "resource_id": "b", "zone_id": "z2"},
        ],
        "auto_accept_enabled": False,
        "target_owner": 3,
    }
    after = {
        **before,
        "supported_region_list": ["cn-shanghai"],
        "resources": list(reversed(before["resources"])),
        "auto_accept_enabled": True,
        "target_owner": 4,
    }
    assert [(line.sign, line.text) for line in revisions.content_diff(before, after)] == [
        ("~", "auto-accept: off → on"),
        ("+", "supported region cn-shanghai"),
        ("-", "supported region cn-hangzhou"),
        ("~", "resources: the same, in another order"),
        ("~", "target owner: 3 → 4"),
    ]


def test_a_long_justification_is_compared_whole():
    before, after = "word " * 3000, "other " * 3000
    [line] = revisions.content_diff({"justification": before}, {"justification": after})
    assert line.words == (("removed", before), ("added", after))


def test_the_panel_costs_the_same_queries_however_long_the_story(
    login, requester, approver, approver2
):
    def opened(request):
        client = login(approver)
        client.get(f"/requests/{request.pk}/")  # the first look writes what they saw
        with CaptureQueriesContext(connection) as queries:
            html = client.get(f"/requests/{request.pk}/").content.decode()
        return len(queries.captured_queries), html

    short = submitted(requester, service_description="round 0")
    decide(login(approver2), short, "send_back", comment="again")
    short = edit_and_resubmit(short, requester, service_description="round 1")
    long = submitted(requester, service_description="round 0")
    for n in range(1, 6):
        decide(login(approver2), long, "send_back", comment=f"again {n}")
        long = edit_and_resubmit(long, requester, service_description=f"round {n}")
    short_queries, _html = opened(short)
    long_queries, html = opened(long)
    assert long_queries == short_queries
    assert len(re.findall(r"<blockquote>", section(html, "thread"))) == 5

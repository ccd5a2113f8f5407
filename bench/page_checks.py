"""What each of the load test's pages must answer to count as that page.

The load test once measured nothing but redirects to the login page for months (its sessions
named a backend the portal no longer had). Every answer is now checked: its status, with
redirects not followed, and a marker only the real page has; full pages must also say who is
signed in. bench/load.py checks every session this way before it starts, and the Locust users
check every answer; an answer that is not its page is a failure that stops the benchmark.
"""

# name: (statuses that are this page, markers its body must hold when it has one)
PAGES = {
    "/ (requester)": ({200}, [b"<h1>My requests</h1>"]),
    "/ (approver)": ({200}, [b"<h2>Waiting for your decision</h2>", b"<h1>My requests</h1>"]),
    "/approvals/": ({200}, [b"<h1>Approvals</h1>", b'id="waiting-for-you"']),
    # A poll that finds nothing changed is an empty 204; a change brings the fragment.
    "/approvals/ (poll)": ({200, 204}, [b'id="queue"']),
    "/approvals/count/ (poll)": ({200, 204}, [b'id="pending-count"']),
    "/requests/[id]/status/ (poll)": ({200, 204, 286}, [b'id="status"']),
    "/requests/[id]/": ({200}, [b"<h1>Request #", b'id="status"']),
    "/requests/[id]/ (approver)": ({200}, [b"<h1>Request #", b'id="status"']),
    "/audit/": ({200}, [b"<h1>History</h1>", b'<table id="history">']),
    "/audit/requests/[id]/": ({200}, [b'<table id="timeline">']),
    "/audit/export.csv (filtered)": ({200}, [b"id,created_at,submitted_at,"]),
    "/services/": ({200}, [b"<h1>Service catalog</h1>"]),
    "/services/[id]/": ({200}, [b'id="service-status"', b'data-drift="']),
}
# The per-page capacity runs (bench/locustfile.py's LOAD_PAGE): who opens which page, by name.
ONE_PAGE = {
    "requester_dashboard": ("requesters", "/", "/ (requester)"),
    "approver_dashboard": ("approvers", "/", "/ (approver)"),
    "approvals": ("approvers", "/approvals/", "/approvals/"),
    "audit": ("auditors", "/audit/", "/audit/"),
}
FRAGMENTS = {"/approvals/ (poll)", "/approvals/count/ (poll)", "/requests/[id]/status/ (poll)"}
DOWNLOADS = {"/audit/export.csv (filtered)"}
# A failure that says this is a real answer the product gave under load (an error page, a
# timeout), not a benchmark that measures the wrong thing.
SERVER_TROUBLE = "server trouble"


def verdict(name, status, body, username):
    """Why an answer is not the page `name` as `username` sees it; None when it is."""
    statuses, markers = PAGES[name]
    if status >= 500 or status == 0:
        return f"{SERVER_TROUBLE}: {status}"
    if status not in statuses:
        where = "a redirect" if 300 <= status < 400 else "an answer"
        return f"{where} ({status}), not the page {name}"
    if status in (204, 286) and not body:
        return None  # an empty poll answer: nothing changed, or polling stops
    missing = [marker.decode() for marker in markers if marker not in body]
    if missing:
        return f"not the page {name}: {', '.join(missing)} missing ({len(body)} bytes)"
    signed_in = f"Log out {username}</button>".encode()
    if name not in FRAGMENTS | DOWNLOADS and signed_in not in body:
        return f"the page {name} is not signed in as {username}"
    return None

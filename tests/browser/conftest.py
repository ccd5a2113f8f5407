"""The browser suite's fixtures: Debian's Chromium, the cast, dialogs and CSP refusals."""

import pytest

from tests.support.browser import PASSWORD, CspWatch
from tests.support.factories import UserFactory


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    }


@pytest.fixture
def people(groups):
    made = {
        name: UserFactory(username=name, password=PASSWORD)
        for name in ("requester", "approver", "auditor")
    }
    made["approver"].groups.add(groups["approvers"])
    made["auditor"].groups.add(groups["auditors"])
    return made


@pytest.fixture
def dialogs(page):
    fired = []
    page.on("dialog", lambda dialog: (fired.append(dialog.message), dialog.dismiss()))
    return fired


@pytest.fixture
def csp_violations(page):
    seen = CspWatch()
    seen.watch(page)
    return seen

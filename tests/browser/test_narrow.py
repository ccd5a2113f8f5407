"""No page scrolls sideways on a 390 px phone (make test-browser): wide tables scroll inside
their own box, long ids wrap, and the page itself stays 390 px wide. Every page, as each role
sees it: tests/support/pages.py's one list, shared with the axe test."""

import pytest

from tests.support.browser import shot
from tests.support.pages import make_cast, make_world, walk

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
WIDTH = 390

# The deepest elements that stick out past the viewport, to say what to fix.
CULPRITS = """
(width) => [...document.querySelectorAll("body *")]
  .filter((e) => e.getBoundingClientRect().right > width + 1)
  .filter((e) => ![...e.children].some((c) => c.getBoundingClientRect().right > width + 1))
  .slice(0, 3)
  .map((e) => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") +
       (e.className && typeof e.className === "string" ? "." + e.className.split(" ")[0] : "") +
       " " + Math.round(e.getBoundingClientRect().right) + "px")
"""


def too_wide(page, visit):
    if (visit.role, visit.note) == ("approver", "decision forms"):
        shot(page, "phone-request")
    width = page.evaluate("document.documentElement.scrollWidth")
    if width <= WIDTH:
        return []
    return [f"{width} px ({', '.join(page.evaluate(CULPRITS, WIDTH))})"]


def test_no_page_scrolls_sideways_at_390_px(live_server, browser, groups, settings):
    settings.CONNECTIONS_MAX_AGE = 3600  # the connections shown are the rows made here
    world = make_world(make_cast(groups))
    wide = walk(browser, live_server.url, world, too_wide, viewport={"width": WIDTH, "height": 844})
    assert wide == [], "\n".join(wide)

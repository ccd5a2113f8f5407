"""axe-core (vendored under tests/vendor/axe-core) finds no accessibility violation, of any
impact, on any page of the portal as each role sees it (make test-browser).

The pages are tests/support/pages.py's one list, shared with the 390 px test.
"""

from pathlib import Path

import pytest
from django.test.signals import template_rendered

from tests.project.test_access_matrix import project_patterns
from tests.support.pages import NOT_PAGES, World, make_cast, make_world, url_names, walk

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
# Every rule axe-core runs by default: WCAG 2.0-2.2 A and AA, and the best practices.
AXE_RUN = """async () => {
  const results = await axe.run(document, {resultTypes: ["violations"]});
  return results.violations.map((v) =>
    `${v.id} (${v.impact}): ${v.help}: ` +
    v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(" | "));
}"""


def test_every_url_of_the_portal_is_visited_or_said_why_not():
    patterns = set(project_patterns())
    visited = url_names(World())
    assert patterns - visited - set(NOT_PAGES) == set(), "add a visit to tests/support/pages.py"
    assert visited & set(NOT_PAGES) == set()


def page_templates():
    """The templates of whole pages: all but the layout and the included `_parts`."""
    return {
        str(path.relative_to(TEMPLATES))
        for path in TEMPLATES.rglob("*.html")
        if path.name != "base.html" and not path.name.startswith("_")
    }


# A wide screen; a phone, where wide tables scroll in their own box; the dark colour scheme,
# which Pico follows from the system's preference (the portal's own colours must too).
SCREENS = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {"viewport": {"width": 390, "height": 844}},
    "dark": {"viewport": {"width": 1280, "height": 800}, "color_scheme": "dark"},
}


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("screen", SCREENS)
def test_axe_finds_no_violation_on_any_page(live_server, browser, groups, settings, screen):
    # The connections shown are the rows made here: no reading of the cloud during the walk.
    settings.CONNECTIONS_MAX_AGE = 3600
    world = make_world(make_cast(groups))
    rendered = set()

    def seen(sender, template, **kwargs):
        rendered.add(template.name)

    template_rendered.connect(seen)
    try:
        violations = walk(
            browser,
            live_server.url,
            world,
            lambda page, visit: page.evaluate(AXE_RUN),
            **SCREENS[screen],
        )
    finally:
        template_rendered.disconnect(seen)
    unseen = [f"{name}: a page template no visit shows" for name in page_templates() - rendered]
    assert violations + unseen == [], "\n".join(violations + unseen)

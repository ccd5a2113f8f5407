"""The insights page in a real browser (make test-browser): every chart drawn, its table beside
it, no script refused by the Content-Security-Policy, nothing sideways at 390 px, and the
tables readable without JavaScript. Saves docs/screenshots/insights.png."""

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from portal.endpoint_services.models import EndpointService
from tests.support.browser import log_in, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
CHARTS = ["outcomes", "decision", "delivery", "pending", "failures", "services"]

# Whether a canvas has any pixel drawn on it, and Chart.js's chart for it.
DRAWN = """
(canvas) => {
  const { width, height } = canvas;
  const pixels = canvas.getContext("2d").getImageData(0, 0, width, height).data;
  let inked = 0;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) inked++;
  return { width, height, inked, chart: Boolean(window.Chart.getChart(canvas)) };
}
"""


@pytest.fixture
def demo(people):
    """A year of history as generate_history makes it, and services in three regions."""
    call_command("generate_history", requests=1500, batch=500, seed=13)
    statuses = ["active"] * 6 + ["creating", "pending", "deleting", "deleted"]
    for n in range(40):
        EndpointService.objects.create(
            service_id=f"epsrv-demo{n:016d}",
            region_id=["cn-hangzhou", "cn-shanghai", "ap-southeast-1"][n % 3],
            status=statuses[n % len(statuses)],
            owner=people["requester"],
        )


def test_insights_draw_every_chart_beside_its_table(
    live_server, browser, page, people, demo, csp_violations
):
    base = live_server.url
    page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, base, "approver")
    page.get_by_role("link", name="Insights").click()
    expect(page.get_by_role("heading", name="Insights", level=1)).to_be_visible()
    for name in CHARTS:
        canvas = page.locator(f"canvas[data-chart='{name}']")
        expect(canvas).to_be_visible()
        drawn = canvas.evaluate(DRAWN)
        assert drawn["chart"], name
        assert drawn["width"] > 100 and drawn["height"] > 100, (name, drawn)
        assert drawn["inked"] > 500, (name, drawn)
        # Its numbers, folded away once the chart is there, one click from view.
        section = page.locator(f"section#{name}")
        table = section.locator(f"table#{name}-table")
        expect(table).to_be_hidden()
        section.get_by_text("The numbers").click()
        expect(table).to_be_visible()
        expect(table.locator("caption")).not_to_be_empty()
        assert table.locator("tbody tr").count() > 0
        section.get_by_text("The numbers").click()
    expect(page.locator("#as-of")).to_contain_text("Figures as of")
    shot(page, "insights")
    assert csp_violations == []

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(page.locator("canvas[data-chart='services']")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_without_javascript_the_tables_show(live_server, browser, people, demo):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    log_in(page, live_server.url, "auditor")
    page.goto(f"{live_server.url}/insights/")
    for name in CHARTS:
        expect(page.locator(f"table#{name}-table")).to_be_visible()
        expect(page.locator(f"section#{name} .chart")).to_be_hidden()
    context.close()


def test_a_bad_range_keeps_what_was_typed(live_server, page, people):
    log_in(page, live_server.url, "auditor")
    page.goto(f"{live_server.url}/insights/")
    page.get_by_label("From", exact=True).fill("2025-03-10")
    page.get_by_label("To", exact=True).fill("2025-03-01")
    page.get_by_role("button", name="Show these weeks").click()
    expect(page.locator("#field-end .field-error")).to_have_text(
        "Choose an end on or after the start."
    )
    expect(page.get_by_label("From", exact=True)).to_have_value("2025-03-10")
    expect(page.get_by_label("To", exact=True)).to_have_value("2025-03-01")
    expect(page.locator("canvas")).to_have_count(0)

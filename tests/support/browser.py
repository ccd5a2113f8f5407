"""What the browser tests share besides fixtures: the demo password, the screenshots' folder,
a watch on Content-Security-Policy refusals."""

from pathlib import Path

from tests.support.idp import log_in as log_in  # the browser tests sign in through it

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PASSWORD = "portal-demo"


class CspWatch(list):
    """The Content-Security-Policy refusals Chromium reports on the pages it watches."""

    def watch(self, page):
        page.on(
            "console",
            lambda message: "Content Security Policy" in message.text and self.append(message.text),
        )
        return page


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

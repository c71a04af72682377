"""The search view in headless Chromium: facet chips narrow the grid; a photo plus words
searches like the photo ("this, but in red"). Keeps a screenshot in test-artifacts/."""

from __future__ import annotations

import base64
import json
import time

from tests.service.http.test_browser import (  # noqa: F401 - fixtures
    REPO,
    Chromium,
    browser,
    chromium,
    server,
)

SCREENSHOT = REPO / "test-artifacts" / "browser-search.png"


def wait_for(chrome: Chromium, session: str, expression: str, what: str, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while True:
        value = chrome.evaluate(session, expression)
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not in {timeout} s"
        time.sleep(0.1)


TILES = """[...document.querySelectorAll('#search-results .tile')].map((t) => ({
  image: t.title, caption: (t.querySelector('.cap') || {}).textContent || ''}))"""


def test_facet_chips_narrow_the_grid_and_photo_plus_words(server, browser) -> None:  # noqa: F811
    target = browser.call("Target.createTarget", url="about:blank")["targetId"]
    session = browser.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
    browser.call(
        "Emulation.setDeviceMetricsOverride",
        session,
        width=1280,
        height=1400,
        deviceScaleFactor=1,
        mobile=False,
    )
    browser.call("Page.navigate", session, url=f"{server}/")
    wait_for(browser, session, "document.readyState === 'complete'", "page load")
    browser.evaluate(
        session,
        """document.getElementById('search-toggle').click();
        document.getElementById('search-q').value = '衬衫';
        document.getElementById('search-go').click();""",
    )
    chip = 'document.querySelector(\'#facets .facet[data-field="color"][data-value="黑色"]\')'
    wait_for(browser, session, f"!!{chip}", "the colour chips")
    before = browser.evaluate(session, TILES)
    assert len(before) == 10 and any("黑色" not in t["caption"] for t in before), before
    browser.evaluate(session, f"{chip}.click()")
    narrowed = wait_for(
        browser,
        session,
        f"""(() => {{ const c = {chip};
          const tiles = {TILES};
          return c && c.getAttribute('aria-pressed') === 'true' && tiles.length ? tiles : null;
        }})()""",
        "the narrowed grid",
    )
    assert len(narrowed) == 2 and all("黑色" in t["caption"] for t in narrowed), narrowed

    # a catalog photo plus 红色: the red product leads, the photo itself is not listed
    browser.evaluate(
        session,
        """const i = document.getElementById('image');
        i.value = '1000.jpg'; i.dispatchEvent(new Event('change'));
        document.getElementById('search-with-photo').checked = true;
        document.getElementById('search-q').value = '红色';
        document.getElementById('search-go').click();""",
    )
    first = wait_for(
        browser,
        session,
        f"""(() => {{ const t = {TILES}; const s = document.getElementById('search-status');
          return t.length && !s.textContent.includes('…') ? t : null; }})()""",
        "the photo + words results",
    )
    assert first[0]["image"] == "sub/1003.jpg", json.dumps(first, ensure_ascii=False)
    assert "1000.jpg" not in [t["image"] for t in first]
    time.sleep(0.5)  # photos paint
    shot = browser.call("Page.captureScreenshot", session, format="png")["data"]
    SCREENSHOT.parent.mkdir(exist_ok=True)
    SCREENSHOT.write_bytes(base64.b64decode(shot))
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

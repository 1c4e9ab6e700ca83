"""The Interventions page in a real browser: a masked word reruns only the page's changes (far
fewer messages than a run of the whole app), stays in the link, and the panels before and after
and the grid of how far each head moved are updated in place with their new values; a click on a
head in that grid selects it everywhere, the sidebar and the link included.

    .venv/bin/python -m pytest tests/browser/test_interventions.py -m browser
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.chromium import requires_chromium
from tests.browser.harness import (  # noqa: F401 - fixtures are used by name
    SEL_CHART,
    browser,
    choose,
    goto,
    new_page,
    no_exceptions,
    offline,
    playwright_instance,
    query_params,
    rerun_and_wait,
    server,
    tabs_context,
)
from tests.browser.test_e2e import _click_mark

pytestmark = [pytest.mark.browser, requires_chromium]

# Past 20 tokens: the panels are images (no cell numbers), the case drawn from a shared template.
TEXT = "the cat sat on the mat and the dog played in the park while she said that it was sleeping near the big red door"
COLD_TIMEOUT = 180.0

# Messages the server sent on Streamlit's websocket so far.
MESSAGES_JS = """
(() => {
  window.__received = 0;
  const WS = window.WebSocket;
  window.WebSocket = class extends WS {
    constructor(...a) { super(...a); this.addEventListener('message', () => { window.__received += 1; }); }
  };
})();
"""


def _received(page: Any) -> int:
    return int(page.evaluate("() => window.__received"))


def _mask(page: Any, word: str) -> None:
    box = page.locator('input[role="combobox"][aria-label*="Words to mask"]').first
    box.click()
    box.fill(word)
    page.get_by_role("option", name=word, exact=True).first.click()
    page.keyboard.press("Escape")


def _roots(page: Any) -> Any:
    """Each drawn chart's root element (its SVG or canvas): the same element after an update in place."""
    return page.evaluate_handle(f"() => Array.from(document.querySelectorAll('{SEL_CHART}'),"
                               f" c => c.querySelector('svg, canvas'))")


def _values_note(page: Any) -> str:
    return page.get_by_text("Highest: layer").first.inner_text()


def test_a_masked_word_redraws_only_what_it_changes_and_a_head_click_selects_everywhere(server, new_page, offline):
    page = new_page()
    page.add_init_script(MESSAGES_JS)
    goto(page, server.page_url("interventions", text=TEXT), min_charts=1, timeout=COLD_TIMEOUT)
    no_exceptions(page)

    before = _received(page)  # a run of the whole app, for scale: the sidebar's Head
    rerun_and_wait(page, lambda: choose(page, "Head", "3"), min_charts=1)
    whole_app = _received(page) - before

    rerun_and_wait(page, lambda: _mask(page, "cat"), min_charts=2)
    no_exceptions(page)
    assert query_params(page).get("maskw", "").count(",") == 0 and query_params(page).get("head") == "3"
    roots, note = _roots(page), _values_note(page)
    assert page.evaluate("r => r.length", roots) == 2  # the panels before and after, and the grid

    before = _received(page)
    rerun_and_wait(page, lambda: _mask(page, "dog"), min_charts=2)
    pick = _received(page) - before
    no_exceptions(page)
    assert pick < whole_app / 2, f"a pick sent {pick} messages, a run of the whole app {whole_app}"
    assert query_params(page).get("maskw", "").count(",") == 1  # both words are in the link
    same = page.evaluate("([a, b]) => a.map((r, i) => r === b[i])", [roots, _roots(page)])
    assert same == [True, True], f"drawn anew instead of updated in place (panels, grid): {same}"
    assert _values_note(page) != note  # the caption says the new values

    count = page.locator(SEL_CHART).count()
    rerun_and_wait(page, lambda: _click_mark(page, count - 1, r"^Head: 2; Layer: 1;"), min_charts=2)
    no_exceptions(page)
    params = query_params(page)
    assert (params.get("layer"), params.get("head")) == ("1", "2"), params
    assert params.get("maskw", "").count(",") == 1  # the words stay masked
    assert page.locator('input[aria-label="Layer"]').first.input_value() == "1"
    assert page.locator('input[aria-label="Head"]').first.input_value() == "2"
    assert offline.needed() == []

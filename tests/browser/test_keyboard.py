"""Everything a mouse does, a keyboard does, and focus is visible (WCAG 2.1.1 and 2.4.7).

One page load of Single head at 1400x900 in Debian's Chromium, then only keys:
- Tab walks from the top of the page through the sidebar: Layer and Head come before the page
  links, every page link of the sidebar is reached, and each stop shows a focus outline of at
  least 2 px (its own, or the outline its select box or text field draws around it);
- the Head select box, reached by Tab, changes the head with ArrowDown and Enter (the link follows);
- the "Focus a query (row)" select box does the same for the focused query row;
- Enter on a page link opens that page, keeping the head.

    .venv/bin/python -m pytest tests/browser/test_keyboard.py -m browser
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from tests.browser.chromium import requires_chromium
from tests.browser.harness import (  # noqa: F401 - fixtures
    PAGE_PATHS,
    browser,
    cached_context,
    goto,
    nav_links,
    no_exceptions,
    playwright_instance,
    query_params,
    rerun_and_wait,
    server,
    url_path,
    wait_for_app_idle,
)

pytestmark = [pytest.mark.browser, requires_chromium]

MAX_TABS = 80  # Tab presses allowed to get from the top of the page past the sidebar's last link

# The focused element as the test sees it, and whether its focus is visible: an outline of 2 px or
# more (or a focus ring drawn as a box-shadow) on it or on the widget box around it.
_FOCUSED_JS = """() => {
  const e = document.activeElement;
  if (!e || e === document.body) return null;
  let visible = false;
  for (let a = e, i = 0; a && i < 5 && !visible; a = a.parentElement, i++) {
    const s = getComputedStyle(a);
    const clear = /rgba\\(.*,\\s*0\\)$/.test(s.outlineColor) || s.outlineColor === 'transparent';
    if (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2 && !clear) visible = true;
    if (/ 0px 0px 0px ([2-9]|\\d\\d)/.test(s.boxShadow || '')) visible = true;
  }
  const href = e.tagName === 'A' && e.href ? new URL(e.href).pathname.replace(/^\\/+|\\/+$/g, '') : null;
  return {tag: e.tagName, role: e.getAttribute('role') || '', label: e.getAttribute('aria-label') || '',
          href: href, sidebar: !!e.closest('[data-testid="stSidebar"]'), visible: visible};
}"""


def _tab_to(page: Any, want: Any, limit: int = MAX_TABS) -> list[dict[str, Any]]:
    """Press Tab until `want(focused)` holds; returns every stop on the way (the last one included)."""
    stops: list[dict[str, Any]] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(_FOCUSED_JS)
        if focused is None:
            continue
        stops.append(focused)
        if want(focused):
            return stops
    raise AssertionError(f"not reached in {limit} Tab presses; stops: {stops[-12:]}")


def _choose_next_option(page: Any, label: str) -> None:
    """In the focused select box `label`: ArrowDown opens its list on the option after the chosen
    one; Enter takes it.

    On a loaded 2-core CI machine the list once did not open within 5 s of the key (one run in
    many; not reproduced here under two busy loops). Only while no list is open is the key pressed
    again, on the same box (focused again by its label if focus moved), so a retry can never skip
    an option: the head the test then reads would show it.
    """
    seen: list[Any] = []
    for _ in range(3):
        focused = page.evaluate(_FOCUSED_JS) or {}
        seen.append(focused)
        if focused.get("label") != label:
            page.locator(f'input[aria-label="{label}"]').focus()
        page.keyboard.press("ArrowDown")
        try:
            page.wait_for_selector('[role="listbox"] [role="option"]', timeout=3_000)
        except Exception:  # noqa: BLE001 - playwright's TimeoutError: no list yet, press again
            continue
        page.keyboard.press("Enter")
        return
    raise AssertionError(f"ArrowDown did not open the list of {label!r}; focus before each press: {seen}")


@pytest.fixture(scope="module")
def tab(browser: Any) -> Any:  # noqa: F811
    context, outside = cached_context(browser, run_counter=True)
    yield context.new_page()
    assert not outside, f"outside requests: {outside}"
    with contextlib.suppress(Exception):
        context.close()


def test_keyboard_reaches_layer_head_and_page_links_with_visible_focus(tab: Any, server: Any) -> None:  # noqa: F811
    page = tab
    goto(page, server.page_url("single_head"), min_charts=1)
    no_exceptions(page)
    links = {path for path, _ in nav_links(page, expand=False)}
    assert len(links) == len(PAGE_PATHS)

    page.locator("body").focus()
    stops = _tab_to(page, lambda f: f["sidebar"] and f["tag"] == "A" and f["href"] == PAGE_PATHS["glossary"])
    labels = [s["label"] for s in stops]
    assert "Layer" in labels and "Head" in labels, f"Layer / Head not reached by Tab: {labels}"
    first_link = next(i for i, s in enumerate(stops) if s["tag"] == "A" and s["sidebar"])
    assert labels.index("Head") < first_link, "the page links come before Layer and Head"
    reached = {s["href"] for s in stops if s["tag"] == "A" and s["sidebar"]}
    assert reached == links, f"page links not reached by Tab: {links - reached}"
    hidden = [s for s in stops if s["sidebar"] and not s["visible"]]
    assert not hidden, f"focus not visible on: {hidden}"

    # Head by keys: Shift+Tab back to the Head select box, then ArrowDown, Enter
    for _ in range(len(stops)):
        page.keyboard.press("Shift+Tab")
        if (page.evaluate(_FOCUSED_JS) or {}).get("label") == "Head":
            break
    assert page.evaluate(_FOCUSED_JS)["label"] == "Head"
    rerun_and_wait(page, lambda: _choose_next_option(page, "Head"), min_charts=1)
    assert query_params(page).get("head") == "1", query_params(page)
    no_exceptions(page)

    # The focused query row by keys, in the main column
    stops = _tab_to(page, lambda f: f["label"] == "Focus a query (row)")
    assert stops[-1]["visible"], stops[-1]
    rerun_and_wait(page, lambda: _choose_next_option(page, "Focus a query (row)"), min_charts=1)
    assert query_params(page).get("q") == "0", query_params(page)

    # A page by keys: Tab to its link, Enter
    page.locator("body").focus()
    _tab_to(page, lambda f: f["sidebar"] and f["href"] == PAGE_PATHS["head_atlas"])
    rerun_and_wait(page, lambda: page.keyboard.press("Enter"), min_charts=1)
    wait_for_app_idle(page, min_charts=1)
    assert url_path(page).strip("/") == PAGE_PATHS["head_atlas"]
    assert query_params(page).get("head") == "1"
    no_exceptions(page)

"""Layout in a real browser: on every page, at 1400x900 and at 420 px wide, nothing is cut off.

For every page in the page table (ui/page_table.py), opened with a 14-token sentence (the
Across layers legends are cut first, from 12 tokens on),
- the page does not scroll sideways: neither the document nor Streamlit's main area (which is
  the element that scrolls in Streamlit) is wider than the window / than itself;
- no chart's right edge passes its container: each `.vega-embed` element and the canvas or SVG
  it drew stay inside their Streamlit element container (`stElementContainer`), to 1 px. A chart
  inside a box that scrolls on its own (overflow-x auto/scroll, that box itself inside the
  container) is allowed: a wide heatmap may scroll in its own box.

One browser context per window size; each page is a fresh `page.goto` (a new Streamlit session on
the module's server, whose caches are warm after the first page).

    .venv/bin/python -m pytest tests/browser/test_layout.py -m browser
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.browser.chromium import requires_chromium
from tests.browser.harness import (  # noqa: F401 - fixtures are used by name
    browser,
    cached_context,
    goto,
    min_charts,
    no_exceptions,
    playwright_instance,
    screenshot,
    server,
    wait_for_stable_layout,
)
from tests.browser.server import PAGES, ROW

pytestmark = [pytest.mark.browser, requires_chromium]

# 14 tokens with [CLS] and [SEP] for the bundled MiniLM (uncased WordPiece): one word per token.
SENTENCE = "The young lawyer questioned the nervous witness because she was lying."
SENTENCE_TOKENS = 14
VIEWPORTS = {"1400x900": {"width": 1400, "height": 900}, "420px": {"width": 420, "height": 900}}
COLD_TIMEOUT = 120.0

# Views besides each page's first visit: the flow bar chart shows once a
# query is focused (URL parameter q). case id -> (page, extra URL parameters, charts drawn).
EXTRA_VIEWS: dict[str, tuple[str, dict[str, str], int]] = {
    "rollout_flow-flow": ("rollout_flow", {"q": "3"}, 2),
}

# Known layout defects, by test id. strict=True: when one is fixed, its test XPASSes and so
# fails: then its row goes. raises=AssertionError: a test that times out or crashes still fails.
_NARROW = ("at 420 px the page scrolls sideways: {} wider than its column and not in "
           "a box that scrolls on its own")
KNOWN: dict[str, str] = {
}

MEASURE_JS = """() => {
  const px = v => Math.round(v * 10) / 10;
  const main = document.querySelector('[data-testid="stMain"]');
  const page = {
    innerWidth: window.innerWidth,
    docScrollWidth: document.documentElement.scrollWidth,
    bodyScrollWidth: document.body.scrollWidth,
    mainScrollWidth: main ? main.scrollWidth : null,
    mainClientWidth: main ? main.clientWidth : null,
  };
  const charts = Array.from(document.querySelectorAll('.vega-embed')).map((embed, index) => {
    const container = embed.closest('[data-testid="stElementContainer"]');
    const drawn = embed.querySelector('svg.marks, canvas.marks, canvas');
    const right = Math.max(embed.getBoundingClientRect().right, drawn ? drawn.getBoundingClientRect().right : -1e9);
    const limit = container ? container.getBoundingClientRect().right : window.innerWidth;
    // a box between the chart and its container (or the container itself) that scrolls sideways
    let scrollBox = null;
    for (let el = embed.parentElement; el; el = el.parentElement) {
      const ox = getComputedStyle(el).overflowX;
      if ((ox === 'auto' || ox === 'scroll') && el.getBoundingClientRect().right <= limit + 1) {
        scrollBox = {overflowX: ox, right: px(el.getBoundingClientRect().right)};
        break;
      }
      if (el === container) break;
    }
    const t = embed.querySelector('.role-title-text, .role-title text');
    const title = t ? t.textContent : (embed.getAttribute('aria-label') || '');
    return {index, title: (title || '').slice(0, 80), right: px(right), containerRight: px(limit),
            inContainer: !!container, scrollBox};
  });
  return {page, charts};
}"""


@pytest.fixture(scope="module")
def contexts(browser) -> Iterator[Callable[[str], tuple[Any, list[str]]]]:
    """One browser context (and tab) per window size, opened on first use. Without request
    routing, so the HTTP cache keeps Streamlit's scripts between pages (outside hosts are still
    unreachable, and every request to one is recorded)."""
    made: dict[str, Any] = {}

    def tab(viewport: str) -> tuple[Any, list[str]]:
        if viewport not in made:
            context, outside = cached_context(browser, viewport=VIEWPORTS[viewport], run_counter=True)
            made[viewport] = (context, context.new_page(), outside)
        _, page, outside = made[viewport]
        return page, outside

    yield tab
    for context, _, _ in made.values():
        context.close()


def _cases() -> list[Any]:
    """Every page in the page table at every window size, and the extra views."""
    views = [(name, name, {}, min_charts(name)) for name in PAGES]
    views += [(case_id, name, params, charts) for case_id, (name, params, charts) in EXTRA_VIEWS.items()]
    out = []
    for viewport in VIEWPORTS:
        for view_id, name, params, charts in views:
            case_id = f"{viewport}-{view_id}"
            marks = [pytest.mark.xfail(reason=KNOWN[case_id], strict=True, raises=AssertionError)] \
                if case_id in KNOWN else []
            out.append(pytest.param(viewport, name, params, charts, id=case_id, marks=marks))
    return out


def test_known_failures_name_real_cases():
    """Every KNOWN row names a case this module runs (a renamed page must not orphan one)."""
    ids = {p.id for p in _cases()}
    assert set(KNOWN) <= ids, set(KNOWN) - ids


def test_the_sentence_has_the_tokens_the_check_needs():
    """The legends were cut from 12 tokens on: the sentence must reach that (one token per word)."""
    words = SENTENCE.rstrip(".").split()
    assert len(words) + 1 + 2 == SENTENCE_TOKENS >= 12  # words, the full stop, [CLS] and [SEP]


def layout_problems(got: dict[str, Any]) -> list[str]:
    """What MEASURE_JS found that is cut off: the page scrolling sideways, a chart past its container."""
    problems = []
    p = got["page"]
    if p["docScrollWidth"] > p["innerWidth"] + 1:
        problems.append(f"the page scrolls sideways: document {p['docScrollWidth']} px wide in a "
                        f"{p['innerWidth']} px window")
    if p["mainScrollWidth"] is not None and p["mainScrollWidth"] > p["mainClientWidth"] + 1:
        problems.append(f"the page scrolls sideways: its main area holds {p['mainScrollWidth']} px in "
                        f"{p['mainClientWidth']} px")
    for c in got["charts"]:
        if c["right"] > c["containerRight"] + 1 and not c["scrollBox"]:
            problems.append(f"chart {c['index']} ({c['title']!r}) ends at {c['right']} px, past its container's "
                            f"right edge at {c['containerRight']} px (by {c['right'] - c['containerRight']:.0f} px)")
    return problems


# A page shaped like Streamlit's (stMain scrolls; each element sits in an stElementContainer):
# chart 0 fits, chart 1 is wider than its container, chart 2 is as wide but scrolls in its own box.
_SYNTHETIC = """<!doctype html><html><body style="margin:0">
<section data-testid="stMain" style="width:400px;overflow:auto">
  <div data-testid="stElementContainer" style="width:300px"><div class="vega-embed" style="width:200px">
    <svg class="marks" width="200" height="20"></svg></div></div>
  <div data-testid="stElementContainer" style="width:300px"><div class="vega-embed" style="width:250px">
    <svg class="marks" width="{wide}" height="20"></svg></div></div>
  <div data-testid="stElementContainer" style="width:300px"><div style="overflow-x:auto">
    <div class="vega-embed"><svg class="marks" width="{wide}" height="20"></svg></div></div></div>
</section></body></html>"""


@pytest.mark.parametrize(("wide", "want"), [(280, []), (360, ["chart 1"]), (520, ["main area", "chart 1"])])
def test_the_check_sees_what_is_cut_off(browser, wide, want):
    """The measurement itself: a chart past its container is caught, one that scrolls in its own
    box is not, and content wider than the main area is the page scrolling sideways."""
    context = browser.new_context(viewport=VIEWPORTS["1400x900"])
    try:
        page = context.new_page()
        page.set_content(_SYNTHETIC.format(wide=wide))
        got = page.evaluate(MEASURE_JS)
    finally:
        context.close()
    assert [c["scrollBox"] is not None for c in got["charts"]] == [False, False, True], got["charts"]
    problems = layout_problems(got)
    assert len(problems) == len(want), problems
    for problem, expected in zip(problems, want):
        assert expected in problem, (problem, expected)


@pytest.mark.parametrize(("viewport", "name", "params", "charts"), _cases())
def test_nothing_is_cut_off(viewport, name, params, charts, server, contexts):
    """The page does not scroll sideways, and every chart ends inside its container (or scrolls
    in a box of its own)."""
    page, outside = contexts(viewport)
    goto(page, server.page_url(name, text=SENTENCE, **params), min_charts=charts, timeout=COLD_TIMEOUT)
    no_exceptions(page)
    wait_for_stable_layout(page)
    got = page.evaluate(MEASURE_JS)
    where = f"{ROW[name].title} at {viewport}"
    if charts:
        assert len(got["charts"]) >= charts, f"{where}: {len(got['charts'])} charts to measure, want {charts}"
    problems = layout_problems(got)
    if problems:
        screenshot(page, f"layout_{name}_{viewport}")
    assert not problems, f"{where}: " + "; ".join(problems)
    assert outside == [], outside[:5]

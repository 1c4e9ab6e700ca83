"""Presenter mode in a real browser: readable from the back of a room at 1920x1080.

- Every tutorial step (its answer revealed) and the glossary, opened with ?present=1: no visible
  text under 18 px, chart labels included (presenter charts are SVG, so each label is an element);
  no chart runs past its column or the window; the sidebar is folded into the compact bar.
- Every other page of the page table in presenter mode: no text outside charts under 18 px. Their
  charts are drawn by the pages' own st.altair_chart calls, at laptop sizes, until a page draws
  through ui.presenter.chart: those are listed in KNOWN_CHART_FONTS (strict xfail).
- Light and dark: captions, body text and the charts' axis, legend and title labels have at least
  7:1 contrast against the page (WCAG AAA for normal text).
- Keys: → / ← and PageDown / PageUp move between the tutorial's steps, and the link follows.

    .venv/bin/python -m pytest tests/browser/test_presenter.py -m browser
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

import pytest

from core.tutorial import steps
from tests.browser.chromium import requires_chromium
from tests.browser.harness import (  # noqa: F401 - fixtures are used by name
    RUN_COUNTER_JS,
    Offline,
    browser,
    goto,
    min_charts,
    no_exceptions,
    playwright_instance,
    rerun_and_wait,
    screenshot,
    server,
    wait_for_app_idle,
    wait_for_stable_layout,
)
from tests.browser.server import PAGES

pytestmark = [pytest.mark.browser, requires_chromium]

SCREEN = {"width": 1920, "height": 1080}
MIN_PX = 18.0
MIN_CONTRAST = 7.0
TIMEOUT = 150.0
SENTENCE = "The young lawyer questioned the nervous witness."
CHART_STEPS = [s for s in steps.IDS if s not in ("model", "tokens")]
# Pages whose charts are known to read under 18 px in presenter mode (strict: a page that reaches 18 px
# fails until its row goes). Empty: every page draws its charts through ui.presenter.chart.
KNOWN_CHART_FONTS: dict[str, str] = {}

_TEXTS_JS = """() => {
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const text = node.textContent.trim();
    const el = node.parentElement;
    if (!text || !el || el.closest('[data-testid="stSidebar"], .st-key-present_keys, [data-testid="stTooltipContent"]')) continue;
    const r = el.getBoundingClientRect();
    const cs = getComputedStyle(el);
    if (r.width === 0 || r.height === 0 || cs.visibility === 'hidden' || cs.display === 'none') continue;
    out.push({px: parseFloat(cs.fontSize) * (el.currentCSSZoom || 1), tag: el.tagName, text: text.slice(0, 40),
              chart: !!el.closest('[data-testid="stVegaLiteChart"]'),
              where: (el.closest('[data-testid]') || el).getAttribute('data-testid')});
  }
  return out;
}"""

_CLIPPED_JS = """() => Array.from(document.querySelectorAll('.vega-embed')).map((embed, i) => {
  const box = embed.closest('[data-testid="stElementContainer"]');
  const drawn = embed.querySelector('svg.marks, canvas.marks, canvas') || embed;
  const right = Math.max(embed.getBoundingClientRect().right, drawn.getBoundingClientRect().right);
  let scroller = false;
  for (let el = embed.parentElement; el && el !== box; el = el.parentElement) {
    const o = getComputedStyle(el).overflowX;
    if (o === 'auto' || o === 'scroll') { scroller = true; break; }
  }
  return {i, right, limit: box ? box.getBoundingClientRect().right : window.innerWidth,
          window: window.innerWidth, scroller};
})"""

_CONTRAST_JS = """() => {
  const rgb = c => (c.match(/[\\d.]+/g) || []).slice(0, 3).map(Number);
  const lum = c => { const v = rgb(c).map(x => { x /= 255; return x <= 0.04045 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4; });
                     return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
  const bg = getComputedStyle(document.querySelector('[data-testid="stApp"]')).backgroundColor;
  const ratio = c => { const a = lum(c), b = lum(bg); return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05); };
  const sel = ['[data-testid="stMain"] [data-testid="stCaptionContainer"] p',
               '[data-testid="stMain"] [data-testid="stMarkdownContainer"] p',
               '[data-testid="stVegaLiteChart"] [class*="role-axis"] text',
               '[data-testid="stVegaLiteChart"] [class*="role-legend"] text',
               '[data-testid="stVegaLiteChart"] [class*="role-title"] text'];
  const out = [];
  for (const s of sel) for (const el of document.querySelectorAll(s)) {
    if (el.closest('[data-testid="stAlert"], button, [data-baseweb="tab"]')) continue;  // on their own fills
    const cs = getComputedStyle(el);
    const colour = el.namespaceURI.includes('svg') ? cs.fill : cs.color;
    if (!colour || colour === 'none' || (parseFloat(cs.opacity) || 1) < 1) { out.push({s, text: el.textContent.slice(0, 30), ratio: 0, colour, opacity: cs.opacity}); continue; }
    out.push({s, text: el.textContent.slice(0, 30), ratio: ratio(colour), colour});
  }
  return {bg, items: out};
}"""


def _context(browser: Any, theme: str = "light") -> Any:
    offline = Offline()
    context = browser.new_context(viewport=SCREEN, color_scheme=theme, service_workers="block")
    context.route("**/*", offline.handle)
    context.add_init_script(RUN_COUNTER_JS)
    context.set_default_timeout(TIMEOUT * 1000)
    return context, offline


def _open(page: Any, server: Any, name: str, **params: Any) -> None:
    """Open a page in presenter mode and wait until the bar is drawn and the run is over (a first
    run in Streamlit's v1 mode draws before the router's rerun: waiting for the bar skips it)."""
    goto(page, server.page_url(name, present=1, text=SENTENCE, **params), timeout=TIMEOUT)
    page.locator("button:visible:has-text('Exit presenter')").first.wait_for(timeout=TIMEOUT * 1000)
    wait_for_app_idle(page, min_charts=min_charts(name), timeout=TIMEOUT)
    wait_for_stable_layout(page)


def _reveal(page: Any) -> None:
    button = page.locator("button:visible:has-text('Reveal the answer')")
    if button.count():
        rerun_and_wait(page, lambda: button.first.click(), min_charts=1, timeout=TIMEOUT)
    wait_for_stable_layout(page)


def _small(texts: list[dict], charts: bool) -> list[dict]:
    return [t for t in texts if t["px"] < MIN_PX - 0.01 and t["chart"] == charts]


def _sidebar_folded(page: Any) -> bool:
    return page.evaluate("""() => { const s = document.querySelector('[data-testid="stSidebar"]');
        return !s || s.getBoundingClientRect().width === 0 || getComputedStyle(s).display === 'none'; }""")


@pytest.fixture(scope="module")
def screen(browser: Any) -> Any:
    context, offline = _context(browser)
    yield context
    assert not offline.needed(), f"outside requests: {offline.needed()}"
    context.close()


@pytest.mark.parametrize("step", steps.IDS)
def test_every_tutorial_step_reads_from_the_back_of_the_room(screen: Any, server: Any, step: str) -> None:  # noqa: F811
    page = screen.new_page()
    try:
        _open(page, server, "tutorial", step=step)
        _reveal(page)
        no_exceptions(page)
        assert _sidebar_folded(page)
        texts = page.evaluate(_TEXTS_JS)
        assert texts
        small = _small(texts, charts=False) + _small(texts, charts=True)
        assert not small, f"{step}: text under {MIN_PX} px: {small[:6]}"
        if step in CHART_STEPS:
            assert any(t["chart"] for t in texts), f"{step}: no chart label was measured"
        clipped = [c for c in page.evaluate(_CLIPPED_JS)
                   if c["right"] > c["window"] + 1 or (c["right"] > c["limit"] + 1 and not c["scroller"])]
        assert not clipped, f"{step}: charts past their column: {clipped}"
        if step in ("head", "across"):
            screenshot(page, f"presenter_1920_{step}")
    finally:
        page.close()


@pytest.mark.parametrize("name", [p for p in PAGES if p != "tutorial"])
def test_every_page_has_no_text_under_18_px_outside_its_charts(screen: Any, server: Any, name: str) -> None:  # noqa: F811
    page = screen.new_page()
    try:
        _open(page, server, name)
        no_exceptions(page)
        assert _sidebar_folded(page)
        texts = page.evaluate(_TEXTS_JS)
        small = _small(texts, charts=False)
        assert not small, f"{name}: text under {MIN_PX} px: {small[:6]}"
        chart_small = _small(texts, charts=True)
        if name in KNOWN_CHART_FONTS:
            if chart_small:
                pytest.xfail(KNOWN_CHART_FONTS[name] + f" (smallest {min(t['px'] for t in chart_small):g} px)")
            pytest.fail(f"{name}: its charts now read at {MIN_PX} px: remove it from KNOWN_CHART_FONTS")
        assert not chart_small, f"{name}: chart text under {MIN_PX} px: {chart_small[:6]}"
    finally:
        page.close()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_high_contrast_in_light_and_dark(browser: Any, server: Any, theme: str) -> None:  # noqa: F811
    context, offline = _context(browser, theme)
    try:
        page = context.new_page()
        _open(page, server, "tutorial", step="across")
        _reveal(page)
        found = page.evaluate(_CONTRAST_JS)
        items = found["items"]
        assert any("role-axis" in i["s"] for i in items), "no chart label measured"
        low = [i for i in items if i["ratio"] < MIN_CONTRAST]
        assert not low, f"{theme} (background {found['bg']}): under {MIN_CONTRAST}:1: {low[:6]}"
        screenshot(page, f"presenter_1920_{theme}")
    finally:
        context.close()
    assert not offline.needed()


def _step_of(page: Any) -> str | None:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(page.url).query)).get("step")


def test_keys_move_between_steps(screen: Any, server: Any) -> None:  # noqa: F811
    page = screen.new_page()
    try:
        _open(page, server, "tutorial", step="head")
        page.locator('[data-testid="stMain"] h1').first.click()  # focus the page, not a field

        def press(key: str, want: str) -> None:
            rerun_and_wait(page, lambda: page.keyboard.press(key), timeout=TIMEOUT)
            page.wait_for_function("(want) => new URLSearchParams(location.search).get('step') === want", arg=want,
                                   timeout=30_000)
            assert _step_of(page) == want

        press("ArrowRight", "layer")
        press("ArrowRight", "bertviz")
        press("ArrowLeft", "layer")
        press("PageDown", "bertviz")
        press("PageUp", "layer")
        heading = page.locator('[data-testid="stMain"] h2').first.inner_text()
        assert re.match(r"4\. The layer average", heading), heading
    finally:
        page.close()


def test_the_handout_prints_on_paper_without_the_network(browser: Any, bundled_model: Any) -> None:  # noqa: F811
    """The handout of a step, opened from a file in Chromium and printed to PDF: its title and chart
    are there, the chart fits the paper's width, and nothing is fetched."""
    from core.attention.extract import extract
    from core.render import export
    from core.tutorial import figures, handout, notices, questions
    from core.tutorial.views import StepContext

    res = extract(bundled_model, "The cat sat on the mat.")
    ctx = StepContext(res, 2, 5)
    fig = figures.figure("head", ctx)
    step = steps.by_id("head")
    section = handout.HandoutSection(step.title, step.notebook, step.intro,
                                     tuple(export.chart_to_svg(c) for c in fig.charts),
                                     questions.question_for("head", ctx), tuple(notices.notices_for("head", ctx)),
                                     fig.caption)
    view = handout.HandoutView(model=res.info.display_name, text=res.text, layer=2, head=5)
    document = handout.build(view, [section], part=handout.ANSWER_KEY)  # the copy with the chart
    context, offline = _context(browser)
    try:
        page = context.new_page()
        page.set_content(document, wait_until="load")
        page.emulate_media(media="print")
        assert handout.title_of(view) in page.inner_text("body")
        fits = page.evaluate("""() => { const s = document.querySelector('figure svg').getBoundingClientRect();
            const b = document.body.getBoundingClientRect(); return s.width > 100 && s.right <= b.right + 1; }""")
        assert fits
        pdf = page.pdf(format="A4")
        assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
    finally:
        context.close()
    assert not offline.blocked, offline.blocked

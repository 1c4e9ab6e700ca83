"""Chart text in a real browser: what axe-core does not judge (it skips SVG text).

For every page of the page table (ui/page_table.py), in the light and the dark theme, with and
without presenter mode, at 1400x900, and in the light theme at 420 px (a phone), every drawn
Vega chart is read from the page's SVG:

- fits: the chart's drawing and each of its texts lie inside the chart's column (its Streamlit
  element container, to 1 px) and inside the window;
- not truncated: no text ends in "…" (Vega's mark when a labelLimit or titleLimit cuts a label);
- no overlap: no two visible texts of one chart overlap (their rotated boxes, slightly shrunk:
  a glyph box holds the line's ascent and descent);
- contrast: each text's fill against what is drawn behind its centre (the topmost rect drawn
  before it whose box holds the centre, else the chart's background: the first opaque
  background among its ancestors, else the app's) is at least 4.5:1, or 3:1 for large text
  (24 px, or 18.66 px bold), by the WCAG 2 formula computed here in Python.

Canvas charts (raster heatmaps above 20 tokens draw their cells as one PNG on a canvas) have no
text in the DOM: only their drawing's width is checked; their axes are SVG where a page draws
them as SVG.

KNOWN lists cases with a reported defect not fixed yet (strict xfail: a fix makes it XPASS, which
fails: drop the row). ATTENTION_DASHBOARD_CHART_TEXT_REPORT=/tmp/x.jsonl writes every case's
findings, one JSON line each.

    .venv/bin/python -m pytest -n0 tests/browser/test_chart_text.py -m browser  (pytest.ini adds -n 2)
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from dataclasses import dataclass
from typing import Any

import pytest

from tests.browser.chromium import requires_chromium
from tests.browser.harness import (  # noqa: F401 - fixtures
    PAGE_PATHS,
    SEL_NAV_LINKS,
    browser,
    cached_context,
    goto,
    no_exceptions,
    playwright_instance,
    runs,
    screenshot,
    server,
    wait_for_app_idle,
    wait_for_stable_layout,
)
from ui.page_table import PAGES

pytestmark = [pytest.mark.browser, requires_chromium]

# The layout test's sentence: 14 tokens, where legends and labels are cut first.
SENTENCE = "The young lawyer questioned the nervous witness because she was lying."
VIEWPORTS = {"1400": {"width": 1400, "height": 900}, "420": {"width": 420, "height": 900}}
# (theme, width, presenter mode)
MODES = [("light", "1400", False), ("dark", "1400", False), ("light", "1400", True), ("dark", "1400", True),
         ("light", "420", False)]
MIN_CONTRAST, MIN_CONTRAST_LARGE = 4.5, 3.0
SHRINK = 0.18  # of a text box's height, off its top and bottom: the line box around the glyphs
REPORT = os.environ.get("ATTENTION_DASHBOARD_CHART_TEXT_REPORT", "")
TIMEOUT = 150.0

# Reported and not fixed yet: case id -> why (strict xfail).
KNOWN: dict[str, str] = {
    "across_layers-light-420": "the thumbnail grid is a raster (canvas) chart, 877 px: Vega's canvas renderer picks "
                               "clicks by coordinates, so it cannot be drawn smaller to fit like an SVG chart; it "
                               "scrolls in its own box",
}


def mode_id(theme: str, vw: str, present: bool) -> str:
    return f"{theme}-{vw}" + ("-presenter" if present else "")


# --- WCAG contrast ----------------------------------------------------------------------------------

def parse_colour(css: str) -> tuple[float, float, float, float]:
    """(r, g, b, alpha) of a computed CSS colour "rgb(...)" / "rgba(...)" / "#rrggbb"."""
    css = css.strip()
    if css.startswith("#") and len(css) == 7:
        return int(css[1:3], 16), int(css[3:5], 16), int(css[5:7], 16), 1.0
    nums = [float(x) for x in re.findall(r"[\d.]+", css)]
    if len(nums) < 3:
        raise ValueError(f"not a colour: {css!r}")
    return nums[0], nums[1], nums[2], (nums[3] if len(nums) > 3 else 1.0)


def over(top: tuple[float, float, float, float], below: tuple[float, float, float]) -> tuple[float, float, float]:
    """`top` (with its alpha) composited over an opaque `below`."""
    a = max(0.0, min(1.0, top[3]))
    return tuple(top[i] * a + below[i] * (1 - a) for i in range(3))  # type: ignore[return-value]


def luminance(rgb: tuple[float, float, float]) -> float:
    """WCAG 2 relative luminance of sRGB 0-255 components."""
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (v / 255 for v in rgb)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    la, lb = luminance(a), luminance(b)
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


def is_large(px: float, weight: float) -> bool:
    """WCAG's large text: 18 pt (24 px), or 14 pt (18.66 px) bold."""
    return px >= 24 - 0.01 or (px >= 18.66 - 0.01 and weight >= 700)


# --- overlap of rotated boxes ---------------------------------------------------------------------

Quad = list[tuple[float, float]]


def shrink(quad: Quad, frac: float = SHRINK) -> Quad:
    """The quad (corners in order: top-left, top-right, bottom-right, bottom-left of the text's own
    box) with `frac` of its height off the top and the bottom, and half a pixel off each end."""
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = quad
    vx, vy = x3 - x0, y3 - y0  # down the text's box
    ux, uy = x1 - x0, y1 - y0  # along it
    width = max((ux * ux + uy * uy) ** 0.5, 1e-9)
    ex, ey = ux / width * 0.5, uy / width * 0.5
    dx, dy = vx * frac, vy * frac
    return [(x0 + dx + ex, y0 + dy + ey), (x1 + dx - ex, y1 + dy - ey),
            (x2 - dx - ex, y2 - dy - ey), (x3 - dx + ex, y3 - dy + ey)]


def quads_overlap(a: Quad, b: Quad) -> bool:
    """Separating-axis test for two convex quads (touching is not overlapping)."""
    for quad in (a, b):
        for i in range(4):
            (x0, y0), (x1, y1) = quad[i], quad[(i + 1) % 4]
            nx, ny = y0 - y1, x1 - x0
            pa = [nx * x + ny * y for x, y in a]
            pb = [nx * x + ny * y for x, y in b]
            if max(pa) <= min(pb) + 1e-6 or max(pb) <= min(pa) + 1e-6:
                return False
    return True


# --- reading the page ---------------------------------------------------------------------------------

# Every drawn chart: its column, its drawing, and (SVG) its texts and the filled rects they may sit on,
# in drawing order. Opacity is the product of the element's and its ancestors' up to the SVG.
MEASURE_JS = r"""() => {
  const r1 = v => Math.round(v * 10) / 10;
  const box = r => [r1(r.left), r1(r.top), r1(r.right), r1(r.bottom)];
  const appBg = getComputedStyle(document.querySelector('[data-testid="stApp"]')).backgroundColor;
  const opaque = c => { const m = (c || '').match(/[\d.]+/g); return m && (m.length < 4 || parseFloat(m[3]) > 0.99); };
  const alphaOf = (el, stop) => { let a = 1; for (let e = el; e && e !== stop; e = e.parentElement) {
      const cs = getComputedStyle(e); a *= parseFloat(cs.opacity === '' ? 1 : cs.opacity); if (cs.display === 'none' || cs.visibility === 'hidden') return 0; }
    return a; };
  const opaqueish = c => { const m = (c || '').match(/[\d.]+/g); return !!m && (m.length < 4 || parseFloat(m[3]) > 0.01); };
  const out = [];
  Array.from(document.querySelectorAll('[data-testid="stVegaLiteChart"]')).forEach((chart, index) => {
    const embed = chart.querySelector('.vega-embed') || chart;
    const drawn = embed.querySelector('svg.marks, canvas.marks, canvas');
    if (!drawn) return;
    const dr = drawn.getBoundingClientRect();
    if (dr.width === 0 || dr.height === 0) return;  // in a closed expander or another tab
    const container = chart.closest('[data-testid="stElementContainer"]') || chart;
    let bg = appBg;
    for (let e = drawn; e; e = e.parentElement) { const c = getComputedStyle(e).backgroundColor; if (opaque(c)) { bg = c; break; } }
    const t = embed.querySelector('.role-title-text text, .role-title text');
    const rec = {index, title: (t ? t.textContent : (embed.getAttribute('aria-label') || '')).slice(0, 60),
                 svg: drawn.tagName.toLowerCase() === 'svg', column: box(container.getBoundingClientRect()),
                 drawn: box(dr), window: window.innerWidth, background: bg, texts: [], rects: []};
    if (rec.svg) {
      let order = 0;
      for (const el of drawn.querySelectorAll('*')) {
        order += 1;
        const tag = el.tagName.toLowerCase();
        const mark = el.closest('g[class*="mark-"]');
        const cls = mark ? mark.getAttribute('class') : '';
        if (tag === 'text') {
          const content = (el.textContent || '').trim();
          if (!content) continue;
          const cs = getComputedStyle(el);
          const alpha = alphaOf(el, drawn) * parseFloat(cs.fillOpacity || 1);
          if (alpha <= 0.01 || cs.fill === 'none') continue;
          const b = el.getBBox(), m = el.getScreenCTM();
          if (!m || b.width === 0) continue;
          const pt = (x, y) => [r1(m.a * x + m.c * y + m.e), r1(m.b * x + m.d * y + m.f)];
          rec.texts.push({order, text: content.slice(0, 40), fill: cs.fill, alpha, px: parseFloat(cs.fontSize),
                          weight: parseFloat(cs.fontWeight) || 400, role: cls,
                          quad: [pt(b.x, b.y), pt(b.x + b.width, b.y), pt(b.x + b.width, b.y + b.height), pt(b.x, b.y + b.height)],
                          box: box(el.getBoundingClientRect())});
        } else if ((tag === 'path' || tag === 'rect') && (/mark-rect|mark-group/.test(cls) || el.classList.contains('background'))) {
          const cs = getComputedStyle(el);
          if (!cs.fill || cs.fill === 'none' || cs.fill.startsWith('url') || !opaqueish(cs.fill)) continue;
          const alpha = alphaOf(el, drawn) * parseFloat(cs.fillOpacity || 1);
          if (alpha <= 0.01) continue;
          const r = el.getBoundingClientRect();
          if (r.width === 0 || r.height === 0) continue;
          rec.rects.push({order, fill: cs.fill, alpha, box: box(r)});
        } else if (tag === 'image') {
          const r = el.getBoundingClientRect();
          if (r.width > 0) rec.rects.push({order, fill: 'image', alpha: 1, box: box(r)});
        }
      }
    }
    out.push(rec);
  });
  return out;
}"""


@dataclass
class Finding:
    kind: str  # "fit", "truncated", "overlap", "contrast"
    chart: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind} [{self.chart}] {self.detail}"


def _under(text: dict[str, Any], rects: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The topmost rect drawn before `text` whose box holds the text's centre."""
    x0, y0, x1, y1 = text["box"]
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    found = None
    for r in rects:
        if r["order"] >= text["order"]:
            break
        bx0, by0, bx1, by1 = r["box"]
        if bx0 <= cx <= bx1 and by0 <= cy <= by1:
            found = r
    return found


def _outside(text: dict[str, Any], left: float, right: float) -> bool:
    """Whether the text's glyphs (its shrunk box) reach past the column by more than a pixel."""
    xs = [x for x, _ in shrink([tuple(p) for p in text["quad"]])]
    return max(xs) > right + 1 or min(xs) < left - 1


def findings(charts: list[dict[str, Any]]) -> list[Finding]:
    """What the measured charts get wrong (see the module's docstring)."""
    out: list[Finding] = []
    for c in charts:
        name = f"chart {c['index']} {c['title']!r}"
        left, _, right, _ = c["column"]
        right = min(right, c["window"])
        dl, _, dr, _ = c["drawn"]
        if dr > right + 1 or dl < left - 1:
            out.append(Finding("fit", name, f"drawn {dl:.0f}-{dr:.0f} px in a column {left:.0f}-{right:.0f} px"))
        cut = [t for t in c["texts"] if _outside(t, left, right)]
        if cut:
            out.append(Finding("fit", name, f"{len(cut)} texts past the column ({left:.0f}-{right:.0f} px), e.g. "
                               + ", ".join(f"{t['text']!r} at {t['box'][0]:.0f}-{t['box'][2]:.0f}" for t in cut[:4])))
        truncated = [t["text"] for t in c["texts"] if t["text"].endswith("…")]
        if truncated:
            out.append(Finding("truncated", name, f"{len(truncated)}: " + ", ".join(map(repr, truncated[:5]))))
        texts = c["texts"]
        quads = [shrink([tuple(p) for p in t["quad"]]) for t in texts]
        pairs = []
        for i in range(len(texts)):
            for j in range(i + 1, len(texts)):
                a, b = texts[i]["box"], texts[j]["box"]
                if a[2] < b[0] or b[2] < a[0] or a[3] < b[1] or b[3] < a[1]:
                    continue
                if quads_overlap(quads[i], quads[j]):
                    pairs.append((texts[i]["text"], texts[j]["text"]))
        if pairs:
            out.append(Finding("overlap", name, f"{len(pairs)} pairs, e.g. "
                               + ", ".join(f"{a!r}/{b!r}" for a, b in pairs[:4])))
        background = over(parse_colour(c["background"]), (255, 255, 255))
        low = []
        for t in texts:
            under = _under(t, c["rects"])
            if under is not None and under["fill"] == "image":
                continue  # over a raster image: its pixels are not read here
            if under is not None:
                fill_under = parse_colour(under["fill"])
                behind = over((*fill_under[:3], fill_under[3] * under["alpha"]), background)
            else:
                behind = background
            fill = parse_colour(t["fill"])
            ink = over((*fill[:3], fill[3] * t["alpha"]), behind)
            ratio = contrast(ink, behind)
            need = MIN_CONTRAST_LARGE if is_large(t["px"], t["weight"]) else MIN_CONTRAST
            if ratio < need - 0.005:
                low.append(f"{t['text']!r} {ratio:.2f}:1 ({t['fill']} on "
                           f"{'background' if under is None else under['fill']})")
        if low:
            out.append(Finding("contrast", name, f"{len(low)} texts under {MIN_CONTRAST}:1 (3:1 large), e.g. "
                               + "; ".join(low[:4])))
    return out


# --- opening the pages ---------------------------------------------------------------------------------

_CLOSE_SIDEBAR = '[data-testid="stSidebarCollapseButton"] button'
_SIDEBAR_OPEN = """() => { const s = document.querySelector('[data-testid="stSidebar"]');
  if (!s) return false; const r = s.getBoundingClientRect(); return r.width > 0 && r.right > 0; }"""
_FOLLOW_LINK = """([sel, path]) => {
  const strip = p => p.replace(/^\\/+|\\/+$/g, '');
  if (strip(location.pathname) === path) return false;
  const a = Array.from(document.querySelectorAll(sel)).find(a => strip(new URL(a.href).pathname) === path);
  if (!a) return false;
  a.click();
  return true;
}"""
_AT = "(path) => location.pathname.replace(/^\\/+|\\/+$/g, '') === path"


class Tabs:
    """One browser context, one tab per mode (one Streamlit session each), pages opened by the app's
    own links after a tab's first page, as a student moves between pages."""

    def __init__(self, browser: Any) -> None:  # noqa: F811
        self.browser = browser
        self.context: Any = None
        self.outside: list[str] = []
        self.tabs: dict[str, Any] = {}

    def tab(self, theme: str, vw: str, present: bool) -> Any:
        if self.context is None:
            self.context, self.outside = cached_context(self.browser, VIEWPORTS["1400"], run_counter=True)
        key = mode_id(theme, vw, present)
        if key not in self.tabs:
            page = self.context.new_page()
            page.set_viewport_size(VIEWPORTS[vw])
            page.emulate_media(color_scheme=theme)
            page.set_default_timeout(TIMEOUT * 1000)
            self.tabs[key] = page
        return self.tabs[key]

    def close(self) -> None:
        if self.context is not None:
            with contextlib.suppress(Exception):
                self.context.close()


@pytest.fixture(scope="module")
def tabs(browser: Any) -> Any:  # noqa: F811
    t = Tabs(browser)
    yield t
    t.close()


def open_page(tabs: Tabs, server: Any, name: str, charts: bool, theme: str, vw: str,  # noqa: F811
              present: bool) -> Any:
    page = tabs.tab(theme, vw, present)
    min_charts = 1 if charts else 0
    path = PAGE_PATHS.get(name, name)
    opened = False
    if page.url.startswith(server.url):
        with contextlib.suppress(Exception):
            before = runs(page)
            if page.evaluate(_FOLLOW_LINK, [SEL_NAV_LINKS, path]):
                page.wait_for_function("(n) => (window.__runs || 0) > n", arg=before, timeout=10_000, polling=20)
                wait_for_app_idle(page, min_charts=min_charts, timeout=TIMEOUT)
                opened = bool(page.evaluate(_AT, path))
    if not opened:
        params = {"text": SENTENCE, **({"present": 1} if present else {})}
        goto(page, server.page_url(name, **params), min_charts=min_charts, timeout=TIMEOUT)
    no_exceptions(page)
    if vw == "420" and page.evaluate(_SIDEBAR_OPEN):  # it lies over the page there
        page.locator(_CLOSE_SIDEBAR).first.click()
        page.wait_for_function(f"() => !({_SIDEBAR_OPEN})()", timeout=10_000)
        page.wait_for_timeout(400)
        wait_for_app_idle(page, min_charts=min_charts, timeout=TIMEOUT)
    wait_for_stable_layout(page)
    return page


def _cases() -> list[Any]:
    out = []
    for row in PAGES:
        for theme, vw, present in MODES:
            case = f"{row.name}-{mode_id(theme, vw, present)}"
            marks = [pytest.mark.xfail(reason=KNOWN[case], strict=True, raises=AssertionError)] if case in KNOWN else []
            out.append(pytest.param(row.name, row.charts, theme, vw, present, id=case, marks=marks))
    return out


@pytest.mark.parametrize(("name", "charts", "theme", "vw", "present"), _cases())
def test_chart_text_fits_reads_and_stands_apart(tabs: Tabs, server: Any, name: str, charts: bool,  # noqa: F811
                                                theme: str, vw: str, present: bool) -> None:
    page = open_page(tabs, server, name, charts, theme, vw, present)
    measured = page.evaluate(MEASURE_JS)
    found = findings(measured)
    case = f"{name}-{mode_id(theme, vw, present)}"
    if REPORT:
        with open(REPORT, "a") as f:
            f.write(json.dumps({"case": case, "charts": len(measured),
                                "texts": sum(len(c["texts"]) for c in measured),
                                "findings": [str(x) for x in found]}) + "\n")
    if found:
        with contextlib.suppress(Exception):
            screenshot(page, f"chart_text_{case}")
    assert not found, f"{case}: {len(found)} chart text problems:\n" + "\n".join(f"- {x}" for x in found)


# Past 20 tokens a head grid's panels are images with rows and columns under 18 px.
LONG = "the cat sat on the mat and the dog played in the park while she said that it was sleeping near the big red door"


def test_a_long_text_in_presenter_mode_keeps_its_labels_apart(tabs: Tabs, server: Any) -> None:  # noqa: F811
    """Presenter mode sets every label at 18 px or more: on Interventions' panels before and after
    at 27 tokens (rows of about 10 px) the token axes drop the labels that would overlap instead of
    drawing them on top of each other."""
    page = tabs.tab("light", "1400", True)
    goto(page, server.page_url("interventions", text=LONG, maskw=10, present=1), min_charts=2, timeout=TIMEOUT)
    no_exceptions(page)
    wait_for_stable_layout(page)
    found = findings(page.evaluate(MEASURE_JS))
    assert not found, "\n".join(f"- {x}" for x in found)


# --- the check itself, on a page made for it -------------------------------------------------------

_SYNTHETIC = """<!doctype html><html><body style="margin:0;background:#ffffff">
<div data-testid="stApp" style="background:#ffffff">
<div data-testid="stElementContainer" style="width:300px"><div data-testid="stVegaLiteChart"><div class="vega-embed">
<svg class="marks" width="{width}" height="100" xmlns="http://www.w3.org/2000/svg">
 <g class="mark-rect role-mark"><path d="M0,0h50v50h-50Z" fill="#08306b"></path></g>
 <g class="mark-text role-mark">
  <text x="10" y="30" font-size="12" fill="{cell_ink}">0.07</text>
  <text x="100" y="30" font-size="12" fill="#000">left</text>
  <text x="{second_x}" y="30" font-size="12" fill="#000">right</text>
  <text x="10" y="80" font-size="12" fill="#000">cut…</text>
  <text x="200" y="80" font-size="12" fill="#000" transform="rotate(-45 200 80)">diagonal</text>
  <text x="215" y="80" font-size="12" fill="#000" transform="rotate(-45 215 80)">neighbour</text>
 </g>
</svg></div></div></div></div></body></html>"""


@pytest.mark.parametrize(("width", "cell_ink", "second_x", "want"), [
    (280, "#ffffff", 140, {"truncated"}),
    (280, "#000000", 140, {"truncated", "contrast"}),
    (280, "#ffffff", 115, {"truncated", "overlap"}),
    (360, "#ffffff", 140, {"truncated", "fit"}),
])
def test_the_check_sees_each_defect(browser: Any, width: int, cell_ink: str, second_x: int,  # noqa: F811
                                    want: set[str]) -> None:
    """Black on a dark cell, two labels run together, a cut label, a chart past its column are each
    found; rotated neighbours whose upright boxes overlap (but whose text does not) are not."""
    context = browser.new_context(viewport=VIEWPORTS["1400"])
    try:
        page = context.new_page()
        page.set_content(_SYNTHETIC.format(width=width, cell_ink=cell_ink, second_x=second_x))
        found = findings(page.evaluate(MEASURE_JS))
    finally:
        context.close()
    assert {f.kind for f in found} == want, [str(f) for f in found]


def test_wcag_contrast_formula() -> None:
    assert contrast((0, 0, 0), (255, 255, 255)) == pytest.approx(21.0)
    assert contrast((118, 118, 118), (255, 255, 255)) == pytest.approx(4.54, abs=0.01)
    assert over((0, 0, 0, 0.5), (255, 255, 255)) == pytest.approx((127.5, 127.5, 127.5))
    assert is_large(24, 400) and is_large(19, 700) and not is_large(18, 700)


def test_known_rows_name_real_cases() -> None:
    """Every KNOWN row names a case this module runs (a renamed or removed page must not orphan one)."""
    ids = {p.id for p in _cases()}
    assert set(KNOWN) <= ids, set(KNOWN) - ids

"""WCAG 2.0/2.1 A + AA checks with axe-core on every page (issue 16).

For every page in ui/page_table.py's PAGES, in the light and the dark theme at 1400x900, and in the
light theme at 420x900 (a phone; dark at 420 px is left out to keep the run short: the same text and
colours are checked in dark at 1400 px, and the narrow layout in light), the page is opened in
Debian's Chromium, axe-core is injected from the local npm package into the page and its frames
(frontend/node_modules/axe-core/axe.min.js, pinned in frontend/package.json; `npm ci` in frontend/
installs it, as CI's scripts/check_frontend_bundle.sh does; without it the tests skip and say so)
and run with the tags wcag2a, wcag2aa, wcag21a, wcag21aa. A serious or critical violation fails the
test unless it is in ALLOWED: Streamlit's own markup, named by rule, a CSS selector of the element
and the Streamlit version. Our own markup never goes in ALLOWED.

The window is grown to the page's full height (same width) before axe runs: axe does not check text
that Streamlit's scrolling main column holds below the fold.

Theme: .streamlit/config.toml sets [theme.light] and [theme.dark] but no theme.base, so Streamlit
follows the viewer's `prefers-color-scheme`; the test emulates it with the browser context's
`color_scheme` and checks the app's background really is light / dark.

At 420 px Streamlit's expanded sidebar covers the main column (axe then cannot see the page's own
text), so the test closes the sidebar there first; the sidebar itself is checked at 1400 px.

KNOWN lists the violations of our own markup that issue 16 reports today; those cases are
xfail(strict=True, raises=KnownViolations): a fix makes them pass (XPASS fails: drop the entry),
and any violation NOT in KNOWN still fails the test as usual.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from dataclasses import dataclass
from typing import Any

import pytest

from tests.browser.harness import (  # noqa: F401 - fixtures
    ROOT,
    RUN_COUNTER_JS,
    Offline,
    browser,
    goto,
    no_exceptions,
    playwright_instance,
    requires_chromium,
    server,
    wait_for_app_idle,
)
from ui.page_table import PAGES

STREAMLIT_VERSION = "1.67.0"
AXE_JS = ROOT / "frontend" / "node_modules" / "axe-core" / "axe.min.js"
AXE_VERSION = "4.14"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
FAILING_IMPACTS = {"serious", "critical"}
REPORT = os.environ.get("ATTENTION_DASHBOARD_A11Y_REPORT", "")

VIEWPORTS = {"1400": {"width": 1400, "height": 900}, "420": {"width": 420, "height": 900}}
CASES = [("light", "1400"), ("dark", "1400"), ("light", "420")]

pytestmark = [
    pytest.mark.browser,
    requires_chromium,
    pytest.mark.skipif(not AXE_JS.exists(),
                       reason=f"{AXE_JS.relative_to(ROOT)} is missing: run `npm ci` in frontend/ "
                              f"(axe-core is a pinned devDependency there)"),
]


@dataclass(frozen=True)
class Allowed:
    """A violation inside Streamlit's own markup that we cannot change from the app."""

    rule: str
    selector: str  # CSS selector the offending element must match
    streamlit: str  # the Streamlit version it was seen in
    why: str


ALLOWED: tuple[Allowed, ...] = (
    Allowed("list", 'ul[data-testid="stSidebarNavItems"]', "1.67.0",
            "st.navigation with sections: Streamlit's sidebar nav puts each section's <li>s in a <div> "
            "directly under the <ul> (a <ul> may only hold <li>, <script>, <template>)."),
    Allowed("listitem", '[data-testid="stSidebarNavItems"] li', "1.67.0",
            "same markup as 'list': the nav's <li>s sit in a <div>, not directly in the <ul>."),
)


class KnownViolations(Exception):
    """Only violations listed in KNOWN for this case remain (the case is xfail)."""


@dataclass(frozen=True)
class Known:
    """A violation of OUR markup that issue 16 lists and that is not fixed yet (scoped to elements)."""

    rule: str
    selector: str  # CSS selector the offending element matches
    why: str


# Nothing of ours is known to fail today (the caption links and the overview grids' empty mark layers
# were fixed); a new entry: KNOWN[(page, theme, viewport)] = (Known(rule, selector, why), ...).
KNOWN: dict[tuple[str, str, str], tuple[Known, ...]] = {}


def _cases() -> list[Any]:
    out = []
    for row in PAGES:
        for theme, vw in CASES:
            known = KNOWN.get((row.name, theme, vw))
            reason = "issue 16: " + "; ".join(f"{k.rule}: {k.why}" for k in known or ())
            marks = [pytest.mark.xfail(strict=True, raises=KnownViolations, reason=reason)] if known else []
            out.append(pytest.param(row.name, row.charts, theme, vw, id=f"{row.name}-{theme}-{vw}", marks=marks))
    return out


_RUN_AXE = """async ([tags, allowed, known]) => {
  const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations'],
                                     elementRef: true});
  return r.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map(n => ({
      target: n.target.map(t => Array.isArray(t) ? t.join(' >>> ') : t).join(' | '),
      html: n.html.slice(0, 160),
      impact: n.impact || v.impact,
      summary: (n.failureSummary || '').split('\\n').slice(1, 2).join(' ').trim().slice(0, 240),
      allowed: allowed.filter(a => a[0] === v.id).map(a => a[1])
                      .some(sel => !!n.element && n.element.matches(sel)),
      known: known.filter(a => a[0] === v.id).map(a => a[1])
                  .some(sel => !!n.element && n.element.matches(sel)),
    })),
  }));
}"""

# Streamlit 1.67: the sidebar's "close" button (shown on hover at desktop width, always on a phone).
_CLOSE_SIDEBAR = '[data-testid="stSidebarCollapseButton"] button'
# Open = on screen (Streamlit 1.67 sets no aria-expanded; a closed sidebar is moved off to the left).
_SIDEBAR_OPEN = """() => { const s = document.querySelector('[data-testid="stSidebar"]');
  if (!s) return false; const r = s.getBoundingClientRect(); return r.width > 0 && r.right > 0; }"""


_FULL_HEIGHT = """() => Math.max(...['[data-testid="stMain"]', '[data-testid="stSidebarContent"]', 'body']
  .map(sel => document.querySelector(sel)).filter(Boolean).map(e => e.scrollHeight))"""


def _luminance(css: str) -> float:
    r, g, b = (int(x) / 255 for x in re.findall(r"\d+", css)[:3])
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def run_axe(page: Any, known: tuple[Known, ...] = ()) -> list[dict[str, Any]]:
    """Inject axe-core from the local file (no network) and run the WCAG A/AA rules.

    A node inside a frame has no element reference in the top frame, so it never matches ALLOWED or
    KNOWN: any serious violation inside the BertViz frames fails."""
    # Into every frame too (the BertViz component and its srcdoc view): axe.run in the top frame then
    # checks them and reports their nodes with a frame path.
    for frame in page.frames:
        with contextlib.suppress(Exception):  # a frame that went away meanwhile
            if not frame.evaluate("() => typeof window.axe === 'object'"):
                frame.add_script_tag(path=str(AXE_JS))
    assert page.evaluate("() => axe.version").startswith(AXE_VERSION)
    return list(page.evaluate(_RUN_AXE, [WCAG_TAGS, [[a.rule, a.selector] for a in ALLOWED],
                                         [[k.rule, k.selector] for k in known]]))


def open_case(browser: Any, server: Any, name: str, charts: bool, theme: str, vw: str) -> tuple[Any, Any]:
    offline = Offline()
    context = browser.new_context(viewport=VIEWPORTS[vw], color_scheme=theme, service_workers="block")
    context.route("**/*", offline.handle)
    context.add_init_script(RUN_COUNTER_JS)
    page = context.new_page()
    goto(page, server.page_url(name), min_charts=1 if charts else 0)
    no_exceptions(page)
    if vw == "420":
        if page.evaluate(_SIDEBAR_OPEN):
            page.locator(_CLOSE_SIDEBAR).first.click()
            page.wait_for_function(f"() => !({_SIDEBAR_OPEN})()", timeout=10_000)
            page.wait_for_timeout(400)  # the slide-out transition
        wait_for_app_idle(page, min_charts=1 if charts else 0)
    # axe does not see text that Streamlit's scrolling main column holds below the fold (colour contrast of
    # the lower half of a page went unchecked, depending on its height): grow the window to the page's
    # full height (same width, so the same layout) before running it.
    height = int(page.evaluate(_FULL_HEIGHT))
    if height > VIEWPORTS[vw]["height"]:
        page.set_viewport_size({"width": VIEWPORTS[vw]["width"], "height": min(height, 12_000)})
        page.wait_for_timeout(300)
        wait_for_app_idle(page, min_charts=1 if charts else 0)
    bg = page.evaluate("() => getComputedStyle(document.querySelector('[data-testid=\"stApp\"]')).backgroundColor")
    dark = _luminance(bg) < 0.2
    assert dark == (theme == "dark"), f"asked for the {theme} theme, the app's background is {bg}"
    assert not offline.needed(), f"outside requests: {offline.needed()}"
    return context, page


@pytest.mark.parametrize(("name", "charts", "theme", "vw"), _cases())
def test_page_has_no_serious_axe_violation(browser: Any, server: Any, name: str, charts: bool,  # noqa: F811
                                           theme: str, vw: str) -> None:
    known = KNOWN.get((name, theme, vw), ())
    context, page = open_case(browser, server, name, charts, theme, vw)
    try:
        violations = run_axe(page, known)
    finally:
        with contextlib.suppress(Exception):
            context.close()
    if REPORT:  # one JSON line per case, for audits: ATTENTION_DASHBOARD_A11Y_REPORT=/tmp/axe.jsonl
        with open(REPORT, "a") as f:
            f.write(json.dumps({"page": name, "theme": theme, "viewport": vw, "violations": violations}) + "\n")
    new: dict[str, list[dict[str, Any]]] = {}
    old: dict[str, list[dict[str, Any]]] = {}
    for v in violations:
        for n in v["nodes"]:
            if n["impact"] in FAILING_IMPACTS and not n["allowed"]:
                (old if n["known"] else new).setdefault(v["id"], []).append(n)

    def report(found: dict[str, list[dict[str, Any]]]) -> str:
        return "\n".join(f"- {rule} ({len(nodes)}): " + "; ".join(f"{n['target']} :: {n['summary']}"
                                                                 for n in nodes[:4])
                         for rule, nodes in found.items())

    if new:
        pytest.fail(f"{name} ({theme}, {vw} px): serious/critical axe {AXE_VERSION} violations that are neither "
                    f"Streamlit {STREAMLIT_VERSION}'s (ALLOWED) nor known (KNOWN):\n{report(new)}")
    if old:
        raise KnownViolations(f"{name} ({theme}, {vw} px) still has the known violations:\n{report(old)}")


def test_allow_list_names_only_streamlit_markup() -> None:
    """Every ALLOWED entry names Streamlit's own elements (data-testid="st...") and this version."""
    import streamlit

    for a in ALLOWED:
        assert a.streamlit == STREAMLIT_VERSION == streamlit.__version__, a
        assert re.search(r'\[data-testid="st[A-Z]', a.selector), a
        assert a.why

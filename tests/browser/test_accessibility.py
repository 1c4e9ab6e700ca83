"""WCAG 2.0/2.1 A + AA checks with axe-core on every page.

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
follows the viewer's `prefers-color-scheme`; the test emulates it with the tab's `color_scheme`
(page.emulate_media) and checks the app's background really is light / dark.

At 420 px Streamlit's expanded sidebar covers the main column (axe then cannot see the page's own
text), so the test closes the sidebar there first; the sidebar itself is checked at 1400 px.

Speed (the suite runs on a 2-core CI machine): one browser context (HTTP cache kept:
harness.cached_context) holds one tab per (theme, width), one Streamlit session each; a tab's first
page is opened by its address, every later one by the app's own page link (as a student moves
between pages: no reload, no new session, no JavaScript start-up: about 1.6 s of CPU less per case).
A tab keeps the tallest height it grew to, so most pages need no resize at all, and at 420 px the
sidebar, once closed, stays closed. Outside hosts stay unreachable (the
browser's resolver rule) and any request to one fails the case.

KNOWN lists violations of our own markup that are reported and not fixed yet; such cases are
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

from tests.browser.chromium import requires_chromium
from tests.browser.harness import (  # noqa: F401 - fixtures
    PAGE_PATHS,
    ROOT,
    SEL_NAV_LINKS,
    browser,
    cached_context,
    goto,
    no_exceptions,
    playwright_instance,
    runs,
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
    """A violation of OUR markup that is known and not fixed yet (scoped to elements)."""

    rule: str
    selector: str  # CSS selector the offending element matches
    why: str


# Nothing of ours is known to fail; a new entry: KNOWN[(page, theme, viewport)] = (Known(rule, selector, why), ...).
KNOWN: dict[tuple[str, str, str], tuple[Known, ...]] = {}


def _cases() -> list[Any]:
    out = []
    for row in PAGES:
        for theme, vw in CASES:
            known = KNOWN.get((row.name, theme, vw))
            reason = "known violation: " + "; ".join(f"{k.rule}: {k.why}" for k in known or ())
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


_OPEN_SIDEBAR = '[data-testid="stExpandSidebarButton"], [data-testid="stSidebarCollapsedControl"] button'


class Screens:
    """One browser context for the whole module, one tab per (theme, width), created on first use."""

    def __init__(self, browser: Any) -> None:
        self.browser = browser
        self.context: Any = None
        self.outside: list[str] = []
        self.tabs: dict[tuple[str, str], Any] = {}

    def tab(self, theme: str, vw: str) -> Any:
        if self.context is None:
            self.context, self.outside = cached_context(self.browser, VIEWPORTS["1400"], run_counter=True)
        if (theme, vw) not in self.tabs:
            page = self.context.new_page()
            page.set_viewport_size(VIEWPORTS[vw])
            page.emulate_media(color_scheme=theme)
            self.tabs[(theme, vw)] = page
        return self.tabs[(theme, vw)]

    def close(self) -> None:
        if self.context is not None:
            with contextlib.suppress(Exception):
                self.context.close()


@pytest.fixture(scope="module")
def screens(browser: Any) -> Any:  # noqa: F811
    s = Screens(browser)
    yield s
    s.close()


def _sidebar_to(page: Any, open_: bool, min_charts: int) -> None:
    """Open (1400 px) or close (420 px: it covers the main column there) Streamlit's sidebar."""
    if page.evaluate(_SIDEBAR_OPEN) == open_:
        return
    page.locator(_OPEN_SIDEBAR if open_ else _CLOSE_SIDEBAR).first.click()
    page.wait_for_function(f"() => {'' if open_ else '!'}({_SIDEBAR_OPEN})()", timeout=10_000)
    page.wait_for_timeout(400)  # the slide transition
    wait_for_app_idle(page, min_charts=min_charts)


# The app's own link to a page (the sidebar's page links are in the DOM even while the sidebar is closed).
_FOLLOW_LINK = """([sel, path]) => {
  const strip = p => p.replace(/^\\/+|\\/+$/g, '');
  if (strip(location.pathname) === path) return false;
  const a = Array.from(document.querySelectorAll(sel)).find(a => strip(new URL(a.href).pathname) === path);
  if (!a) return false;
  a.click();
  return true;
}"""
_AT = "(path) => location.pathname.replace(/^\\/+|\\/+$/g, '') === path"


def _open(page: Any, server: Any, name: str, min_charts: int) -> None:
    """Open the page by its link in the sidebar (one Streamlit session per tab, as a student moves between
    pages: no reload, so no new session and no JavaScript start-up), or by its address for a tab's first
    page, the same page again, or a page left broken by an earlier case."""
    path = PAGE_PATHS.get(name, name)
    if page.url.startswith(server.url):
        with contextlib.suppress(Exception):  # no such link, or no run came of it: by its address
            before = runs(page)
            if page.evaluate(_FOLLOW_LINK, [SEL_NAV_LINKS, path]):
                page.wait_for_function("(n) => (window.__runs || 0) > n", arg=before, timeout=10_000, polling=20)
                wait_for_app_idle(page, min_charts=min_charts)
                if page.evaluate(_AT, path):
                    return
    goto(page, server.page_url(name), min_charts=min_charts)


_NO_TRANSITIONS = "*, *::before, *::after { transition: none !important; animation: none !important; }"


def open_case(screens: Screens, server: Any, name: str, charts: bool, theme: str, vw: str) -> Any:
    """The page opened in its (theme, width) tab, sidebar as the width wants it, at its full height."""
    page = screens.tab(theme, vw)
    outside_before = len(screens.outside)
    min_charts = 1 if charts else 0
    _open(page, server, name, min_charts)
    no_exceptions(page)
    _sidebar_to(page, vw != "420", min_charts)
    # axe does not see text that Streamlit's scrolling main column holds below the fold (colour contrast of
    # the lower half of a page went unchecked, depending on its height): grow the window to the page's
    # full height (same width, so the same layout) before running it. The tab keeps that height.
    height = int(page.evaluate(_FULL_HEIGHT))
    if height > page.viewport_size["height"]:
        page.set_viewport_size({"width": VIEWPORTS[vw]["width"], "height": min(height, 12_000)})
        page.wait_for_timeout(300)
        wait_for_app_idle(page, min_charts=min_charts)
    # Colours are read as they finally are: a fade or colour transition still running (an element
    # coming back from stale after a rerun) blends text with its background for axe's contrast rule.
    page.add_style_tag(content=_NO_TRANSITIONS)
    # ... and not while a late run (the model panel's timer, a warm-up) holds elements stale: a stale
    # element is drawn faded, which axe reads as low contrast.
    page.wait_for_function("() => !document.querySelector('[data-stale=\"true\"]')", timeout=15_000, polling=50)
    page.wait_for_timeout(50)
    bg = page.evaluate("() => getComputedStyle(document.querySelector('[data-testid=\"stApp\"]')).backgroundColor")
    dark = _luminance(bg) < 0.2
    assert dark == (theme == "dark"), f"asked for the {theme} theme, the app's background is {bg}"
    outside = screens.outside[outside_before:]
    assert not outside, f"outside requests: {outside}"
    return page


@pytest.mark.parametrize(("name", "charts", "theme", "vw"), _cases())
def test_page_has_no_serious_axe_violation(screens: Screens, server: Any, name: str, charts: bool,  # noqa: F811
                                           theme: str, vw: str) -> None:
    known = KNOWN.get((name, theme, vw), ())
    violations = run_axe(open_case(screens, server, name, charts, theme, vw), known)
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

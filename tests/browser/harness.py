"""Browser test harness: waiting for, reading and acting on the app's pages in Debian's Chromium,
and the pytest fixtures (one shared server, the browser, tabs). The app under test is
tests/browser/server.py, the browser tests/browser/chromium.py; async twins of these helpers
are in async_pages.py, a browser-free websocket client in ws_client.py. Import the fixtures
into a test module:

    from tests.browser.harness import browser, server, new_page, wait_for_app_idle  # noqa: F401

- `wait_for_app_idle(page, min_charts=N)`: waits until the script run finished
  (`stApp[data-test-script-state="notRunning"]`, connected, no spinner) and at least N Vega-Lite
  charts have drawn their marks.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.browser.chromium import CHROMIUM, LOCAL_HOSTS, RUN_COUNTER_JS, VIEWPORT, Offline, is_favicon, launch_browser
from tests.browser.server import DEFAULT_PAGE, PAGE_PATHS, ROOT, StreamlitServer, min_charts, streamlit_server

# Streamlit 1.67 DOM facts (inspected in this build's frontend bundle).
SEL_APP = '[data-testid="stApp"]'
SEL_CHART = '[data-testid="stVegaLiteChart"]'
SEL_EXCEPTION = '[data-testid="stException"]'
SEL_ERROR = '[data-testid="stAlertContentError"]'
SEL_WARNING = '[data-testid="stAlertContentWarning"]'
SEL_INFO = '[data-testid="stAlertContentInfo"]'
SEL_ALERT = '[data-testid^="stAlertContent"]'
SEL_SPINNER = '[data-testid="stSpinner"]'
SEL_SKELETON = '[data-testid="stSkeleton"]'
SEL_IFRAME = 'iframe'
SEL_TITLE = 'h1'

# --- browser contexts ------------------------------------------------------------------------

def cached_context(browser: Any, viewport: dict[str, int] | None = None,
                   run_counter: bool = False) -> tuple[Any, list[str]]:
    """A browser context WITHOUT request routing, so the HTTP cache works as in a user's browser
    (Playwright turns the cache off for a context or page with a route handler). Outside hosts
    still cannot be reached (CHROMIUM_ARGS' resolver rule); the list records any such request.
    `run_counter`: count script runs (window.__runs) as new_context does."""
    outside: list[str] = []

    def record(request: Any) -> None:
        url = request.url
        host = urllib.parse.urlsplit(url).hostname or ""
        if not url.startswith(("data:", "blob:", "about:")) and host not in LOCAL_HOSTS and not is_favicon(url):
            outside.append(url)

    context = browser.new_context(viewport=viewport or VIEWPORT, service_workers="block")
    context.on("request", record)
    if run_counter:
        context.add_init_script(RUN_COUNTER_JS)
    return context, outside


def new_context(browser: Any, offline: Offline | None = None) -> tuple[Any, Offline]:
    """A fresh browser context (own cookies/storage = own Streamlit session). Outside hosts are
    unreachable (CHROMIUM_ARGS' resolver rule) and every request to one is recorded in `offline`;
    no request routing, so the HTTP cache works between the context's page loads as in a user's
    browser (Playwright turns it off for a context with a route handler)."""
    offline = offline or Offline()
    context = browser.new_context(viewport=VIEWPORT, service_workers="block")
    context.on("request", offline.record)
    context.add_init_script(RUN_COUNTER_JS)
    return context, offline


# --- waiting and reading ------------------------------------------------------------------------

_IDLE_JS = """([minCharts, selApp, selChart, selSpinner]) => {
  const app = document.querySelector(selApp);
  if (!app) return false;
  if (app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  const conn = app.getAttribute('data-test-connection-state');
  if (conn && conn !== 'CONNECTED') return false;
  if (document.querySelector(selSpinner)) return false;
  if (document.querySelector('[data-testid="stException"]')) return true;  // fail fast: the test reports it
  const charts = Array.from(document.querySelectorAll(selChart));
  const drawn = charts.filter(c => c.querySelector('svg.marks, canvas.marks, canvas'));
  return drawn.length >= minCharts && drawn.length === charts.length;
}"""

# Idle, and idle for `settleMs` without a break: a callback / st.rerun / st.switch_page starts
# another run right after the first one ends, and a run shorter than one poll still counts
# (window.__runs, RUN_COUNTER_JS). `token` makes each call start its own watch.
SETTLED_JS = """([idleArgs, settleMs, token]) => {
  const idle = (%s)(idleArgs);
  const now = performance.now();
  const runs = window.__runs || 0;
  let w = window.__idleWatch;
  if (!w || w.token !== token) w = window.__idleWatch = {token, since: null, runs};
  if (!idle || runs !== w.runs) { w.since = null; w.runs = runs; return false; }
  if (w.since === null) w.since = now;
  return now - w.since >= settleMs;
}""" % _IDLE_JS


DIAG_JS = """([selApp, selChart]) => {
  const app = document.querySelector(selApp);
  const charts = Array.from(document.querySelectorAll(selChart));
  return {
    script: app && app.getAttribute('data-test-script-state'),
    connection: app && app.getAttribute('data-test-connection-state'),
    charts: charts.length,
    drawn: charts.filter(c => c.querySelector('svg.marks, canvas.marks, canvas')).length,
    spinner: !!document.querySelector('[data-testid="stSpinner"]'),
    alerts: Array.from(document.querySelectorAll('[data-testid^="stAlertContent"]')).map(e => e.innerText.slice(0, 160)),
    exception: Array.from(document.querySelectorAll('[data-testid="stException"]')).map(e => e.innerText.slice(0, 300)),
  };
}"""

_watch_tokens = itertools.count(1)


def settled_args(min_charts: int, settle: float) -> list[Any]:
    return [[min_charts, SEL_APP, SEL_CHART, SEL_SPINNER], int(settle * 1000), next(_watch_tokens)]


def wait_for_app_idle(page: Any, min_charts: int = 0, timeout: float = 90.0, settle: float = 0.35) -> float:
    """Wait until the script run is over and >= min_charts charts are drawn; returns seconds waited.

    "Idle" must hold without a break for `settle` seconds (checked in the page every 50 ms, and no
    run may start in between), because a callback / st.rerun / st.switch_page starts another run
    right after the first one ends. No sleeping in Python: the sync API serves route handlers only
    while a Playwright call is in progress.
    """
    t0 = time.perf_counter()
    try:
        page.wait_for_function(SETTLED_JS, arg=settled_args(min_charts, settle), timeout=timeout * 1000,
                               polling=50)
    except Exception as err:  # noqa: BLE001 - say what the page looked like
        try:
            diag = page.evaluate(DIAG_JS, [SEL_APP, SEL_CHART])
        except Exception as inner:  # noqa: BLE001 - the page itself is gone
            diag = f"(page unreadable: {inner})"
        raise TimeoutError(f"app not idle with {min_charts} charts after {timeout} s at {page.url[:160]}: "
                           f"{diag}") from err
    return time.perf_counter() - t0


_STABLE_LAYOUT_JS = """([frames, token]) => {
  const sig = JSON.stringify([window.innerWidth, document.documentElement.scrollWidth,
    Array.from(document.querySelectorAll('[data-testid="stMain"], .vega-embed, iframe'))
      .map(e => { const r = e.getBoundingClientRect(); return [Math.round(r.left), Math.round(r.right),
                                                              Math.round(r.height), e.scrollWidth]; })]);
  let w = window.__layoutWatch;
  if (!w || w.token !== token) w = window.__layoutWatch = {token, sig: null, same: 0};
  if (sig === w.sig) w.same += 1; else { w.sig = sig; w.same = 0; }
  return w.same >= frames;
}"""


def wait_for_stable_layout(page: Any, timeout: float = 15.0, polls: int = 3) -> None:
    """Wait until the main area's and every chart's and iframe's geometry stays the same for
    `polls` consecutive animation frames (Vega sizes a chart to its container after drawing it)."""
    page.wait_for_function(_STABLE_LAYOUT_JS, arg=[polls, next(_watch_tokens)], timeout=timeout * 1000,
                           polling="raf")


def painted(page: Any) -> None:
    """Return once the page has painted twice more: whatever the last run put in the DOM (and any
    script it could have smuggled in) has had its turn."""
    page.evaluate("() => new Promise(r => { requestAnimationFrame(() => requestAnimationFrame(() => r(true))); "
               "setTimeout(() => r(false), 2000); })")


def runs(page: Any) -> int:
    return int(page.evaluate("() => window.__runs || 0"))


def rerun_and_wait(page: Any, action: Any, min_charts: int = 0, timeout: float = 90.0,
                   start_timeout: float = 5.0) -> float:
    """Do `action()` (a click, a text submit) and wait for the rerun it starts to finish."""
    before = runs(page)
    t0 = time.perf_counter()
    action()
    try:
        page.wait_for_function("(n) => (window.__runs || 0) > n", arg=before, timeout=start_timeout * 1000,
                               polling=20)
    except Exception:  # noqa: BLE001 - no rerun (the value did not change): just wait for idle
        pass
    wait_for_app_idle(page, min_charts=min_charts, timeout=timeout)
    return time.perf_counter() - t0


def script_state(page: Any) -> str | None:
    try:
        return page.get_attribute(SEL_APP, "data-test-script-state", timeout=1000)
    except Exception:  # noqa: BLE001
        return None


def count_charts(page: Any) -> int:
    """Vega-Lite charts that have drawn their marks (svg or canvas)."""
    return int(page.evaluate("""(sel) => Array.from(document.querySelectorAll(sel))
        .filter(c => c.querySelector('svg.marks, canvas.marks, canvas')).length""", SEL_CHART))


def chart_marks(page: Any, index: int = 0) -> list[str]:
    """The aria-labels of one drawn chart's marks (token labels + rounded values): its content."""
    return list(page.evaluate("""([sel, i]) => {
        const c = document.querySelectorAll(sel)[i];
        if (!c) return [];
        return Array.from(c.querySelectorAll('[role="graphics-symbol"]')).map(e => e.getAttribute('aria-label') || '');
    }""", [SEL_CHART, index]))


def exceptions(page: Any) -> list[str]:
    return [t.strip() for t in page.locator(SEL_EXCEPTION).all_inner_texts()]


def alert_texts(page: Any, selector: str = SEL_ALERT) -> list[str]:
    return [t.strip() for t in page.locator(selector).all_inner_texts()]


def no_exceptions(page: Any) -> None:
    """Assert that no traceback / exception element is on screen."""
    found = exceptions(page)
    assert not found, f"exception on screen at {page.url[:200]}: {found[0][:800]}"
    body = page.inner_text("body")
    assert "Traceback (most recent call last)" not in body, f"traceback text on screen at {page.url[:200]}"


def page_not_found(page: Any) -> bool:
    """Streamlit's "Page not found" dialog is open."""
    dialogs = page.locator('[data-testid="stDialog"]')
    return any("Page not found" in t for t in dialogs.all_inner_texts())


def title(page: Any) -> str:
    loc = page.locator(f'[data-testid="stMain"] {SEL_TITLE}')
    return loc.first.inner_text().strip() if loc.count() else ""


def query_params(page: Any) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(page.url).query, keep_blank_values=True))


def url_path(page: Any) -> str:
    return urllib.parse.urlsplit(page.url).path.strip("/")


TEXT_LABEL = "Text"
PAIR_LABEL = "Second sentence (optional)"


def set_text(page: Any, text: str, label: str = TEXT_LABEL) -> None:
    """Replace a sidebar text area's content and submit it (Ctrl+Enter), like a user."""
    area = page.locator(f'[data-testid="stSidebar"] textarea[aria-label="{label}"]').first
    for _ in range(3):  # a rerun that lands mid-fill can re-render the box: check before submitting
        if not area.is_visible():  # the pair sits in a collapsed expander
            page.locator(f'[data-testid="stSidebar"] details:has(textarea[aria-label="{label}"]) summary').first.click()
            area.wait_for(state="visible", timeout=20_000)
        try:
            area.fill(text, timeout=60_000)
        except Exception:  # noqa: BLE001 - re-rendered under us: open it again and retry
            continue
        if area.input_value() == text:
            break
    area.press("Control+Enter")


def choose(page: Any, label: str, option: str) -> None:
    """Pick `option` in the selectbox labelled `label` (e.g. choose(page, "Head", "5")).

    Streamlit 1.67's selectbox is a filterable combobox: type the option, then click it.
    """
    box = page.locator(f'input[role="combobox"][aria-label="{label}"]').first
    box.click()
    box.fill(option)
    page.get_by_role("listbox").get_by_role("option", name=option, exact=True).first.click()


SEL_NAV_MORE = '[data-testid="stSidebarNavViewButton"]'
# The page links: the app lists them below the sidebar's controls (st.page_link in a container
# keyed "page_links"; Streamlit's own menu is hidden), or Streamlit's menu where it is shown.
SEL_NAV_LINKS = ('[data-testid="stSidebar"] .st-key-page_links a[href], '
                 '[data-testid="stSidebarNav"] a[href]')


def expand_nav(page: Any, timeout: float = 10.0) -> None:
    """Show every page link: with many pages Streamlit lists the first few and a "View N more"
    button; click it (if it is there and says "more") and wait until it says "View less"."""
    button = page.locator(SEL_NAV_MORE)
    if button.count() and "more" in button.first.inner_text().lower():
        button.first.click()
        page.wait_for_function("(sel) => /less/i.test((document.querySelector(sel) || {}).innerText || '')",
                               arg=SEL_NAV_MORE, timeout=timeout * 1000)


def link_paths(name: str) -> set[str]:
    """Where the sidebar's link to page `name` may point: its row's address; for the default page
    "/" while on it and its file name elsewhere (streamlit_app.py: Streamlit writes href="" for the
    default page, which is the current page's own address)."""
    path = PAGE_PATHS.get(name, name)
    return {path, DEFAULT_PAGE} if name == DEFAULT_PAGE or path == "" else {path}


def open_page(page: Any, name: str) -> None:
    """Switch page through the sidebar navigation (same session, like a user). `name` is a file
    stem from the page table; its link points at the row's address (link_paths)."""
    paths = link_paths(name)
    expand_nav(page)
    found = [i for i, (href, _) in enumerate(nav_links(page, expand=False)) if href in paths]
    assert found, f"no page link to {sorted(paths)} in the sidebar: {nav_links(page, expand=False)}"
    page.locator(SEL_NAV_LINKS).nth(found[0]).click()


def nav_links(page: Any, expand: bool = True) -> list[tuple[str, str]]:
    """The sidebar navigation as (URL path without slashes, title) in order, every link shown (the
    icon's ligature text, which Streamlit puts in the link, is left out)."""
    if expand:
        expand_nav(page)
    links = page.evaluate("""(sel) => Array.from(document.querySelectorAll(sel))
        .map(a => [a.href, a.innerText])""", SEL_NAV_LINKS)  # a.href: resolved (the app writes relative links)
    out = []
    for href, text in links:
        path = urllib.parse.urlsplit(href).path.strip("/")
        out.append((path, text.strip().split("\n")[-1].strip()))
    return out


@dataclass
class RequestLog:
    """Every request a page makes, and which are still in flight (attach before navigating)."""

    started: list[str] = field(default_factory=list)
    done: list[str] = field(default_factory=list)
    pending: dict[int, str] = field(default_factory=dict)

    def attach(self, page: Any) -> RequestLog:
        page.on("request", self._start)
        page.on("requestfinished", self._end)
        page.on("requestfailed", self._end)
        return self

    def _start(self, request: Any) -> None:
        self.started.append(request.url)
        self.pending[id(request)] = request.url

    def _end(self, request: Any) -> None:
        self.done.append(request.url)
        self.pending.pop(id(request), None)

    def wait_settled(self, page: Any, also_done: Any = None, timeout: float = 30.0) -> None:
        """Wait until no request is in flight and `also_done(urls_done)` (if given) holds.
        Polls every 50 ms inside Playwright (so route handlers keep running), up to `timeout`."""
        deadline = time.perf_counter() + timeout
        while True:
            if not self.pending and (also_done is None or also_done(self.done)):
                return
            if time.perf_counter() > deadline:
                raise TimeoutError(f"requests still in flight after {timeout} s: {list(self.pending.values())[:5]}; "
                                   f"done {len(self.done)}")
            page.wait_for_timeout(50)


def body_text(page: Any) -> str:
    return page.locator('[data-testid="stMain"]').inner_text()


def goto(page: Any, url: str, min_charts: int = 0, timeout: float = 90.0) -> float:
    """Navigate and wait for the app to be idle with `min_charts` charts; returns seconds."""
    t0 = time.perf_counter()
    page.goto(url, wait_until="commit", timeout=timeout * 1000)
    wait_for_app_idle(page, min_charts=min_charts, timeout=timeout)
    return time.perf_counter() - t0


def screenshot(page: Any, name: str, directory: Path | None = None) -> Path:
    """Full-page screenshot into `directory` (default: a temp dir; docs/screenshots with UPDATE_SCREENSHOTS=1)."""
    if directory is None:
        directory = ROOT / "docs" / "screenshots" if os.environ.get("UPDATE_SCREENSHOTS") == "1" else \
            Path(tempfile.gettempdir()) / "attention_dashboard_screenshots"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path


# --- pytest fixtures (import them into a test module) -------------------------------------------

_SHARED: list[StreamlitServer] = []


def _stop_shared() -> None:
    for srv in _SHARED:
        srv.stop()
    _SHARED.clear()


@pytest.fixture(scope="module")
def server() -> Iterator[StreamlitServer]:
    """One `streamlit run` shared by every browser test module of the run, as many users share one
    deployed app (each test's browser context or tab is its own session). Started on first use,
    and again if an earlier module left it dead; stopped when the run ends. A start costs a cold
    import of torch and transformers plus the first model load: once per run, not per module."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    if _SHARED and not _SHARED[0].alive():
        _stop_shared()
    if not _SHARED:
        _SHARED.append(StreamlitServer().start())
        if len(_SHARED) == 1:
            atexit.register(_stop_shared)
    yield _SHARED[0]


@pytest.fixture(scope="module")
def playwright_instance() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright_instance: Any) -> Iterator[Any]:
    b = launch_browser(playwright_instance)
    try:
        yield b
    finally:
        b.close()


@pytest.fixture()
def offline() -> Offline:
    return Offline()


@pytest.fixture(scope="module")
def tabs_context(browser: Any) -> Iterator[Any]:
    """One browser context per module whose tabs the tests open (see new_page): its HTTP cache
    keeps Streamlit's scripts between tabs, as a user's browser does."""
    context = browser.new_context(viewport=VIEWPORT, service_workers="block")
    context.add_init_script(RUN_COUNTER_JS)
    try:
        yield context
    finally:
        with contextlib.suppress(Exception):
            context.close()


@pytest.fixture()
def new_page(tabs_context: Any, offline: Offline) -> Iterator[Any]:
    """Factory: new_page() -> a new tab, i.e. its own Streamlit session (a session is one
    websocket), in the module's browser context; its requests to outside hosts go to `offline`.
    The tabs are closed when the test ends."""
    pages: list[Any] = []

    def make() -> Any:
        page = tabs_context.new_page()
        page.on("request", offline.record)
        pages.append(page)
        return page

    try:
        yield make
    finally:
        for p in pages:
            with contextlib.suppress(Exception):
                p.close()


def main() -> None:  # manual check: python -m tests.browser.harness [page]
    from playwright.sync_api import sync_playwright

    page_name = sys.argv[1] if len(sys.argv) > 1 else ""
    with streamlit_server() as srv, sync_playwright() as pw:
        b = launch_browser(pw)
        ctx, off = new_context(b)
        pg = ctx.new_page()
        took = goto(pg, srv.page_url(page_name), min_charts=min_charts(page_name) if page_name else 1)
        print(f"{page_name or '/'}: idle after {took:.1f} s, {count_charts(pg)} charts, title {title(pg)!r}, "
              f"blocked {off.blocked}, exceptions {exceptions(pg)}, alerts {alert_texts(pg)}")
        b.close()


if __name__ == "__main__":
    main()



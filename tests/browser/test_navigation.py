"""What a student meets first, in Chromium, where only a browser shows it: where to type, without
scrolling; every page link works by click, by address and in a new tab; BertViz is dark when the
app is dark, and follows the theme switch in the app's menu; a downloaded SVG carries its title
block.

Screenshots of each case go to $ATTENTION_DASHBOARD_SCREENSHOTS, or a temporary folder
(tests/browser/harness.py's `screenshot`).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from tests.browser.chromium import requires_chromium
from tests.browser.harness import (  # noqa: F401 - fixtures
    RUN_COUNTER_JS,
    Offline,
    browser,
    goto,
    min_charts,
    no_exceptions,
    playwright_instance,
    rerun_and_wait,
    server,
    title,
    url_path,
    wait_for_app_idle,
)
from tests.browser.server import PAGES, ROW, ROWS
from ui.sidebar import CLOSE_ON_NARROW_WIDTH, PAGE_LINKS_KEY

pytestmark = [pytest.mark.browser, requires_chromium]

TEXT = "The lawyer questioned the witness because she was lying."
HEIGHT = 900
COLD = 240  # seconds for a module's first page (a cold model load on a busy 2-core machine)
SHOTS = Path(os.environ.get("ATTENTION_DASHBOARD_SCREENSHOTS") or Path(tempfile.gettempdir()) / "navigation_screens")
CONTROLS = {
    "Text": '[data-testid="stSidebar"] textarea[aria-label="Text"]',
    "Layer": '[data-testid="stSidebar"] input[aria-label="Layer"]',
    "Head": '[data-testid="stSidebar"] input[aria-label="Head"]',
}
LINKS = f".st-key-{PAGE_LINKS_KEY} a"
_BOX = """(sel) => { const e = document.querySelector(sel); if (!e) return null;
  const r = e.getBoundingClientRect(); return [r.top, r.bottom, r.left, r.right]; }"""
_SIDEBAR_SCROLL = """() => { const s = document.querySelector('[data-testid="stSidebarContent"]');
  return s ? s.scrollTop : null; }"""
_APP_BG = "() => getComputedStyle(document.querySelector('[data-testid=\"stApp\"]')).backgroundColor"
# The BertViz page in whichever frame holds it (the component's nested srcdoc, or the plain iframe):
# its background and the colour of its first SVG text (token or axis label).
_VIEW_COLOURS = """() => { const vis = document.querySelector('#vis svg text');
  if (!vis) return null;
  return [getComputedStyle(document.body).backgroundColor, getComputedStyle(vis).fill]; }"""


def _luminance(css: str) -> float:
    r, g, b = (int(float(x)) / 255 for x in re.findall(r"[\d.]+", css)[:3])
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


@contextlib.contextmanager
def _page(browser: Any, width: int, theme: str = "light"):
    offline = Offline()
    context = browser.new_context(viewport={"width": width, "height": HEIGHT}, color_scheme=theme,
                                  service_workers="block", accept_downloads=True)
    context.route("**/*", offline.handle)
    context.add_init_script(RUN_COUNTER_JS)
    try:
        yield context.new_page()
        assert not offline.needed(), f"outside requests: {offline.needed()}"
    finally:
        with contextlib.suppress(Exception):
            context.close()


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


# --- where do I type? ----------------------------------------------------------------------------

@pytest.mark.parametrize("width", [1400, 420])
def test_text_layer_and_head_are_on_screen_without_scrolling(browser, server, width: int) -> None:  # noqa: F811
    with _page(browser, width) as page:
        goto(page, server.page_url("single_head", text=TEXT), min_charts=1, timeout=COLD)
        no_exceptions(page)
        _shot(page, f"controls-{width}")
        assert page.evaluate(_SIDEBAR_SCROLL) == 0
        for name, selector in CONTROLS.items():
            box = page.evaluate(_BOX, selector)
            assert box is not None, f"no {name} control in the sidebar"
            top, bottom, left, right = box
            assert 0 <= top and bottom <= HEIGHT and left >= 0 and right <= width, (name, box)
        # the pages are listed too, below the controls
        first_link = page.evaluate(_BOX, LINKS)
        assert first_link is not None and first_link[0] > page.evaluate(_BOX, CONTROLS["Head"])[1]


_SIDEBAR_OVER_PAGE = """() => { const s = document.querySelector('[data-testid="stSidebar"]');
  return !!s && s.getBoundingClientRect().right > 50; }"""


@pytest.mark.parametrize("width", [1400, 420])
def test_a_page_link_on_a_phone_closes_the_sidebar_over_the_new_page(browser, server, width: int) -> None:  # noqa: F811
    """At 420 px the sidebar lies over the page: after a page link it closes, so the page chosen is
    what the student sees (Streamlit's own menu does this; its page links did not). At 1400 px the
    sidebar sits beside the page and stays open."""
    with _page(browser, width) as page:
        goto(page, server.page_url("single_head", text=TEXT), min_charts=1, timeout=COLD)
        assert page.evaluate(_SIDEBAR_OVER_PAGE)  # open at first: Text, Layer and Head in view
        link = page.locator(LINKS).nth(ROWS.index(ROW["head_atlas"]))
        rerun_and_wait(page, link.click, min_charts=1, timeout=120)
        page.wait_for_timeout(600)  # the sidebar's slide
        no_exceptions(page)
        assert title(page) == ROW["head_atlas"].title
        _shot(page, f"page-link-{width}")
        assert page.evaluate(_SIDEBAR_OVER_PAGE) == (width >= CLOSE_ON_NARROW_WIDTH)
        assert page.locator(CONTROLS["Text"]).input_value() == TEXT


def test_a_page_link_clicked_right_after_typing_opens_the_page_with_that_text(browser, server) -> None:  # noqa: F811
    """Type a sentence, then click a page link without Ctrl+Enter: the page opens, with the new text.
    Streamlit commits the text when its box loses focus but sends it after the link's page change,
    and the later request won: the text was applied and the student stayed where they were."""
    new_text = "Whales sing to each other across the ocean."
    with _page(browser, 1400) as page:
        goto(page, server.page_url("single_head", text=TEXT), min_charts=1, timeout=COLD)
        page.locator(CONTROLS["Text"]).fill(new_text)  # typed, not submitted
        link = page.locator(LINKS).nth(ROWS.index(ROW["head_atlas"]))
        rerun_and_wait(page, link.click, min_charts=1, timeout=120)
        page.wait_for_function("(t) => document.querySelector('h1') && document.querySelector('h1').innerText.includes(t)",
                               arg=ROW["head_atlas"].title, timeout=30_000)
        wait_for_app_idle(page, min_charts=1)
        no_exceptions(page)
        assert title(page) == ROW["head_atlas"].title
        assert url_path(page) == ROW["head_atlas"].address
        assert page.locator(CONTROLS["Text"]).input_value() == new_text
        assert urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query).get("text") == [new_text]


ROW_TITLES = {row.name: row.title for row in ROWS}


def _links(page: Any) -> list[tuple[str, dict[str, str]]]:
    """Each sidebar page link as written: (path, its query as a dict)."""
    hrefs = page.eval_on_selector_all(LINKS, "links => links.map(a => a.getAttribute('href'))")
    out = []
    for href in hrefs:
        path, _, query = href.partition("?")
        out.append((path, dict(urllib.parse.parse_qsl(query, keep_blank_values=True))))
    return out


def _expected_path(row: Any, on_default: bool) -> str:
    """A row's link: its address; the default page's is "" on "/" and its file name elsewhere."""
    return ("" if on_default else row.name) if row.default else row.address


def test_every_page_opens_by_its_link_and_by_its_address_and_keeps_the_text(browser, server) -> None:  # noqa: F811
    with _page(browser, 1400) as page:
        goto(page, server.page_url("single_head", text=TEXT), min_charts=1, timeout=COLD)
        assert [p for p, _ in _links(page)] == [_expected_path(row, True) for row in ROWS], _links(page)
        for row in reversed(ROWS):  # ends on the default page, reached from another page
            index = ROWS.index(row)
            rerun_and_wait(page, page.locator(LINKS).nth(index).click, min_charts=min_charts(row.name), timeout=120)
            no_exceptions(page)
            assert title(page) == row.title, (row.name, title(page))
            assert url_path(page) == _expected_path(row, False), page.url
            assert page.locator(CONTROLS["Text"]).input_value() == TEXT, row.name
        # by address: test_e2e.test_every_page_opens_and_draws_offline opens each page's address in
        # a new session; here one address, in this session, keeps the text it was given
        goto(page, server.page_url("head_atlas", text=TEXT), min_charts=1, timeout=120)
        no_exceptions(page)
        assert title(page) == ROW_TITLES["head_atlas"]
        assert page.locator(CONTROLS["Text"]).input_value() == TEXT


def test_a_page_link_opened_in_a_new_tab_shows_that_page_with_the_same_view(browser, server) -> None:  # noqa: F811
    """Every page link carries the sidebar's view (model, text, pair, layer, head), so a link opened
    in a new tab (a session of its own) or copied shows that page of the same view; Single head's
    link, away from "/", is its own address (Streamlit writes "" for the default page: the page
    the student is on)."""
    with _page(browser, 1400) as page:
        goto(page, server.page_url("head_atlas", text=TEXT, layer=2, head=5), min_charts=1, timeout=COLD)
        links = _links(page)
        assert [p for p, _ in links] == [_expected_path(row, False) for row in ROWS], links
        for path, query in links:
            assert (query.get("text"), query.get("layer"), query.get("head"), query.get("model")) == \
                (TEXT, "2", "5", "all-MiniLM-L6-v2"), (path, query)
        hrefs = page.eval_on_selector_all(LINKS, "links => links.map(a => a.href)")  # resolved
        for name in ("single_head", "layer_average"):
            tab = page.context.new_page()
            goto(tab, hrefs[PAGES.index(name)], min_charts=1, timeout=120)
            no_exceptions(tab)
            assert title(tab) == ROW_TITLES[name]
            assert tab.locator(CONTROLS["Text"]).input_value() == TEXT
            assert (tab.locator(CONTROLS["Layer"]).input_value(), tab.locator(CONTROLS["Head"]).input_value()) == \
                ("2", "5")
            tab.close()


# --- one theme for every view, BertViz included -------------------------------------------------

def _view_colours(page: Any, timeout: float = 30.0) -> tuple[str, str]:
    """(background, text fill) of the drawn BertViz view, waiting for it to draw."""
    deadline = timeout * 1000
    waited = 0
    while waited <= deadline:
        for frame in page.frames:
            with contextlib.suppress(Exception):
                found = frame.evaluate(_VIEW_COLOURS)
                if found:
                    return found[0], found[1]
        page.wait_for_timeout(250)
        waited += 250
    raise AssertionError("the BertViz view did not draw")


def _wait_for_view_theme(page: Any, dark: bool, timeout: float = 30.0) -> tuple[str, str]:
    waited = 0
    while True:
        bg, fill = _view_colours(page)
        if (_luminance(bg) < 0.2) == dark and (_luminance(fill) > 0.5) == dark:
            return bg, fill
        if waited > timeout * 1000:
            raise AssertionError(f"BertViz is not {'dark' if dark else 'light'}: background {bg}, text {fill}")
        page.wait_for_timeout(250)
        waited += 250


def _switch_theme(page: Any, name: str) -> None:
    """Pick Light / Dark / System in the app's menu (Streamlit's own theme switch)."""
    page.locator('[data-testid="stMainMenuButton"]').first.click()
    page.locator('[data-testid="stThemeSwitcher"]').wait_for(state="visible", timeout=10_000)
    page.locator(f'[data-testid="stMainMenuItem-theme-{name}"]').click()
    page.keyboard.press("Escape")


def test_bertviz_is_dark_when_the_app_is_dark_and_follows_the_menus_theme_switch(browser, server) -> None:  # noqa: F811
    with _page(browser, 1400, theme="dark") as page:
        goto(page, server.page_url("bertviz_views", text=TEXT), timeout=COLD)
        no_exceptions(page)
        assert _luminance(page.evaluate(_APP_BG)) < 0.2
        _wait_for_view_theme(page, dark=True)  # white before: BertViz ignored the theme
        _shot(page, "bertviz-model-dark")
        head_view = page.locator('[data-testid="stMain"] button', has_text="Head view").first
        rerun_and_wait(page, head_view.click)
        _wait_for_view_theme(page, dark=True)
        _shot(page, "bertviz-head-dark")

        _switch_theme(page, "Light")  # no rerun of its own: the view must follow anyway
        _wait_for_view_theme(page, dark=False)
        assert _luminance(page.evaluate(_APP_BG)) > 0.8
        wait_for_app_idle(page)
        _shot(page, "bertviz-head-light-after-switch")
        _switch_theme(page, "Dark")
        _wait_for_view_theme(page, dark=True)
        no_exceptions(page)
        assert server.tracebacks() == []


# --- a downloaded image says what it shows ------------------------------------------------------

def test_downloaded_svg_carries_model_view_lens_and_text(browser, server) -> None:  # noqa: F811
    with _page(browser, 1400) as page:
        goto(page, server.page_url("single_head", text=TEXT, layer=2, head=5), min_charts=1, timeout=COLD)
        page.locator('[data-testid="stPopoverButton"]', has_text="Download").first.click()
        button = page.get_by_role("button", name=re.compile("Chart \\(SVG\\)"))
        button.wait_for(state="visible", timeout=10_000)
        with page.expect_download(timeout=90_000) as info:
            button.click()
        svg = Path(info.value.path()).read_text(encoding="utf-8")
        for wanted in ("all-MiniLM-L6-v2", "layer 2, head 5", "lens: raw attention", "The lawyer questioned"):
            assert wanted in svg, wanted

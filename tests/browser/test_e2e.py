"""End to end in a real browser: every page, shared links, chart clicks, offline, screenshots.

One fresh `streamlit run` for this module (the first page opened is a cold start: imports and
model load happen while the test waits) and Debian's headless Chromium through Playwright. Every
request to a host other than 127.0.0.1/localhost is aborted and recorded; the tests assert that
none was needed. Screenshots (1400x900) go to a temp folder, or to docs/screenshots/ with
UPDATE_SCREENSHOTS=1 (that is where the README's pictures come from).

    .venv/bin/python -m pytest tests/browser/test_e2e.py -m browser
"""

from __future__ import annotations

import re
import time

import pytest

from tests.browser.chromium import requires_chromium
from tests.browser.harness import (  # noqa: F401 - fixtures are used by name
    DEFAULT_PAGE,
    PAGE_PATHS,
    PAIR_LABEL,
    SEL_CHART,
    SEL_ERROR,
    RequestLog,
    alert_texts,
    browser,
    chart_marks,
    choose,
    count_charts,
    goto,
    min_charts,
    nav_links,
    new_page,
    no_exceptions,
    offline,
    open_page,
    page_not_found,
    playwright_instance,
    query_params,
    rerun_and_wait,
    runs,
    screenshot,
    server,
    set_text,
    tabs_context,
    title,
    url_path,
    wait_for_app_idle,
)
from tests.browser.server import PAGES, ROW
from ui import page_table

pytestmark = [pytest.mark.browser, requires_chromium]

COLD_TIMEOUT = 120.0  # the first page on a fresh server imports torch and loads the model


def _in_a_frame(page, js: str, done, timeout: float):
    """Poll every frame but the page's own (BertViz draws in iframes, at any depth) until `js`
    evaluated in one of them gives a value for which `done(value)` holds; returns (frame, value)."""
    deadline = time.perf_counter() + timeout
    seen: list = []
    while time.perf_counter() < deadline:
        for frame in page.frames:
            if frame == page.main_frame:
                continue
            try:
                value = frame.evaluate(js)
            except Exception:  # noqa: BLE001 - a frame that is navigating or detached
                continue
            if done(value):
                return frame, value
            seen.append(value)
        page.wait_for_timeout(200)
    raise AssertionError(f"no frame showed it in {timeout} s: last values {seen[-3:]}, "
                         f"frames={[f.url[:80] for f in page.frames]}")


def _bertviz_drawn(page, timeout: float = 60.0) -> int:
    """Wait until a BertViz iframe (at any depth) drew its SVG; returns the number of SVG shapes."""
    page.wait_for_selector("iframe", timeout=timeout * 1000)
    shapes_js = "() => document.querySelectorAll('svg line, svg path, svg rect, svg text').length"
    return int(_in_a_frame(page, shapes_js, lambda shapes: shapes > 0, timeout)[1])


@pytest.mark.parametrize("name", PAGES)
def test_every_page_opens_and_draws_offline(name, server, new_page, offline):
    """A fresh session opens the page by its address (from the page table) with the default
    model and draws it: the row's title, and a chart where the row says it draws one."""
    page = new_page()
    row = ROW[name]
    # generous: on a busy 2-core machine a first visit of Compare (it loads a second model when one
    # is ready) has taken more than two minutes
    took = goto(page, server.page_url(name), min_charts=min_charts(name), timeout=2 * COLD_TIMEOUT)
    no_exceptions(page)
    assert not alert_texts(page, SEL_ERROR), f"{name}: error on screen: {alert_texts(page, SEL_ERROR)}"
    assert title(page) == row.title, (name, title(page))
    assert url_path(page) == PAGE_PATHS[name], page.url
    assert not page_not_found(page), f"{name}: 'Page not found' dialog"
    if row.charts:
        assert count_charts(page) >= 1, f"{name}: no chart drawn after {took:.1f} s"
    if name == "bertviz_views":
        assert _bertviz_drawn(page) > 10
    if name != "about":
        # the default model and sentence are in the shareable URL
        params = query_params(page)
        assert params.get("model") == "all-MiniLM-L6-v2", params
        assert params.get("text"), params
    screenshot(page, name)
    assert offline.needed() == [], f"{name} needed outside hosts: {offline.needed()[:5]}"
    assert server.alive() and server.healthy()


def test_shared_link_reproduces_the_view(server, new_page, offline):
    """Change text, layer and head in one session; its URL opened in a fresh session shows the same."""
    a = new_page()
    goto(a, server.page_url("single_head"), min_charts=1, timeout=COLD_TIMEOUT)
    rerun_and_wait(a, lambda: set_text(a, "The quick brown fox jumps over the lazy dog."), min_charts=1)
    rerun_and_wait(a, lambda: choose(a, "Layer", "3"), min_charts=1)
    rerun_and_wait(a, lambda: choose(a, "Head", "7"), min_charts=1)
    rerun_and_wait(a, lambda: set_text(a, "It was asleep.", PAIR_LABEL), min_charts=1)
    params = query_params(a)
    assert params.get("text") == "The quick brown fox jumps over the lazy dog.", params
    assert (params.get("layer"), params.get("head"), params.get("pair")) == ("3", "7", "It was asleep."), params
    marks_a = chart_marks(a)
    assert marks_a and any("fox" in m for m in marks_a), marks_a[:3]
    link = a.url

    b = new_page()
    goto(b, link, min_charts=1)
    no_exceptions(b)
    assert query_params(b) == params
    assert chart_marks(b) == marks_a, "the shared link draws a different heatmap"
    assert "layer 3, head 7" in b.locator(SEL_CHART).first.inner_text() or \
        "layer 3, head 7" in b.locator('[data-testid="stMain"]').inner_text()
    for label, want in (("Layer", "3"), ("Head", "7")):
        assert b.locator(f'input[aria-label="{label}"]').first.input_value() == want

    # the same link on another page keeps the selection
    c = new_page()
    goto(c, link.replace("/?", "/layer_average?"), min_charts=1)
    no_exceptions(c)
    assert query_params(c)["text"] == params["text"]
    assert c.locator('input[aria-label="Layer"]').first.input_value() == "3"
    assert offline.needed() == []


def _click_mark(page, chart_index: int, pattern: str) -> str:
    """Click the centre of the first mark of chart `chart_index` whose aria-label matches `pattern`.

    The mark is scrolled into view and clicked once it holds still (the same box in consecutive
    animation frames), at a point where the mark itself is the topmost element."""
    box = page.evaluate("""async ([sel, i, pat]) => {
        const c = document.querySelectorAll(sel)[i];
        if (!c) return null;
        const re = new RegExp(pat, 'i');
        const marks = Array.from(c.querySelectorAll('[role="graphics-symbol"]'))
            .filter(e => re.test(e.getAttribute('aria-label') || ''));
        // the topmost layer (last drawn) receives the click
        const m = marks[marks.length - 1];
        if (!m) return null;
        m.scrollIntoView({block: 'center', inline: 'center'});
        const frame = () => new Promise(r => requestAnimationFrame(r));
        let prev = null, same = 0, r = null;
        for (let k = 0; k < 120 && same < 2; k++) {  // at most ~2 s of frames
            await frame();
            r = m.getBoundingClientRect();
            const key = [r.x, r.y, r.width, r.height].map(Math.round).join(',');
            same = key === prev ? same + 1 : 0;
            prev = key;
        }
        const x = r.x + r.width / 2, y = r.y + r.height / 2;
        const hit = document.elementFromPoint(x, y);
        return {x, y, label: m.getAttribute('aria-label'), still: same >= 2, onChart: !!hit && c.contains(hit)};
    }""", [SEL_CHART, chart_index, pattern])
    assert box, f"no mark matching {pattern!r} in chart {chart_index}: {chart_marks(page, chart_index)[:5]}"
    assert box["still"], f"the mark {box['label']!r} kept moving after it was scrolled into view"
    assert box["onChart"], f"something covers the mark {box['label']!r} at its centre"
    page.mouse.click(box["x"], box["y"])
    return box["label"]


# The thumbnails are drawn as images on a canvas (no mark per cell to find): find the grid in the
# canvas's own pixels. Blue ink (the colour scheme) in runs of pixel columns at least `minLen` wide
# are the heads (the legend's gradient is narrower); within those columns, runs of pixel rows are
# the layers. In CSS pixels from the canvas's top left.
_GRID_JS = """([c, minLen]) => {
  const w = c.width, h = c.height, d = c.getContext('2d').getImageData(0, 0, w, h).data;
  const blue = (x, y) => { const i = 4 * (y * w + x); return d[i + 3] > 200 && d[i + 2] - d[i] > 25; };
  const runs = flags => { const out = []; let s = -1;
    flags.concat([false]).forEach((f, i) => { if (f && s < 0) s = i;
      if (!f && s >= 0) { if (i - s >= minLen) out.push([s, i]); s = -1; } });
    return out; };
  const colInk = Array.from({length: w}, (_, x) => { for (let y = 0; y < h; y++) if (blue(x, y)) return true; return false; });
  const cols = runs(colInk);
  const rowInk = Array.from({length: h}, (_, y) => cols.some(([a, b]) => { for (let x = a; x < b; x++) if (blue(x, y)) return true; return false; }));
  const rows = runs(rowInk);
  const sx = c.clientWidth / w, sy = c.clientHeight / h;
  return {cols: cols.map(([a, b]) => [a * sx, b * sx]), rows: rows.map(([a, b]) => [a * sy, b * sy])};
}"""


def _thumbnail_centre(page, chart_index: int, layer: int, head: int, grid: tuple[int, int]) -> tuple[float, float]:
    """The middle of thumbnail (layer, head) of chart `chart_index`, in page coordinates; the
    chart must show a `grid` = (layers, heads) of thumbnails."""
    canvas = page.locator(SEL_CHART).nth(chart_index).locator("canvas").first
    canvas.evaluate("c => c.scrollIntoView({block: 'center'})")
    found = page.evaluate(_GRID_JS, [canvas.element_handle(), 24])
    rows, cols = found["rows"], found["cols"]
    assert (len(rows), len(cols)) == grid, f"found {len(rows)} x {len(cols)} thumbnails, want {grid}: {found}"
    box = canvas.bounding_box()
    assert box, "the thumbnails' canvas is not on screen"
    return box["x"] + sum(cols[head]) / 2, box["y"] + sum(rows[layer]) / 2


def test_click_on_atlas_selects_head_for_other_pages(server, new_page, offline):
    """Head atlas: a click on a cell opens that layer/head on Single head; other pages keep it."""
    page = new_page()
    goto(page, server.page_url("head_atlas"), min_charts=1, timeout=COLD_TIMEOUT)
    charts_before = count_charts(page)
    assert charts_before >= 1
    label = _click_mark(page, 0, r"layer: 4\b.*head: 9\b|head: 9\b.*layer: 4\b")
    page.wait_for_url(re.compile(r"layer=4"), timeout=30_000)
    wait_for_app_idle(page, min_charts=1)
    no_exceptions(page)
    params = query_params(page)
    assert (params.get("layer"), params.get("head")) == ("4", "9"), (label, page.url)
    assert url_path(page) == "", page.url
    assert "layer 4, head 9" in page.locator('[data-testid="stMain"]').inner_text()

    # every other page now shows layer 4 / head 9 (same session, sidebar navigation)
    rerun_and_wait(page, lambda: open_page(page, "across_layers"), min_charts=1)
    no_exceptions(page)
    assert page.locator('input[aria-label="Layer"]').first.input_value() == "4"
    assert page.locator('input[aria-label="Head"]').first.input_value() == "9"
    assert "Head 9 in every layer" in page.locator('[data-testid="stMain"]').inner_text()
    assert offline.needed() == []


def test_click_on_thumbnail_selects_head(server, new_page, offline):
    """Across layers: a click on a thumbnail selects that layer and head everywhere."""
    page = new_page()
    goto(page, server.page_url("across_layers"), min_charts=2, timeout=COLD_TIMEOUT)
    thumbs = count_charts(page) - 1  # the overview is the last chart on the page
    before = query_params(page)
    assert (before.get("layer"), before.get("head")) != ("2", "5"), before  # the click must change them
    runs_before = runs(page)
    x, y = _thumbnail_centre(page, thumbs, layer=2, head=5, grid=(6, 12))  # the bundled MiniLM: 6 x 12
    page.mouse.click(x, y)
    page.wait_for_function("(n) => window.__runs > n", arg=runs_before, timeout=20_000)
    page.wait_for_url(re.compile(r"[?&]head=5(&|$)"), timeout=30_000)
    wait_for_app_idle(page, min_charts=2)
    no_exceptions(page)
    params = query_params(page)
    assert (params.get("layer"), params.get("head")) == ("2", "5"), page.url
    assert page.locator('input[aria-label="Head"]').first.input_value() == "5"
    # the click changes the selection and nothing else
    assert {k: v for k, v in params.items() if k not in ("layer", "head")} == \
        {k: v for k, v in before.items() if k not in ("layer", "head")}, (before, params)
    assert offline.needed() == []


# The head view's layer box in whichever frame holds it, with a mark set on that frame's window (a
# reloaded view loses it) and how many attention lines it shows.
_HEAD_VIEW = """() => { const b = document.querySelector('select#layer');
  return b ? {layer: b.value, kept: window.__testMark === 1, lines: document.querySelectorAll('svg line').length} : null; }"""


def _head_view(page, timeout: float = 30.0) -> tuple[object, dict]:
    """The frame of the drawn head view, and what _HEAD_VIEW reads there."""
    return _in_a_frame(page, _HEAD_VIEW, lambda found: bool(found) and found["lines"] > 0, timeout)


def _head_view_at(page, layer: str, timeout: float = 15.0) -> dict:
    """What _HEAD_VIEW reads once the drawn head view shows `layer`."""
    return _in_a_frame(page, _HEAD_VIEW, lambda found: bool(found) and found["lines"] > 0 and found["layer"] == layer,
                       timeout)[1]


def test_bertviz_head_view_opens_on_and_follows_the_selected_layer(server, new_page, offline):
    """The head view shows the app's layer: it opens on it, follows the sidebar in place (no reload,
    and the component does not report that move as a pick), and a layer picked in the view becomes
    the app's layer."""
    page = new_page()
    goto(page, server.page_url("bertviz_views", layer=3, head=2), timeout=COLD_TIMEOUT)
    frame, shown = _head_view(page)
    assert shown["layer"] == "3", shown  # BertViz alone opens on its first layer
    frame.evaluate("() => { window.__testMark = 1; }")

    reported = frame.parent_frame  # the component's frame: its last report is window.__bvLastValue
    rerun_and_wait(page, lambda: choose(page, "Layer", "1"))
    shown = _head_view_at(page, "1")
    assert shown["layer"] == "1" and shown["kept"], shown  # moved in the same document
    page.wait_for_timeout(1500)  # moving the box is not reported back as a new pick
    assert reported.evaluate("() => window.__bvLastValue === undefined")
    assert query_params(page).get("layer") == "1"

    rerun_and_wait(page, lambda: _head_view(page)[0].select_option("select#layer", "4"))
    page.wait_for_url(re.compile(r"[?&]layer=4(&|$)"), timeout=30_000)
    wait_for_app_idle(page)
    assert reported.evaluate("() => [window.__bvLastValue.layer, window.__bvLastValue.source]") == [4, "layer-select"]
    assert page.locator('input[aria-label="Layer"]').first.input_value() == "4"
    assert _head_view_at(page, "4")["kept"]
    no_exceptions(page)
    assert offline.needed() == []


def test_a_changed_head_reruns_without_reloading_the_model(server, new_page):
    """Changing only the head keeps the charts and is quick (the attention is cached)."""
    page = new_page()
    goto(page, server.page_url("single_head"), min_charts=1, timeout=COLD_TIMEOUT)
    before = chart_marks(page)
    took = rerun_and_wait(page, lambda: choose(page, "Head", "11"), min_charts=1)
    after = chart_marks(page)
    assert after and after != before
    assert took < 10, f"a head change took {took:.1f} s in the browser"
    no_exceptions(page)


def test_no_request_leaves_the_machine(server, new_page, offline):
    """Strict: not even the tab icon may come from outside (a page_icon ':material/...:' does).

    Waits until the page is drawn, its fonts are loaded, the tab icon it names has been fetched
    (or refused) and no request is in flight, then looks at what was asked for."""
    page = new_page()
    log = RequestLog().attach(page)
    goto(page, server.page_url(DEFAULT_PAGE), min_charts=1, timeout=COLD_TIMEOUT)
    page.wait_for_function("() => document.readyState === 'complete' && document.fonts.status === 'loaded'",
                           timeout=30_000)
    icons = page.evaluate("() => Array.from(document.querySelectorAll('link[rel~=\"icon\"]')).map(l => l.href)")
    assert icons, "the page names no tab icon"
    fetched = [i for i in icons if not i.startswith("data:")]  # a data: URI icon is no request at all
    log.wait_settled(page, also_done=lambda done: all(i in done for i in fetched))
    assert log.started, "no request was seen"
    assert offline.blocked == [], f"requests to outside hosts: {sorted(set(offline.blocked))[:5]}"


def test_default_page_answers_at_its_file_stem(server, new_page):
    """The default page (served at /) also opens at its file stem (/single_head), like every other
    page: it draws with its own title, and no 'Page not found' dialog opens."""
    page = new_page()
    path = DEFAULT_PAGE
    goto(page, f"{server.url}/{path}", min_charts=min_charts(DEFAULT_PAGE), timeout=COLD_TIMEOUT)
    no_exceptions(page)
    assert not page_not_found(page), f"/{path} opens a 'Page not found' dialog (the default page lives at /)"
    assert title(page) == ROW[DEFAULT_PAGE].title, (path, title(page))
    assert url_path(page) in {"", path}, page.url


def test_navigation_is_the_page_table(server, new_page):
    """The sidebar lists exactly the page table's rows, section by section in table order, each
    linking to its address."""
    page = new_page()
    goto(page, server.page_url(DEFAULT_PAGE), min_charts=min_charts(DEFAULT_PAGE), timeout=COLD_TIMEOUT)
    links = nav_links(page)
    rows = [row for section in page_table.sections().values() for row in section]
    assert sorted(r.name for r in rows) == sorted(PAGES)
    assert links == [(PAGE_PATHS[row.name], row.title) for row in rows], links


def test_downloads_from_the_popover_are_real_files(server, new_page, offline):
    """The Download popover's four buttons give a PNG, an SVG (rendered offline by vl-convert),
    the heatmap's CSV and the whole attention tensor as NPZ."""
    from pathlib import Path

    page = new_page()
    goto(page, server.page_url("single_head"), min_charts=1, timeout=COLD_TIMEOUT)
    popover = page.locator('[data-testid="stPopoverButton"]', has_text="Download")
    wanted = [("Chart (PNG)", lambda b: b.startswith(b"\x89PNG")),
              ("Chart (SVG)", lambda b: b"<svg" in b[:500]),
              ("Data (CSV)", lambda b: b.count(b"\n") > 9 and b"," in b.split(b"\n")[0]),
              ("All weights", lambda b: b.startswith(b"PK"))]
    for label, looks_right in wanted:
        button = page.get_by_role("button", name=re.compile(re.escape(label)))
        if not button.is_visible():
            popover.first.click()
        button.wait_for(state="visible", timeout=10_000)
        with page.expect_download(timeout=90_000) as info:
            button.click()
        data = Path(info.value.path()).read_bytes()
        assert looks_right(data), (label, data[:80])
    no_exceptions(page)
    assert offline.needed() == []

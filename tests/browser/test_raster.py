"""Raster heatmaps in a real browser: at about 64 tokens the Single head chart is one
image (not a mark per cell), hovering a cell shows its exact weight, and clicking it focuses that
query row; the chart says what it shows (aria-label).

The expected weight comes from the page's own "Data (CSV)" download (the drawn matrix at full
precision): the tooltip must be JavaScript's toFixed(3) of the float32 value the chart ships,
as the vector chart's tooltip was.

    .venv/bin/python -m pytest tests/browser/test_raster.py -m browser
"""

from __future__ import annotations

import csv
import io
import re
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.browser.chromium import requires_chromium
from tests.browser.harness import (  # noqa: F401 - fixtures are used by name
    SEL_CHART,
    browser,
    goto,
    new_page,
    no_exceptions,
    offline,
    playwright_instance,
    query_params,
    rerun_and_wait,
    screenshot,
    server,
    tabs_context,
)

pytestmark = [pytest.mark.browser, requires_chromium]

# 62 words the bundled MiniLM keeps as one token each: 64 tokens with [CLS] and [SEP].
_WORDS = ("the cat sat on the mat and the dog played in the park while she said that it was "
          "sleeping near the big red door").split()
TEXT = " ".join(_WORDS[i % len(_WORDS)] for i in range(62))
N = 64
COLD_TIMEOUT = 180.0

# Counts 2D-canvas draw calls inside Vega-Lite charts: an image heatmap draws its cells with one
# drawImage; a vector one fills a rect per cell.
DRAW_COUNTER_JS = """
(() => {
  window.__draws = {drawImage: 0, fill: 0};
  const inChart = c => c && c.closest && c.closest('[data-testid="stVegaLiteChart"]');
  const P = CanvasRenderingContext2D.prototype;
  for (const k of ['drawImage', 'fill', 'fillRect']) {
    const f = P[k];
    P[k] = function(...a) {
      if (inChart(this.canvas)) window.__draws[k === 'drawImage' ? 'drawImage' : 'fill'] += 1;
      return f.apply(this, a);
    };
  }
})();
"""


def _to_fixed3(value: float) -> str:
    """JavaScript's (value).toFixed(3) of a float32 value (d3-format '.3f' for value >= 0)."""
    exact = Decimal(float(np.float32(value)))
    return str(exact.quantize(Decimal("0.001"), rounding=ROUND_HALF_UP))


def _plot_box(png: bytes) -> tuple[int, int, int]:
    """(left, top, side) in CSS pixels of the heatmap's plot inside a chart screenshot: the
    top-left-most run of "blues" pixels, as wide as it is tall (the legend's gradient is narrow)."""
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    blue = (b - r > 25) & (b > 120)  # the blues scheme: every stop has clearly more blue than red
    rows = np.nonzero(blue.sum(axis=1) > 50)[0]
    top = int(rows[0])
    line = blue[top + 3]
    left = int(np.nonzero(line)[0][0])
    right = left
    while right + 1 < len(line) and line[right + 1]:
        right += 1
    return left, top, right - left + 1


def _csv_weights(page: Any) -> dict[tuple[int, int], float]:
    """The heatmap's "Data (CSV)" download: (query_pos, key_pos) -> weight."""
    popover = page.locator('[data-testid="stPopoverButton"]', has_text="Download")
    button = page.get_by_role("button", name=re.compile(r"Data \(CSV\)"))
    if not button.is_visible():
        popover.first.click()
    button.wait_for(state="visible", timeout=10_000)
    with page.expect_download(timeout=90_000) as info:
        button.click()
    rows = csv.DictReader(io.StringIO(Path(info.value.path()).read_text()))
    weights = {(int(r["query_pos"]), int(r["key_pos"])): float(r["weight"]) for r in rows}
    page.keyboard.press("Escape")
    return weights


def test_single_head_at_64_tokens_is_an_image_with_exact_tooltips_and_clicks(server, new_page, offline):
    page = new_page()
    page.add_init_script(DRAW_COUNTER_JS)
    goto(page, server.page_url("single_head", text=TEXT), min_charts=1, timeout=COLD_TIMEOUT)
    no_exceptions(page)
    chart = page.locator(SEL_CHART).first
    label = chart.get_attribute("aria-label") or ""
    assert label.startswith("Heatmap: Raw attention") and f"over {N} tokens" in label and "strongest:" in label, label

    # An image, not a mark per cell: one drawImage, and far fewer fills than 64 x 64 cells.
    page.wait_for_function("() => window.__draws.drawImage >= 1", timeout=30_000)
    draws = page.evaluate("() => window.__draws")
    assert draws["fill"] < N * N // 4, draws

    weights = _csv_weights(page)
    assert len(weights) == N * N
    canvas = chart.locator("canvas").first
    canvas.evaluate("c => c.scrollIntoView({block: 'center'})")  # clear of Streamlit's fixed header
    left, top, side = _plot_box(canvas.screenshot())
    box = canvas.bounding_box()  # after the screenshot, which may scroll
    assert box is not None
    assert abs(side - 576) <= 2, (left, top, side)  # 64 tokens x 9 px
    step = side / N
    query, key = 9, 2
    x = box["x"] + left + (key + 0.5) * step
    y = box["y"] + top + (query + 0.5) * step

    tooltip = page.locator("#vg-tooltip-element")
    page.mouse.move(x - 2 * step, y)  # over the row first (the row's cells appear), then onto the cell
    page.mouse.move(x - step, y)
    page.mouse.move(x, y)
    page.wait_for_function("() => { const t = document.querySelector('#vg-tooltip-element');"
                           " return t && t.classList.contains('visible') && /Key \\(to\\)/.test(t.innerText); }",
                           timeout=10_000)
    text = tooltip.inner_text()
    fields = dict(page.evaluate("() => Array.from(document.querySelectorAll('#vg-tooltip-element tr'))"
                                ".map(tr => [tr.cells[0].innerText.trim(), tr.cells[1].innerText.trim()])"))
    assert fields.get("Query (from)") == f"{query} · {_WORDS[query - 1]}", text
    assert fields.get("Key (to)") == f"{key} · {_WORDS[key - 1]}", text
    assert fields.get("Attention weight") == _to_fixed3(weights[(query, key)]), (text, weights[(query, key)])

    # A click focuses that query: the "Focus a query" control and the link follow, and the row is outlined.
    rerun_and_wait(page, lambda: page.mouse.click(x, y), min_charts=1)
    no_exceptions(page)
    assert query_params(page).get("q") == str(query), page.url
    picker = page.locator('input[aria-label="Focus a query (row)"]').first
    assert picker.input_value() == f"{query} · {_WORDS[query - 1]}"
    from PIL import Image

    shot = np.asarray(Image.open(io.BytesIO(canvas.screenshot())).convert("RGB")).astype(int)
    row_y = int(top + query * step)
    band = shot[max(0, row_y - 3):row_y + 3, left + side // 2]
    orange = (np.abs(band - np.array([0xFF, 0x7F, 0x0E])).sum(axis=1) < 60).any()
    if not orange:
        screenshot(page, "raster_focus")
    assert orange, band.tolist()
    assert offline.needed() == []


def _runs(flags: np.ndarray, min_len: int) -> list[tuple[int, int]]:
    """(start, end) of each run of True at least min_len long."""
    out, start = [], None
    for i, f in enumerate(list(flags) + [False]):
        if f and start is None:
            start = i
        elif not f and start is not None:
            if i - start >= min_len:
                out.append((start, i))
            start = None
    return out


def test_a_click_on_a_thumbnail_selects_its_layer_and_head(server, new_page):
    """Across layers at 64 tokens: every thumbnail is an image; a click on one (on its picture,
    not on a mark per cell) selects that layer and head, and the chart says what it shows."""
    page = new_page()
    page.add_init_script(DRAW_COUNTER_JS)
    goto(page, server.page_url("across_layers", text=TEXT), min_charts=2, timeout=COLD_TIMEOUT)
    no_exceptions(page)
    thumbs = page.locator(SEL_CHART).nth(1)
    label = thumbs.get_attribute("aria-label") or ""
    assert label.startswith("Every layer and head: 6 x 12 small heatmaps"), label
    page.wait_for_function("() => window.__draws.drawImage >= 72", timeout=30_000)
    canvas = thumbs.locator("canvas").first
    canvas.evaluate("c => c.scrollIntoView({block: 'center'})")
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(canvas.screenshot())).convert("RGB")).astype(int)
    box = canvas.bounding_box()
    assert box is not None
    blue = (img[..., 2] - img[..., 0] > 25) & (img[..., 2] > 120)
    cols = _runs(blue.sum(axis=0) > 20, 30)  # thumbnails are 40+ px; the legend's gradient is narrower
    rows = _runs(blue.sum(axis=1) > 100, 30)
    assert (len(rows), len(cols)) == (6, 12), (rows, cols)
    layer, head = 2, 5
    x = box["x"] + (cols[head][0] + cols[head][1]) / 2
    y = box["y"] + (rows[layer][0] + rows[layer][1]) / 2
    rerun_and_wait(page, lambda: page.mouse.click(x, y), min_charts=2)
    no_exceptions(page)
    assert f"Selected: layer {layer}, head {head}." in page.inner_text('[data-testid="stMain"]')
    assert (query_params(page).get("layer"), query_params(page).get("head")) == (str(layer), str(head))

"""Chart text that reads on what is drawn behind it: cell numbers black or white by the cell's own
colour, free text in the theme's colours, and presenter mode dropping numbers its cells cannot hold."""

from __future__ import annotations

import numpy as np
import pytest

from core.render import grids, heatmaps, raster, vega
from core.render.matrix import DrawMatrix
from core.render.vega import chart_spec
from tests.core.synthetic import tokens


def walk(node):
    """Every dict in a spec."""
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v)


def _contrast(rgb: np.ndarray, ink: float) -> float:
    c = rgb / 255
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    lum = float(lin @ np.array([0.2126, 0.7152, 0.0722]))
    return (max(lum, ink) + 0.05) / (min(lum, ink) + 0.05)


@pytest.mark.parametrize(("scheme", "reverse"), [("blues", False), ("purples", True), ("redblue", False),
                                                 ("greens", False)])
def test_black_or_white_by_the_fill_always_reads_at_4_5(scheme, reverse):
    spans = raster.light_text_spans(scheme, reverse=reverse)
    for t in np.linspace(0, 1, 201):
        rgb = raster.colorize(np.array([1 - t if reverse else t]), 0, 1, scheme)[0, :3].astype(float)
        white = any(a <= t <= b for a, b in spans)
        assert _contrast(rgb, 1.0 if white else 0.0) >= 4.5, (scheme, t, white)


def test_a_diverging_scale_has_white_text_at_both_ends_only():
    spans = raster.light_text_spans("redblue")
    assert len(spans) == 2 and spans[0][0] == 0.0 and spans[1][1] == 1.0
    test = raster.light_text_test("value", -1.0, 1.0, "redblue")
    assert "<=" in test and ">=" in test  # pale middle: black


def test_heatmap_numbers_switch_colour_by_luminance_not_a_fixed_share():
    n = 6
    att = np.full((n, n), 1 / n, dtype=np.float32)
    spec = chart_spec(heatmaps.heatmap(DrawMatrix.of(att, tokens(n)), title="t", annotate=True))
    texts = [node for node in walk(spec) if (node.get("mark") == "text" or
                                              (isinstance(node.get("mark"), dict) and node["mark"].get("type") == "text"))]
    colours = [t["encoding"]["color"] for t in texts if "color" in t.get("encoding", {})]
    assert colours and all(c["value"] == vega.TEXT_DARK and c["condition"]["value"] == vega.TEXT_LIGHT
                           for c in colours)
    assert all("isFinite" in c["condition"]["test"] for c in colours)


def test_themed_sets_free_text_colours_and_leaves_the_rest():
    spec = {"mark": "rect", "config": {"axis": {"labelFontSize": 12}}, "datasets": {"d": [1]}}
    dark = vega.themed(spec, "dark")
    assert dark["config"]["axis"] == {"labelFontSize": 12, "labelColor": "#fafafa", "titleColor": "#fafafa"}
    assert dark["config"]["text"]["color"] == "#fafafa" and dark["datasets"] is spec["datasets"]
    assert spec["config"] == {"axis": {"labelFontSize": 12}}  # not changed
    assert vega.themed(spec, None)["config"]["title"]["color"] == vega.THEME_TEXT["light"][0]


@pytest.mark.parametrize(("cell", "kept"), [(30, False), (60, True)])
def test_presenter_drops_cell_numbers_its_cells_cannot_hold(cell, kept):
    n = 8
    att = np.full((n, n), 1 / n, dtype=np.float32)
    spec = chart_spec(heatmaps.heatmap(DrawMatrix.of(att, tokens(n)), title="t", annotate=True, cell_size=cell))
    out = vega.without_small_cell_numbers(spec, 48)

    def numbers(s):
        return [node for node in walk(s) if isinstance(node, dict) and isinstance(node.get("encoding"), dict)
                and (node["encoding"].get("text") or {}).get("field") == "cell_text"]

    assert numbers(spec)
    assert bool(numbers(out)) == kept
    assert out.get("datasets") is spec.get("datasets")


def test_overview_grid_numbers_by_luminance():
    values = np.linspace(0, 1, 12).reshape(3, 4)
    spec = chart_spec(grids.overview_grid(values, title="t", value_label="v", annotate=True))
    tests = [node["encoding"]["color"]["condition"]["test"] for node in walk(spec)
             if isinstance(node, dict) and isinstance(node.get("encoding"), dict)
             and (node["encoding"].get("text") or {}).get("field") == "value_short"]
    assert tests and all("isFinite(datum['value'])" in t for t in tests)


def test_presenter_stands_slanted_token_labels_upright():
    n = 6
    spec = chart_spec(heatmaps.heatmap(DrawMatrix.of(np.full((n, n), 1 / n, dtype=np.float32), tokens(n)), title="t"))
    angles = [node["labelAngle"] for node in walk(vega.steep_axis_labels(spec)) if "labelAngle" in node]
    assert angles and -55 not in angles and -90 in angles
    assert any(node.get("labelAngle") == -55 for node in walk(spec))  # not changed
    overlap = [node["labelOverlap"] for node in walk(vega.steep_axis_labels(spec)) if "labelOverlap" in node]
    assert overlap and all(overlap)  # 18 px labels on rows under 18 px: every other one, not all on top of each other

"""core.render.raster and the raster paths of core.render.heatmaps: the PNG's colours are Vega's,
masked cells are grey, the hit marks' tooltips carry the exact 3-decimal text, clicks carry the
same fields as the vector chart's, the marks are 1 + 2n, and every spec is valid Vega-Lite with
a text alternative. Rendering checks run Vega itself (vl-convert, offline)."""

from __future__ import annotations

import base64
import copy
import io
import json
from decimal import ROUND_HALF_UP, Decimal

import altair as alt
import numpy as np
import pytest
from PIL import Image

from core.render import export, grids, heatmaps, raster, vega
from core.render.matrix import DrawMatrix, prepare, token_labels
from core.render.vega import chart_spec
from tests.core.synthetic import SENTENCE, causal, softmax, tokens, walk

vl_convert = pytest.importorskip("vl_convert")


# --------------------------------------------------------------------------- helpers


def decode(url: str) -> np.ndarray:
    assert url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGBA"))


def image_url(spec: dict) -> str:
    """The image mark's URL: in the mark, or in the top-level parameter the mark reads."""
    (url,) = [m["url"] for m in walk(spec, "mark") if isinstance(m, dict) and m.get("type") == "image"]
    if isinstance(url, dict):
        (url,) = [p["value"] for p in spec.get("params", []) if p["name"] == url["expr"]]
    return url


def rows_of(spec: dict) -> list[dict]:
    return max(spec["datasets"].values(), key=len)


def layer(spec: dict, name: str) -> dict:
    (found,) = [lay for lay in spec["layer"] if lay.get("name") == name]
    return found


def to_fixed3(value: float) -> str:
    """JavaScript toFixed(3) of the float32 value, with d3-format's sign (U+2212, none for -0.000)."""
    exact = Decimal(float(np.float32(value)))
    text = str(abs(exact).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP))
    return ("\u2212" + text) if exact < 0 and text != "0.000" else text


def vega_blues(t: float) -> tuple[int, int, int]:
    """An independent copy of vega-scale's "blues" at t in [0, 1] (d3 piecewise interpolateRgb)."""
    stops = ["cfe1f2", "bed8ec", "a8cee5", "8fc1de", "74b2d7", "5ba3cf", "4592c6", "3181bd", "206fb2",
             "125ca4", "0a4a90"]
    rgb = [tuple(int(s[i:i + 2], 16) for i in (0, 2, 4)) for s in stops]
    m = len(rgb) - 1
    i = min(m - 1, int(np.floor(t * m)))
    f = t * m - i
    return tuple(int(np.floor(a + f * (b - a) + 0.5)) for a, b in zip(rgb[i], rgb[i + 1]))


def render(spec: dict) -> np.ndarray:
    s = copy.deepcopy(spec)
    s["background"] = "white"
    return np.asarray(Image.open(io.BytesIO(vl_convert.vegalite_to_png(s, scale=1))).convert("RGB"))


def scene_marks(spec: dict) -> dict[str, list[dict]]:
    """name -> items of every mark Vega draws (vl-convert's scenegraph)."""
    out: dict[str, list[dict]] = {}

    def visit(node):
        if isinstance(node, dict):
            if node.get("role") == "mark" and "marktype" in node:
                out.setdefault(node.get("name") or node["marktype"], []).extend(node.get("items", []))
            for v in node.values():
                visit(v)
        elif isinstance(node, list):
            for v in node:
                visit(v)
    visit(vl_convert.vegalite_to_scenegraph(spec))
    return out


def hovering(spec: dict, row: dict, extra: str | None = None) -> dict:
    """The spec as Vega draws it while the pointer is on the row `row` (an initial value for the
    hover parameter); `extra` makes each hovered cell carry that expression as its description."""
    s = copy.deepcopy(spec)
    for p in s["params"]:
        if p["name"] == "hover":
            p["value"] = [{k: row[k] for k in p["select"]["fields"]}]
    if extra is not None:
        cells = layer(s, "cells") if "layer" in s else [lay for lay in s["spec"]["layer"]
                                                        if lay.get("name") == "cells"][0]
        cells["transform"].append({"calculate": extra, "as": "probe"})
        cells["encoding"]["description"] = {"field": "probe", "type": "nominal"}
        cells["mark"]["aria"] = True
    return s


def n_tokens(n: int) -> list[str]:
    return [f"{t}{i}" for i, t in enumerate(tokens(n))]


# --------------------------------------------------------------------------- colours


def test_colorize_is_vegas_scale_at_sample_cells():
    values = np.array([[0.0, 0.05, 0.1, 0.2], [0.33, 0.5, 0.77, 0.9], [1.0, 1.5, -0.2, np.nan]], dtype=np.float32)
    rgba = raster.colorize(values, 0.0, 1.0, "blues")
    for (i, j), v in np.ndenumerate(values):
        if np.isnan(v):
            assert rgba[i, j, 3] == 0  # Vega-Lite drops NaN: transparent
            continue
        t = min(1.0, max(0.0, float(v)))
        assert tuple(rgba[i, j, :3]) == vega_blues(t), (v, rgba[i, j])
        assert rgba[i, j, 3] == 255


def test_masked_cells_are_grey_and_only_they():
    a, mask = causal((12, 12))
    rgba = raster.colorize(a, 0.0, float(a.max()), "blues", mask)
    grey = (rgba[..., :3] == (0xA3, 0xA3, 0xA3)).all(axis=-1)
    assert (grey == ~mask).all()


@pytest.mark.parametrize("scheme,diverging", [("blues", False), ("redblue", True)])
def test_raster_heatmap_renders_pixel_for_pixel_as_the_vector_one(scheme, diverging):
    """Vega itself (vl-convert) draws the image chart exactly as the rect-per-cell chart: cells,
    masked grey, axes, legend and title, every pixel."""
    n = 24
    a, mask = causal((n, n))
    if diverging:
        a = a - causal((n, n), seed=3)[0]
    dm = DrawMatrix.of(a, n_tokens(n), allowed=mask)
    kwargs = dict(title="t", annotate=False, cell_size=12, scheme=scheme,
                  color_domain=(float(a.min()), float(a.max())) if diverging else None)
    vector = chart_spec(heatmaps.heatmap(dm, raster=False, **kwargs))
    image = chart_spec(heatmaps.heatmap(dm, raster=True, **kwargs))
    assert "image" in [m.get("type") for m in walk(image, "mark") if isinstance(m, dict)]
    assert np.array_equal(render(vector), render(image))


# --------------------------------------------------------------------------- tooltip text


def test_fixed3_is_d3_format_of_the_float32_value():
    rng = np.random.default_rng(1)
    values = np.concatenate([
        [0.0625, 0.1875, 0.0005, 0.9995, 1.0, 0.0, -0.0, -0.0004, -0.0625, 1.85, 12.3456, 2.5e-4, 0.015625],
        rng.random(400), (rng.random(200) - 0.5) * 4]).astype(np.float32)
    got = raster.fixed3(values)
    assert got.tolist() == [to_fixed3(v) for v in values]
    assert raster.fixed3(np.array([np.nan], dtype=np.float32)).tolist() == ["NaN"]


def test_fixed3_agrees_with_vega_itself():
    values = np.array([0.0625, 0.1875, -0.0625, 0.0005, -0.0004, 0.9995, 1.85, 0.03125, 0.4449999], dtype=np.float32)
    spec = {"data": {"values": [{"v": float(v), "i": i} for i, v in enumerate(values)]},
            "transform": [{"calculate": "datum.i + '|' + format(datum.v, '.3f')", "as": "t"}],
            "mark": "text", "encoding": {"text": {"field": "t"}, "y": {"field": "i", "type": "ordinal"}}}
    texts = {}
    for items in scene_marks(spec).values():
        for item in items:
            if "|" in str(item.get("text", "")):
                i, t = item["text"].split("|")
                texts[int(i)] = t
    assert [texts[i] for i in range(len(values))] == raster.fixed3(values).tolist()


def test_row_strings_hold_each_cells_text_at_a_fixed_width():
    a, mask = causal((6, 6))
    rows, w = raster.row_strings(a, mask)
    assert w == 5 and len(rows) == 6 and all(len(r) == 30 for r in rows)
    for i in range(6):
        for j in range(6):
            cell = rows[i][j * w:(j + 1) * w].strip()
            assert cell == (to_fixed3(a[i, j]) if mask[i, j] else "-")
    d = (a - a.T).astype(np.float32)
    rows, w = raster.row_strings(d)
    assert w == 6  # "−0.123"
    assert rows[1][0:w].strip() == to_fixed3(d[1, 0])


# --------------------------------------------------------------------------- the chart


@pytest.fixture(scope="module")
def causal30():
    n = 30
    a, mask = causal((n, n), seed=5)
    dm = DrawMatrix.of(a, n_tokens(n), allowed=mask)
    return dm, heatmaps.heatmap(dm, title="Raw attention · layer 2, head 5", selected_query=7)


def test_heatmap_above_20_tokens_is_an_image_and_valid(causal30):
    dm, chart = causal30
    with alt.data_transformers.enable("default", max_rows=None):
        spec = chart.to_dict(validate=True)  # raises SchemaValidationError if invalid
    assert spec["usermeta"]["embedOptions"]["renderer"] == "canvas"
    assert [lay.get("name") for lay in spec["layer"]][-2:] == ["rows", "cells"]
    img = decode(image_url(spec))
    assert img.shape == (30, 30, 4)
    lo, hi = 0.0, float(dm.matrix[dm.allowed].max())
    assert np.array_equal(img, raster.colorize(dm.matrix, lo, hi, "blues", dm.allowed))
    assert (img[~dm.allowed][..., :3] == (0xA3, 0xA3, 0xA3)).all()
    # the data is one row per query, not one per cell
    assert vega.chart_cells(chart) == 30 and len(rows_of(spec)) == 30
    # 20 tokens or cell numbers: the vector chart
    assert "image" not in json.dumps(chart_spec(heatmaps.heatmap(DrawMatrix.of(softmax((20, 20)), tokens(20)),
                                                                 title="t")))
    numbers = chart_spec(heatmaps.heatmap(dm, title="t", annotate=True))
    assert "text" in [m if isinstance(m, str) else m["type"] for m in walk(numbers, "mark")]


def test_hit_marks_are_one_image_and_two_n_rects(causal30):
    dm, chart = causal30
    spec = chart_spec(chart)
    n = dm.n
    idle = scene_marks(spec)
    assert len(idle["layer_0_marks"]) == 1 and idle["layer_0_marks"][0]["url"].startswith("data:image/png")
    assert len(idle["rows_marks"]) == n and not idle.get("cells_marks")
    assert len(idle["layer_1_marks"]) == 1  # the focused query's outline (row 7)
    assert idle["layer_1_marks"][0]["stroke"] == vega.HIGHLIGHT
    row = rows_of(spec)[4]
    hovered = scene_marks(hovering(spec, row))
    assert len(hovered["cells_marks"]) == n
    total = sum(len(hovered[k]) for k in ("layer_0_marks", "rows_marks", "cells_marks"))
    assert total == 1 + 2 * n


def test_tooltips_are_the_cells_text_with_3_decimals(causal30):
    """Vega evaluates the hit marks' tooltip fields: the same query, key and weight text (or the
    masked text) that the vector chart showed, for every cell of a hovered row."""
    dm, chart = causal30
    spec = chart_spec(chart)
    tip = {t["field"]: t["title"] for t in layer(spec, "cells")["encoding"]["tooltip"]}
    assert tip == {"query": "Query (from)", "key": "Key (to)", "weight_text": "Attention weight"}
    labels = list(dm.axis_labels)
    for i in (0, 4, 29):
        probe = "datum.query + '|' + datum.key + '|' + datum.weight_text + '|' + datum.query_pos + '|' + datum.key_pos"
        items = scene_marks(hovering(spec, rows_of(spec)[i], probe))["cells_marks"]
        got = sorted(item["description"].split("|") for item in items)
        want = sorted([labels[i], labels[j], to_fixed3(dm.matrix[i, j]) if dm.allowed[i, j] else
                       raster.MASKED_TEXT, str(i), str(j)] for j in range(dm.n))
        assert got == want


def test_click_and_hover_parameters(causal30):
    _, chart = causal30
    spec = chart_spec(chart)
    params = {p["name"]: p for p in spec["params"]}
    assert params["cell"]["select"]["fields"] == ["query_pos", "key_pos"]
    assert params["cell"]["select"]["on"] == "click" and params["cell"]["views"] == ["cells"]
    assert params["hover"]["views"] == ["rows"] and params["hover"]["select"]["clear"] is False
    plain = chart_spec(heatmaps.heatmap(DrawMatrix.of(softmax((30, 30)), tokens(30)), title="t", selectable=False))
    assert [p["name"] for p in plain["params"] if "select" in p] == ["hover"]  # tooltips stay, clicks go


def test_description_says_what_the_chart_shows(causal30):
    dm, chart = causal30
    text = chart_spec(chart)["description"]
    a = np.where(dm.allowed, dm.matrix, -1)
    i, j = np.unravel_index(int(np.argmax(a)), a.shape)
    q, k = dm.tokens[i], dm.tokens[j]
    assert text.startswith("Heatmap: Raw attention · layer 2, head 5. Attention weight")
    assert f"over 30 tokens; strongest: '{q}' -> '{k}' {dm.matrix[i, j]:.2f}" in text
    assert "grey cells are masked" in text
    small = chart_spec(heatmaps.heatmap(DrawMatrix.of(softmax((9, 9)), SENTENCE), title="Layer 0 · head 0"))
    assert small["description"].startswith("Heatmap: Layer 0 · head 0.") and "over 9 tokens" in small["description"]
    blocks = prepare(DrawMatrix.of(softmax((400, 400)), tokens(400)))
    assert "blocks of about 2 tokens" in chart_spec(heatmaps.heatmap(blocks, title="b"))["description"]


def test_large_heatmaps_fit_the_column():
    """Past 25 tokens the plot is PLOT_PX square whatever n (cells need not be whole pixels)."""
    for n in (64, 200, 316):
        spec = chart_spec(heatmaps.heatmap(DrawMatrix.of(softmax((n, n)), tokens(n)), title="t"))
        assert spec["width"] == spec["height"] <= heatmaps.PLOT_PX


def test_an_unknown_scheme_falls_back_to_vector_cells():
    spec = chart_spec(heatmaps.heatmap(DrawMatrix.of(softmax((30, 30)), tokens(30)), title="t", scheme="plasma"))
    assert "image" not in [m.get("type") for m in walk(spec, "mark") if isinstance(m, dict)]


# --------------------------------------------------------------------------- grids


def test_head_grid_panels_are_images_with_panel_tooltips():
    n = 40
    att = softmax((6, 12, n, n), seed=2)
    chart = grids.head_grid(att[:, 3], tokens(n), head=3)
    with alt.data_transformers.enable("default", max_rows=None):
        spec = chart.to_dict(validate=True)
    rows = rows_of(spec)
    assert len(rows) == 6 * n and vega.chart_cells(chart) == 6 * n
    firsts = [r for r in rows if r["idx"] == 0]
    assert [r["panel"] for r in firsts] == [f"Layer {i} · head 3" for i in range(6)]
    lo, hi = 0.0, float(att[:, 3].max())
    for i, r in enumerate(firsts):  # one PNG per panel, on the shared scale
        assert np.array_equal(decode(r["img"]), raster.colorize(att[i, 3], lo, hi))
    assert all(r["img"] is None for r in rows if r["idx"])
    params = {p["name"]: p for p in spec["params"]}
    assert params["cell"]["select"]["fields"] == ["panel", "query_pos", "key_pos"]
    assert params["hover"]["select"]["fields"][0] == "panel"
    # hovering row 5 of layer 4 gives that panel's cells only, with its exact values
    row = next(r for r in rows if r["panel"] == "Layer 4 · head 3" and r["idx"] == 5)
    probe = "datum.panel + '|' + datum.key_pos + '|' + datum.weight_text"
    items = scene_marks(hovering(spec, row, probe))["cells_marks"]
    assert len(items) == n
    assert sorted(item["description"] for item in items) == sorted(
        f"Layer 4 · head 3|{j}|{to_fixed3(att[4, 3, 5, j])}" for j in range(n))
    assert spec["description"].startswith("Grid of 6 heatmaps: Head 3 in every layer")


def test_head_grid_small_stays_annotated_vector_and_fits():
    n = len(SENTENCE)
    spec = chart_spec(grids.head_grid(softmax((6, 12, n, n))[:, 1], SENTENCE, head=1))
    assert "text" in [m if isinstance(m, str) else m["type"] for m in walk(spec, "mark")]
    assert "image" not in json.dumps([m for m in walk(spec, "mark")])
    assert spec["columns"] == 3  # 9 tokens: 23 px cells in 3 columns
    fourteen = chart_spec(grids.head_grid(softmax((6, 12, 14, 14))[:, 1], tokens(14), head=1))
    assert fourteen["columns"] == 2  # 3 columns would leave 15 px cells, too small for the numbers


@pytest.mark.parametrize("n", [14, 64, 512])
def test_thumbnail_grid_is_one_image_per_head_and_a_click_gives_layer_and_head(n):
    L, H = 6, 12
    att = softmax((L, H, n, n), seed=1)
    chart = grids.thumbnail_grid(att, tokens(n), selected=(1, 2))
    with alt.data_transformers.enable("default", max_rows=None):
        spec = chart.to_dict(validate=True)
    rows = rows_of(spec)
    firsts = [r for r in rows if r["idx"] == 0]
    assert [(r["layer"], r["head"]) for r in firsts] == [(i, j) for i in range(L) for j in range(H)]
    params = {p["name"]: p for p in spec["params"]}
    assert params["head"]["select"]["fields"] == ["layer", "head"] and params["head"]["select"]["on"] == "click"
    assert vega.chart_cells(chart) == len(rows) <= L * H * 64
    outline = [lay for lay in spec["spec"]["layer"] if lay["mark"].get("stroke") == vega.HIGHLIGHT]
    assert outline and "datum.layer === 1 && datum.head === 2" in outline[0]["transform"][0]["filter"]
    assert spec["description"].startswith(f"Every layer and head: {L} x {H} small heatmaps")
    assert spec["spec"]["width"] <= 96


def test_thumbnails_masked_cells_grey_in_the_image():
    n = 8
    a, mask = causal((2, 2, n, n))
    spec = chart_spec(grids.thumbnail_grid(a, tokens(n), allowed_mask=mask))
    for r in rows_of(spec):
        if r["idx"] == 0:
            img = decode(r["img"])
            assert ((img[..., :3] == (0xA3, 0xA3, 0xA3)).all(axis=-1) == ~mask).all()


def test_thumbnail_tooltips_name_layer_head_and_the_exact_weight():
    n = 10
    att = softmax((2, 3, n, n), seed=4)
    spec = chart_spec(grids.thumbnail_grid(att, tokens(n)))
    row = next(r for r in rows_of(spec) if (r["layer"], r["head"], r["idx"]) == (1, 2, 3))
    probe = "datum.layer + '|' + datum.head + '|' + datum.query + '|' + datum.key_pos + '|' + datum.weight_text"
    items = scene_marks(hovering(spec, row, probe))["cells_marks"]
    labels = token_labels(tokens(n))
    assert sorted(item["description"] for item in items) == sorted(
        f"1|2|{labels[3]}|{j}|{to_fixed3(att[1, 2, 3, j])}" for j in range(n))
    tips = [t["title"] for t in walk(spec, "tooltip") if isinstance(t, list) for t in t]
    assert tips == ["Layer", "Head", "Query (from)", "Key (to)", "Attention weight"]


# --------------------------------------------------------------------------- export


def test_raster_charts_export_offline(causal30):
    """PNG and SVG downloads of an image chart render offline (vl-convert, no URL allowed): the
    PNG's plot is the PNG's cells, the SVG embeds the image."""
    _, chart = causal30
    png = export.chart_to_png(chart, scale=1)
    assert png.startswith(b"\x89PNG")
    svg = export.chart_to_svg(chart)
    assert "<svg" in svg and "data:image/png;base64," in svg
    with pytest.raises(export.ExternalDataError):
        export.export_spec({"mark": {"type": "image", "url": "https://example.org/x.png"}, "data": {"values": [{}]}})


def test_head_grid_keeps_numbers_only_while_the_grid_is_small():
    """Six panels of 12 tokens (the tutorial's sentences) keep their numbers; six of 16 become images
    (1,536 numbered cells cost the browser ~0.4 s a head change), values still in the tooltips."""
    twelve = chart_spec(grids.head_grid(softmax((6, 12, 12, 12))[:, 1], tokens(12), head=1))
    assert "text" in [m if isinstance(m, str) else m["type"] for m in walk(twelve, "mark")]
    sixteen = chart_spec(grids.head_grid(softmax((6, 12, 16, 16))[:, 1], tokens(16), head=1))
    marks = json.dumps([m for m in walk(sixteen, "mark")])
    assert "image" in marks and '"text"' not in marks
    assert sixteen["description"].startswith("Grid of 6 heatmaps: Head 1 in every layer")

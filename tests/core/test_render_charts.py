"""core.render heatmaps, bars and vega: token axes keep repeats in sentence order, masks are grey,
sizes stay in budget, and every builder's spec is valid and built without schema round trips."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from core.analysis import patterns
from core.render import bars, grids, heatmaps, vega
from core.render import matrix as M
from core.render.matrix import CELL_BUDGET, CellBudgetError, DrawMatrix
from core.render.vega import chart_spec
from tests.core.synthetic import SENTENCE, causal, main_rows, softmax, tokens, walk

HOSTILE = ["</script><script>alert(1)</script>", "<img src=x onerror=alert(1)>", "🙂👍🏽",
           "שלום", "مرحبا", "a\u200bb", "\u202eevil", "{{x}}", "datum.weight", "'\"", ""]


def datasets(spec):
    return list(spec.get("datasets", {}).values())


def total_cells(spec):
    return sum(len(d) for d in datasets(spec))


def rendered_fills(spec):
    """Fill colours of every mark item vl-convert renders (offline scenegraph)."""
    import vl_convert

    return [v for v in walk(vl_convert.vegalite_to_scenegraph(spec), "fill") if isinstance(v, str)]


def params(spec):
    return {p["name"]: p for p in spec.get("params", [])}


# --------------------------------------------------------------------------- heatmap


def test_heatmap_cells_labels_and_sort_in_sentence_order():
    n = len(SENTENCE)
    spec = chart_spec(heatmaps.heatmap(DrawMatrix.of(softmax((n, n)), SENTENCE), title="Layer 0 · head 0"))
    rows = main_rows(spec)
    assert len(rows) == n * n
    expected = M.token_labels(SENTENCE)
    queries = list(dict.fromkeys(r["query"] for r in rows))
    keys = list(dict.fromkeys(r["key"] for r in rows))
    assert queries == expected and keys == expected  # n distinct, "the" twice kept separate
    assert "1 · the" in keys and "5 · the" in keys
    xs = [e for e in walk(spec, "x") if isinstance(e, dict) and e.get("field") == "key"]
    ys = [e for e in walk(spec, "y") if isinstance(e, dict) and e.get("field") == "query"]
    assert xs and ys
    for enc in xs + ys:
        assert enc["sort"] == expected
        assert enc["type"] == "nominal"
    axis_x = xs[0]["axis"]
    assert axis_x["title"] == "Keys (attending to)" and axis_x["labelAngle"] != 0
    assert ys[0]["axis"]["title"] == "Queries (attending from)"
    assert spec["width"] == spec["height"] > 0


def test_heatmap_tooltip_and_selection():
    n = len(SENTENCE)
    spec = chart_spec(heatmaps.heatmap(DrawMatrix.of(softmax((n, n)), SENTENCE), title="t"))
    tips = [t for tl in walk(spec, "tooltip") if isinstance(tl, list) for t in tl]
    fields = {t["field"] for t in tips}
    assert {"query", "key", "weight_text"} <= fields
    calcs = {c["as"]: c["calculate"] for c in walk(spec, "transform") for c in c if "calculate" in c}
    assert ".3f" in calcs["weight_text"] and "n/a (masked: key after query)" in calcs["weight_text"]
    cell = params(spec)["cell"]
    assert cell["select"]["type"] == "point"
    assert cell["select"]["fields"] == ["query_pos", "key_pos"]
    plain = heatmaps.heatmap(DrawMatrix.of(softmax((n, n)), SENTENCE), title="t", selectable=False)
    assert not [p for p in chart_spec(plain).get("params", []) if "select" in p]  # only the colour domain
    # annotated: the selection lives on the top layer, so clicks on the numbers select the cell
    top = spec["layer"][-1]
    assert top["name"] in cell["views"] and top["mark"]["type"] == "rect"
    # unannotated vector cells: the coloured cells carry it
    big = chart_spec(heatmaps.heatmap(DrawMatrix.of(softmax((30, 30)), tokens(30)), title="t", raster=False))
    assert params(big)["cell"]["views"] == [big["layer"][0]["name"]]
    # an image (the default above 20 tokens): its hit marks for the hovered row's cells
    image = chart_spec(heatmaps.heatmap(DrawMatrix.of(softmax((30, 30)), tokens(30)), title="t"))
    assert params(image)["cell"]["views"] == ["cells"]
    assert params(image)["cell"]["select"]["fields"] == ["query_pos", "key_pos"]


def test_charts_keep_their_size_in_streamlit():
    """Streamlit injects autosize "fit" unless the spec sets one (squeezes title + axes into height).
    Heatmaps: "pad" (square cells); bar charts: "fit-x" (their width is the whole chart's, so they
    fit their column, also when Streamlit stretches them to it)."""
    n = len(SENTENCE)
    a = softmax((n, n))
    charts = [heatmaps.heatmap(DrawMatrix.of(a, SENTENCE), title="t"),
              grids.head_grid(softmax((2, 2, n, n)), SENTENCE, head=0),
              grids.thumbnail_grid(softmax((2, 2, n, n)), SENTENCE),
              grids.overview_grid(np.ones((2, 3)), title="o", value_label="v"),
              bars.bar_chart_for_tokens(a[0], SENTENCE, "b"), bars.category_chart(_counts())]
    for chart in charts:
        assert chart_spec(chart)["autosize"] in ({"type": "pad", "contains": "padding"},
                                                 {"type": "fit-x", "contains": "padding"})
    for chart in charts[-2:]:
        spec = chart_spec(chart)
        assert spec["autosize"]["type"] == "fit-x" and spec["width"] <= 900


def test_heatmap_causal_mask_grey_not_zero():
    n = len(SENTENCE)
    a, mask = causal((n, n))
    spec = chart_spec(heatmaps.heatmap(DrawMatrix.of(a, SENTENCE, allowed=mask), title="gpt2"))
    rows = main_rows(spec)
    masked = [r for r in rows if not r["allowed"]]
    assert len(masked) == n * (n - 1) // 2
    assert all(r["key_pos"] > r["query_pos"] for r in masked)
    assert all(r["weight"] == 0 for r in masked)
    colors = [c for c in walk(spec, "color") if isinstance(c, dict) and "condition" in c
              and c["condition"].get("field") == "weight"]
    assert colors
    assert colors[0]["condition"]["test"] == "datum.allowed"
    assert colors[0]["value"] == vega.MASKED_FILL
    # rendered: exactly the masked cells are grey (not the colour scale's zero, not dropped)
    assert rendered_fills(spec).count(vega.MASKED_FILL) == n * (n - 1) // 2
    plain = rendered_fills(chart_spec(heatmaps.heatmap(DrawMatrix.of(a, SENTENCE), title="no mask")))
    assert vega.MASKED_FILL not in plain


def test_thumbnails_draw_masked_cells_grey():
    """Vector thumbnails (raster=False; the default image thumbnails: test_render_raster)."""
    n = 8
    a, mask = causal((2, 2, n, n))
    spec = chart_spec(grids.thumbnail_grid(a, tokens(n), allowed_mask=mask, raster=False))
    assert rendered_fills(spec).count(vega.MASKED_FILL) == 4 * n * (n - 1) // 2


def test_annotation_auto_and_text_colour_switches():
    small = chart_spec(heatmaps.heatmap(DrawMatrix.of(softmax((8, 8)), tokens(8)), title="s"))
    marks = [m if isinstance(m, str) else m["type"] for m in walk(small, "mark")]
    assert "text" in marks
    text_colors = [c for c in walk(small, "color") if isinstance(c, dict) and "condition" in c
                   and "value" in c["condition"]]
    assert any({c["condition"]["value"], c["value"]} == {vega.TEXT_LIGHT, vega.TEXT_DARK} for c in text_colors)
    big = chart_spec(heatmaps.heatmap(DrawMatrix.of(softmax((40, 40)), tokens(40)), title="b"))
    assert "text" not in [m if isinstance(m, str) else m["type"] for m in walk(big, "mark")]
    forced = chart_spec(heatmaps.heatmap(DrawMatrix.of(softmax((40, 40)), tokens(40)), title="b", annotate=True))
    assert "text" in [m if isinstance(m, str) else m["type"] for m in walk(forced, "mark")]


def test_heatmap_refuses_over_budget_and_selected_row():
    with pytest.raises(CellBudgetError):
        heatmaps.heatmap(DrawMatrix.of(softmax((512, 512)), tokens(512)), title="x")
    spec = chart_spec(heatmaps.heatmap(DrawMatrix.of(softmax((9, 9)), SENTENCE), title="x", selected_query=3))
    filters = [f for t in walk(spec, "transform") for f in t if "filter" in f]
    assert any("datum.query_pos == 3" in f["filter"] for f in filters)


def test_hostile_tokens_stay_plain_label_text():
    toks = HOSTILE + ["the", "the"]
    n = len(toks)
    spec = chart_spec(heatmaps.heatmap(DrawMatrix.of(softmax((n, n)), toks), title="hostile"))
    labels = list(dict.fromkeys(r["query"] for r in main_rows(spec)))
    assert len(labels) == n
    assert labels[0].startswith("0 · </script><script>")
    assert labels[1] == "1 · <img src=x onerror=aler…"  # cut to 24 characters, text kept verbatim
    assert labels[-3] == "10 · ∅"  # empty token gets a visible label
    assert labels[2] == "2 · 🙂👍🏽" and labels[3] == "3 · שלום"
    assert "\u200b" not in labels[5] and "U+200B" in labels[5]  # zero-width made visible
    assert "\u202e" not in labels[6]
    # token text never reaches a Vega expression
    exprs = [v for k in ("calculate", "filter", "test", "expr") for v in walk(spec, k) if isinstance(v, str)]
    assert exprs and not any("alert" in e or "<" in e for e in exprs)
    json.dumps(spec)  # serialisable


# --------------------------------------------------------------------------- grids


@pytest.mark.parametrize("n,L,H", [(512, 6, 12), (64, 6, 12), (10, 6, 12)])
def test_head_grid_budget(n, L, H):
    att = softmax((L, H, n, n), seed=n)
    for kwargs in ({"head": 3}, {"layer": 2}, {}):
        assert 0 < vega.chart_cells(grids.head_grid(att, tokens(n), **kwargs)) <= CELL_BUDGET
    all_panels = [att[layer_, head_] for layer_ in range(L) for head_ in range(H)]
    chart = grids.head_grid(all_panels, tokens(n), columns=12)
    spec = chart_spec(chart)
    assert total_cells(spec) == vega.chart_cells(chart) <= CELL_BUDGET
    panels = {r["panel"] for r in main_rows(spec)}
    assert len(panels) == L * H


def test_head_grid_same_head_across_layers():
    n = len(SENTENCE)
    att = softmax((6, 12, n, n))
    spec = chart_spec(grids.head_grid(att, SENTENCE, head=3))
    rows = main_rows(spec)
    assert len(rows) == 6 * n * n
    assert spec["facet"]["sort"] == [f"Layer {i} · head 3" for i in range(6)]
    assert spec["columns"] == 3
    assert any("arbitrary" in s for s in spec["title"]["subtitle"])
    assert "text" in [m if isinstance(m, str) else m["type"] for m in walk(spec, "mark")]  # annotated
    # one shared colour domain across panels
    domains = [c["condition"]["scale"]["domain"] for c in walk(spec, "color")
               if isinstance(c, dict) and "condition" in c and "scale" in c.get("condition", {})] + \
              [c["scale"]["domain"] for c in walk(spec, "color") if isinstance(c, dict) and "scale" in c]
    assert domains and all(d == domains[0] for d in domains)
    assert domains[0][1] == pytest.approx(float(att[:, 3].max()), rel=1e-5)
    r = next(r for r in rows if r["panel"] == "Layer 4 · head 3" and r["query_pos"] == 2 and r["key_pos"] == 5)
    assert r["weight"] == pytest.approx(float(att[4, 3, 2, 5]), rel=1e-5)
    assert "cell" in params(spec)


@pytest.mark.parametrize("n,L,H", [(512, 6, 12), (512, 12, 12), (64, 6, 12)])
def test_thumbnail_grid_budget_and_selection(n, L, H):
    att = softmax((L, H, n, n), seed=1)
    spec = chart_spec(grids.thumbnail_grid(att, tokens(n), selected=(1, 2)))
    assert total_cells(spec) <= CELL_BUDGET
    rows = main_rows(spec)
    assert {(r["layer"], r["head"]) for r in rows} == {(i, j) for i in range(L) for j in range(H)}
    head = params(spec)["head"]
    assert head["select"]["fields"] == ["layer", "head"]


def test_thumbnail_rows_still_sum_to_one():
    att = softmax((2, 3, 64, 64))
    spec = chart_spec(grids.thumbnail_grid(att, tokens(64), max_cells=2 * 3 * 16 * 16, raster=False))
    df = pd.DataFrame(main_rows(spec))
    assert df.groupby(["layer", "head"]).size().max() == 16 * 16
    np.testing.assert_allclose(df.groupby(["layer", "head", "query_pos"]).weight.sum(), 1.0, atol=1e-5)
    # the image thumbnails' rows (3-decimal text of the same blocks) sum to 1 within rounding
    image = pd.DataFrame(main_rows(chart_spec(grids.thumbnail_grid(att, tokens(64), max_cells=2 * 3 * 16 * 16))))
    assert image.groupby(["layer", "head"]).size().max() == 16
    sums = image.wrow.map(lambda row: sum(float(row[j:j + 5]) for j in range(0, len(row), 5)))
    np.testing.assert_allclose(sums, 1.0, atol=16 * 0.0005 + 1e-9)


def test_overview_grid():
    values = np.random.default_rng(0).random((6, 12))
    values[2, 3] = np.nan
    spec = chart_spec(grids.overview_grid(values, title="Entropy", value_label="Normalised entropy",
                                             selected=(1, 4)))
    rows = main_rows(spec)
    assert len(rows) == 72
    r = next(r for r in rows if r["layer"] == 2 and r["head"] == 3)
    assert r["value"] is None and r["valid"] is False
    assert rendered_fills(spec).count(vega.MASKED_FILL) == 1  # the NaN head is grey, not dropped
    assert params(spec)["head"]["select"]["fields"] == ["layer", "head"]
    # the outline is drawn from its own one-row dataset, on the grid's own (explicit) domains
    assert spec["datasets"][vega.MARKED_DATA] == [{"layer": 1, "head": 4}]
    outline = [lay for lay in spec["layer"] if lay.get("data") == {"name": vega.MARKED_DATA}]
    assert len(outline) == 1
    assert outline[0]["encoding"]["x"]["scale"]["domain"] == list(range(12))
    assert outline[0]["encoding"]["y"]["scale"]["domain"] == list(range(6))


def _outlines(spec) -> list:
    """(x, y, width, height) of every orange-stroked item vl-convert renders."""
    import vl_convert

    scene = vl_convert.vegalite_to_scenegraph(spec)
    return [tuple(round(float(item.get(k, 0)), 3) for k in ("x", "y", "width", "height", "x2"))
            for items in walk(scene, "items") for item in items
            if isinstance(item, dict) and item.get("stroke") == vega.HIGHLIGHT and "x" in item]


@pytest.mark.parametrize("selected", [(0, 0), (1, 4), (5, 11)])
def test_a_memoised_grid_moved_by_with_marked_draws_as_one_built_for_that_head(selected):
    """ui.cache builds an overview grid once (marking=True, nothing marked) and each run moves its
    outline with vega.with_marked: what is drawn equals the grid built for that head, and the
    memo's spec stays."""
    values = np.random.default_rng(1).random((6, 12))
    unmarked = chart_spec(grids.overview_grid(values, title="t", value_label="v", marking=True))
    assert _outlines(unmarked) == []
    moved = vega.with_marked(unmarked, selected)
    built = chart_spec(grids.overview_grid(values, title="t", value_label="v", selected=selected))
    assert moved == built
    assert len(_outlines(moved)) == 1 and _outlines(moved) == _outlines(built)
    assert unmarked["datasets"][vega.MARKED_DATA] == []  # not changed
    assert vega.with_marked(moved, None) == unmarked
    assert {k: v for k, v in moved.items() if k != "datasets"} == {k: v for k, v in unmarked.items() if k != "datasets"}


def test_with_marked_needs_the_params():
    plain = chart_spec(grids.overview_grid(np.ones((2, 3)), title="o", value_label="v"))  # selected=None
    assert vega.MARKED_DATA not in plain.get("datasets", {})
    with pytest.raises(KeyError):
        vega.with_marked(plain, (0, 1))


# --------------------------------------------------------------------------- bars


def _counts():
    return pd.DataFrame({"layer": range(3), "positional": [3, 1, 0], "special": [5, 4, 2],
                         "syntactic": [1, 0, 2], "semantic": [2, 2, 9], "total": [11, 7, 13]})


def test_category_chart_wide_long_and_edges():
    spec = chart_spec(bars.category_chart(_counts()))
    rows = main_rows(spec)
    assert {r["category"] for r in rows} == set(patterns.CATEGORIES)  # "total" is not a category
    assert sum(r["count"] for r in rows) == 11 + 7 + 13
    edges = pd.DataFrame({"layer": [0, 0, 1], "category": ["special", "special", "semantic"],
                          "weight": [0.2, 0.3, 0.4]})
    rows = main_rows(chart_spec(bars.category_chart(edges)))
    assert {(r["layer"], r["category"], r["count"]) for r in rows} == {(0, "special", 2), (1, "semantic", 1)}


def test_category_compare_chart_shares():
    df = pd.concat([_counts().assign(sentence="A cat."), _counts().assign(sentence="The dog.")])
    spec = chart_spec(bars.category_compare_chart(df))
    rows = main_rows(spec)
    assert len(rows) == 8
    for s in ("A cat.", "The dog."):
        assert sum(r["value"] for r in rows if r["sentence"] == s) == pytest.approx(1.0)
    assert any(e.get("field") == "sentence" for e in walk(spec, "xOffset"))


def test_bar_chart_for_tokens():
    vals = np.linspace(0, 1, len(SENTENCE))
    spec = chart_spec(bars.bar_chart_for_tokens(vals, SENTENCE, "Rollout", highlight=3, reference=1 / 9))
    rows = [r for r in main_rows(spec)]
    assert [r["token"] for r in rows] == M.token_labels(SENTENCE)
    assert [r["highlight"] for r in rows].count(True) == 1
    xs = [e for e in walk(spec, "x") if isinstance(e, dict) and e.get("field") == "token"]
    assert xs[0]["sort"] == M.token_labels(SENTENCE)
    assert "token" in params(spec)


def test_head_grid_accepts_one_head_slice():
    n = len(SENTENCE)
    att = softmax((6, 12, n, n))
    spec = chart_spec(grids.head_grid(att[:, 5], SENTENCE, head=5))
    assert spec["facet"]["sort"] == [f"Layer {i} · head 5" for i in range(6)]
    assert any("arbitrary" in s for s in spec["title"]["subtitle"])
    spec = chart_spec(grids.head_grid(att[2], SENTENCE, layer=2))
    assert spec["facet"]["sort"][:2] == ["Layer 2 · head 0", "Layer 2 · head 1"]


def test_overview_grid_categories():
    cats = ["vertical", "diagonal", "block"]
    codes = np.array([[0, 1, 2], [2, -1, np.nan]])
    spec = chart_spec(grids.overview_grid(codes, title="Pattern", value_label="Pattern", categories=cats))
    rows = main_rows(spec)
    assert [r["category"] for r in rows] == ["vertical", "diagonal", "block", "block", None, None]
    assert [r["valid"] for r in rows] == [True, True, True, True, False, False]
    colors = [c for c in walk(spec, "color") if isinstance(c, dict) and c.get("field") == "category"]
    assert colors and colors[0]["scale"]["domain"] == cats


# --------------------------------------------------------------------------- building without schema round trips


def _every_builder():
    """(name, zero-argument builder) for each chart builder on representative inputs."""
    n = len(SENTENCE)
    a = softmax((n, n))
    ca, cm = causal((n, n))
    c30, m30 = causal((30, 30))
    att = softmax((6, 12, n, n))
    catt, cmask = causal((2, 2, 8, 8))
    ov = np.random.default_rng(0).random((6, 12))
    ov[2, 3] = np.nan
    auto = M.prepare(DrawMatrix.of(softmax((512, 512)), tokens(512)))
    both = pd.concat([_counts().assign(sentence="A cat."), _counts().assign(sentence="The dog.")])
    return [
        ("heatmap", lambda: heatmaps.heatmap(DrawMatrix.of(a, SENTENCE), title="t")),
        ("heatmap unselectable", lambda: heatmaps.heatmap(DrawMatrix.of(a, SENTENCE), title="t", selectable=False)),
        ("heatmap causal", lambda: heatmaps.heatmap(DrawMatrix.of(ca, SENTENCE, allowed=cm), title="t")),
        ("heatmap selected", lambda: heatmaps.heatmap(DrawMatrix.of(a, SENTENCE), title="t", selected_query=3,
                                                      subtitle="s")),
        ("heatmap symmetric", lambda: heatmaps.heatmap(DrawMatrix.of(a - a.T, SENTENCE), title="t", scheme="redblue",
                                                       color_domain=(-0.5, 0.5), value_label="Difference")),
        ("heatmap n=30 causal", lambda: heatmaps.heatmap(DrawMatrix.of(c30, tokens(30), allowed=m30), title="t",
                                                         selected_query=4)),
        ("heatmap blocks", lambda: heatmaps.heatmap(auto, title="t", subtitle=auto.notes[-1])),
        ("heatmap window", lambda: heatmaps.heatmap(M.prepare(DrawMatrix.of(c30, tokens(30), allowed=m30), "window",
                                                              start=4, size=8), title="t", selected_query=5)),
        ("heatmap raster", lambda: heatmaps.heatmap(DrawMatrix.of(c30, tokens(30), allowed=m30), title="t",
                                                    selected_query=4, raster=True)),
        ("heatmap raster diff", lambda: heatmaps.heatmap(DrawMatrix.of(c30 - c30.T, tokens(30)), title="t",
                                                         scheme="redblue", color_domain=(-1, 1), raster=True)),
        ("heatmap numbers at 30", lambda: heatmaps.heatmap(DrawMatrix.of(c30, tokens(30)), title="t", annotate=True)),
        ("head_grid head", lambda: grids.head_grid(att, SENTENCE, head=3)),
        ("head_grid raster", lambda: grids.head_grid(softmax((6, 12, 30, 30)), tokens(30), head=3)),
        ("head_grid raster causal", lambda: grids.head_grid(causal((2, 2, 30, 30))[0], tokens(30), layer=1,
                                                               allowed_mask=m30)),
        ("head_grid causal", lambda: grids.head_grid(catt, tokens(8), layer=1, allowed_mask=cmask, annotate=False)),
        ("thumbnail_grid", lambda: grids.thumbnail_grid(att, SENTENCE, selected=(1, 2))),
        ("thumbnail_grid causal", lambda: grids.thumbnail_grid(catt, tokens(8), allowed_mask=cmask,
                                                                  selectable=False)),
        ("thumbnail_grid vector", lambda: grids.thumbnail_grid(att, SENTENCE, selected=(1, 2), raster=False)),
        ("overview_grid", lambda: grids.overview_grid(ov, title="o", value_label="v", selected=(1, 4))),
        ("overview_grid big", lambda: grids.overview_grid(np.ones((24, 16)), title="o", value_label="v")),
        ("overview_grid categories", lambda: grids.overview_grid(np.array([[0, 1, 2], [2, -1, np.nan]]), title="p",
                                                             value_label="p", categories=["a", "b", "c"])),
        ("category_chart", lambda: bars.category_chart(_counts(), normalize=True)),
        ("category_compare_chart", lambda: bars.category_compare_chart(both)),
        ("bar_chart_for_tokens", lambda: bars.bar_chart_for_tokens(a[3], SENTENCE, "b", highlight=3, reference=1 / n)),
    ]


@pytest.mark.parametrize("name,build", _every_builder(), ids=[n for n, _ in _every_builder()])
def test_builders_skip_schema_round_trips_and_stay_valid(name, build, monkeypatch):
    """No builder goes through from_dict (alt.condition dicts, shorthand strings in encode), and
    Altair's validate-on-creation flag is back as it was afterwards; the spec itself is valid."""
    import altair as alt
    from altair.utils import schemapi

    calls = []
    original = schemapi._FromDict.__init__

    def counting(self, *args, **kwargs):
        calls.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(schemapi._FromDict, "__init__", counting)
    before = schemapi.DEBUG_MODE
    chart = build()
    assert not calls, f"{name}: built through from_dict"
    assert schemapi.DEBUG_MODE is before
    with alt.data_transformers.enable("default", max_rows=None):
        spec = chart.to_dict(validate=True)  # raises SchemaValidationError if invalid
        assert chart.to_dict(validate=False) == spec
    # every chart says what it shows (Vega-Lite description -> the chart's aria-label)
    assert isinstance(spec.get("description"), str) and len(spec["description"]) > 40, name
    for param in spec.get("params", []):  # selections point at views that exist
        names = set(walk(spec, "name"))
        assert set(param.get("views", [])) <= names


def test_typed_conditions_equal_the_alt_condition_route():
    """The typed channels are what ``.encode(x=alt.condition(...))`` produces (same classes and values),
    so specs and the content-hashed view names ("view_…") did not change."""
    import altair as alt

    def enc(**channels):  # dicts (alt.condition) go through from_dict here, typed channels as they are
        return alt.Chart().mark_rect().encode(**channels).encoding

    param = alt.selection_point(name="cell", fields=["query_pos", "key_pos"], on="click", clear="dblclick",
                                empty=False)
    old = enc(stroke=alt.condition(param, alt.value(vega.HIGHLIGHT), alt.value(None)),
                     strokeWidth=alt.condition(param, alt.value(2.5), alt.value(0)))
    new = enc(**vega.selection_outline(param))
    assert repr(old) == repr(new) and old.to_dict() == new.to_dict()

    old = enc(color=alt.condition("datum.allowed && datum.weight > 0.3", alt.value(vega.TEXT_LIGHT),
                                         alt.value(vega.TEXT_DARK)))
    new = enc(color=vega.value_if("datum.allowed && datum.weight > 0.3", vega.TEXT_LIGHT, vega.TEXT_DARK))
    assert repr(old) == repr(new) and old.to_dict() == new.to_dict()

    legends = ({"orient": "right", "gradientLength": 200, "format": ".2f", "titleFontSize": 13, "labelFontSize": 12},
               {"format": ".2f", "titleFontSize": 13, "labelFontSize": 12})
    for scheme in ("blues", "redblue", "viridis", "rainbow", "tableau10", "greys"):
        for legend in legends:
            color = alt.Color("weight:Q", title="Attention weight",
                              scale=alt.Scale(scheme=scheme, domain=[-0.25, 0.75], clamp=True),
                              legend=alt.Legend(**legend))
            old = enc(color=alt.condition("datum.allowed", color, alt.value(vega.MASKED_FILL)))
            new = enc(color=vega.masked_weight_fill("Attention weight", scheme, -0.25, 0.75, legend))
            assert repr(old) == repr(new), scheme
            assert json.dumps(old.to_dict()) == json.dumps(new.to_dict())  # same keys in the same order


def test_unknown_colour_scheme_still_fails_at_build():
    with pytest.raises(ValueError, match="colour scheme"):
        heatmaps.heatmap(DrawMatrix.of(softmax((4, 4)), tokens(4)), title="t", scheme="bluez")
    with pytest.raises(ValueError, match="colour scheme"):
        grids.thumbnail_grid(softmax((1, 2, 4, 4)), tokens(4), scheme="bluez")


def test_builders_on_many_threads_give_the_same_specs():
    """Streamlit builds charts for several sessions at once; the validate-on-creation switch is
    counted, so it comes back on only after the last builder finishes."""
    from concurrent.futures import ThreadPoolExecutor

    from altair.utils import schemapi

    builders = dict(_every_builder())
    names = [name for name in builders if "blocks" not in name] * 3
    switch = schemapi.DEBUG_MODE
    expected = {name: json.dumps(chart_spec(builders[name]())) for name in set(names)}
    with ThreadPoolExecutor(max_workers=6) as pool:
        charts = list(pool.map(lambda name: builders[name](), names))
    assert schemapi.DEBUG_MODE is switch
    for name, chart in zip(names, charts):
        assert json.dumps(chart_spec(chart)) == expected[name], name
    with pytest.raises(CellBudgetError):  # a builder that raises restores the switch too
        heatmaps.heatmap(DrawMatrix.of(softmax((400, 400)), tokens(400)), title="x")
    assert schemapi.DEBUG_MODE is switch


def test_descriptions_say_what_bars_and_overviews_show():
    """The text alternative names the chart, what is measured and its extreme."""
    vals = np.array([0.1, 0.5, 0.2, 0.05, 0.05, 0.02, 0.03, 0.03, 0.02])
    text = chart_spec(bars.bar_chart_for_tokens(vals, SENTENCE, "Flow from 'cat'", value_label="Flow",
                                                highlight=2, reference=1 / 9, reference_label="uniform"))["description"]
    assert text.startswith("Bar chart: Flow from 'cat'. Flow for each of 9 tokens")
    assert "highest: 'the' (position 1) 0.500" in text and "orange bar is 'cat'" in text and "uniform (0.111)" in text
    text = chart_spec(bars.category_chart(_counts()))["description"]
    assert text.startswith("Stacked bar chart: Strong connections by category.") and "3 layers" in text
    assert "semantic in layer 2 (9)" in text
    both = pd.concat([_counts().assign(sentence="A cat."), _counts().assign(sentence="The dog.")])
    text = chart_spec(bars.category_compare_chart(both))["description"]
    assert "for 2 sentences" in text and "A cat.: semantic 42%" in text  # 13 of 31
    values = np.arange(12, dtype=float).reshape(3, 4)
    values[0, 0] = np.nan
    text = chart_spec(grids.overview_grid(values, title="Entropy", value_label="Entropy"))["description"]
    assert text.startswith("Entropy: Entropy of each head, 3 layers (rows) x 4 heads (columns)")
    assert "highest: layer 2, head 3 (11.00); lowest: layer 0, head 1 (1.00)" in text and "1 grey cells" in text
    cats = chart_spec(grids.overview_grid(np.array([[0, 1], [1, 1]]), title="Pattern", value_label="class",
                                             categories=["vertical", "diagonal"]))["description"]
    assert "heads per class: vertical 1, diagonal 3" in cats


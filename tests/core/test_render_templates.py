"""A heatmap filled from its layout's shared template (core.render.heatmaps.layout_spec and
HeatmapView.spec) is the chart heatmap() builds: the same spec, the same rendered fills and
pixels, for vector cells and for images past 20 tokens; the template itself is never changed."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from core.render import grids, heatmaps, vega
from core.render.matrix import DrawMatrix
from core.render.vega import chart_spec
from tests.core.synthetic import SENTENCE, causal, softmax, tokens, walk

HOSTILE = ["</script><script>alert(1)</script>", "<img src=x onerror=alert(1)>", "🙂👍🏽",
           "שלום", "مرحبا", "a\u200bb", "\u202eevil", "{{x}}", "datum.weight", "'\"", ""]


def rendered_fills(spec):
    """Fill colours of every mark item vl-convert renders (offline scenegraph)."""
    import vl_convert

    return [v for v in walk(vl_convert.vegalite_to_scenegraph(spec), "fill") if isinstance(v, str)]



def _filled(view):
    """view.spec(its template), its data as the JSON records Altair would have inlined."""
    from altair.utils.core import sanitize_pandas_dataframe as sanitize_dataframe

    template = heatmaps.layout_spec(view.layout)
    before = json.dumps(template, sort_keys=True)
    spec = view.spec(template)
    assert json.dumps(template, sort_keys=True) == before  # the shared template is never changed
    frames = {name: data if isinstance(data, pd.DataFrame) else data.to_pandas()
              for name, data in spec["datasets"].items() if isinstance(data, pd.DataFrame) or hasattr(data, "to_pandas")}
    assert len(frames) == 1  # the view's own data; a template's constant data stays as it is
    return {**spec, "datasets": {name: sanitize_dataframe(frames[name]).to_dict("records") if name in frames else data
                                 for name, data in spec["datasets"].items()}}


def _by_content(spec):
    """`spec` with its datasets in the order of their content (then named by position), so two
    specs that name and order the same data differently compare equal."""
    order = sorted(spec["datasets"], key=lambda name: json.dumps(spec["datasets"][name], sort_keys=True))
    return vega.with_stable_data({**spec, "datasets": {name: spec["datasets"][name] for name in order}}, "d")


def _stable_views(spec):
    """`spec` with Altair's view names (a hash of each layer's encoding and data, so of the labels
    a template leaves out) numbered in order of appearance: a name only ties a param to its view."""
    text, names = json.dumps(spec, sort_keys=True), {}
    text = re.sub(r"view_[0-9a-f]{16}", lambda m: names.setdefault(m.group(0), f"view_{len(names)}"), text)
    return json.loads(text)


def _same_but_names(a, b):
    a, b = _stable_views(_by_content(a)), _stable_views(_by_content(b))
    assert {k: v for k, v in a.items() if k != "datasets"} == {k: v for k, v in b.items() if k != "datasets"}
    assert json.dumps(a["datasets"], sort_keys=True) == json.dumps(b["datasets"], sort_keys=True)


@pytest.mark.parametrize("case", ["plain", "causal", "focus", "numbers_off", "repeats", "hostile", "diverging"])
def test_a_heatmap_filled_from_its_template_is_the_built_chart(case):
    n = 7
    rng = np.random.default_rng(3)
    values = softmax((n, n), seed=5)
    labels = list(SENTENCE[:n])
    kwargs = {}
    allowed = None
    if case == "causal":
        values, allowed = causal((n, n))
    if case == "focus":
        kwargs["selected_query"] = 3
    if case == "numbers_off":
        kwargs["annotate"] = False
    if case == "repeats":
        labels = ["the"] * n
    if case == "hostile":
        labels = HOSTILE[:n]
    if case == "diverging":
        values = rng.normal(size=(n, n))
        kwargs.update(scheme="redblue", color_domain=(-2.0, 2.0))
    dm = DrawMatrix.of(values, labels, allowed=allowed)
    view = heatmaps.heatmap_view(dm, title="Layer 1, head 2", **kwargs)
    assert view is not None
    built = heatmaps.heatmap(dm, title="Layer 1, head 2", **kwargs)
    built.to_dict()  # valid Vega-Lite
    _same_but_names(_filled(view), chart_spec(built))
    pd.testing.assert_frame_equal(view.frame().astype({"query": str, "key": str}),
                                  vega.compact_frame(dm.table()).astype({"query": str, "key": str}))


def test_one_template_serves_other_numbers_and_draws_their_colours():
    """Two heads of one text share a layout: the template filled with the second head's numbers
    renders the fills the second head's own chart renders (the domain follows the params)."""
    n = 6
    first = DrawMatrix.of(softmax((n, n), seed=1), SENTENCE[:n])
    second = DrawMatrix.of(softmax((n, n), seed=2) ** 3, SENTENCE[:n])
    a = heatmaps.heatmap_view(first, title="a")
    b = heatmaps.heatmap_view(second, title="b")
    assert a.layout == b.layout and (a.lo, a.hi) != (b.lo, b.hi)
    template = heatmaps.layout_spec(a.layout)
    from altair.utils.core import sanitize_pandas_dataframe as sanitize_dataframe

    filled = b.spec(template)
    filled = {**filled, "datasets": {heatmaps.CELLS_DATA: sanitize_dataframe(filled["datasets"][heatmaps.CELLS_DATA].to_pandas())
                                     .to_dict("records")}}
    own = chart_spec(heatmaps.heatmap(second, title="b"))
    assert rendered_fills(filled) == rendered_fills(own)
    assert rendered_fills(filled) != rendered_fills(chart_spec(heatmaps.heatmap(first, title="b")))


@pytest.mark.parametrize("case", ["plain", "causal", "focus"])
def test_an_image_heatmap_filled_from_its_template_is_the_built_chart(case):
    """Past the number limit a heatmap is an image: its template takes the image, colour domain,
    title, description and rows, and renders what the built chart renders."""
    import vl_convert

    n = heatmaps.ANNOTATE_MAX_N + 5
    values, allowed = causal((n, n)) if case == "causal" else (softmax((n, n), seed=4), None)
    dm = DrawMatrix.of(values, tokens(n), allowed=allowed)
    kwargs = {"selected_query": 6} if case == "focus" else {}
    view = heatmaps.heatmap_view(dm, title="Layer 0, head 1", **kwargs)
    assert view.raster is not None
    built = heatmaps.heatmap(dm, title="Layer 0, head 1", **kwargs)
    built.to_dict()  # valid Vega-Lite
    filled = _filled(view)
    _same_but_names(filled, chart_spec(built))
    assert vl_convert.vegalite_to_png(filled) == vl_convert.vegalite_to_png(chart_spec(built))
    other = heatmaps.heatmap_view(DrawMatrix.of(softmax((n, n), seed=9), tokens(n), allowed=allowed),
                                  title="Layer 0, head 1", **kwargs)
    assert other.layout == view.layout  # another head of the same text: the same template


@pytest.mark.parametrize("n", [7, heatmaps.ANNOTATE_MAX_N + 5])
def test_texts_of_one_length_share_a_template_and_each_shows_its_own_words(n):
    """A layout holds no words: another text of as many tokens reuses the template (a text change
    builds no chart), and the filled spec carries that text's labels and no stand-in."""
    first = DrawMatrix.of(softmax((n, n), seed=1), tokens(n))
    words = [f"{w}{i}" for i, w in enumerate(HOSTILE * n)][:n]
    second = DrawMatrix.of(softmax((n, n), seed=2), words)
    a, b = heatmaps.heatmap_view(first, title="a"), heatmaps.heatmap_view(second, title="b")
    assert a.layout == b.layout
    filled = _filled(b)
    text = json.dumps({k: v for k, v in filled.items() if k != "datasets"})
    assert "axis-label-" not in text
    assert json.dumps(list(second.axis_labels))[1:-1] in text  # the axis order is the second text's
    _same_but_names(filled, chart_spec(heatmaps.heatmap(second, title="b")))


def _overview_filled(view, template):
    from altair.utils.core import sanitize_pandas_dataframe as sanitize_dataframe

    spec = view.spec(template)
    frame = spec["datasets"][grids.OVERVIEW_DATA]
    return {**spec, "datasets": {**spec["datasets"],
                                 grids.OVERVIEW_DATA: sanitize_dataframe(frame).to_dict("records")}}


def _but_values_in_words(filled, built, view):
    """`filled` against `built` with the text alternative the template route keeps the same for
    any values (view.note says them beside the chart), and a colour domain it reads from the cells."""
    assert filled["description"] == view.steady_description and view.note not in filled["description"]
    assert built["description"] == view.description and (not view.note or view.note in built["description"])
    params = {p["name"]: p for p in filled["params"]}
    if view.layout.domain_from_data:  # the largest value is the cells', not a number in the spec
        assert "expr" in params[grids.HI_PARAM] and "value" not in params[grids.HI_PARAM]
        built = {**built, "params": [params[grids.HI_PARAM] if p.get("name") == grids.HI_PARAM else p
                                     for p in built["params"]]}
    return {**built, "description": filled["description"]}


@pytest.mark.parametrize("case", ["plain", "missing", "categories", "domain", "zeros"])
def test_an_overview_grid_filled_from_its_template_is_the_built_grid(case):
    """A grid of heads filled from its layout's template (an intervention's shift, importance) is
    the chart overview_grid builds but for its text alternative and, without a fixed colour domain,
    a domain read from the cells; it renders the same fills. Another grid of the same layout reuses
    the template with its own colours, and its spec differs only in its data (the browser updates
    the drawn chart in place); the template is never changed."""
    rng = np.random.default_rng(7)
    values, other = rng.random((6, 12)), rng.random((6, 12)) ** 3
    kwargs = {"title": "How far each head moved", "value_label": "Moved", "scheme": "greens", "marking": True}
    if case == "missing":
        values[2, 3] = other[2, 3] = np.nan
    if case == "categories":
        values, other = rng.integers(0, 3, (6, 12)).astype(float), rng.integers(0, 3, (6, 12)).astype(float)
        kwargs["categories"] = ["positional", "special", "other"]
    if case == "domain":
        kwargs["color_domain"] = (0.0, 2.0)
    if case == "zeros":  # nothing moved: every cell the scale's low end, as value_domain's 0 to 1 draws it
        values = np.zeros((6, 12))
    view = grids.overview_view(values, **kwargs)
    template = grids.overview_layout_spec(view.layout)
    before = json.dumps(template, sort_keys=True)
    filled = _overview_filled(view, template)
    built = grids.overview_grid(values, **kwargs)
    built.to_dict()  # valid Vega-Lite
    _same_but_names(filled, _but_values_in_words(filled, chart_spec(built), view))
    assert rendered_fills(filled) == rendered_fills(chart_spec(built))
    second = grids.overview_view(other, **kwargs)
    assert second.layout == view.layout
    again = _overview_filled(second, template)
    assert rendered_fills(again) == rendered_fills(chart_spec(grids.overview_grid(other, **kwargs)))
    if case != "domain":
        assert second.note != view.note
        assert json.dumps({k: v for k, v in again.items() if k != "datasets"}, sort_keys=True) == \
            json.dumps({k: v for k, v in filled.items() if k != "datasets"}, sort_keys=True)
    assert json.dumps(template, sort_keys=True) == before
    marked = vega.with_marked(again, (1, 2))
    assert marked["datasets"][vega.MARKED_DATA] == vega.marked_rows((1, 2))


@pytest.mark.parametrize("case", ["plain", "causal", "hostile"])
def test_a_heatmaps_arrow_table_is_its_frame(case):
    """The Arrow table sent for vector cells holds what Streamlit would make of the frame: the
    same columns, types and values (the labels as a dictionary, in sentence order)."""
    import pyarrow as pa

    n = 9
    values, allowed = causal((n, n)) if case == "causal" else (softmax((n, n), seed=3), None)
    labels = HOSTILE[:n] if case == "hostile" else tokens(n)
    view = heatmaps.heatmap_view(DrawMatrix.of(values, labels, allowed=allowed), title="t")
    table, frame = view.table(), view.frame()
    assert isinstance(table, pa.Table)
    assert table.schema.remove_metadata() == pa.Table.from_pandas(frame, preserve_index=False).schema.remove_metadata()
    pd.testing.assert_frame_equal(table.to_pandas(), frame)


def _panels_filled(view, template):
    from altair.utils.core import sanitize_pandas_dataframe as sanitize_dataframe

    from core.render import panels

    spec = view.spec(template)
    frame = spec["datasets"][panels.PANEL_ROWS]
    return {**spec, "datasets": {**spec["datasets"], panels.PANEL_ROWS: sanitize_dataframe(frame).to_dict("records")}}


@pytest.mark.parametrize("case", ["plain", "causal", "hostile"])
def test_panels_from_their_template_draw_what_head_grid_draws(case):
    """Before-and-after panels filled from their layout's template draw the pixels head_grid's
    images draw, words and colour domain read from the data; a set with a masked word and new
    weights reuses the template unchanged and still draws its own words and colours."""
    import vl_convert

    from core.render import panels

    n = 32
    allowed = causal((n, n))[1] if case == "causal" else None
    words = [f"{w}{i}" for i, w in enumerate(HOSTILE * n)][:n] if case == "hostile" else list(tokens(n))

    def stack(seed):
        first, second = softmax((n, n), seed=seed), softmax((n, n), seed=seed + 1) ** 2
        return np.stack([first, second]) if allowed is None else np.stack([causal((n, n), seed=seed)[0]] * 2)

    kwargs = {"titles": ["Before", "After"], "title": "Layer 1, head 2: before and after", "allowed_mask": allowed}
    view = panels.panels_view(stack(3), words, **kwargs)
    assert view is not None
    template = panels.panels_layout_spec(view.layout)
    before = json.dumps(template, sort_keys=True)
    text = json.dumps({k: v for k, v in template.items() if k != "datasets"})
    if case == "hostile":  # words numbered by position, so none is a piece of the spec's own text
        assert not any(json.dumps(w)[1:-1] in text for w in words if not w.isdigit())  # no word in the spec
    built = grids.head_grid(stack(3), words, columns=2, selectable=False, **kwargs)
    assert vl_convert.vegalite_to_png(_panels_filled(view, template)) == vl_convert.vegalite_to_png(chart_spec(built))

    masked = [*words[:5], f"{words[5]}→[MASK]", *words[6:]]
    second = panels.panels_view(stack(11), masked, **kwargs)
    assert second is not None and second.layout == view.layout
    again = chart_spec(grids.head_grid(stack(11), masked, columns=2, selectable=False, **kwargs))
    assert vl_convert.vegalite_to_png(_panels_filled(second, template)) == vl_convert.vegalite_to_png(again)
    assert json.dumps(template, sort_keys=True) == before


def test_panels_with_cell_numbers_or_blocks_are_left_to_head_grid():
    from core.render import panels

    small = np.stack([softmax((8, 8), seed=1)] * 2)
    assert panels.panels_view(small, tokens(8), titles=["Before", "After"], title="t") is None
    big = np.stack([softmax((400, 400), seed=1)] * 2)
    assert panels.panels_view(big, tokens(400), titles=["Before", "After"], title="t") is None

"""The heatmap panel: one matrix as a heatmap (block-averaged or windowed past the cell budget),
the focused query (a row picked in a list or by clicking a cell), a switch for the cell numbers,
the same numbers as a table, and its downloads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from core.attention.result import AttentionResult
from core.render import heatmaps, matrix
from core.render.matrix import DrawMatrix
from core.requests.charts import (HeadHeatmap, HeatmapTemplate, OverviewGrid, OverviewGridView, OverviewTemplate,
                                  PanelsTemplate)
from ui import cache, page, presenter, state
from ui.glossary_links import term_help

WINDOW = 64  # tokens in the "a window of tokens" mode

# A chart wider than its column scrolls in a box of its own instead of pushing the page sideways
# (at 420 px a heatmap would otherwise make the whole page scroll). The box is the chart's own wrapper
# inside its element container; `max-width` makes it as wide as the column at most.
CHART_SCROLL_CSS = """<style>
div:has(> [data-testid="stVegaLiteChart"]) { max-width: 100%; overflow-x: auto; overflow-y: hidden; }
</style>"""


def chart_scroll_box() -> None:
    """Let every chart on this page scroll sideways in its own box (a style only: no element)."""
    st.html(CHART_SCROLL_CSS)


def _focus_query(chart_key: str) -> Callable[[], None]:
    """on_select: a clicked cell's row becomes the focused query (a control, not the selection)."""
    def on_select() -> None:
        event = st.session_state.get(chart_key)
        try:
            points = event["selection"]["cell"]  # type: ignore[index]
        except (KeyError, TypeError):
            return
        if points and points[0].get("query_pos") is not None:
            state.set_control("q", int(points[0]["query_pos"]))
    return on_select


def draw_view(view: heatmaps.HeatmapView, *, key: str, on_select: Any = "ignore",
              selection_mode: str | None = None) -> None:
    """Draw a heatmap from its layout's shared template (core.requests.charts.HeatmapTemplate)
    filled with this view's numbers: no chart is built (the normal mode's route)."""
    presenter.spec_chart(view.spec(cache.get(HeatmapTemplate(view.layout))), key=key, on_select=on_select,
                         selection_mode=selection_mode)


def draw_overview(grid: OverviewGrid, *, key: str, marked: tuple[int, int] | None = None,
                  on_select: Any = "ignore") -> None:
    """Draw a grid of heads marking `marked`: in the normal mode from its layout's shared template
    (core.requests.charts.OverviewTemplate) filled with its values, so a grid of new values (an
    intervention's) builds and converts no chart; presenter mode draws the chart at projector sizes."""
    from core.render import vega

    if presenter.is_on():
        presenter.chart(cache.chart(grid), key=key, marked=marked, on_select=on_select)
        return
    view = cache.get(OverviewGridView(grid))
    spec = view.spec(cache.get(OverviewTemplate(view.layout)))
    presenter.spec_chart(spec if marked is None else vega.with_marked(spec, marked), key=key, on_select=on_select)
    if view.note:  # the values in words: the chart's own text alternative stays the same for any values
        st.caption(view.note[0].upper() + view.note[1:] + ".")


def draw_panels(panels: Any, chart: Any, *, key: str) -> None:
    """Draw the panels that `panels` (a request of a core.render.panels.PanelsView, or None)
    holds from their layout's shared template, so a new set (another pick) is the same spec
    with new data and the browser updates it in place; else, and in presenter mode, the chart
    that the request `chart` builds."""
    view = None if presenter.is_on() else cache.get(panels)
    if view is None:
        presenter.chart(cache.chart(chart), key=key)
        return
    presenter.spec_chart(view.spec(cache.get(PanelsTemplate(view.layout))), key=key)


def query_picker(result: AttentionResult) -> int:
    """The focused query (row), -1 for none; bound to the link as `q`."""
    n = result.n_tokens
    state.control("q", -1, state.parse_int(-1, max(n - 1, 0)), label="focused query")
    return int(st.selectbox("Focus a query (row)", [-1] + list(range(n)), key="q", width=320,
                            format_func=lambda i: "none" if i == -1 else f"{i} · {result.display_tokens[i]}",
                            help=term_help("query", "The row of the token attending from. Or click a cell in the heatmap.")))


def _large_input_mode(n: int, key: str, max_cells: int) -> tuple[str, int]:
    """("auto" | "window", window start): asked only when the matrix is over the cell budget."""
    if n * n <= max_cells:
        return "auto", 0
    state.control(f"{key}_mode", "auto", state.parse_choice(["auto", "window"]), label="large-input mode")
    mode = st.radio(f"{n} tokens is more than one chart can show cell by cell", ["auto", "window"],
                    key=f"{key}_mode", horizontal=True,
                    format_func={"auto": "Whole text, block-averaged", "window": "A window of tokens"}.get)
    if mode != "window":
        return "auto", 0
    state.control(f"{key}_start", 0, state.parse_int(0, max(n - WINDOW, 0)), label="window start")
    start = st.slider("Window start (token position)", 0, max(n - WINDOW, 0), key=f"{key}_start")
    return "window", int(start)


def _numbers_optional(n: int) -> bool:
    """Cell numbers are on by default up to ANNOTATE_MAX_N rows; a switch offers them up to NUMBERS_MAX_N."""
    return heatmaps.ANNOTATE_MAX_N < n <= heatmaps.NUMBERS_MAX_N


def _numbers_value(n: int, key: str) -> bool:
    """Whether the cells show their numbers (the switch's value is kept and linked as `<key>_nums`)."""
    optional = _numbers_optional(n)
    on = state.control(f"{key}_nums", False, state.parse_bool, lambda v: "1" if v else None,
                       label="cell numbers", draw=optional, link=optional)
    return bool(on) if optional else n <= heatmaps.ANNOTATE_MAX_N


def _numbers_switch(n: int, key: str, on: bool) -> None:
    """Under the chart: say why cell numbers are hidden, and offer them while they are readable."""
    lo, hi = heatmaps.ANNOTATE_MAX_N, heatmaps.NUMBERS_MAX_N
    if n <= lo:
        return
    if _numbers_optional(n):
        st.toggle("Show cell numbers", key=f"{key}_nums",
                  help=f"Each cell's weight to 2 decimals. Off by default above {lo} tokens, where the cells are "
                       f"small; offered up to {hi} tokens (the chart gets wider and may scroll).")
        if not on:
            st.caption(f":material/info: Cell numbers are hidden above {lo} tokens ({n} here): switch them on "
                       "above, hover a cell for its exact value, or open the table below.")
    else:
        st.caption(f":material/info: Cell numbers are hidden above {hi} tokens ({n} here): they would not fit in "
                   "the cells. Hover a cell for its exact value, or open the table below.")


def matrix_frame(dm: DrawMatrix) -> pd.DataFrame:
    """The drawn matrix as a table: one row per query, one column per key (axis labels), the
    weights as drawn (float32, like the chart); masked cells empty."""
    values = np.asarray(dm.matrix, dtype=np.float32).astype(np.float64)
    if dm.allowed is not None:
        values = np.where(dm.allowed, values, np.nan)
    labels = list(dm.axis_labels)
    frame = pd.DataFrame(values, index=pd.Index(labels, name="Query (from) \\ key (to)"), columns=labels)
    return frame


def table_box(key: str, title: str = "The numbers as a table") -> object:
    """A closed-by-default table expander that reruns when opened or closed (build its table only
    while `.open`); open or closed is part of the link (`<key>_table`)."""
    box_key = f"{key}_table"
    state.control(box_key, False, state.parse_bool, lambda v: "1" if v else None, label="table view")
    return st.expander(title, key=box_key, on_change="rerun", icon=":material/table_view:")


def _matrix_table(dm: DrawMatrix, lead: str) -> None:
    """`dm` as a table of 3-decimal weights under a caption that starts with `lead`."""
    masked = dm.allowed is not None and not np.asarray(dm.allowed).all()
    st.caption(f"{lead}: one row per query (attending from), one column per key (attending to), "
               "3 decimals as in the tooltips" + ("; empty cells are masked (a key after its query)."
                                                  if masked else "."))
    frame = matrix_frame(dm)
    config = {label: st.column_config.NumberColumn(label, format="%.3f") for label in frame.columns}
    st.dataframe(frame, column_config=config, width="stretch", height=min(420, 38 + 35 * dm.n))


def table_view(dm: DrawMatrix, key: str, value_label: str) -> None:
    """The numbers the chart draws, as a table, in an expander that builds it only when open.
    Open or closed is part of the link (`<key>_table`)."""
    with table_box(key) as box:
        if box.open:
            _matrix_table(dm, value_label)


def layers_table_view(result: AttentionResult, head: int, key: str) -> None:
    """The numbers of a head-in-every-layer grid, as a table: one layer at a time (picked with
    a select box, so the keyboard reaches it), one row per query, one column per key. Open or
    closed is part of the link (`<key>_table`)."""
    with table_box(key) as box:
        if not box.open:
            return
        layer = st.selectbox("Layer of the table", range(result.num_layers), key=f"{key}_table_layer",
                             format_func=lambda i: f"Layer {i}")
        allowed = result.allowed_mask() if result.causal else None
        _matrix_table(DrawMatrix.of(result.attention[layer, head], result.display_tokens, allowed=allowed),
                      f"Layer {layer}, head {head}")


def heatmap_panel(dm: DrawMatrix, *, title: str, key: str, value_label: str = "Attention weight",
                  focus: int = -1, stem: str = "attention", result: AttentionResult | None = None,
                  max_cells: int = matrix.CELL_BUDGET, scheme: str = "blues", symmetric: bool = False,
                  fixed_head: tuple[AttentionResult, int, int] | None = None) -> None:
    """Draw `dm` as a heatmap with its notes, the cell-number switch, the table view and a
    Download popover (chart PNG/SVG, the drawn data as CSV, and with `result` the whole
    attention tensor as NPZ).

    fixed_head=(result, layer, head): `dm` is that head and does not follow the shared
    selection, so its chart comes from the facade (built once per choice).
    """
    chart_scroll_box()
    for note in dm.notes:
        st.caption(f":material/info: {note}")
    mode, start = _large_input_mode(dm.n, key, max_cells)
    prepared = matrix.prepare(dm, mode, start=start, size=WINDOW, max_cells=max_cells)  # type: ignore[arg-type]
    for note in prepared.notes[len(dm.notes):]:
        st.info(note, icon=":material/compress:")
    selected = focus if focus >= 0 and focus in set(dm.positions.tolist()) else None
    domain = matrix.symmetric_domain(prepared.matrix) if symmetric else None  # differences: centred on 0
    numbers = _numbers_value(prepared.n, key)

    def make() -> object:
        if fixed_head is not None and numbers == (prepared.n <= heatmaps.ANNOTATE_MAX_N):
            owner, layer, head = fixed_head
            return cache.chart(HeadHeatmap(owner, layer, head, title=title, mode=mode, start=start, size=WINDOW,
                                           max_cells=max_cells, scheme=scheme))
        return heatmaps.heatmap(prepared, title=title, value_label=value_label, selected_query=selected,
                                scheme=scheme, color_domain=domain, annotate=numbers)

    chart_key = f"{key}_chart"
    if not presenter.is_on() and fixed_head is None:  # presenter mode and fixed heads draw Altair charts
        draw_view(heatmaps.heatmap_view(prepared, title=title, value_label=value_label, selected_query=selected,
                                        scheme=scheme, color_domain=domain, annotate=numbers),
                  key=chart_key, on_select=_focus_query(chart_key), selection_mode="cell")
    else:
        presenter.chart(make(), key=chart_key, on_select=_focus_query(chart_key),
                        selection_mode="cell", width="content")
    _numbers_switch(prepared.n, key, numbers)
    table_view(prepared, key, value_label)
    from core.render import export

    files = {"csv": (lambda: export.matrix_to_csv(dm), "text/csv")}  # every position, before block/window
    if result is not None:  # the whole [layers, heads, n, n] tensor with tokens, for notebooks
        files["npz"] = (lambda: export.attention_to_npz(result), "application/octet-stream")
    page.downloads(make, files, stem, key=key, about={**page.view_columns(), "view": title})

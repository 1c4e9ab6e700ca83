"""The heatmap panel: one matrix as a heatmap (block-averaged or windowed past the cell budget),
the focused query (a row picked in a list or by clicking a cell), and its downloads.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from core.attention.result import AttentionResult
from core.render import heatmaps, matrix, vega
from core.render.matrix import DrawMatrix
from ui import cache, page, state

WINDOW = 64  # tokens in the "a window of tokens" mode


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


def query_picker(result: AttentionResult) -> int:
    """The focused query (row), -1 for none; bound to the link as `q`."""
    n = result.n_tokens
    state.control("q", -1, state.parse_int(-1, max(n - 1, 0)), label="focused query")
    return int(st.selectbox("Focus a query (row)", [-1] + list(range(n)), key="q", width=320,
                            format_func=lambda i: "none" if i == -1 else f"{i} · {result.display_tokens[i]}",
                            help="Or click a cell in the heatmap."))


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


def heatmap_panel(dm: DrawMatrix, *, title: str, key: str, value_label: str = "Attention weight",
                  focus: int = -1, stem: str = "attention", result: AttentionResult | None = None,
                  max_cells: int = matrix.CELL_BUDGET, scheme: str = "blues", symmetric: bool = False,
                  fixed_head: tuple[AttentionResult, int, int] | None = None) -> None:
    """Draw `dm` as a heatmap with its notes and a Download popover (chart PNG/SVG, the drawn data
    as CSV, and with `result` the whole attention tensor as NPZ).

    fixed_head=(result, layer, head): `dm` is that head and does not follow the shared
    selection, so its chart comes from the facade (built once per choice).
    """
    for note in dm.notes:
        st.caption(f":material/info: {note}")
    mode, start = _large_input_mode(dm.n, key, max_cells)
    prepared = matrix.prepare(dm, mode, start=start, size=WINDOW, max_cells=max_cells)  # type: ignore[arg-type]
    for note in prepared.notes[len(dm.notes):]:
        st.info(note, icon=":material/compress:")
    selected = focus if focus >= 0 and focus in set(dm.positions.tolist()) else None
    domain = matrix.symmetric_domain(prepared.matrix) if symmetric else None  # differences: centred on 0

    def make() -> object:
        if fixed_head is not None:
            owner, layer, head = fixed_head
            return cache.head_chart(owner, layer, head, title=title, mode=mode, start=start, size=WINDOW,
                                    max_cells=max_cells, scheme=scheme)
        return heatmaps.heatmap(prepared, title=title, value_label=value_label, selected_query=selected,
                                scheme=scheme, color_domain=domain)

    chart_key = f"{key}_chart"
    st.altair_chart(vega.unvalidated(make()), key=chart_key, on_select=_focus_query(chart_key),
                    selection_mode="cell", width="content")
    from core.render import export

    files = {"csv": (lambda: export.matrix_to_csv(dm), "text/csv")}  # every position, before block/window
    if result is not None:  # the whole [layers, heads, n, n] tensor with tokens, for notebooks
        files["npz"] = (lambda: export.attention_to_npz(result), "application/octet-stream")
    page.downloads(make, files, stem, key=key)

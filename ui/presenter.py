"""Presenter mode: large type, heatmaps at the screen's width, the sidebar folded into a compact
bar of the few controls a presenter needs, and step keys in the tutorial.

On with the switch at the foot of the sidebar or the link parameter `present=1` (a control of
ui.state: kept across pages and written into the link while on). What it changes, for this
session only:

- `STYLE` (CSS injected with st.html, only while on, scoped to Streamlit's own test ids): the
  root font size becomes 24 px. Streamlit sizes its text in rem, so its smallest size
  (0.75 rem) becomes 18 px and everything else grows with it. Captions are drawn in the full
  text colour instead of 60 % of it, and so are the charts' titles, axes and legends (contrast
  in the light and the dark theme alike); the sidebar is hidden and the main column takes the
  whole width.
- `bar(sel)`: sentence, example, layer, head and "exit" in one row at the top of every page.
- `chart(...)`: a chart drawn with core.tutorial.slides.enlarge_fonts (no chart font under
  18 px); `cell_px(n)`: heatmap cells that fill a 1920 px screen. Pages that draw through
  `chart` get both (the tutorial does; other pages may adopt it).

The router calls `apply(selection)` once per run, after the sidebar.
"""

from __future__ import annotations

import hashlib
from typing import Any

import streamlit as st

from core.examples import EXAMPLES
from core.tutorial import slides
from ui import state

KEY = "present"  # the control's widget key and the link parameter (?present=1)
HIDDEN_KEYS = "present_keys"  # a container of key-only buttons (PageUp / PageDown), not shown

STYLE = """<style>
/* Presenter mode (ui/presenter.py). Streamlit's text sizes are rem: 24 px makes its smallest 18 px. */
html { font-size: 24px; }
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stExpandSidebarButton"],
[data-testid="stSidebarCollapseButton"] { display: none !important; }
/* The whole width; the top clear of Streamlit's header (its menu keeps the theme switch). */
[data-testid="stMainBlockContainer"] { max-width: 100% !important; padding: 3.5rem 2rem 3rem !important; }
/* A page title one step smaller: the slide's own heading is what the room reads. */
[data-testid="stMain"] h1 { font-size: 2rem !important; padding-top: 0.5rem !important; }
/* Captions: the full text colour, not 60 % of it, for contrast from the back of a room. */
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] * { color: inherit !important;
  opacity: 1 !important; }
/* Chart titles, axes, legends and headers in the full text colour (Vega draws them grey); the
   cells' own numbers keep their black-or-white. Presenter charts are SVG (core.tutorial.slides). */
[data-testid="stVegaLiteChart"] :is([class*="role-axis"], [class*="role-legend"], [class*="role-title"],
  [class*="header"]) text { fill: currentColor; }
/* Inline code is 0.75 em of its line: never below 18 px. */
[data-testid="stMain"] code { font-size: max(0.75em, 18px); }
.st-key-present_keys { display: none; }
</style>"""


def _control() -> bool:
    return bool(state.control(KEY, False, state.parse_bool, lambda v: "1" if v else None, label="presenter mode"))


def is_on() -> bool:
    """Whether this session is in presenter mode (the value `apply` read on this run)."""
    return bool(state.kept(KEY, False))


def _set(on: bool) -> None:
    state.set_control(KEY, on)


def switch() -> bool:
    """The presenter-mode switch (in the sidebar). Returns whether presenter mode is on."""
    on = _control()
    with st.sidebar:
        st.toggle("Presenter mode", key=KEY, help="Large type, wide charts, a compact bar of controls instead of "
                  "this sidebar, and ←/→ to move between tutorial steps. Also in a link: add ?present=1.")
    return on


# Every page, presenter mode or not: an SVG chart wider than its column is drawn smaller to fit it
# (its viewBox keeps its proportions), so a legend or the last heads are never off screen (a phone, a
# multi-panel chart on a projector). Clicks still land: Vega's SVG renderer finds the clicked mark by
# the DOM element. Canvas charts (raster heatmaps) pick by coordinates, so they keep their size and
# scroll in a box of their own (ui/heatmap_panel.py). Segmented controls wrap.
FIT_STYLE = """<style>
[data-testid="stVegaLiteChart"] { max-width: 100%; }
[data-testid="stVegaLiteChart"] > svg.marks { max-width: 100%; height: auto; }
/* Segmented controls (the lenses) wrap onto a second row instead of hiding buttons past the edge. */
[data-testid="stButtonGroup"] > div { flex-wrap: wrap; row-gap: 0.25rem; }
</style>"""


def apply(sel: state.Selection) -> None:
    """The router's hook: charts that fit their column; the switch, and while on the style and the
    compact bar."""
    st.html(FIT_STYLE)
    if switch():
        st.html(STYLE)
        bar(sel)


# --- the compact bar ----------------------------------------------------------------------------

def _digest(*parts: object) -> str:
    return hashlib.sha1("\x1f".join(map(str, parts)).encode("utf-8", "surrogatepass")).hexdigest()[:10]


def _take(what: str, key: str) -> None:
    value = st.session_state.get(key)
    if value is not None:
        state.select(**{what: int(value)})


def bar(sel: state.Selection) -> None:
    """Sentence, example, layer, head and exit, in one row (the sidebar is hidden meanwhile).
    Each widget's key carries the value it shows, so a change made elsewhere (a click on a chart,
    the tutorial's own box) draws a fresh widget with the new value."""
    cols = st.columns([4.4, 2.2, 1.1, 1.1, 2.2], vertical_alignment="bottom")  # "Exit presenter" whole at 1400 px
    text_key = f"_pb_text_{_digest(sel.text)}"
    cols[0].text_input("Sentence", value=sel.text, key=text_key, on_change=state.take_text, args=(text_key,),
                       help="Press Enter to use it on every page.")
    cols[1].selectbox("Example", list(EXAMPLES), index=None, key="_pb_example", on_change=state.take_example,
                      args=("_pb_example",),
                      placeholder="The six sentence types…")
    layer_key, head_key = f"_pb_layer_{sel.layer}", f"_pb_head_{sel.head}"
    cols[2].selectbox("Layer", list(range(sel.num_layers)), index=min(sel.layer, sel.num_layers - 1), key=layer_key,
                      on_change=_take, args=("layer", layer_key))
    cols[3].selectbox("Head", list(range(sel.num_heads)), index=min(sel.head, sel.num_heads - 1), key=head_key,
                      on_change=_take, args=("head", head_key))
    cols[4].button("Exit presenter", key="_pb_exit", on_click=_set, args=(False,), icon=":material/close:",
                   width="stretch")


def start_button(key: str) -> None:
    """A button that turns presenter mode on (for a page that invites presenters)."""
    st.button("Present this (large type)", key=key, on_click=_set, args=(True,), icon=":material/slideshow:",
              help="Presenter mode: large type, wide charts, ←/→ between steps. Exit with the button at the top.")


# --- charts ---------------------------------------------------------------------------------------

def cell_px(n: int, *, annotate: bool = False, share: float = 1.0) -> int | None:
    """Heatmap cell size for n tokens: None (the builder's own) normally; in presenter mode the
    size that fills the screen (`share` of a single heatmap's width, e.g. 1/3 for a grid panel)."""
    if not is_on():
        return None
    plot = slides.SCREEN_GRID_PX * share if share < 1 else slides.SCREEN_PLOT_PX
    return slides.cell_px(n, int(plot), annotate=annotate)


def chart(chart: Any, *, key: str | None = None, on_select: Any = "ignore",
          selection_mode: str | None = None, width: str = "content",
          marked: tuple[int, int] | None = None, stable_data: str | None = None) -> Any:
    """Draw an Altair chart; in presenter mode with every font at least 18 px. `width`: "content"
    (the chart's own size) or "stretch" (a fit-x chart fills its column), as st.altair_chart.

    The chart's Vega-Lite spec is made once per chart object (:func:`spec_of`), so a chart that
    comes from the engine (ui.cache) is not converted again on every rerun. `marked` (layer, head):
    the head a chart built with a marking layer (its own dataset core.render.vega.MARKED_DATA, e.g. a
    memoised overview grid) marks on this run, set in the finished spec (vega.with_marked): the
    spec stays the same, so the browser updates the drawn view's data instead of building it anew.
    `stable_data` (a prefix): name the chart's datasets by position, not by content
    (vega.with_stable_data), for a chart drawn again with other data of the same shape."""
    from core.render import vega

    spec = spec_of(chart, presenter=is_on())
    if spec is None:
        if marked is None and stable_data is None:
            return st.altair_chart(vega.unvalidated(chart), key=key, on_select=on_select,
                                   selection_mode=selection_mode, width=width)
        spec = vega.chart_spec(vega.unvalidated(chart))  # no Streamlit conversion to call: inline data
    spec = vega.themed(spec, theme())
    if marked is not None:
        spec = vega.with_marked(spec, marked)
    if stable_data is not None:
        spec = vega.with_stable_data(spec, stable_data)
    return st.vega_lite_chart(spec=dict(spec), key=key, on_select=on_select, selection_mode=selection_mode,
                              width=width)


def spec_chart(spec: dict[str, Any], *, key: str | None = None, on_select: Any = "ignore",
               selection_mode: str | None = None, width: str = "content") -> Any:
    """Draw a finished Vega-Lite spec (its data as DataFrames under "datasets") in the viewer's
    theme colours; the normal mode's route for a chart filled from a shared template. Presenter
    mode draws Altair charts (:func:`chart`): its spec is made from the chart."""
    from core.render import vega

    return st.vega_lite_chart(spec=vega.themed(spec, theme()), key=key, on_select=on_select,
                              selection_mode=selection_mode, width=width)


def theme() -> str | None:
    """The viewer's theme ("light" / "dark"), as the browser reported it; None where unknown."""
    try:
        return st.context.theme.type
    except Exception:  # noqa: BLE001 - no browser context (AppTest, bare mode)
        return None


try:  # the conversion st.altair_chart itself runs (theme "none", data as named Arrow datasets)
    from streamlit.elements.vega_charts import _convert_altair_to_vega_lite_spec as _streamlit_spec
except ImportError:  # a Streamlit without it: spec_of says None and chart() calls st.altair_chart
    _streamlit_spec = None


def spec_of(chart: Any, *, presenter: bool = False) -> dict[str, Any] | None:
    """The Vega-Lite spec `chart` is drawn from, made once per chart object and kept on it
    (core.render.vega.spec_memo: shared by a memoised chart's copies, vega.shared_copy).

    Normally it is what ``st.altair_chart`` makes of the chart (Streamlit's own conversion, data as
    Arrow datasets), so drawing it with ``st.vega_lite_chart`` sends what ``st.altair_chart`` would
    send for the chart in the viewer's theme colours (chart() adds them, vega.themed), and a
    memoised chart is not converted again on every rerun. In presenter
    mode it is core.tutorial.slides.for_projector's spec (inline data, fonts at least 18 px).
    None where this Streamlit has no conversion to call.
    """
    from core.render import vega

    if presenter:
        return vega.spec_memo(chart, True, lambda c: vega.steep_axis_labels(vega.without_small_cell_numbers(
            slides.for_projector(vega.chart_spec(c)), slides.MIN_ANNOTATED_CELL_PX)))
    if _streamlit_spec is None:
        return None
    return vega.spec_memo(chart, False, lambda c: _streamlit_spec(vega.unvalidated(c)))


def step_keys(previous: Any, following: Any, *, disabled_previous: bool, disabled_next: bool) -> None:
    """Key-only twins of the tutorial's Previous / Next buttons for a presentation clicker
    (PageUp / PageDown), in a container that is not shown. `previous` / `following` are
    the buttons' on_click callbacks."""
    if not is_on():
        return
    with st.container(key=HIDDEN_KEYS):
        st.button("Previous step (PageUp)", key="_pk_prev", on_click=previous, shortcut="PageUp",
                  disabled=disabled_previous)
        st.button("Next step (PageDown)", key="_pk_next", on_click=following, shortcut="PageDown",
                  disabled=disabled_next)

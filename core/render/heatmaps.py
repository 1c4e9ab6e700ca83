"""Heatmaps of attention: one matrix (`heatmap`), and the cell layers, colour domain and text
alternatives that core.render.grids builds its grids of heads from.

Conventions (see docs/methods.md): rows are the query (attending FROM, y axis), columns the key
(attending TO, x axis). Keys a causal query may not see are drawn grey ("n/a"), never as zeros
of the colour scale. Token axes use the unique, position-prefixed labels of
core.render.matrix with an explicit ``sort`` in sentence order, so repeated tokens keep their
own row/column and Vega-Lite never sorts them alphabetically. No chart sends more than
``CELL_BUDGET`` cells: :func:`heatmap` refuses (``CellBudgetError``); prepare its DrawMatrix with
core.render.matrix.prepare first. Cell-label text switches between dark and white on the cell
value so it stays readable on the fill.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Sequence

import altair as alt
import numpy as np
import pandas as pd

from core.render import raster as _raster
from core.render.matrix import CELL_BUDGET, CellBudgetError, DrawMatrix
from core.render.vega import (
    HIGHLIGHT,
    PAD,
    TEXT_DARK,
    TEXT_LIGHT,
    calculate,
    check_scheme,
    colour_scale,
    compact_frame,
    filled_params,
    label_font,
    masked_weight_fill,
    no_init_validation,
    placeholder_labels,
    selection_outline,
    title_params,
    value_if,
    with_labels,
)

ANNOTATE_MAX_N = 20
"""Heatmaps annotate each cell with its value (2 decimals) by default only up to this many tokens."""

NUMBERS_MAX_N = 40
"""Most tokens at which cell numbers can still be read (``annotate=True``; the page offers a switch)."""

MASKED_TEXT = _raster.MASKED_TEXT
X_TITLE = _raster.X_TITLE
Y_TITLE = _raster.Y_TITLE
MASKED_NOTE = "Grey cells: masked (a key after its query), not zero."
"""The subtitle line of every heatmap with masked cells, so they are told by words, not by grey alone."""


PLOT_PX = 600
"""A heatmap's plot side when there are many tokens: with its axis labels and legend it fits the
1,400 px window's column (about 940 px). Larger charts (cell numbers up to 40 tokens, narrow
windows) scroll in their own box."""
NUMBER_CELL_PX = 22
"""Smallest cell that holds a 2-decimal number ("0.12") at 9 px."""


def auto_cell_size(n: int, annotate: bool = False) -> int:
    """Pixels per cell: square cells, big when few tokens, PLOT_PX across when many; at least
    NUMBER_CELL_PX when the cells show their numbers."""
    if n <= 12:
        return 40
    if n <= ANNOTATE_MAX_N:
        return PLOT_PX // ANNOTATE_MAX_N
    cell = int(max(3, min(24, PLOT_PX // max(n, 1))))
    return max(cell, NUMBER_CELL_PX) if annotate else cell


def value_domain(values: np.ndarray, mask: np.ndarray | None, color_domain: Sequence[float] | None) -> tuple[float, float]:
    if color_domain is not None:
        lo, hi = float(color_domain[0]), float(color_domain[1])
    else:
        v = np.asarray(values, dtype=np.float64)
        v = v[mask] if mask is not None else v.reshape(-1)
        v = v[np.isfinite(v)]
        lo, hi = (0.0, float(v.max())) if v.size else (0.0, 1.0)
    if not hi > lo:
        hi = lo + 1e-9 if lo else 1.0
    return lo, hi




def cell_layers(*, x_sort: list[str], y_sort: list[str], value_label: str, lo: float | str, hi: float | str,
                 scheme: str, annotate: bool, cell: int, selectable: bool, axes: bool = True,
                 extra_tooltip: Sequence[alt.Tooltip] = (), masked: bool = True,
                 param: Any = None) -> list[alt.Chart]:
    """Encodings shared by heatmap and grids.head_grid (base data comes from the caller).
    lo / hi: the colour domain, as numbers or as the names of two top-level parameters."""
    check_scheme(scheme)
    font = label_font(cell)
    if axes:
        # labelFlush off: the first label sat half a row low to stay inside the plot, on its neighbour
        x_axis = alt.Axis(title=X_TITLE, labelAngle=-55, labelFontSize=font, labelLimit=140,
                          labelOverlap=cell < 10, ticks=False, domain=False, labelFlush=False)
        y_axis = alt.Axis(title=Y_TITLE, labelFontSize=font, labelLimit=160,
                          labelOverlap=cell < 10, ticks=False, domain=False, labelFlush=False)
    else:
        x_axis = y_axis = None
    x = alt.X("key:N", sort=x_sort, axis=x_axis, scale=alt.Scale(paddingInner=0))
    y = alt.Y("query:N", sort=y_sort, axis=y_axis, scale=alt.Scale(paddingInner=0))
    legend = {"orient": "right", "gradientLength": min(240, max(120, cell * 8)), "format": ".2f",
              "titleFontSize": 13, "labelFontSize": 12}
    fill = (masked_weight_fill(value_label, scheme, lo, hi, legend) if masked else
            alt.Color("weight:Q", title=value_label, scale=colour_scale(scheme, lo, hi), legend=alt.Legend(**legend)))
    tooltip = [alt.Tooltip("query:N", title="Query (from)"), alt.Tooltip("key:N", title="Key (to)"),
               alt.Tooltip("weight_text:N", title=value_label), *extra_tooltip]
    clicks_on_top = selectable and param is not None and annotate  # the numbers would swallow clicks
    rect_enc: dict[str, Any] = {"x": x, "y": y, "color": fill, "tooltip": tooltip}
    rect = alt.Chart().mark_rect(strokeJoin="round")
    if selectable and param is not None and not annotate:
        rect = rect.add_params(param)
        rect_enc.update(selection_outline(param))
    layers = [rect.encode(**rect_enc)]
    if annotate:
        light = _raster.light_text_test("weight", lo, hi, scheme)
        text = alt.Chart().mark_text(fontSize=max(9, min(12, cell // 3)), baseline="middle").encode(
            x=x, y=y, text=alt.Text("cell_text:N"), tooltip=tooltip,
            color=value_if(f"datum.allowed && {light}", TEXT_LIGHT, TEXT_DARK),
        )
        layers.append(text)
    if clicks_on_top:
        layers.append(hit_layer(x, y, tooltip, param))
    return layers


def with_selection(chart: alt.Chart, param: Any) -> alt.Chart:
    return chart.add_params(param).encode(**selection_outline(param))


def hit_layer(x: Any, y: Any, tooltip: Any, param: Any) -> alt.Chart:
    """A near-transparent rect layer above the cell labels that owns the click selection.

    Text marks on top of the cells would swallow clicks, and Vega-Lite cannot share one
    selection between two layers, so the selection (and its outline) lives on this top layer.
    """
    return alt.Chart().mark_rect(fill="#ffffff", fillOpacity=0.001).add_params(param).encode(
        x=x, y=y, tooltip=tooltip, **selection_outline(param))


def text_calcs(value_decimals: int = 3) -> dict[str, str]:
    """Vega expressions computed in the browser (no extra columns shipped)."""
    return {
        "weight_text": f"datum.allowed ? format(datum.weight, '.{value_decimals}f') : '{MASKED_TEXT}'",
        "cell_text": "datum.allowed ? format(datum.weight, '.2f') : 'n/a'",
    }


def _focus_index(dm: DrawMatrix, selected_query: int | None) -> int | None:
    """The row (0..n-1) holding sentence position `selected_query` (a block or a merged word), or None."""
    if selected_query is None:
        return None
    n = dm.n
    pos = dm.positions
    idx = int(np.searchsorted(pos, int(selected_query), side="right")) - 1
    block_end = pos[idx + 1] if idx + 1 < n else pos[idx] + max(1, (pos[-1] - pos[0]) // max(n - 1, 1))
    return idx if 0 <= idx < n and int(selected_query) < block_end else None


def use_raster(n: int, annotate: bool, scheme: str, raster: bool | None = None) -> bool:
    """Draw n x n cells as one image? Forced by `raster`; by default above RASTER_MIN_N tokens when
    no cell numbers are asked for. Only for colour schemes the raster reproduces exactly."""
    if not _raster.supports(scheme):
        return False
    if raster is not None:
        return bool(raster)
    return not annotate and n > _raster.RASTER_MIN_N


# --------------------------------------------------------------------------- text alternatives


def token_text(label: str) -> str:
    """The token part of an axis label ("5 · cat" -> "cat", "12–19 · word…" -> "word…")."""
    return str(label).split(" · ", 1)[-1]


def _has_masked(mask: np.ndarray | None) -> bool:
    return mask is not None and not np.asarray(mask, dtype=bool).all()


def with_masked_note(subtitle: str | Sequence[str] | None, mask: np.ndarray | None) -> str | list[str] | None:
    if not _has_masked(mask):
        return subtitle
    lines = [] if subtitle is None else [subtitle] if isinstance(subtitle, str) else list(subtitle)
    return [*lines, MASKED_NOTE] if MASKED_NOTE not in lines else lines


def short_number(v: float) -> str:
    return f"{v:.2f}" if abs(v) >= 0.005 or v == 0 else f"{v:.3g}"


def strongest_cell(values: np.ndarray, allowed: np.ndarray | None = None,
                   diverging: bool = False) -> tuple[tuple[int, ...], float] | None:
    """(index, value) of the largest value of ``values[..., n, n]`` (largest |value| when
    diverging) among allowed, finite cells; None when there is none."""
    v = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(v)
    if allowed is not None:
        ok &= np.broadcast_to(np.asarray(allowed, dtype=bool), v.shape)
    if not ok.any():
        return None
    score = np.where(ok, np.abs(v) if diverging else v, -np.inf)
    idx = np.unravel_index(int(np.argmax(score)), v.shape)
    return tuple(int(i) for i in idx), float(v[idx])


def matrix_description(title: str, value_label: str, labels: Sequence[str], values: np.ndarray,
                       allowed: np.ndarray | None = None, *, block: int = 1, diverging: bool = False) -> str:
    """What a heatmap shows, in one or two sentences (the chart's text alternative):
    "Heatmap: Raw attention · layer 2, head 5. Attention weight of each query (row) for each key
    (column) over 9 tokens; strongest: 'cat' -> 'sat' 0.74."
    """
    n = len(labels)
    size = f"{n} tokens" if block <= 1 else f"{n} blocks of about {block} tokens"
    best = strongest_cell(values, allowed, diverging)
    text = f"Heatmap: {title}. {value_label} of each query (row) for each key (column) over {size}"
    if best is not None:
        (q, k), v = best
        text += f"; {'largest' if diverging else 'strongest'}: '{token_text(labels[q])}' -> " \
                f"'{token_text(labels[k])}' {short_number(v)}"
    if allowed is not None and not np.asarray(allowed, dtype=bool).all():
        text += "; grey cells are masked (a key after its query)"
    return text + "."


# --------------------------------------------------------------------------- one heatmap

CELLS_DATA = "heatmap_cells"
"""Name of a vector heatmap's one dataset (its cells) in :func:`layout_spec`'s template."""
LO_PARAM, HI_PARAM = _raster.LO_PARAM, _raster.HI_PARAM
"""Top-level parameters holding a heatmap's colour domain (its scale and its cell-number colours
read them), so the numbers change without touching the rest of the spec."""


@dataclass(frozen=True)
class HeatmapLayout:
    """Everything of a vector heatmap's spec but its numbers, title and text alternative: two
    matrices with the same layout differ only in the spec's top-level params, title, description
    and dataset (:meth:`HeatmapView.spec`), so the spec is built once per layout (layout_spec)."""

    n: int  # rows and columns (the labels are the view's own: vega.with_labels)
    value_label: str
    scheme: str
    annotate: bool
    cell: int  # pixels per cell
    selectable: bool
    masked: bool  # the data has masked cells to paint grey (a causal model)
    focus: tuple[int, int] | None  # (query_pos, key_pos) of the outlined row's first cell


@functools.lru_cache(maxsize=256)
def _label_dtype(labels: tuple[str, ...]) -> pd.CategoricalDtype:
    return pd.CategoricalDtype(list(labels))


@dataclass(frozen=True, eq=False)
class HeatmapView:
    """One heatmap, split into its layout (vector cells or an image: `raster` set) and what the
    matrix itself decides."""

    layout: HeatmapLayout | _raster.RasterLayout
    dm: DrawMatrix
    lo: float
    hi: float
    title: str
    subtitle: str | list[str] | None
    description: str
    raster: _raster.RasterParts | None = None

    def _cells(self) -> dict[str, np.ndarray]:
        """The vector cells' columns, query-major: positions, label codes (qi, ki), weight, allowed."""
        dm, n = self.dm, self.dm.n
        qi, ki = np.repeat(np.arange(n), n), np.tile(np.arange(n), n)
        pos = np.asarray(dm.positions)
        pos = pos.astype(np.int16 if n == 0 or pos.max() < 32_000 else np.int32)
        allowed = np.ones(n * n, dtype=bool) if dm.allowed is None else np.asarray(dm.allowed, dtype=bool).reshape(-1)
        return {"query_pos": pos[qi], "key_pos": pos[ki], "qi": qi, "ki": ki,
                "weight": np.asarray(dm.matrix, dtype=np.float32).reshape(-1), "allowed": allowed}

    def frame(self) -> pd.DataFrame:
        """The data shipped to the browser. Vector cells: one row per cell, query-major, with the
        columns and compact dtypes of ``compact_frame(dm.table())``, made directly (labels are
        unique, so each label is its own category). An image: its rows table."""
        if self.raster is not None:
            return self.raster.rows
        c = self._cells()
        labels = _label_dtype(tuple(self.dm.axis_labels))
        return pd.DataFrame({
            "query_pos": c["query_pos"], "key_pos": c["key_pos"],
            "query": pd.Categorical.from_codes(c["qi"], dtype=labels),
            "key": pd.Categorical.from_codes(c["ki"], dtype=labels), "weight": c["weight"], "allowed": c["allowed"],
        })

    def table(self) -> Any:
        """What :meth:`spec` ships: vector cells as an Arrow table with the columns and types
        Streamlit would make of :meth:`frame`, built from numpy without the pandas-to-Arrow step
        (a cost on every run); an image's rows table stays a DataFrame."""
        if self.raster is not None:
            return self.raster.rows
        import pyarrow as pa

        c, n = self._cells(), self.dm.n
        index = np.int8 if n < 128 else np.int16 if n < 32_000 else np.int32
        words = pa.array(list(self.dm.axis_labels), type=pa.large_string())
        return pa.table({
            "query_pos": c["query_pos"], "key_pos": c["key_pos"],
            "query": pa.DictionaryArray.from_arrays(c["qi"].astype(index), words),
            "key": pa.DictionaryArray.from_arrays(c["ki"].astype(index), words),
            "weight": c["weight"], "allowed": c["allowed"],
        })

    def spec(self, template: dict[str, Any]) -> dict[str, Any]:
        """This heatmap's Vega-Lite spec from its layout's template (:func:`layout_spec`): the
        template with this view's colour domain (and image), title, description and data (an
        Arrow table or a DataFrame under "datasets", which Streamlit ships as Arrow). `template`
        is not changed."""
        values: dict[str, Any] = {LO_PARAM: self.lo, HI_PARAM: self.hi}
        if self.raster is not None:
            values[_raster.IMAGE_PARAM] = self.raster.image_url
        params = filled_params(template, values)
        data = _raster.ROWS_DATA if self.raster is not None else CELLS_DATA
        template = with_labels(template, list(self.dm.axis_labels))
        return {**template, "params": params, "title": title_params(self.title, self.subtitle).to_dict(validate=False),
                "description": self.description, "datasets": {**template.get("datasets", {}), data: self.table()}}


def _vector_chart(layout: HeatmapLayout, labels: Sequence[str], *, data: Any, lo: float, hi: float,
                  title: alt.TitleParams, description: str) -> alt.LayerChart:
    """The heatmap of `layout` as rect (+ text) layers over `data`, its colour domain in params."""
    order = list(labels)
    n = layout.n
    param = alt.selection_point(name="cell", fields=["query_pos", "key_pos"], on="click",
                                clear="dblclick", empty=False) if layout.selectable else None
    layers = cell_layers(x_sort=order, y_sort=order, value_label=layout.value_label, lo=LO_PARAM, hi=HI_PARAM,
                         scheme=layout.scheme, annotate=layout.annotate, cell=layout.cell,
                         selectable=layout.selectable, masked=layout.masked, param=param)
    if layout.focus is not None:
        qp, kp = layout.focus
        layers.append(alt.Chart().mark_rect(fill=None, stroke=HIGHLIGHT, strokeWidth=3).encode(
            y=alt.Y("query:N", sort=order)).transform_filter(
            f"datum.query_pos == {qp} && datum.key_pos == {kp}"))
    domain = _raster.domain_params(lo, hi)
    # One constructor call: each .transform_calculate() / .properties() on a LayerChart re-runs its
    # __init__ (deep copies of every layer, selection re-lifted and re-validated).
    chart = alt.layer(*layers, data=data, transform=calculate(**text_calcs()), width=layout.cell * n,
                      height=layout.cell * n, title=title, autosize=PAD, description=description)
    chart.params = [*domain, *(chart.params if chart.params is not alt.Undefined else [])]
    return chart


@no_init_validation
def layout_spec(layout: HeatmapLayout | _raster.RasterLayout) -> dict[str, Any]:
    """The Vega-Lite spec of every heatmap with this layout, its data a named dataset
    (CELLS_DATA, or raster.ROWS_DATA for an image) to supply and its domain, image, title and
    description placeholders (:meth:`HeatmapView.spec` fills them). Built once per layout by its
    caller's memo."""
    if isinstance(layout, _raster.RasterLayout):
        return _raster.raster_layout_spec(layout)
    return _vector_chart(layout, placeholder_labels(layout.n), data=alt.NamedData(name=CELLS_DATA), lo=0.0, hi=1.0,
                         title=title_params(""), description="").to_dict(validate=False)


def heatmap_view(dm: DrawMatrix, *, title: str, value_label: str = "Attention weight",
                 selected_query: int | None = None, scheme: str = "blues",
                 color_domain: Sequence[float] | None = None, annotate: bool | None = None,
                 selectable: bool = True, cell_size: int | None = None,
                 subtitle: str | Sequence[str] | None = None, max_cells: int = CELL_BUDGET,
                 raster: bool | None = None, description: str | None = None) -> HeatmapView:
    """The heatmap :func:`heatmap` would draw, as a layout plus what this matrix puts in it
    (vector cells, or an image). Same arguments and errors as :func:`heatmap`."""
    n = dm.n
    if n * n > max_cells:
        raise CellBudgetError(n * n, max_cells)
    check_scheme(scheme)
    m, mask = dm.matrix, dm.allowed
    lo, hi = value_domain(m, mask, color_domain)
    if annotate is None:
        annotate = n <= ANNOTATE_MAX_N
    cell = int(cell_size) if cell_size else auto_cell_size(n, annotate)
    focus = _focus_index(dm, selected_query)
    if description is None:
        description = matrix_description(title, value_label, list(dm.axis_labels), m, mask, block=dm.block,
                                         diverging=lo < 0 < hi)
    subtitle = with_masked_note(subtitle, mask)
    if use_raster(n, annotate, scheme, raster):
        plot = cell * n if cell_size else min(cell * n, PLOT_PX)  # many tokens: fractional cells, PLOT_PX
        parts = _raster.raster_parts(m, list(dm.axis_labels), dm.positions, lo=lo, hi=hi, scheme=scheme,
                                     allowed=mask, plot_px=plot, focus_index=focus, selectable=selectable,
                                     value_label=value_label)
        return HeatmapView(parts.layout, dm, lo, hi, title, subtitle, description, raster=parts)
    layout = HeatmapLayout(n=n, value_label=value_label, scheme=scheme, annotate=annotate,
                           cell=cell, selectable=selectable, masked=mask is not None,
                           focus=None if focus is None else (int(dm.positions[focus]), int(dm.positions[0])))
    return HeatmapView(layout, dm, lo, hi, title, subtitle, description)


@no_init_validation
def heatmap(dm: DrawMatrix, *, title: str, value_label: str = "Attention weight",
            selected_query: int | None = None, scheme: str = "blues",
            color_domain: Sequence[float] | None = None, annotate: bool | None = None,
            selectable: bool = True, cell_size: int | None = None,
            subtitle: str | Sequence[str] | None = None, max_cells: int = CELL_BUDGET,
            raster: bool | None = None, description: str | None = None) -> alt.LayerChart:
    """One matrix ready to draw (rows = query FROM on y, columns = key TO on x).

    dm: core.render.matrix.DrawMatrix (``prepare(dm)`` first when it may be over the budget);
    its positions and labels are what clicks and tooltips carry.
    Masked cells (``dm.allowed`` False) are grey with tooltip "n/a (masked: key after query)".
    annotate: None = only when n <= 20 (2 decimals). selected_query: a sentence position whose
    row (or block, or word) gets an orange outline. selectable: point selection "cell" on
    query_pos, key_pos (``st.altair_chart(on_select="rerun")`` returns the click).
    raster: None = an image (core.render.raster: 1 + 2n marks, same tooltips and clicks) when
    n > 20 and unannotated, else one rect (+ text) per cell; True / False force it.
    description: the text alternative (Vega-Lite ``description``, the chart's aria-label);
    default :func:`matrix_description`.
    Raises CellBudgetError when n*n > max_cells.
    """
    view = heatmap_view(dm, title=title, value_label=value_label, selected_query=selected_query, scheme=scheme,
                        color_domain=color_domain, annotate=annotate, selectable=selectable, cell_size=cell_size,
                        subtitle=subtitle, max_cells=max_cells, raster=raster, description=description)
    heading = title_params(title, view.subtitle)
    if view.raster is not None:
        return _raster.raster_chart(view.raster.layout, list(dm.axis_labels), data=view.raster.rows, lo=view.lo, hi=view.hi,
                                     image_url=view.raster.image_url, title=heading, description=view.description)
    # Masked cells keep their (zero) weight: a null would make Vega-Lite drop the cell or
    # colour it as the scale's zero; instead the fill condition on `allowed` paints them grey.
    return _vector_chart(view.layout, list(dm.axis_labels), data=view.frame(), lo=view.lo, hi=view.hi, title=heading,  # type: ignore[arg-type]
                         description=view.description)

"""Heatmaps of attention: one matrix, a grid of heads, every layer x head, one value per head.

Conventions (see docs/methods.md): rows are the query (attending FROM, y axis), columns the key
(attending TO, x axis). Keys a causal query may not see are drawn grey ("n/a"), never as zeros
of the colour scale. Token axes use the unique, position-prefixed labels of
core.render.matrix with an explicit ``sort`` in sentence order, so repeated tokens keep their
own row/column and Vega-Lite never sorts them alphabetically. No chart sends more than
``CELL_BUDGET`` cells: :func:`heatmap` refuses (``CellBudgetError``); prepare its DrawMatrix with
core.render.matrix.prepare first. Grids (:func:`head_grid`, :func:`thumbnail_grid`) block-average
each panel so the total stays under the budget and say so in the subtitle. Cell-label text
switches between dark and white on the cell value so it stays readable on the fill.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

import altair as alt
import numpy as np
import pandas as pd

from core.render import raster as _raster
from core.render.matrix import (
    CELL_BUDGET,
    CellBudgetError,
    DrawMatrix,
    block_labels,
    block_reduce,
    block_size_for,
    long_table,
    token_labels,
)
from core.render.vega import (
    CATEGORY_COLOURS,
    HIGHLIGHT,
    MASKED_FILL,
    PAD,
    TEXT_DARK,
    TEXT_LIGHT,
    calculate,
    category_letters,
    check_scheme,
    compact_frame,
    label_font,
    marked_datasets,
    marked_source,
    masked_weight_fill,
    no_init_validation,
    selection_outline,
    text_on,
    title_params,
    value_if,
)

ANNOTATE_MAX_N = 20
"""Heatmaps annotate each cell with its value (2 decimals) by default only up to this many tokens."""

NUMBERS_MAX_N = 40
"""Most tokens at which cell numbers can still be read (``annotate=True``; the page offers a switch)."""

MASKED_TEXT = _raster.MASKED_TEXT
X_TITLE = _raster.X_TITLE
Y_TITLE = _raster.Y_TITLE
THUMBS_WIDTH = 620
"""Pixels a row of thumbnails may take (with headers, spacing and the legend it fits about 940 px)."""
MASKED_NOTE = "Grey cells: masked (a key after its query), not zero."
"""The subtitle line of every heatmap with masked cells, so they are told by words, not by grey alone."""
HEAD_ORDER_NOTE = "Head numbers are arbitrary within a layer: the same number in two layers is not the same head."


PLOT_PX = 600
"""A heatmap's plot side when there are many tokens: with its axis labels and legend it fits the
1,400 px window's column (about 940 px). Larger charts (cell numbers up to 40 tokens, narrow
windows) scroll in their own box."""
GRID_PX = 630
"""The width a head grid's panels share (with axes and legend it fits the same column)."""
NUMBER_CELL_PX = 22
"""Smallest cell that holds a 2-decimal number ("0.12") at 9 px."""
# A grid of panels keeps its cell numbers up to this many cells in all (6 layers x 14 tokens:
# 1,176; the tutorial's sentences are shorter). Past it the panels are images, numbers in the
# tooltips and the table view: 1,536 numbered cells (6 x 16 tokens) cost Chromium about 0.4 s on
# every head change (scripts/bench_browser.py, Across layers), an image a few milliseconds.
GRID_ANNOTATE_CELLS = 1_200


def auto_cell_size(n: int, annotate: bool = False) -> int:
    """Pixels per cell: square cells, big when few tokens, PLOT_PX across when many; at least
    NUMBER_CELL_PX when the cells show their numbers."""
    if n <= 12:
        return 40
    if n <= ANNOTATE_MAX_N:
        return PLOT_PX // ANNOTATE_MAX_N
    cell = int(max(3, min(24, PLOT_PX // max(n, 1))))
    return max(cell, NUMBER_CELL_PX) if annotate else cell


def _domain(values: np.ndarray, mask: np.ndarray | None, color_domain: Sequence[float] | None) -> tuple[float, float]:
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




def _cell_layers(*, x_sort: list[str], y_sort: list[str], value_label: str, lo: float, hi: float,
                 scheme: str, annotate: bool, cell: int, selectable: bool, axes: bool = True,
                 extra_tooltip: Sequence[alt.Tooltip] = (), masked: bool = True,
                 param: Any = None) -> list[alt.Chart]:
    """Encodings shared by heatmap and head_grid (base data comes from the caller)."""
    check_scheme(scheme)
    font = label_font(cell)
    if axes:
        x_axis = alt.Axis(title=X_TITLE, labelAngle=-55, labelFontSize=font, labelLimit=140,
                          labelOverlap=cell < 10, ticks=False, domain=False)
        y_axis = alt.Axis(title=Y_TITLE, labelFontSize=font, labelLimit=160,
                          labelOverlap=cell < 10, ticks=False, domain=False)
    else:
        x_axis = y_axis = None
    x = alt.X("key:N", sort=x_sort, axis=x_axis, scale=alt.Scale(paddingInner=0))
    y = alt.Y("query:N", sort=y_sort, axis=y_axis, scale=alt.Scale(paddingInner=0))
    legend = {"orient": "right", "gradientLength": min(240, max(120, cell * 8)), "format": ".2f",
              "titleFontSize": 13, "labelFontSize": 12}
    fill = (masked_weight_fill(value_label, scheme, lo, hi, legend) if masked else
            alt.Color("weight:Q", title=value_label, scale=alt.Scale(scheme=scheme, domain=[lo, hi], clamp=True),
                      legend=alt.Legend(**legend)))
    tooltip = [alt.Tooltip("query:N", title="Query (from)"), alt.Tooltip("key:N", title="Key (to)"),
               alt.Tooltip("weight_text:N", title=value_label), *extra_tooltip]
    hit_layer = selectable and param is not None and annotate
    rect_enc: dict[str, Any] = {"x": x, "y": y, "color": fill, "tooltip": tooltip}
    rect = alt.Chart().mark_rect(strokeJoin="round")
    if selectable and param is not None and not annotate:
        rect = rect.add_params(param)
        rect_enc.update(selection_outline(param))
    layers = [rect.encode(**rect_enc)]
    if annotate:
        threshold = lo + 0.55 * (hi - lo)
        text = alt.Chart().mark_text(fontSize=max(9, min(12, cell // 3)), baseline="middle").encode(
            x=x, y=y, text=alt.Text("cell_text:N"), tooltip=tooltip,
            color=value_if(f"datum.allowed && datum.weight > {threshold!r}", TEXT_LIGHT, TEXT_DARK),
        )
        layers.append(text)
    if hit_layer:
        layers.append(_hit_layer(x, y, tooltip, param))
    return layers


def _with_selection(chart: alt.Chart, param: Any) -> alt.Chart:
    return chart.add_params(param).encode(**selection_outline(param))


def _hit_layer(x: Any, y: Any, tooltip: Any, param: Any) -> alt.Chart:
    """A near-transparent rect layer above the cell labels that owns the click selection.

    Text marks on top of the cells would swallow clicks, and Vega-Lite cannot share one
    selection between two layers, so the selection (and its outline) lives on this top layer.
    """
    return alt.Chart().mark_rect(fill="#ffffff", fillOpacity=0.001).add_params(param).encode(
        x=x, y=y, tooltip=tooltip, **selection_outline(param))


def _text_calcs(value_decimals: int = 3) -> dict[str, str]:
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


def _token_text(label: str) -> str:
    """The token part of an axis label ("5 · cat" -> "cat", "12–19 · word…" -> "word…")."""
    return str(label).split(" · ", 1)[-1]


def _has_masked(mask: np.ndarray | None) -> bool:
    return mask is not None and not np.asarray(mask, dtype=bool).all()


def _with_masked_note(subtitle: str | Sequence[str] | None, mask: np.ndarray | None) -> str | list[str] | None:
    if not _has_masked(mask):
        return subtitle
    lines = [] if subtitle is None else [subtitle] if isinstance(subtitle, str) else list(subtitle)
    return [*lines, MASKED_NOTE] if MASKED_NOTE not in lines else lines


def _number(v: float) -> str:
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
        text += f"; {'largest' if diverging else 'strongest'}: '{_token_text(labels[q])}' -> " \
                f"'{_token_text(labels[k])}' {_number(v)}"
    if allowed is not None and not np.asarray(allowed, dtype=bool).all():
        text += "; grey cells are masked (a key after its query)"
    return text + "."


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
    n = dm.n
    if n * n > max_cells:
        raise CellBudgetError(n * n, max_cells)
    check_scheme(scheme)
    m, mask = dm.matrix, dm.allowed
    lo, hi = _domain(m, mask, color_domain)
    if annotate is None:
        annotate = n <= ANNOTATE_MAX_N
    cell = int(cell_size) if cell_size else auto_cell_size(n, annotate)
    focus = _focus_index(dm, selected_query)
    order = list(dm.axis_labels)
    if description is None:
        description = matrix_description(title, value_label, order, m, mask, block=dm.block, diverging=lo < 0 < hi)
    subtitle = _with_masked_note(subtitle, mask)
    if use_raster(n, annotate, scheme, raster):
        plot = cell * n if cell_size else min(cell * n, PLOT_PX)  # many tokens: fractional cells, PLOT_PX
        return _raster.raster_heatmap(m, order, dm.positions, title=title, value_label=value_label, lo=lo, hi=hi,
                                      scheme=scheme, allowed=mask, plot_px=plot, focus_index=focus,
                                      selectable=selectable, subtitle=subtitle, description=description)
    # Masked cells keep their (zero) weight: a null would make Vega-Lite drop the cell or
    # colour it as the scale's zero; instead the fill condition on `allowed` paints them grey.
    df = compact_frame(dm.table())
    param = alt.selection_point(name="cell", fields=["query_pos", "key_pos"], on="click",
                                clear="dblclick", empty=False) if selectable else None
    layers = _cell_layers(x_sort=order, y_sort=order, value_label=value_label, lo=lo, hi=hi,
                          scheme=scheme, annotate=annotate, cell=cell, selectable=selectable,
                          masked=mask is not None, param=param)
    if focus is not None:
        qp, kp = int(dm.positions[focus]), int(dm.positions[0])
        layers.append(alt.Chart().mark_rect(fill=None, stroke=HIGHLIGHT, strokeWidth=3).encode(
            y=alt.Y("query:N", sort=order)).transform_filter(
            f"datum.query_pos == {qp} && datum.key_pos == {kp}"))
    # One constructor call: each .transform_calculate() / .properties() on a LayerChart re-runs its
    # __init__ (deep copies of every layer, selection re-lifted and re-validated).
    return alt.layer(*layers, data=df, transform=calculate(**_text_calcs()), width=cell * n, height=cell * n,
                     title=title_params(title, subtitle), autosize=PAD, description=description)


# --------------------------------------------------------------------------- grids


def _panels(att: np.ndarray | Sequence[np.ndarray], layer: int | None, head: int | None,
            titles: Sequence[str] | None) -> tuple[np.ndarray, list[str], bool]:
    """-> (panels [p, n, n], titles, lines heads up across layers?)"""
    if isinstance(att, np.ndarray) and att.ndim == 4:
        L, H = att.shape[:2]
        if layer is not None and head is not None:
            stack, names, across = att[layer, head][None], [f"Layer {layer} · head {head}"], False
        elif head is not None:
            stack, names, across = att[:, head], [f"Layer {i} · head {head}" for i in range(L)], True
        elif layer is not None:
            stack, names, across = att[layer], [f"Layer {layer} · head {h}" for h in range(H)], False
        else:
            stack, names, across = att.mean(axis=1), [f"Layer {i} · mean of {H} heads" for i in range(L)], False
    else:
        stack = np.stack([np.asarray(a) for a in att]) if not isinstance(att, np.ndarray) or att.ndim == 2 \
            else np.asarray(att)
        if stack.ndim == 2:
            stack = stack[None]
        if stack.ndim != 3:
            raise ValueError(f"expected [L, H, n, n], [p, n, n] or a list of [n, n]; got {np.shape(att)}")
        p = len(stack)
        if head is not None and layer is None:  # att[:, head]: one head, every layer
            names, across = [f"Layer {i} · head {head}" for i in range(p)], True
        elif layer is not None and head is None:  # att[layer]: every head of one layer
            names, across = [f"Layer {layer} · head {h}" for h in range(p)], False
        else:
            names, across = [f"Panel {i}" for i in range(p)], False
    if titles is not None:
        if len(titles) != len(stack):
            raise ValueError(f"{len(stack)} panels but {len(titles)} titles")
        names = [str(t) for t in titles]
    if len(set(names)) != len(names):
        names = [f"{i}: {t}" for i, t in enumerate(names)]
    return np.asarray(stack), names, across


def _reduced(stack: np.ndarray, tokens: Sequence[str], allowed_mask: np.ndarray | None,
             panel_cells: int) -> tuple[np.ndarray, np.ndarray | None, list[str], np.ndarray, int]:
    """Panels ``stack[..., n, n]`` block-averaged to at most panel_cells cells each.

    -> (float64 panels [..., k, k], their mask [k, k] or None, labels, positions, tokens per block).
    """
    n = stack.shape[-1]
    if n != len(tokens):
        raise ValueError(f"matrices are {n} x {n} but there are {len(tokens)} tokens")
    mask = None if allowed_mask is None else np.asarray(allowed_mask, dtype=bool)
    if mask is not None and mask.shape != (n, n):
        raise ValueError(f"allowed_mask has shape {mask.shape}, expected {(n, n)}")
    b = block_size_for(n, max(1, panel_cells))
    if b == 1:
        return stack.astype(np.float64), mask, token_labels(tokens), np.arange(n), 1
    small, small_mask = block_reduce(stack, b, mask)
    labels, positions, _ = block_labels(tokens, b)
    return small, small_mask, labels, positions, b


@no_init_validation
def head_grid(att: np.ndarray | Sequence[np.ndarray], tokens: Sequence[str], *,
              layer: int | None = None, head: int | None = None, columns: int | None = None,
              titles: Sequence[str] | None = None, title: str | None = None,
              value_label: str = "Attention weight", allowed_mask: np.ndarray | None = None,
              annotate: bool | None = None, color_domain: Sequence[float] | None = None,
              scheme: str = "blues", selectable: bool = True, cell_size: int | None = None,
              max_cells: int = CELL_BUDGET, raster: bool | None = None,
              description: str | None = None) -> alt.FacetChart:
    """Small heatmaps in a grid with one shared colour scale.

    att ``[L, H, n, n]``: head=h -> that head in every layer (the tutorial's grid, with a note that
    head numbers are arbitrary per layer); layer=l -> every head of layer l; both -> one panel;
    neither -> the head mean of each layer. Or a list / ``[p, n, n]`` array of matrices (titles
    then name the panels). Each panel is block-averaged when p*n*n > max_cells (note in the
    subtitle). Annotated when the (possibly reduced) panels have <= 20 tokens; above that each
    panel is an image (raster: None = auto, see :func:`use_raster`) with the same tooltips.
    Selection "cell" on panel, query_pos, key_pos.
    """
    stack, names, across = _panels(att, layer, head, titles)
    p, n = stack.shape[0], stack.shape[-1]
    small, small_mask, labels, positions, b = _reduced(stack, tokens, allowed_mask, max_cells // p)
    notes: list[str] = []
    if b > 1:
        notes.append(f"{p} panels x {n}x{n} tokens is over the {max_cells:,}-cell limit: each panel shows "
                     f"blocks of {b} tokens (rows still sum to 1).")
    k = small.shape[-1]
    if across:
        notes.append(HEAD_ORDER_NOTE)
    notes = _with_masked_note(notes, small_mask) or []
    lo, hi = _domain(small, None if small_mask is None else np.broadcast_to(small_mask, small.shape), color_domain)
    if columns is None:  # 3, or 2 when that is what makes the cell numbers fit
        columns = 3 if (GRID_PX // 3) // k >= NUMBER_CELL_PX or k > ANNOTATE_MAX_N else 2
    columns = max(1, int(columns))
    cell = int(cell_size) if cell_size else max(3, min(40, (GRID_PX // columns) // max(k, 1)))
    if annotate is None:
        annotate = k <= ANNOTATE_MAX_N and cell >= NUMBER_CELL_PX - 4 and p * k * k <= GRID_ANNOTATE_CELLS
        if not annotate and raster is None:
            raster = True if _raster.supports(scheme) else None  # no numbers: an image per panel, at any size
    if title is None:
        title = ("Head {h} in every layer".format(h=head) if across else
                 f"Every head of layer {layer}" if layer is not None and head is None else
                 "Head mean of each layer" if isinstance(att, np.ndarray) and att.ndim == 4 and layer is None
                 else "Attention")
    if description is None:
        description = grid_description(title, names, labels, small, small_mask, value_label=value_label, block=b,
                                       diverging=lo < 0 < hi)
    facet = alt.Facet("panel:N", sort=names, title=None, header=alt.Header(labelFontSize=13, labelFontWeight="bold"))
    if use_raster(k, annotate, scheme, raster):
        legend = {"orient": "right", "gradientLength": min(240, max(120, cell * 8)), "format": ".2f",
                  "titleFontSize": 13, "labelFontSize": 12}
        return _raster.raster_facet(
            small, labels, positions, panels={"panel": names}, facet={"facet": facet, "columns": columns},
            lo=lo, hi=hi, scheme=scheme, allowed=small_mask, cell=cell, value_label=value_label, legend=legend,
            click=("cell", ["panel", "query_pos", "key_pos"]) if selectable else None,
            tooltip_after=[{"field": "panel", "type": "nominal", "title": "Panel"}],
            title=title_params(title, notes or None), description=description,
            panel_px=cell * k if cell_size else min(cell * k, GRID_PX // columns))
    df = long_table(small, labels, positions=positions, allowed=small_mask, labels=labels, leading={"panel": names})
    df = compact_frame(df[[*df.columns[1:], "panel"]])  # panel last: the spec's data keeps its column order
    df["panel"] = df["panel"].astype("category")
    param = alt.selection_point(name="cell", fields=["panel", "query_pos", "key_pos"], on="click",
                                clear="dblclick", empty=False) if selectable else None
    layers = _cell_layers(x_sort=labels, y_sort=labels, value_label=value_label, lo=lo, hi=hi,
                          scheme=scheme, annotate=annotate, cell=cell, selectable=selectable,
                          masked=small_mask is not None, param=param,
                          extra_tooltip=[alt.Tooltip("panel:N", title="Panel")])
    inner = alt.layer(*layers, width=cell * k, height=cell * k)
    return inner.facet(
        facet=facet, columns=columns, data=df, transform=calculate(**_text_calcs()),
        resolve=alt.Resolve(scale=alt.ScaleResolveMap(x="shared", y="shared", color="shared")),
        title=title_params(title, notes or None), autosize=PAD, description=description)


def grid_description(title: str, names: Sequence[str], labels: Sequence[str], panels: np.ndarray,
                     allowed: np.ndarray | None = None, *, value_label: str = "Attention weight", block: int = 1,
                     diverging: bool = False) -> str:
    """The text alternative of a grid of heatmaps ``panels[p, k, k]`` named ``names``."""
    p, k = len(names), len(labels)
    size = f"{k} tokens" if block <= 1 else f"{k} blocks of about {block} tokens"
    first = names[0] if p == 1 else f"{names[0]} to {names[-1]}"
    text = f"Grid of {p} heatmaps: {title} ({first}). {value_label} of each query (row) for each key (column) " \
           f"over {size}"
    best = strongest_cell(panels, allowed, diverging)
    if best is not None:
        (i, q, kk), v = best
        text += f"; {'largest' if diverging else 'strongest'}: {names[i]}, '{_token_text(labels[q])}' -> " \
                f"'{_token_text(labels[kk])}' {_number(v)}"
    return text + "."


def thumbnail_description(title: str, L: int, H: int, labels: Sequence[str], small: np.ndarray,
                          allowed: np.ndarray | None = None, *, block: int = 1, selectable: bool = True) -> str:
    """The text alternative of every layer x head as thumbnails ``small[L, H, k, k]``."""
    k = len(labels)
    size = f"{k} tokens" if block <= 1 else f"{k} blocks of about {block} tokens"
    text = (f"{title}: {L} x {H} small heatmaps, one per head (rows: layers 0-{L - 1}, columns: heads "
            f"0-{H - 1}), attention weight over {size}")
    best = strongest_cell(small, allowed)
    if best is not None:
        (layer, head, q, kk), v = best
        text += f"; strongest: layer {layer}, head {head}, '{_token_text(labels[q])}' -> " \
                f"'{_token_text(labels[kk])}' {_number(v)}"
    text += "."
    return text + (" Click a thumbnail to select its layer and head." if selectable else "")


@no_init_validation
def thumbnail_grid(att: np.ndarray, tokens: Sequence[str], *, max_cells: int = CELL_BUDGET,
                   title: str | None = None, allowed_mask: np.ndarray | None = None,
                   selected: tuple[int, int] | None = None, scheme: str = "blues",
                   color_domain: Sequence[float] | None = None, thumb_px: int | None = None,
                   selectable: bool = True, raster: bool | None = None,
                   description: str | None = None) -> alt.FacetChart:
    """Every layer x head of ``att[L, H, n, n]`` as a small heatmap (rows = layers, columns = heads).

    Each thumbnail is block-averaged so L*H*cells <= max_cells. No axis labels; the tooltip
    names layer, head, query/key ranges and weight. Point selection "head" on layer, head
    (click a thumbnail). selected=(layer, head) outlines that thumbnail. raster (None = yes for
    the schemes core.render.raster reproduces): each thumbnail is one image with hit marks for
    its rows and the hovered row's cells, so a click anywhere on it reports its layer and head.
    The thumbnails are sized so the grid and its legend fit the 1,400 px window's column.
    """
    a = np.asarray(att)
    if a.ndim != 4 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"expected [L, H, n, n], got {a.shape}")
    L, H = a.shape[0], a.shape[1]
    check_scheme(scheme)
    small, small_mask, labels, positions, b = _reduced(a, tokens, allowed_mask, max_cells // (L * H))
    k = small.shape[-1]
    lo, hi = _domain(small, None if small_mask is None else np.broadcast_to(small_mask, small.shape), color_domain)
    px = int(thumb_px) if thumb_px else max(40, min(96, THUMBS_WIDTH // max(H, 1)))
    cell = max(1, px // k)
    title = title or "Every layer and head"
    notes = [HEAD_ORDER_NOTE]
    if b > 1:
        notes.insert(0, f"Each thumbnail shows blocks of {b} tokens ({k} x {k}) to stay under "
                        f"{max_cells:,} cells.")
    notes = _with_masked_note(notes, small_mask) or []
    if description is None:
        description = thumbnail_description(title, L, H, labels, small, small_mask, block=b, selectable=selectable)
    legend = {"format": ".2f", "titleFontSize": 13, "labelFontSize": 12, "gradientLength": 120}
    header = alt.Header(labelFontSize=12, titleFontSize=13)
    row, column = alt.Row("layer:O", title="Layer", header=header), alt.Column("head:O", title="Head", header=header)
    if use_raster(k, False, scheme, True if raster is None else raster):
        layer_ids = np.repeat(np.arange(L, dtype=np.int16), H)
        head_ids = np.tile(np.arange(H, dtype=np.int16), L)
        outline = None if selected is None else \
            f"datum.layer === {int(selected[0])} && datum.head === {int(selected[1])}"
        return _raster.raster_facet(
            small.reshape(L * H, k, k), labels, positions, panels={"layer": layer_ids, "head": head_ids},
            facet={"facet": alt.FacetMapping(row=row, column=column)}, lo=lo, hi=hi, scheme=scheme, allowed=small_mask, cell=cell,
            axes=False, legend=legend, click=("head", ["layer", "head"]) if selectable else None,
            panel_tooltip=[{"field": "layer", "type": "ordinal", "title": "Layer"},
                           {"field": "head", "type": "ordinal", "title": "Head"}],
            outline=outline, title=title_params(title, notes), description=description, spacing=4, panel_px=px)
    df = compact_frame(long_table(small, labels, positions=positions, allowed=small_mask, labels=labels,
                                  leading=("layer", "head")))
    df["layer"] = df["layer"].astype(np.int16)
    df["head"] = df["head"].astype(np.int16)
    fill = (masked_weight_fill("Attention weight", scheme, lo, hi, legend) if small_mask is not None else
            alt.Color("weight:Q", title="Attention weight", scale=alt.Scale(scheme=scheme, domain=[lo, hi], clamp=True),
                      legend=alt.Legend(**legend)))
    tooltip = [alt.Tooltip("layer:O", title="Layer"), alt.Tooltip("head:O", title="Head"),
               alt.Tooltip("query:N", title="Query (from)"), alt.Tooltip("key:N", title="Key (to)"),
               alt.Tooltip("weight_text:N", title="Attention weight")]
    base = alt.Chart().mark_rect().encode(
        x=alt.X("key:N", sort=labels, axis=None, scale=alt.Scale(paddingInner=0)),
        y=alt.Y("query:N", sort=labels, axis=None, scale=alt.Scale(paddingInner=0)),
        color=fill, tooltip=tooltip,
    )
    layers = [base]
    if selectable:
        param = alt.selection_point(name="head", fields=["layer", "head"], on="click", clear="dblclick",
                                    empty=False)
        base = base.add_params(param)  # feedback comes from `selected` (the page's state), not dimming
        layers = [base]
    if selected is not None:
        layers.append(alt.Chart().mark_rect(fill=None, stroke=HIGHLIGHT, strokeWidth=4).transform_filter(
            f"datum.layer == {int(selected[0])} && datum.head == {int(selected[1])} "
            f"&& datum.query_pos == {int(positions[0])} && datum.key_pos == {int(positions[0])}"))
    inner = alt.layer(*layers, width=cell * k, height=cell * k)
    return inner.facet(
        row=row, column=column, data=df, spacing=4, transform=calculate(weight_text=_text_calcs()["weight_text"]),
        title=title_params(title, notes), autosize=PAD, description=description)


@no_init_validation
def overview_grid(values: np.ndarray, *, title: str, value_label: str,
                  selected: tuple[int, int] | None = None, scheme: str = "blues",
                  color_domain: Sequence[float] | None = None, annotate: bool | None = None,
                  decimals: int = 2, selectable: bool = True, cell_size: int | None = None,
                  note_head_order: bool = True, categories: Sequence[str] | None = None,
                  description: str | None = None, marking: bool | None = None) -> alt.LayerChart:
    """One cell per head: ``values[L, H]`` (rows = layer, columns = head), e.g. entropy per head.

    NaN cells are grey ("n/a"). Annotated when L*H <= 144. Point selection "head" on layer, head;
    selected=(layer, head) gets an orange outline, drawn from the top-level dataset vega.MARKED_DATA;
    marking=True with selected=None builds that layer marking nothing yet (a memo: each run moves it
    with vega.with_marked). categories: values are integer codes into this list (e.g. pattern
    classes; anything else is "n/a"), drawn with a categorical palette and named in the legend
    and tooltip (not annotated by default).
    """
    marking = selected is not None if marking is None else bool(marking)
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2:
        raise ValueError(f"expected [layers, heads], got {v.shape}")
    L, H = v.shape
    flat = v.reshape(-1)
    finite = np.isfinite(flat)
    if categories is not None:
        cats = [str(c) for c in categories]
        codes = np.where(finite, flat, -1).astype(np.int64)
        finite = finite & (codes == flat) & (codes >= 0) & (codes < len(cats))
    df = pd.DataFrame({
        "layer": np.repeat(np.arange(L), H),
        "head": np.tile(np.arange(H), L),
        "value": np.where(finite, flat, np.nan),
        "valid": finite,
    })
    lo, hi = _domain(v, finite.reshape(v.shape), color_domain)
    cell = int(cell_size) if cell_size else max(22, min(48, 640 // max(H, 1)))
    if annotate is None:
        annotate = categories is None and L * H <= 144 and cell >= 30
    if categories is not None:
        # Okabe-Ito colours, and each class's letter in its cells and in the legend (never colour alone).
        letters = category_letters(cats)
        fills = [CATEGORY_COLOURS[i % len(CATEGORY_COLOURS)] for i in range(len(cats))]
        df["category"] = np.where(finite, np.asarray(cats + ["n/a"], dtype=object)[np.where(finite, codes, -1)],
                                  None)
        df["letter"] = np.asarray(letters + ["–"], dtype=object)[np.where(finite, codes, -1)]
        legend_labels = " : ".join(f"datum.label == {json.dumps(c)} ? {json.dumps(f'{k}  {c}')}"
                                   for c, k in zip(cats, letters)) + " : datum.label"
        color = alt.Color("category:N", title=value_label, sort=cats,
                          scale=alt.Scale(domain=cats, range=fills),
                          legend=alt.Legend(titleFontSize=13, labelFontSize=12, labelExpr=legend_labels))
    else:
        check_scheme(scheme)
        color = alt.Color("value:Q", title=value_label,
                          scale=alt.Scale(scheme=scheme, domain=[lo, hi], clamp=True),
                          legend=alt.Legend(titleFontSize=13, labelFontSize=12))
    # Explicit domains: the marking layer's own data (vega.MARKED_DATA) must not add or reorder cells.
    x = alt.X("head:O", title="Head", scale=alt.Scale(domain=list(range(H))),
              axis=alt.Axis(labelAngle=0, labelFontSize=12, titleFontSize=14))
    y = alt.Y("layer:O", title="Layer", scale=alt.Scale(domain=list(range(L))),
              axis=alt.Axis(labelFontSize=12, titleFontSize=14))
    tooltip = [alt.Tooltip("layer:O", title="Layer"), alt.Tooltip("head:O", title="Head"),
               alt.Tooltip("value_text:N", title=value_label)]
    rect = alt.Chart().mark_rect().encode(x=x, y=y, color=color, tooltip=tooltip)
    param = alt.selection_point(name="head", fields=["layer", "head"], on="click", clear="dblclick",
                                empty=False) if selectable else None
    lettered = categories is not None
    if param is not None and not (annotate or lettered):
        rect = _with_selection(rect, param)
    # NaN values are null in the data; Vega-Lite filters them from the coloured layer, so a
    # separate grey layer draws them, only when there are some: an empty mark layer is an SVG
    # image with no text alternative to a screen reader (axe-core's svg-img-alt).
    layers: list[alt.Chart] = [rect]
    if not finite.all():
        layers.insert(0, alt.Chart().mark_rect(color=MASKED_FILL).encode(x=x, y=y, tooltip=tooltip)
                      .transform_filter("!datum.valid"))
    if annotate:
        threshold = lo + 0.55 * (hi - lo)
        text = alt.Chart().mark_text(fontSize=11).encode(
            x=x, y=y, text=alt.Text("value_short:N"), tooltip=tooltip,
            color=value_if(f"datum.valid && datum.value > {threshold!r}", TEXT_LIGHT, TEXT_DARK))
        layers.append(text)
    elif lettered:
        light = json.dumps([c for c, f in zip(cats, fills) if text_on(f) == TEXT_LIGHT])
        layers.append(alt.Chart().mark_text(fontSize=11 if cell >= 30 else 10, fontWeight="bold").encode(
            x=x, y=y, text=alt.Text("letter:N"), tooltip=tooltip,
            color=value_if(f"indexof({light}, datum.category) >= 0", TEXT_LIGHT, TEXT_DARK)))
    if (annotate or lettered) and param is not None:
        layers.append(_hit_layer(x, y, tooltip, param))
    if marking:
        # The outline is decoration (hidden from screen readers; empty when `selected` is off the grid).
        # Drawn from its own one-row dataset (vega.MARKED_DATA), so a drawn copy moves it without a
        # rebuild and the browser only updates the data (ui.presenter.chart(marked=...)).
        layers.append(alt.Chart(marked_source()).mark_rect(fill=None, stroke=HIGHLIGHT, strokeWidth=3, aria=False)
                      .encode(x=x, y=y))
    fmt = f".{int(decimals)}f"
    text_expr = ("datum.valid ? datum.category : 'n/a'" if categories is not None
                 else "datum.valid ? format(datum.value, '.3f') : 'n/a'")
    return alt.layer(*layers, data=df, datasets=marked_datasets(selected) if marking else alt.Undefined,
                     transform=calculate(
        value_text=text_expr,
        value_short=f"datum.valid ? format(datum.value, '{fmt}') : 'n/a'",
    ), width=cell * H, height=cell * L, title=title_params(title, HEAD_ORDER_NOTE if note_head_order else None),
        autosize=PAD, description=description or overview_description(title, value_label, v, categories,
                                                                      selectable=selectable))


def overview_description(title: str, value_label: str, values: np.ndarray,
                         categories: Sequence[str] | None = None, *, selectable: bool = True) -> str:
    """The text alternative of an overview grid ``values[L, H]`` (one cell per head)."""
    v = np.asarray(values, dtype=np.float64)
    L, H = v.shape
    text = f"{title}: {value_label} of each head, {L} layers (rows) x {H} heads (columns)"
    finite = np.isfinite(v)
    if categories is not None:
        codes = np.where(finite, v, -1).astype(np.int64)
        counts = [(str(c), int((codes == i).sum())) for i, c in enumerate(categories)]
        counts = [f"{c} {m}" for c, m in counts if m]
        if counts:
            text += "; heads per class: " + ", ".join(counts)
    elif finite.any():
        hi = np.unravel_index(int(np.nanargmax(np.where(finite, v, -np.inf))), v.shape)
        lo = np.unravel_index(int(np.nanargmin(np.where(finite, v, np.inf))), v.shape)
        text += (f"; highest: layer {hi[0]}, head {hi[1]} ({_number(float(v[hi]))}); lowest: layer {lo[0]}, "
                 f"head {lo[1]} ({_number(float(v[lo]))})")
    if not finite.all():
        text += f"; {int((~finite).sum())} grey cells have no value"
    text += "."
    return text + (" Click a cell to select that head." if selectable else "")

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

from typing import Any, Sequence

import altair as alt
import numpy as np
import pandas as pd

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
    HIGHLIGHT,
    MASKED_FILL,
    PAD,
    TEXT_DARK,
    TEXT_LIGHT,
    calculate,
    check_scheme,
    compact_frame,
    label_font,
    masked_weight_fill,
    no_init_validation,
    selection_outline,
    title_params,
    value_if,
)

ANNOTATE_MAX_N = 20
"""Heatmaps annotate each cell with its value (2 decimals) only up to this many tokens."""

MASKED_TEXT = "n/a (masked: key after query)"
X_TITLE = "Keys (attending to)"
Y_TITLE = "Queries (attending from)"
HEAD_ORDER_NOTE = "Head numbers are arbitrary within a layer: the same number in two layers is not the same head."


def auto_cell_size(n: int) -> int:
    """Pixels per cell: square cells, big when few tokens, about 760 px across when many."""
    if n <= 12:
        return 40
    if n <= ANNOTATE_MAX_N:
        return 34
    return int(max(3, min(24, 760 // max(n, 1))))


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


@no_init_validation
def heatmap(dm: DrawMatrix, *, title: str, value_label: str = "Attention weight",
            selected_query: int | None = None, scheme: str = "blues",
            color_domain: Sequence[float] | None = None, annotate: bool | None = None,
            selectable: bool = True, cell_size: int | None = None,
            subtitle: str | Sequence[str] | None = None, max_cells: int = CELL_BUDGET) -> alt.LayerChart:
    """One matrix ready to draw (rows = query FROM on y, columns = key TO on x).

    dm: core.render.matrix.DrawMatrix (``prepare(dm)`` first when it may be over the budget);
    its table is the chart's data, so clicks and tooltips carry its sentence positions.
    Masked cells (``dm.allowed`` False) are grey with tooltip "n/a (masked: key after query)".
    annotate: None = only when n <= 20 (2 decimals). selected_query: a sentence position whose
    row (or block, or word) gets an orange outline. selectable: point selection "cell" on
    query_pos, key_pos (``st.altair_chart(on_select="rerun")`` returns the click).
    Raises CellBudgetError when n*n > max_cells.
    """
    n = dm.n
    if n * n > max_cells:
        raise CellBudgetError(n * n, max_cells)
    m, mask = dm.matrix, dm.allowed
    # Masked cells keep their (zero) weight: a null would make Vega-Lite drop the cell or
    # colour it as the scale's zero; instead the fill condition on `allowed` paints them grey.
    df = compact_frame(dm.table())
    order = list(dm.axis_labels)
    lo, hi = _domain(m, mask, color_domain)
    cell = int(cell_size) if cell_size else auto_cell_size(n)
    if annotate is None:
        annotate = n <= ANNOTATE_MAX_N
    param = alt.selection_point(name="cell", fields=["query_pos", "key_pos"], on="click",
                                clear="dblclick", empty=False) if selectable else None
    layers = _cell_layers(x_sort=order, y_sort=order, value_label=value_label, lo=lo, hi=hi,
                          scheme=scheme, annotate=annotate, cell=cell, selectable=selectable,
                          masked=mask is not None, param=param)
    if selected_query is not None:
        pos = dm.positions
        idx = int(np.searchsorted(pos, int(selected_query), side="right")) - 1
        block_end = pos[idx + 1] if idx + 1 < n else pos[idx] + max(1, (pos[-1] - pos[0]) // max(n - 1, 1))
        if 0 <= idx < n and int(selected_query) < block_end:
            qp, kp = int(pos[idx]), int(pos[0])
            layers.append(alt.Chart().mark_rect(fill=None, stroke=HIGHLIGHT, strokeWidth=3).encode(
                y=alt.Y("query:N", sort=order)).transform_filter(
                f"datum.query_pos == {qp} && datum.key_pos == {kp}"))
    # One constructor call: each .transform_calculate() / .properties() on a LayerChart re-runs its
    # __init__ (deep copies of every layer, selection re-lifted and re-validated).
    return alt.layer(*layers, data=df, transform=calculate(**_text_calcs()), width=cell * n, height=cell * n,
                     title=title_params(title, subtitle), autosize=PAD)


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
              layer: int | None = None, head: int | None = None, columns: int = 3,
              titles: Sequence[str] | None = None, title: str | None = None,
              value_label: str = "Attention weight", allowed_mask: np.ndarray | None = None,
              annotate: bool | None = None, color_domain: Sequence[float] | None = None,
              scheme: str = "blues", selectable: bool = True, cell_size: int | None = None,
              max_cells: int = CELL_BUDGET) -> alt.FacetChart:
    """Small heatmaps in a grid with one shared colour scale.

    att ``[L, H, n, n]``: head=h -> that head in every layer (the tutorial's grid, with a note that
    head numbers are arbitrary per layer); layer=l -> every head of layer l; both -> one panel;
    neither -> the head mean of each layer. Or a list / ``[p, n, n]`` array of matrices (titles
    then name the panels). Each panel is block-averaged when p*n*n > max_cells (note in the
    subtitle). Annotated when the (possibly reduced) panels have <= 20 tokens.
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
    df = long_table(small, labels, positions=positions, allowed=small_mask, labels=labels, leading={"panel": names})
    df = compact_frame(df[[*df.columns[1:], "panel"]])  # panel last: the spec's data keeps its column order
    df["panel"] = df["panel"].astype("category")
    if across:
        notes.append(HEAD_ORDER_NOTE)
    lo, hi = _domain(small, None if small_mask is None else np.broadcast_to(small_mask, small.shape), color_domain)
    cell = int(cell_size) if cell_size else max(3, min(26, 280 // max(k, 1)))
    if annotate is None:
        annotate = k <= ANNOTATE_MAX_N
    param = alt.selection_point(name="cell", fields=["panel", "query_pos", "key_pos"], on="click",
                                clear="dblclick", empty=False) if selectable else None
    layers = _cell_layers(x_sort=labels, y_sort=labels, value_label=value_label, lo=lo, hi=hi,
                          scheme=scheme, annotate=annotate, cell=cell, selectable=selectable,
                          masked=small_mask is not None, param=param,
                          extra_tooltip=[alt.Tooltip("panel:N", title="Panel")])
    inner = alt.layer(*layers, width=cell * k, height=cell * k)
    if title is None:
        title = ("Head {h} in every layer".format(h=head) if across else
                 f"Every head of layer {layer}" if layer is not None and head is None else
                 "Head mean of each layer" if isinstance(att, np.ndarray) and att.ndim == 4 and layer is None
                 else "Attention")
    return inner.facet(
        facet=alt.Facet("panel:N", sort=names, title=None,
                        header=alt.Header(labelFontSize=13, labelFontWeight="bold")),
        columns=max(1, int(columns)), data=df, transform=calculate(**_text_calcs()),
        resolve=alt.Resolve(scale=alt.ScaleResolveMap(x="shared", y="shared", color="shared")),
        title=title_params(title, notes or None), autosize=PAD)


@no_init_validation
def thumbnail_grid(att: np.ndarray, tokens: Sequence[str], *, max_cells: int = CELL_BUDGET,
                   title: str | None = None, allowed_mask: np.ndarray | None = None,
                   selected: tuple[int, int] | None = None, scheme: str = "blues",
                   color_domain: Sequence[float] | None = None, thumb_px: int | None = None,
                   selectable: bool = True) -> alt.FacetChart:
    """Every layer x head of ``att[L, H, n, n]`` as a small heatmap (rows = layers, columns = heads).

    Each thumbnail is block-averaged so L*H*cells <= max_cells. No axis labels; the tooltip
    names layer, head, query/key ranges and weight. Point selection "head" on layer, head
    (click a thumbnail). selected=(layer, head) outlines that thumbnail.
    """
    a = np.asarray(att)
    if a.ndim != 4 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"expected [L, H, n, n], got {a.shape}")
    L, H = a.shape[0], a.shape[1]
    small, small_mask, labels, positions, b = _reduced(a, tokens, allowed_mask, max_cells // (L * H))
    k = small.shape[-1]
    df = compact_frame(long_table(small, labels, positions=positions, allowed=small_mask, labels=labels,
                                  leading=("layer", "head")))
    df["layer"] = df["layer"].astype(np.int16)
    df["head"] = df["head"].astype(np.int16)
    lo, hi = _domain(small, None if small_mask is None else np.broadcast_to(small_mask, small.shape), color_domain)
    px = int(thumb_px) if thumb_px else max(48, min(110, 900 // max(H, 1)))
    cell = max(1, px // k)
    check_scheme(scheme)
    legend = {"format": ".2f", "titleFontSize": 13, "labelFontSize": 12}
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
    notes = [HEAD_ORDER_NOTE]
    if b > 1:
        notes.insert(0, f"Each thumbnail shows blocks of {b} tokens ({k} x {k}) to stay under "
                        f"{max_cells:,} cells.")
    return inner.facet(
        row=alt.Row("layer:O", title="Layer", header=alt.Header(labelFontSize=12, titleFontSize=13)),
        column=alt.Column("head:O", title="Head", header=alt.Header(labelFontSize=12, titleFontSize=13)),
        data=df, spacing=4, transform=calculate(weight_text=_text_calcs()["weight_text"]),
        title=title_params(title or "Every layer and head", notes), autosize=PAD)


@no_init_validation
def overview_grid(values: np.ndarray, *, title: str, value_label: str,
                  selected: tuple[int, int] | None = None, scheme: str = "blues",
                  color_domain: Sequence[float] | None = None, annotate: bool | None = None,
                  decimals: int = 2, selectable: bool = True, cell_size: int | None = None,
                  note_head_order: bool = True, categories: Sequence[str] | None = None) -> alt.LayerChart:
    """One cell per head: ``values[L, H]`` (rows = layer, columns = head), e.g. entropy per head.

    NaN cells are grey ("n/a"). Annotated when L*H <= 144. Point selection "head" on layer, head;
    selected=(layer, head) gets an orange outline. categories: values are integer codes into
    this list (e.g. pattern classes; anything else is "n/a"), drawn with a categorical palette
    and named in the legend and tooltip (not annotated by default).
    """
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
        df["category"] = np.where(finite, np.asarray(cats + ["n/a"], dtype=object)[np.where(finite, codes, -1)],
                                  None)
        color = alt.Color("category:N", title=value_label, sort=cats,
                          scale=alt.Scale(domain=cats, scheme="tableau10"),
                          legend=alt.Legend(titleFontSize=13, labelFontSize=12))
    else:
        check_scheme(scheme)
        color = alt.Color("value:Q", title=value_label,
                          scale=alt.Scale(scheme=scheme, domain=[lo, hi], clamp=True),
                          legend=alt.Legend(titleFontSize=13, labelFontSize=12))
    x = alt.X("head:O", title="Head", axis=alt.Axis(labelAngle=0, labelFontSize=12, titleFontSize=14))
    y = alt.Y("layer:O", title="Layer", axis=alt.Axis(labelFontSize=12, titleFontSize=14))
    tooltip = [alt.Tooltip("layer:O", title="Layer"), alt.Tooltip("head:O", title="Head"),
               alt.Tooltip("value_text:N", title=value_label)]
    rect = alt.Chart().mark_rect().encode(x=x, y=y, color=color, tooltip=tooltip)
    param = alt.selection_point(name="head", fields=["layer", "head"], on="click", clear="dblclick",
                                empty=False) if selectable else None
    if param is not None and not annotate:
        rect = _with_selection(rect, param)
    # NaN values are null in the data; Vega-Lite filters them from the coloured layer, so a
    # separate grey layer draws them.
    layers: list[alt.Chart] = [
        alt.Chart().mark_rect(color=MASKED_FILL).encode(x=x, y=y, tooltip=tooltip).transform_filter("!datum.valid"),
        rect]
    if annotate:
        threshold = lo + 0.55 * (hi - lo)
        text = alt.Chart().mark_text(fontSize=11).encode(
            x=x, y=y, text=alt.Text("value_short:N"), tooltip=tooltip,
            color=value_if(f"datum.valid && datum.value > {threshold!r}", TEXT_LIGHT, TEXT_DARK))
        layers.append(text)
        if param is not None:
            layers.append(_hit_layer(x, y, tooltip, param))
    if selected is not None:
        layers.append(alt.Chart().mark_rect(fill=None, stroke=HIGHLIGHT, strokeWidth=3).encode(x=x, y=y)
                      .transform_filter(f"datum.layer == {int(selected[0])} && datum.head == {int(selected[1])}"))
    fmt = f".{int(decimals)}f"
    text_expr = ("datum.valid ? datum.category : 'n/a'" if categories is not None
                 else "datum.valid ? format(datum.value, '.3f') : 'n/a'")
    return alt.layer(*layers, data=df, transform=calculate(
        value_text=text_expr,
        value_short=f"datum.valid ? format(datum.value, '{fmt}') : 'n/a'",
    ), width=cell * H, height=cell * L, title=title_params(title, HEAD_ORDER_NOTE if note_head_order else None),
        autosize=PAD)

"""Grids of heatmaps: small heatmaps of several heads or layers (`head_grid`), every layer x head
as thumbnails (`thumbnail_grid`), and one value per head (`overview_grid`), each with its text
alternative. The grids share one colour scale, block-average each panel so the total stays under
``CELL_BUDGET`` (and say so in the subtitle), and use the cell layers of core.render.heatmaps.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Sequence

import altair as alt
import numpy as np
import pandas as pd

from core.render import raster as _raster
from core.render.heatmaps import (
    ANNOTATE_MAX_N,
    HI_PARAM,
    LO_PARAM,
    NUMBER_CELL_PX,
    cell_layers,
    hit_layer,
    short_number,
    strongest_cell,
    text_calcs,
    token_text,
    use_raster,
    value_domain,
    with_masked_note,
    with_selection,
)
from core.render.matrix import CELL_BUDGET, block_labels, block_reduce, block_size_for, long_table, token_labels
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
    colour_scale,
    compact_frame,
    filled_params,
    marked_datasets,
    marked_source,
    masked_weight_fill,
    no_init_validation,
    text_on,
    title_params,
    value_if,
)

HEAD_ORDER_NOTE = "Head numbers are arbitrary within a layer: the same number in two layers is not the same head."
GRID_PX = 630
"""The width a head grid's panels share (with axes and legend it fits the same column)."""
# A grid of panels keeps its cell numbers up to this many cells in all (6 layers x 14 tokens:
# 1,176; the tutorial's sentences are shorter). Past it the panels are images, numbers in the
# tooltips and the table view: 1,536 numbered cells (6 x 16 tokens) cost Chromium about 0.4 s on
# every head change (scripts/bench_browser.py, Across layers), an image a few milliseconds.
GRID_ANNOTATE_CELLS = 1_200
THUMBS_WIDTH = 620
"""Pixels a row of thumbnails may take (with headers, spacing and the legend it fits about 940 px)."""


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


PANEL_TOOLTIP = {"field": "panel", "type": "nominal", "title": "Panel"}
"""The tooltip line naming a head grid's panel (its data field "panel")."""


def panel_cell(k: int, columns: int) -> int:
    """Pixels per cell of panels of k tokens laid out in `columns` columns."""
    return max(3, min(40, (GRID_PX // columns) // max(k, 1)))


def panel_numbers_fit(p: int, k: int, cell: int) -> bool:
    """Whether p panels of k tokens with cells of `cell` px show each cell's number (else each
    panel can be an image)."""
    return k <= ANNOTATE_MAX_N and cell >= NUMBER_CELL_PX - 4 and p * k * k <= GRID_ANNOTATE_CELLS


def panel_facet(names: Sequence[str]) -> alt.Facet:
    """The facet of a head grid's panels, in the order of `names`, each headed by its name."""
    return alt.Facet("panel:N", sort=list(names), title=None,
                     header=alt.Header(labelFontSize=13, labelFontWeight="bold"))


def reduced_panels(stack: np.ndarray, tokens: Sequence[str], allowed_mask: np.ndarray | None,
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
    small, small_mask, labels, positions, b = reduced_panels(stack, tokens, allowed_mask, max_cells // p)
    notes: list[str] = []
    if b > 1:
        notes.append(f"{p} panels x {n}x{n} tokens is over the {max_cells:,}-cell limit: each panel shows "
                     f"blocks of {b} tokens (rows still sum to 1).")
    k = small.shape[-1]
    if across:
        notes.append(HEAD_ORDER_NOTE)
    notes = with_masked_note(notes, small_mask) or []
    lo, hi = value_domain(small, None if small_mask is None else np.broadcast_to(small_mask, small.shape), color_domain)
    if columns is None:  # 3, or 2 when that is what makes the cell numbers fit
        columns = 3 if (GRID_PX // 3) // k >= NUMBER_CELL_PX or k > ANNOTATE_MAX_N else 2
    columns = max(1, int(columns))
    cell = int(cell_size) if cell_size else panel_cell(k, columns)
    if annotate is None:
        annotate = panel_numbers_fit(p, k, cell)
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
    facet = panel_facet(names)
    if use_raster(k, annotate, scheme, raster):
        return _raster.raster_facet(
            small, labels, positions, panels={"panel": names}, facet={"facet": facet, "columns": columns},
            lo=lo, hi=hi, scheme=scheme, allowed=small_mask, cell=cell, value_label=value_label,
            legend=_raster.cell_legend(cell), click=("cell", ["panel", "query_pos", "key_pos"]) if selectable else None,
            tooltip_after=[PANEL_TOOLTIP],
            title=title_params(title, notes or None), description=description,
            panel_px=cell * k if cell_size else min(cell * k, GRID_PX // columns))
    df = long_table(small, labels, positions=positions, allowed=small_mask, labels=labels, leading={"panel": names})
    df = compact_frame(df[[*df.columns[1:], "panel"]])  # panel last: the spec's data keeps its column order
    df["panel"] = df["panel"].astype("category")
    param = alt.selection_point(name="cell", fields=["panel", "query_pos", "key_pos"], on="click",
                                clear="dblclick", empty=False) if selectable else None
    layers = cell_layers(x_sort=labels, y_sort=labels, value_label=value_label, lo=lo, hi=hi,
                          scheme=scheme, annotate=annotate, cell=cell, selectable=selectable,
                          masked=small_mask is not None, param=param,
                          extra_tooltip=[alt.Tooltip("panel:N", title="Panel")])
    inner = alt.layer(*layers, width=cell * k, height=cell * k)
    return inner.facet(
        facet=facet, columns=columns, data=df, transform=calculate(**text_calcs()),
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
        text += f"; {'largest' if diverging else 'strongest'}: {names[i]}, '{token_text(labels[q])}' -> " \
                f"'{token_text(labels[kk])}' {short_number(v)}"
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
        text += f"; strongest: layer {layer}, head {head}, '{token_text(labels[q])}' -> " \
                f"'{token_text(labels[kk])}' {short_number(v)}"
    text += "."
    return text + (" Click a thumbnail to select its layer and head." if selectable else "")


@no_init_validation
def thumbnail_grid(att: np.ndarray, tokens: Sequence[str], *, max_cells: int = CELL_BUDGET,
                   title: str | None = None, allowed_mask: np.ndarray | None = None,
                   selected: tuple[int, int] | None = None, scheme: str = "blues",
                   color_domain: Sequence[float] | None = None, thumb_px: int | None = None,
                   selectable: bool = True, raster: bool | None = None,
                   description: str | None = None, marking: bool = False) -> alt.FacetChart:
    """Every layer x head of ``att[L, H, n, n]`` as a small heatmap (rows = layers, columns = heads).

    Each thumbnail is block-averaged so L*H*cells <= max_cells. No axis labels; the tooltip
    names layer, head, query/key ranges and weight. Point selection "head" on layer, head
    (click a thumbnail). selected=(layer, head) outlines that thumbnail. marking=True draws that
    outline from the top-level dataset vega.MARKED_DATA instead (with selected=None: nothing marked
    yet), so a memoised grid is moved to another head in its finished spec (vega.with_marked).
    raster (None = yes for
    the schemes core.render.raster reproduces): each thumbnail is one image with hit marks for
    its rows and the hovered row's cells, so a click anywhere on it reports its layer and head.
    The thumbnails are sized so the grid and its legend fit the 1,400 px window's column.
    """
    a = np.asarray(att)
    if a.ndim != 4 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"expected [L, H, n, n], got {a.shape}")
    L, H = a.shape[0], a.shape[1]
    check_scheme(scheme)
    small, small_mask, labels, positions, b = reduced_panels(a, tokens, allowed_mask, max_cells // (L * H))
    k = small.shape[-1]
    lo, hi = value_domain(small, None if small_mask is None else np.broadcast_to(small_mask, small.shape), color_domain)
    px = int(thumb_px) if thumb_px else max(40, min(96, THUMBS_WIDTH // max(H, 1)))
    cell = max(1, px // k)
    title = title or "Every layer and head"
    notes = [HEAD_ORDER_NOTE]
    if b > 1:
        notes.insert(0, f"Each thumbnail shows blocks of {b} tokens ({k} x {k}) to stay under "
                        f"{max_cells:,} cells.")
    notes = with_masked_note(notes, small_mask) or []
    if description is None:
        description = thumbnail_description(title, L, H, labels, small, small_mask, block=b, selectable=selectable)
    legend = {"format": ".2f", "titleFontSize": 13, "labelFontSize": 12, "gradientLength": 120}
    header = alt.Header(labelFontSize=12, titleFontSize=13)
    row, column = alt.Row("layer:O", title="Layer", header=header), alt.Column("head:O", title="Head", header=header)
    # A facet's panels only see the facet's own rows, so the marked head comes in by a lookup: each
    # row of the marked layer gets the marked head number, and the outline filters on it.
    marked_lookup = [{"lookup": "layer", "from": {"data": marked_source().to_dict(), "key": "layer",
                                                  "fields": ["head"]}, "as": ["marked_head"]}]
    if use_raster(k, False, scheme, True if raster is None else raster):
        layer_ids = np.repeat(np.arange(L, dtype=np.int16), H)
        head_ids = np.tile(np.arange(H, dtype=np.int16), L)
        outline = "datum.marked_head === datum.head" if marking else None if selected is None else \
            f"datum.layer === {int(selected[0])} && datum.head === {int(selected[1])}"
        chart = _raster.raster_facet(
            small.reshape(L * H, k, k), labels, positions, panels={"layer": layer_ids, "head": head_ids},
            facet={"facet": alt.FacetMapping(row=row, column=column)}, lo=lo, hi=hi, scheme=scheme, allowed=small_mask, cell=cell,
            axes=False, legend=legend, click=("head", ["layer", "head"]) if selectable else None,
            panel_tooltip=[{"field": "layer", "type": "ordinal", "title": "Layer"},
                           {"field": "head", "type": "ordinal", "title": "Head"}],
            outline=outline, title=title_params(title, notes), description=description, spacing=4, panel_px=px)
        if marking:
            chart.transform = marked_lookup
            chart.datasets = marked_datasets(selected)
        return chart
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
    if selected is not None or marking:
        which = ("datum.marked_head === datum.head" if marking else
                 f"datum.layer == {int(selected[0])} && datum.head == {int(selected[1])}")
        layers.append(alt.Chart().mark_rect(fill=None, stroke=HIGHLIGHT, strokeWidth=4).transform_filter(
            f"{which} && datum.query_pos == {int(positions[0])} && datum.key_pos == {int(positions[0])}"))
    inner = alt.layer(*layers, width=cell * k, height=cell * k)
    transform = calculate(weight_text=text_calcs()["weight_text"]) + (marked_lookup if marking else [])
    return inner.facet(
        row=row, column=column, data=df, spacing=4, transform=transform,
        title=title_params(title, notes), autosize=PAD, description=description,
        **({"datasets": marked_datasets(selected)} if marking else {}))


def _overview_frame(v: np.ndarray, cats: list[str] | None) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per head of ``v[L, H]``: layer, head, value, valid, and with categories (integer
    codes into `cats`) its class and letter. -> (frame, finite [L*H]: the cells with a value)."""
    L, H = v.shape
    flat = v.reshape(-1)
    finite = np.isfinite(flat)
    if cats is not None:
        codes = np.where(finite, flat, -1).astype(np.int64)
        finite = finite & (codes == flat) & (codes >= 0) & (codes < len(cats))
    df = pd.DataFrame({
        "layer": np.repeat(np.arange(L), H),
        "head": np.tile(np.arange(H), L),
        "value": np.where(finite, flat, np.nan),
        "valid": finite,
    })
    if cats is not None:
        known = np.where(finite, codes, -1)
        df["category"] = np.where(finite, np.asarray(cats + ["n/a"], dtype=object)[known], None)
        df["letter"] = np.asarray(category_letters(cats) + ["–"], dtype=object)[known]
    return df, finite


LEGEND_LIMIT_PX = 300  # legend titles and class names whole ("Standard deviations from the mean" was cut at 180 px)


def _category_colour(cats: list[str], value_label: str) -> tuple[alt.Color, list[str]]:
    """Okabe-Ito colours, each class's letter beside its name in the legend (never colour alone).
    -> (the colour encoding, each class's fill)."""
    fills = [CATEGORY_COLOURS[i % len(CATEGORY_COLOURS)] for i in range(len(cats))]
    legend_labels = " : ".join(f"datum.label == {json.dumps(c)} ? {json.dumps(f'{k}  {c}')}"
                               for c, k in zip(cats, category_letters(cats))) + " : datum.label"
    colour = alt.Color("category:N", title=value_label, sort=cats, scale=alt.Scale(domain=cats, range=fills),
                       legend=alt.Legend(titleFontSize=13, labelFontSize=12, labelExpr=legend_labels,
                                         labelLimit=LEGEND_LIMIT_PX, titleLimit=LEGEND_LIMIT_PX))
    return colour, fills


def _overview_labels(x: Any, y: Any, tooltip: Any, *, numbers: bool, cats: list[str] | None, fills: list[str],
                     cell: int, lo: float | str, hi: float | str, scheme: str = "blues") -> list[alt.Chart]:
    """The text in the cells: each value (`numbers`), else each class's letter, else none; black or
    white by the cell's own colour."""
    if numbers:
        light = _raster.light_text_test("value", lo, hi, scheme)
        return [alt.Chart().mark_text(fontSize=11).encode(
            x=x, y=y, text=alt.Text("value_short:N"), tooltip=tooltip,
            color=value_if(f"datum.valid && {light}", TEXT_LIGHT, TEXT_DARK))]
    if cats is None:
        return []
    light = json.dumps([c for c, f in zip(cats, fills) if text_on(f) == TEXT_LIGHT])
    return [alt.Chart().mark_text(fontSize=11 if cell >= 30 else 10, fontWeight="bold").encode(
        x=x, y=y, text=alt.Text("letter:N"), tooltip=tooltip,
        color=value_if(f"indexof({light}, datum.category) >= 0", TEXT_LIGHT, TEXT_DARK))]


OVERVIEW_DATA = "overview_cells"
"""The named dataset of an overview grid's cells (one row per head) in its template."""


@dataclass(frozen=True)
class OverviewLayout:
    """Everything of an overview grid's spec but its values, colour domain, title and text
    alternative: grids with one layout share one spec (:func:`overview_layout_spec`)."""

    layers: int
    heads: int
    value_label: str
    scheme: str
    categories: tuple[str, ...] | None
    annotate: bool
    decimals: int
    cell: int
    selectable: bool
    marking: bool
    missing: bool  # some cells have no value: a grey layer draws them
    note_head_order: bool
    domain_from_data: bool = False  # no fixed colour domain: the template reads it from its cells (0 to the largest)


@dataclass(frozen=True, eq=False)
class OverviewView:
    """One overview grid: its layout and what its values put in it."""

    layout: OverviewLayout
    frame: pd.DataFrame
    lo: float
    hi: float
    title: str
    description: str
    selected: tuple[int, int] | None = None
    steady_description: str = ""  # the text alternative without the values' summary (`note`)
    note: str = ""  # what the values say (highest and lowest head, or heads per class), in words

    def heading(self) -> alt.TitleParams:
        return title_params(self.title, HEAD_ORDER_NOTE if self.layout.note_head_order else None)

    def spec(self, template: dict[str, Any]) -> dict[str, Any]:
        """This grid's Vega-Lite spec from its layout's template: its title, the steady text
        alternative (the caller shows `note` beside the chart), a fixed colour domain if it has one
        and the cells (a DataFrame under "datasets", shipped as Arrow). Grids of one layout and
        title differ only in their cells, so the browser updates a drawn grid in place. The marked
        head stays the template's (none); vega.with_marked moves it. `template` is not changed."""
        fixed = {} if self.layout.domain_from_data else {LO_PARAM: self.lo, HI_PARAM: self.hi}
        return {**template, "params": filled_params(template, fixed), "title": self.heading().to_dict(validate=False),
                "description": self.steady_description or self.description,
                "datasets": {**template.get("datasets", {}), OVERVIEW_DATA: self.frame}}


def overview_view(values: np.ndarray, *, title: str, value_label: str,
                  selected: tuple[int, int] | None = None, scheme: str = "blues",
                  color_domain: Sequence[float] | None = None, annotate: bool | None = None,
                  decimals: int = 2, selectable: bool = True, cell_size: int | None = None,
                  note_head_order: bool = True, categories: Sequence[str] | None = None,
                  description: str | None = None, marking: bool | None = None) -> OverviewView:
    """The grid :func:`overview_grid` draws, as a layout plus what these values put in it. Same
    arguments and errors as :func:`overview_grid`."""
    marking = selected is not None if marking is None else bool(marking)
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2:
        raise ValueError(f"expected [layers, heads], got {v.shape}")
    L, H = v.shape
    cats = None if categories is None else tuple(str(c) for c in categories)
    df, finite = _overview_frame(v, None if cats is None else list(cats))
    lo, hi = value_domain(v, finite.reshape(v.shape), color_domain)
    cell = int(cell_size) if cell_size else max(22, min(48, 640 // max(H, 1)))
    if annotate is None:
        annotate = cats is None and L * H <= 144 and cell >= 30
    if cats is None:
        check_scheme(scheme)
    layout = OverviewLayout(L, H, value_label, scheme, cats, bool(annotate), int(decimals), cell, bool(selectable),
                            marking, not bool(finite.all()), bool(note_head_order),
                            domain_from_data=cats is None and color_domain is None)
    note = overview_values_note(v, categories)
    text = description or _overview_text(title, value_label, v.shape, note, selectable)
    steady = description or _overview_text(title, value_label, v.shape, None, selectable)
    return OverviewView(layout, df, lo, hi, title, text, selected, steady, note)


def _overview_chart(layout: OverviewLayout, *, data: Any, lo: float, hi: float, title: alt.TitleParams,
                    description: str, selected: tuple[int, int] | None) -> alt.LayerChart:
    """The grid of `layout` over its cells `data`, its colour domain in params (LO_PARAM, HI_PARAM)."""
    L, H, cell = layout.layers, layout.heads, layout.cell
    cats = None if layout.categories is None else list(layout.categories)
    fills: list[str] = []
    if cats is not None:
        color, fills = _category_colour(cats, layout.value_label)
    else:
        color = alt.Color("value:Q", title=layout.value_label, scale=colour_scale(layout.scheme, LO_PARAM, HI_PARAM),
                          legend=alt.Legend(titleFontSize=13, labelFontSize=12, titleLimit=LEGEND_LIMIT_PX))
    # Explicit domains: the marking layer's own data (vega.MARKED_DATA) must not add or reorder cells.
    x = alt.X("head:O", title="Head", scale=alt.Scale(domain=list(range(H))),
              axis=alt.Axis(labelAngle=0, labelFontSize=12, titleFontSize=14))
    y = alt.Y("layer:O", title="Layer", scale=alt.Scale(domain=list(range(L))),
              axis=alt.Axis(labelFontSize=12, titleFontSize=14))
    tooltip = [alt.Tooltip("layer:O", title="Layer"), alt.Tooltip("head:O", title="Head"),
               alt.Tooltip("value_text:N", title=layout.value_label)]
    rect = alt.Chart().mark_rect().encode(x=x, y=y, color=color, tooltip=tooltip)
    param = alt.selection_point(name="head", fields=["layer", "head"], on="click", clear="dblclick",
                                empty=False) if layout.selectable else None
    labels = _overview_labels(x, y, tooltip, numbers=layout.annotate, cats=cats, fills=fills, cell=cell,
                              lo=LO_PARAM, hi=HI_PARAM, scheme=layout.scheme)
    if param is not None and not labels:
        rect = with_selection(rect, param)
    # NaN values are null in the data; Vega-Lite filters them from the coloured layer, so a
    # separate grey layer draws them, only when there are some: an empty mark layer is an SVG
    # image with no text alternative to a screen reader (axe-core's svg-img-alt).
    layers: list[alt.Chart] = [rect, *labels]
    if layout.missing:
        layers.insert(0, alt.Chart().mark_rect(color=MASKED_FILL).encode(x=x, y=y, tooltip=tooltip)
                      .transform_filter("!datum.valid"))
    if labels and param is not None:
        layers.append(hit_layer(x, y, tooltip, param))
    if layout.marking:
        # The outline is decoration (hidden from screen readers; empty when `selected` is off the grid).
        # Drawn from its own one-row dataset (vega.MARKED_DATA), so a drawn copy moves it without a
        # rebuild and the browser only updates the data (ui.presenter.chart(marked=...)).
        layers.append(alt.Chart(marked_source()).mark_rect(fill=None, stroke=HIGHLIGHT, strokeWidth=3, aria=False)
                      .encode(x=x, y=y))
    text_expr = ("datum.valid ? datum.category : 'n/a'" if cats is not None
                 else "datum.valid ? format(datum.value, '.3f') : 'n/a'")
    chart = alt.layer(*layers, data=data, datasets=marked_datasets(selected) if layout.marking else alt.Undefined,
                      transform=calculate(value_text=text_expr,
                                          value_short=f"datum.valid ? format(datum.value, '.{layout.decimals}f') : 'n/a'"),
                      width=cell * H, height=cell * L, title=title, autosize=PAD, description=description)
    chart.params = [*_raster.domain_params(lo, hi), *(chart.params if chart.params is not alt.Undefined else [])]
    return chart


@no_init_validation
def overview_layout_spec(layout: OverviewLayout) -> dict[str, Any]:
    """The Vega-Lite spec of every overview grid with this layout: its cells the named dataset
    OVERVIEW_DATA, its colour domain, title and description placeholders (OverviewView.spec fills
    them), no head marked. Built once per layout by its caller's memo."""
    spec = _overview_chart(layout, data=alt.NamedData(name=OVERVIEW_DATA), lo=0.0, hi=1.0, title=title_params(""),
                           description="", selected=None).to_dict(validate=False)
    if layout.domain_from_data:  # what value_domain makes of the cells: 0 to the largest value, 0 to 1 if none is over 0
        largest = f"max(extent(pluck(data({OVERVIEW_DATA!r}), 'value'))[1], 0) || 1"
        spec["params"] = [{"name": HI_PARAM, "expr": largest} if p.get("name") == HI_PARAM else p
                          for p in spec["params"]]
    return spec


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
    and tooltip (not annotated by default). The colour domain is in two top-level params, so
    grids of one layout share a spec (:func:`overview_view`, :func:`overview_layout_spec`).
    """
    view = overview_view(values, title=title, value_label=value_label, selected=selected, scheme=scheme,
                         color_domain=color_domain, annotate=annotate, decimals=decimals, selectable=selectable,
                         cell_size=cell_size, note_head_order=note_head_order, categories=categories,
                         description=description, marking=marking)
    return _overview_chart(view.layout, data=view.frame, lo=view.lo, hi=view.hi, title=view.heading(),
                           description=view.description, selected=selected)


def overview_values_note(values: np.ndarray, categories: Sequence[str] | None = None) -> str:
    """What a grid of heads ``values[L, H]`` shows, in words: the heads per class, or the highest
    and lowest head; how many cells have no value. "" when there is nothing to say."""
    v = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(v)
    parts: list[str] = []
    if categories is not None:
        codes = np.where(finite, v, -1).astype(np.int64)
        counts = [(str(c), int((codes == i).sum())) for i, c in enumerate(categories)]
        counts = [f"{c} {m}" for c, m in counts if m]
        if counts:
            parts.append("heads per class: " + ", ".join(counts))
    elif finite.any():
        hi = np.unravel_index(int(np.nanargmax(np.where(finite, v, -np.inf))), v.shape)
        lo = np.unravel_index(int(np.nanargmin(np.where(finite, v, np.inf))), v.shape)
        parts.append(f"highest: layer {hi[0]}, head {hi[1]} ({short_number(float(v[hi]))}); lowest: layer {lo[0]}, "
                     f"head {lo[1]} ({short_number(float(v[lo]))})")
    if not finite.all():
        parts.append(f"{int((~finite).sum())} grey cells have no value")
    return "; ".join(parts)


def overview_description(title: str, value_label: str, values: np.ndarray,
                         categories: Sequence[str] | None = None, *, selectable: bool = True,
                         steady: bool = False) -> str:
    """The text alternative of an overview grid ``values[L, H]`` (one cell per head). `steady`:
    the same for any values of that shape; what they show (overview_values_note) is written
    beside the chart instead."""
    v = np.asarray(values, dtype=np.float64)
    return _overview_text(title, value_label, v.shape, None if steady else overview_values_note(v, categories),
                          selectable)


def _overview_text(title: str, value_label: str, shape: tuple[int, ...], note: str | None, selectable: bool) -> str:
    """overview_description's text with the values' `note`, or (None) the steady text."""
    L, H = shape
    text = f"{title}: {value_label} of each head, {L} layers (rows) x {H} heads (columns)"
    if note is None:
        text += "; what the values show is written below the chart"
    elif note:
        text += "; " + note
    text += "."
    return text + (" Click a cell to select that head." if selectable else "")

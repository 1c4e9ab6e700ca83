"""Raster heatmap panels that change together, such as one head's attention before and after an
intervention, drawn from a spec that every set of panels with the same layout shares.

The spec holds no values and no words. The images, weights and words are in its one dataset
(PANEL_ROWS). The axes read each position's word from there, and the colour domain runs from 0 to
the largest weight in it. A new pick (a word masked, a head switched off) therefore sends the same
spec with new data, and the browser updates the drawn chart in place instead of building a new
Vega view. grids.head_grid draws the other cases: cell numbers, or panels too large to show
cell by cell.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import altair as alt
import numpy as np
import pandas as pd

from core.render import raster as _raster
from core.render.grids import (GRID_PX, PANEL_TOOLTIP, panel_cell, panel_facet, panel_numbers_fit,
                               reduced_panels)
from core.render.heatmaps import HI_PARAM, LO_PARAM, value_domain, with_masked_note
from core.render.matrix import CELL_BUDGET
from core.render.vega import no_init_validation, title_params

PANEL_ROWS = "panel_rows"
"""The one dataset of a panels spec: a row per (panel, query row), raster.facet_rows' columns and
each row's largest allowed weight (rowmax)."""


@dataclass(frozen=True)
class PanelsLayout:
    """Everything of a set of panels' spec: sets with one layout share one spec."""

    titles: tuple[str, ...]
    k: int  # tokens per side
    columns: int
    cell: int
    panel_px: int
    scheme: str
    value_label: str
    title: str
    notes: tuple[str, ...]
    width_chars: int  # characters per weight in the rows' strings (raster.row_strings)


@dataclass(frozen=True, eq=False)
class PanelsView:
    """One set of panels: its layout and its rows (images, weights and words)."""

    layout: PanelsLayout
    frame: pd.DataFrame

    def spec(self, template: dict[str, Any]) -> dict[str, Any]:
        """The layout's template with these rows as its dataset (a DataFrame, shipped as Arrow).
        `template` is not changed."""
        return {**template, "datasets": {**template.get("datasets", {}), PANEL_ROWS: self.frame}}


def panels_view(stack: np.ndarray, tokens: Sequence[str], *, titles: Sequence[str], title: str,
                allowed_mask: np.ndarray | None = None, value_label: str = "Attention weight",
                scheme: str = "blues", columns: int = 2) -> PanelsView | None:
    """Panels ``stack[p, n, n]`` over `tokens` named `titles`, as grids.head_grid draws them as
    images (same cell size and colours). Returns None where head_grid would not draw images (cell
    numbers fit, or the panels need block-averaging, or the scheme has no raster colours)."""
    stack = np.asarray(stack)
    p, n = stack.shape[0], stack.shape[-1]
    if stack.shape != (p, n, n) or len(titles) != p:
        raise ValueError(f"expected {len(titles)} panels of n x n, got {stack.shape}")
    if not _raster.supports(scheme):
        return None
    small, mask, labels, positions, block = reduced_panels(stack, tokens, allowed_mask, CELL_BUDGET // p)
    columns = max(1, int(columns))
    cell = panel_cell(n, columns)
    if block > 1 or panel_numbers_fit(p, n, cell):
        return None
    allowed = None if mask is None else np.broadcast_to(mask, small.shape)
    lo, hi = value_domain(small, allowed, None)
    rows, width_chars = _raster.facet_rows(small, labels, positions, panels={"panel": list(titles)}, lo=lo, hi=hi,
                                           scheme=scheme, allowed=mask)
    # each row's largest allowed weight, from which the template reads its colour domain
    rowmax = np.max(small if allowed is None else np.where(allowed, small, -np.inf), axis=-1).reshape(-1)
    rows["rowmax"] = np.where(np.isfinite(rowmax), rowmax, np.nan)  # a row with no allowed cell has none
    notes = with_masked_note([], mask) or []
    layout = PanelsLayout(tuple(str(t) for t in titles), n, columns, cell, min(cell * n, GRID_PX // columns), scheme,
                          value_label, title, tuple(notes), width_chars)
    return PanelsView(layout, rows)


def panels_description(layout: PanelsLayout) -> str:
    """The text alternative of every set of panels of `layout` (it says no value: the spec is shared)."""
    names = layout.titles
    return (f"Grid of {len(names)} heatmaps: {layout.title} ({', '.join(names)}). {layout.value_label} of each query "
            f"(row) for each key (column) over the same {layout.k} tokens, on one colour scale; hover a cell for its "
            f"weight.")


@no_init_validation
def panels_layout_spec(layout: PanelsLayout) -> dict[str, Any]:
    """The Vega-Lite spec of every set of panels with this layout (its rows: the dataset PANEL_ROWS)."""
    chart = _raster.facet_chart(
        alt.NamedData(name=PANEL_ROWS), [""] * layout.k, layout.width_chars, fields=["panel"],
        facet={"facet": panel_facet(layout.titles), "columns": layout.columns}, lo=LO_PARAM, hi=HI_PARAM,
        scheme=layout.scheme, cell=layout.cell, value_label=layout.value_label,
        legend=_raster.cell_legend(layout.cell), tooltip_after=[PANEL_TOOLTIP],
        title=title_params(layout.title, list(layout.notes) or None), description=panels_description(layout),
        panel_px=layout.panel_px, labels_in=PANEL_ROWS)
    # value_domain's domain, read from the rows: 0 to the largest allowed weight (0 to 1 if none is over 0)
    largest = f"max(extent(pluck(data({PANEL_ROWS!r}), 'rowmax'))[1], 0) || 1"
    chart.params = [alt.VariableParameter(name=LO_PARAM, value=0.0), alt.VariableParameter(name=HI_PARAM, expr=largest),
                    *chart.params]
    return chart.to_dict(validate=False)

"""Requests for charts that are built once and shared (every session, every rerun).

An overview grid is one cell per head; its values come from another request, so the grid of a
result's statistic, of its pattern classes and of a corpus run's statistic are one chart request
over different value requests. Grids are built marking no head: the UI moves the mark to the
selected head in the finished spec (core.render.vega.with_marked).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from core.attention.engine import AttentionEngine
from core.attention.request import Request
from core.attention.result import AttentionResult
from core.requests.analysis import HeadStatistics, PatternSummary


@dataclass(frozen=True)
class StatisticValues(Request):
    """One head statistic of a result, [layers, heads] (a column of `HeadStatistics`)."""

    result: AttentionResult
    statistic: str

    def compute(self, engine: AttentionEngine) -> np.ndarray:
        stats = engine.get(HeadStatistics(self.result))
        return stats.pivot(index="layer", columns="head", values=self.statistic).to_numpy()


@dataclass(frozen=True)
class PatternCodes(Request):
    """Each head's pattern class as an index into core.analysis.patterns.PATTERN_CLASSES, [layers, heads]."""

    result: AttentionResult
    thresholds: Any  # core.analysis.patterns.PatternThresholds

    def compute(self, engine: AttentionEngine) -> np.ndarray:
        return engine.get(PatternSummary(self.result, self.thresholds)).codes


@dataclass(frozen=True)
class OverviewGrid(Request):
    """One cell per head (core.render.grids.overview_grid) of the [layers, heads] values that
    `values` (another request) computes; marks no head."""

    values: Request
    title: str
    value_label: str
    categories: tuple[str, ...] | None = None
    scheme: str = "blues"
    color_domain: tuple[float, float] | None = None

    def compute(self, engine: AttentionEngine) -> Any:
        from core.render import grids

        return grids.overview_grid(engine.get(self.values), title=self.title, value_label=self.value_label,
                                   marking=True,
                                   categories=list(self.categories) if self.categories is not None else None,
                                   scheme=self.scheme, color_domain=self.color_domain)


@dataclass(frozen=True)
class OverviewGridView(Request):
    """`grid` as a layout plus its values (core.render.grids.overview_view), to be drawn from the
    layout's shared template (OverviewTemplate): a grid of new values builds no chart."""

    grid: OverviewGrid

    def compute(self, engine: AttentionEngine) -> Any:
        from core.render import grids

        g = self.grid
        return grids.overview_view(engine.get(g.values), title=g.title, value_label=g.value_label, marking=True,
                                   categories=list(g.categories) if g.categories is not None else None,
                                   scheme=g.scheme, color_domain=g.color_domain)


@dataclass(frozen=True)
class OverviewTemplate(Request):
    """The Vega-Lite spec shared by every overview grid of one layout (core.render.grids.OverviewLayout).
    Never mutated by its users."""

    layout: Any

    def compute(self, engine: AttentionEngine) -> dict[str, Any]:
        from core.render import grids

        return grids.overview_layout_spec(self.layout)


@dataclass(frozen=True)
class PanelsTemplate(Request):
    """The Vega-Lite spec shared by every set of raster panels of one layout
    (core.render.panels.PanelsLayout). Never mutated by its users."""

    layout: Any

    def compute(self, engine: AttentionEngine) -> dict[str, Any]:
        from core.render import panels

        return panels.panels_layout_spec(self.layout)


@dataclass(frozen=True)
class ThumbnailGrid(Request):
    """Every layer x head as a clickable thumbnail (core.render.grids.thumbnail_grid), built once per
    text: the selected head's outline is moved in the drawn spec (ui.presenter.chart(marked=...))."""

    result: AttentionResult

    def compute(self, engine: AttentionEngine) -> Any:
        from core.render import grids

        res = self.result
        return grids.thumbnail_grid(res.attention, list(res.display_tokens), marking=True,
                                    allowed_mask=res.allowed_mask() if res.causal else None)


@dataclass(frozen=True)
class HeadHeatmap(Request):
    """One head's heatmap for a fixed (layer, head) that the shared selection does not change."""

    result: AttentionResult
    layer: int
    head: int
    title: str
    mode: str = "auto"
    start: int = 0
    size: int = 64
    max_cells: int | None = None
    scheme: str = "blues"

    def compute(self, engine: AttentionEngine) -> Any:
        from core.render import heatmaps, matrix

        res = self.result
        budget = matrix.CELL_BUDGET if self.max_cells is None else int(self.max_cells)
        dm = matrix.DrawMatrix.of(res.head(self.layer, self.head), res.display_tokens, special=res.special_mask)
        shown = matrix.prepare(dm, self.mode, start=self.start, size=self.size, max_cells=budget)  # type: ignore[arg-type]
        return heatmaps.heatmap(shown, title=self.title, scheme=self.scheme)


@dataclass(frozen=True)
class HeatmapTemplate(Request):
    """The Vega-Lite spec shared by every heatmap of one layout (same labels, cell size,
    scheme, ...): a head or layer change fills it with other numbers instead of building a chart
    (core.render.heatmaps.HeatmapView.spec). Never mutated by its users."""

    layout: Any  # core.render.heatmaps.HeatmapLayout or core.render.raster.RasterLayout

    def compute(self, engine: AttentionEngine) -> dict[str, Any]:
        from core.render import heatmaps

        return heatmaps.layout_spec(self.layout)


@dataclass(frozen=True)
class BertvizView(Request):
    """BertViz's head or model view as self-contained HTML (core.render.bertviz)."""

    result: AttentionResult
    kind: Literal["head", "model"]
    options: Any = None  # core.render.bertviz.BertvizOptions; None: the defaults

    def compute(self, engine: AttentionEngine) -> Any:
        from core.render import bertviz

        opts = self.options or bertviz.BertvizOptions()
        build = bertviz.build_head_view if self.kind == "head" else bertviz.build_model_view
        return build(self.result, options=opts)

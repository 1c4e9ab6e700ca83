"""Requests for what is computed from one result (core.analysis)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.attention.engine import AttentionEngine
from core.attention.request import Loading, Request
from core.attention.result import AttentionResult


@dataclass(frozen=True)
class HeadStatistics(Request):
    """Every head's statistics, one row per head (core.analysis.statistics.head_statistics_for)."""

    result: AttentionResult

    def compute(self, engine: AttentionEngine) -> Any:
        from core.analysis import statistics

        return statistics.head_statistics_for(self.result)


@dataclass(frozen=True)
class Rollout(Request):
    """Attention rollout through every layer, [layers, query, key] (core.analysis.lenses.rollout)."""

    result: AttentionResult

    def compute(self, engine: AttentionEngine) -> Any:
        from core.analysis import lenses

        return lenses.rollout(self.result.attention, causal=self.result.causal)


@dataclass(frozen=True)
class Flow(Request):
    """Attention flow from `query` at `layer` to every input token, [key] (core.analysis.lenses);
    `progress(fraction)` is called while it is computed."""

    result: AttentionResult
    layer: int
    query: int
    progress: Callable[[float], None] | None = field(default=None, compare=False)

    def compute(self, engine: AttentionEngine) -> Any:
        from core.analysis import lenses

        return lenses.attention_flow(self.result.attention, int(self.query), int(self.layer),
                                     causal=self.result.causal, progress=self.progress)


@dataclass(frozen=True)
class PatternSummary(Request):
    """Kovaleva et al.'s class of every head under `thresholds` (core.analysis.patterns)."""

    result: AttentionResult
    thresholds: Any  # core.analysis.patterns.PatternThresholds

    def compute(self, engine: AttentionEngine) -> Any:
        from core.analysis import patterns

        return patterns.pattern_summary(engine.get(HeadStatistics(self.result)), self.thresholds)


@dataclass(frozen=True)
class TemplateScores(Request):
    """Every head's template scores (core.analysis.patterns.template_scores_for)."""

    result: AttentionResult
    exclude_first: bool = False
    exclude_diagonal: bool = False

    def compute(self, engine: AttentionEngine) -> Any:
        from core.analysis import patterns

        return patterns.template_scores_for(self.result, exclude_first=bool(self.exclude_first),
                                            exclude_diagonal=bool(self.exclude_diagonal))


@dataclass(frozen=True)
class CategoryBreakdown(Request):
    """The tutorial's categories of strong connections (core.analysis.compare.category_breakdown)."""

    result: AttentionResult
    threshold: float
    mode: str

    def compute(self, engine: AttentionEngine) -> Any:
        from core.analysis import compare

        return compare.category_breakdown(self.result, float(self.threshold), str(self.mode))


@dataclass(frozen=True)
class HeadOverview(Request):
    """The layer x head overview as a table (core.analysis.tables.head_overview)."""

    result: AttentionResult

    def compute(self, engine: AttentionEngine) -> Any:
        from core.analysis import tables

        return tables.head_overview(self.result, engine.get(HeadStatistics(self.result)))


@dataclass(frozen=True)
class NormBased(Request):
    """Norm-based attention (Kobayashi et al. 2020): one extra forward pass of the model, loaded
    first if needed. `loading(message)` is entered while the model loads and while it runs."""

    result: AttentionResult
    loading: Loading | None = field(default=None, compare=False)

    def compute(self, engine: AttentionEngine) -> Any:
        from contextlib import nullcontext

        from core.analysis import norms

        res = self.result
        loaded = engine.loaded(res.model_id, self.loading)
        busy = self.loading or (lambda message: nullcontext())
        with busy("Computing ‖f(x)‖ for every head (one extra forward pass)…"):
            return norms.norm_based(loaded, res.text, res.text_pair, res.max_tokens)

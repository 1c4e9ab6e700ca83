"""Requests for Compare: two results word by word (core.compare), head matching, and its charts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from core.attention.engine import AttentionEngine
from core.attention.request import Request
from core.attention.result import AttentionResult


@dataclass(frozen=True)
class WordMaps(Request):
    """(A's WordMap, B's WordMap, Alignment) of two results (core.compare.words / align)."""

    a: AttentionResult
    b: AttentionResult
    mode: str = "text"

    def compute(self, engine: AttentionEngine) -> tuple:
        from core.compare import align, words

        map_a, map_b = words.word_maps_for(self.a, self.b, self.mode)
        return map_a, map_b, align.align(map_a, map_b)


@dataclass(frozen=True)
class WordHead(Request):
    """One side's word-level matrix (core.compare.words.WordMatrix, values [m, m]) for a head, or
    the layer's head average when `head` is None."""

    a: AttentionResult
    b: AttentionResult
    side: Literal["a", "b"]
    layer: int
    head: int | None
    mode: str = "text"
    specials: str = "hidden"

    def compute(self, engine: AttentionEngine) -> Any:
        from core.compare import words

        map_a, map_b, _ = engine.get(WordMaps(self.a, self.b, self.mode))
        res = self.a if self.side == "a" else self.b
        values = res.layer_mean(self.layer) if self.head is None else res.head(self.layer, self.head)
        return words.word_matrix(values, res, map_a if self.side == "a" else map_b, specials=self.specials)


def _differing(engine: AttentionEngine, a: AttentionResult, b: AttentionResult, mode: str) -> tuple[int, ...]:
    from core.compare import align

    alignment = engine.get(WordMaps(a, b, mode))[2]
    return tuple(alignment.differing) if alignment.kind == align.MINIMAL_PAIR else ()


@dataclass(frozen=True)
class WordPanel(Request):
    """A's or B's word-level matrix ready to draw (core.render.matrix.DrawMatrix), the words that
    differ in a minimal pair marked."""

    head: WordHead

    def compute(self, engine: AttentionEngine) -> Any:
        from core.compare import charts

        wm = engine.get(self.head)
        return charts.word_draw_matrix(wm.values, wm, differing=_differing(engine, self.head.a, self.head.b,
                                                                             self.head.mode))


@dataclass(frozen=True)
class WordDifference(Request):
    """B − A at word level (core.compare.align.difference), or None when the rows do not line up."""

    head_a: WordHead
    head_b: WordHead

    def compute(self, engine: AttentionEngine) -> Any:
        from core.compare import align

        alignment = engine.get(WordMaps(self.head_a.a, self.head_a.b, self.head_a.mode))[2]
        return align.difference(engine.get(self.head_a), engine.get(self.head_b), alignment)


@dataclass(frozen=True)
class DifferencePanel(Request):
    """B − A ready to draw (a DrawMatrix on A's words, differing words as "a / b"); None when the
    rows do not line up."""

    difference: WordDifference

    def compute(self, engine: AttentionEngine) -> Any:
        from core.compare import charts

        diff = engine.get(self.difference)
        if diff is None:
            return None
        head_a = self.difference.head_a
        return charts.word_draw_matrix(diff.values, engine.get(head_a), labels=diff.labels,
                                       differing=_differing(engine, head_a.a, head_a.b, head_a.mode))


@dataclass(frozen=True)
class WordChart(Request):
    """A word panel's heatmap (`panel`: a WordPanel or DifferencePanel request), its cells sized to
    fit `side_px`, at most a third of the cell budget (A, B and B − A share a page)."""

    panel: Request
    title: str
    subtitle: str
    side_px: int
    scheme: str = "blues"
    value_label: str = "Weight"
    color_domain: tuple[float, ...] | None = None

    def heatmap_args(self, prepared: Any) -> dict[str, Any]:
        """The arguments of core.render.heatmaps.heatmap (or heatmap_view) for the prepared panel."""
        cell = None if prepared.block > 1 else int(max(6, min(28, self.side_px // max(prepared.n, 1))))
        return {"title": self.title, "subtitle": self.subtitle, "value_label": self.value_label, "scheme": self.scheme,
                "color_domain": list(self.color_domain) if self.color_domain else None,
                "annotate": prepared.n <= 12 and (cell or 0) >= 24, "cell_size": cell, "selectable": False}

    def compute(self, engine: AttentionEngine) -> Any:
        from core.render import heatmaps

        prepared = word_panel_prepared(engine.get(self.panel))
        return heatmaps.heatmap(prepared, **self.heatmap_args(prepared))


def word_panel_prepared(dm: Any) -> Any:
    """A word panel as drawn: core.render.matrix.prepare within a third of the cell budget."""
    from core.render import matrix

    return matrix.prepare(dm, "auto", max_cells=matrix.CELL_BUDGET // 3)


@dataclass(frozen=True)
class HeadMatching(Request):
    """(core.compare.match.HeadMatching or None, texts used, texts skipped because their words do
    not line up or they are longer than core.compare.match.MATCH_MAX_WORDS) for (A, B) result
    pairs, pooled over the pairs."""

    pairs: tuple[tuple[AttentionResult, AttentionResult], ...]
    mode: str = "text"
    specials: str = "hidden"

    def compute(self, engine: AttentionEngine) -> tuple:
        from core.compare import align, match, words

        used, skipped, stacks = 0, 0, []
        for ra, rb in self.pairs:
            map_a, map_b, alignment = engine.get(WordMaps(ra, rb, self.mode))
            if not alignment.lines_up or len(map_a.words) > match.MATCH_MAX_WORDS:
                skipped += 1  # checked first: word-level heads of a long text cost seconds
                continue
            ha = words.word_heads(ra, map_a, specials=self.specials)
            hb = words.word_heads(rb, map_b, specials=self.specials)
            if align.rows_line_up(ha, hb) is not None:
                skipped += 1
                continue
            stacks.append((ha.values, hb.values))
            used += 1
        return (match.match_heads(stacks) if stacks else None), used, skipped


@dataclass(frozen=True)
class MatchGridChart(Request):
    """Each head of A and its closest head of B (core.compare.charts.match_grid)."""

    matching: HeadMatching
    title: str

    def compute(self, engine: AttentionEngine) -> Any:
        from core.compare import charts

        return charts.match_grid(engine.get(self.matching)[0], title=self.title)


@dataclass(frozen=True)
class LayerMapChart(Request):
    """Layer by layer: how much two layers share heads (core.compare.charts.layer_map_chart)."""

    matching: HeadMatching
    title: str = "Layer by layer"

    def compute(self, engine: AttentionEngine) -> Any:
        from core.compare import charts

        return charts.layer_map_chart(engine.get(self.matching)[0], title=self.title)

"""The charts each tutorial step shows, built (not drawn) from core.tutorial.views with the app's
own chart builders (core.render), so the page and the printable handout show the same view.

No Streamlit. `cell_px(n, annotate=..., share=...)` lets the caller size heatmap cells (presenter
mode fills the screen); it returns None for the builders' own sizes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.analysis import compare, patterns, statistics
from core.render import bars, explain_charts, generate_charts, grids, heatmaps, matrix
from core.render.matrix import DrawMatrix
from core.tutorial import notices, views
from core.tutorial.views import StepContext

GET_A_CAUSAL_MODEL = notices.GET_A_CAUSAL_MODEL

CellPx = Callable[..., "int | None"]  # cell_px(n, annotate=bool, share=float) -> pixels or None


def builder_sizes(n: int, annotate: bool = False, share: float = 1.0) -> int | None:
    """The default CellPx: the chart builders choose."""
    return None


@dataclass
class Figure:
    """A step's charts (the first is its main view; every one goes on the handout), a caption for
    the main one, and lines of text for the handout (a top-5 list, the tokens)."""

    charts: list[Any] = field(default_factory=list)
    caption: str = ""
    lines: list[str] = field(default_factory=list)
    stretch: frozenset[int] = frozenset()  # charts (by index) that fit their column's width (autosize fit-x)


def heatmap(ctx: StepContext, values: np.ndarray, title: str, *, value_label: str = "Attention weight",
            focus: int | None = None, cell_px: CellPx = builder_sizes) -> Any:
    """One [n, n] matrix of the result as a heatmap (block-averaged past the cell budget); masked
    cells for a causal model; `focus` outlines that query's row."""
    r = ctx.result
    allowed = r.allowed_mask() if r.causal else None
    dm = matrix.prepare(DrawMatrix.of(values, r.display_tokens, allowed=allowed, special=r.special_mask))
    return heatmaps.heatmap(dm, title=title, value_label=value_label, selected_query=focus, selectable=False,
                            cell_size=cell_px(dm.n, annotate=dm.n <= heatmaps.ANNOTATE_MAX_N, share=1.0))


GRID_FIT_PX = 1150  # the panels' plots of a grid, side by side: what a wide screen's column leaves beside the
# token labels and the legend (about 250 px at 18 px type)
PANEL_GAP_PX = 20  # Vega-Lite's spacing between facet panels


def grid_layout(n: int, panels: int, cell_px: CellPx = builder_sizes) -> tuple[int, int | None]:
    """(columns, cell size) of a grid of `panels` panels of n tokens: cells sized for three panels a
    row, and as many panels a row (at most three) as fit GRID_FIT_PX at that size; the others wrap
    into more rows, so none falls off the screen. Builder sizes (None): three a row."""
    annotate = n <= heatmaps.ANNOTATE_MAX_N
    most = max(1, min(3, panels))
    size = cell_px(n, annotate=annotate, share=1 / most)
    if size is None:
        return most, None
    columns = most
    while columns > 1 and columns * (n * size + PANEL_GAP_PX) > GRID_FIT_PX:
        columns -= 1
    if columns * (n * size + PANEL_GAP_PX) > GRID_FIT_PX:  # one panel is still too wide: smaller cells
        size = max(3, (GRID_FIT_PX - PANEL_GAP_PX) // max(n, 1))
    return columns, size


def grid(ctx: StepContext, stack: np.ndarray, *, cell_px: CellPx = builder_sizes, **kwargs: Any) -> Any:
    """Panels [p, n, n] on one colour scale, as many a row as fit (at most three; core.render.grids.head_grid)."""
    r = ctx.result
    columns, size = grid_layout(r.n_tokens, len(stack), cell_px)
    return grids.head_grid(stack, list(r.display_tokens), allowed_mask=r.allowed_mask() if r.causal else None,
                              columns=columns, cell_size=size, selectable=False, **kwargs)


def causal_mask(ctx: StepContext, *, cell_px: CellPx = builder_sizes) -> Any:
    """The causal mask over the sentence's tokens as a heatmap: 1 where a query (row) may look at a
    key (column), that is the key itself and the keys before it; 0 where a causal model masks it."""
    r = ctx.result
    n = r.n_tokens
    values = np.tril(np.ones((n, n), dtype=np.float64))
    dm = matrix.prepare(DrawMatrix.of(values, r.display_tokens, special=r.special_mask))
    return heatmaps.heatmap(dm, title="The causal mask on your sentence: which tokens each token may look at",
                            value_label="May look (1) or masked (0)", selectable=False,
                            cell_size=cell_px(dm.n, annotate=dm.n <= heatmaps.ANNOTATE_MAX_N, share=1.0))


def _retitled(chart: Any, old: str, new: str) -> Any:
    """The chart with its x axis and tooltip titled `new` where they said `old` (layers changed in place)."""
    for layer in getattr(chart, "layer", ()) or ():
        fields = getattr(layer._kwds.get("encoding"), "_kwds", None)  # Altair's own values, not its setters
        if not isinstance(fields, dict):
            continue
        tips = fields.get("tooltip")
        for channel in [fields.get("x"), *(tips if isinstance(tips, list) else ())]:
            kwds = getattr(channel, "_kwds", None)
            if isinstance(kwds, dict) and kwds.get("title") == old:
                kwds["title"] = new
    return chart


def top5_lines(res: Any, layer: int, head: int) -> list[str]:
    """The notebook's "Top 5 attention connections" of one sentence, as lines."""
    top = views.top_connections(res.head(layer, head), res)
    return [f"{int(rank)}. {views.token_label(res, a)} → {views.token_label(res, b)}: {w:.3f}"
            for rank, a, b, w in zip(top["rank"], top["from"], top["to"], top["weight"])]


def figure(step: str, ctx: StepContext, *, cell_px: CellPx = builder_sizes) -> Figure:
    """The charts of `step` (a core.tutorial.steps id) for this context."""
    r = ctx.result
    where = f"layer {ctx.layer}, head {ctx.head}"
    if step == "model":
        return Figure(lines=[n.text for n in notices.model_notices(ctx)])
    if step == "tokens":
        return Figure(lines=["Tokens: " + " · ".join(r.display_tokens)])
    if step in ("head", "bertviz", "yours"):
        focus = views.tutorial_query(r) if step == "head" else None
        return Figure([heatmap(ctx, r.head(ctx.layer, ctx.head), f"Raw attention · {where}", focus=focus,
                               cell_px=cell_px)],
                      caption=f"Rows: the token looking (query). Columns: the token looked at (key). {where}.")
    if step == "layer":
        layers = views.panel_layers(r.num_layers)
        names = {0: "first", r.num_layers - 1: "last"}
        titles = [f"Layer {ly} ({names.get(ly, 'middle')})" for ly in layers]
        return Figure([
            heatmap(ctx, r.layer_mean(ctx.layer), f"Layer {ctx.layer}: the average of its {r.num_heads} heads",
                    value_label="Mean weight", cell_px=cell_px),
            grid(ctx, views.layer_panel(r), titles=titles, value_label="Mean weight", cell_px=cell_px,
                 title="The notebook's panel: first, middle and last layer averages"),
        ], caption=f"The average of every head of layer {ctx.layer}.")
    if step == "sentences":
        best = views.strongest_by_sentence(ctx.examples, ctx.layer, ctx.head)
        lines: list[str] = []
        for name, res in ctx.examples.items():
            lines.append(f"{name}: “{res.text}”")
            lines.extend("    " + line for line in top5_lines(res, ctx.layer, ctx.head))
        chart = bars.bar_chart_for_tokens(np.array(list(best.values()), dtype=np.float64), list(best),
                                          f"Strongest connection per sentence · {where}",
                                          value_label="Strongest weight")
        chart = _retitled(chart, "Token", "Sentence")
        return Figure([chart], caption="Each bar: the sentence's strongest weight from one token to another.",
                      lines=lines, stretch=frozenset({0}))
    if step == "across":
        stack = views.head_across_layers(r, ctx.head)
        return Figure([grid(ctx, stack, titles=[f"Layer {i} · head {ctx.head}" for i in range(r.num_layers)],
                            title=f"Head {ctx.head} in every layer", cell_px=cell_px)],
                      caption=grids.HEAD_ORDER_NOTE)
    if step == "patterns":
        _, counts = compare.category_breakdown(r, notices.PATTERN_THRESHOLD, notices.PATTERN_MODE)
        stats = ctx.stats if ctx.stats is not None else statistics.head_statistics_for(r)
        summary = patterns.pattern_summary(stats)
        return Figure([
            bars.category_chart(counts, title=f"Strong connections (> {notices.PATTERN_THRESHOLD:g}× uniform) "
                                              "by category"),
            grids.overview_grid(summary.codes, title="Pattern class of every head", value_label="class",
                                   selected=(ctx.layer, ctx.head), categories=list(patterns.PATTERN_CLASSES),
                                   cell_size=cell_px(r.num_heads, annotate=False, share=0.5)),
        ], caption="Strong connections of each layer's average, by the notebook's categories.")
    if step == "matters":
        ev = ctx.evidence
        if ev is None or not len(ev.words):
            return Figure(lines=[ctx.no_evidence or "This model has no output to blank words out against."])
        chart = explain_charts.word_pair_chart(ev.words, ev.attended, ev.blank_out,
                                               title=f"Attention and what matters, for {ev.output}",
                                               first_label="Attention after rollout (each word's share)",
                                               second_label="Output drop when the word is blanked out")
        return Figure([chart], caption="Top: where the output's attention reaches after rollout. Bottom: how much "
                                       "the output's score drops when that word is replaced by [MASK]. Orange: each "
                                       "chart's largest.")
    if step == "generating":
        gen = ctx.generation
        if gen is None:
            why = ctx.no_generation or "This model does not generate text."
            return Figure([causal_mask(ctx, cell_px=cell_px)],
                          caption="Row: the token looking. Column: the token looked at. 1: a causal model lets it "
                                  "look; 0: masked, because that token comes later. "
                                  + ("This model is causal: every heatmap of it carries this mask." if r.causal else
                                     "This model is an encoder, so its own attention has no mask."),
                          lines=[why, GET_A_CAUSAL_MODEL])
        chart = generate_charts.attention_rows_chart(
            gen.labels, {f"Layer {ctx.layer}, head {ctx.head}": gen.row},
            title=f"The newest token ‘{gen.labels[-1]}’ looks back over the {len(gen.labels)} tokens so far")
        return Figure([chart], caption=f"The model then chose ‘{gen.chosen}’. Nothing comes after the newest token "
                                       "yet, so its row needs no mask: it is the last row of the text's causal "
                                       "heatmap.")
    if step == "extensions":
        return Figure([heatmap(ctx, views.rollout_last(ctx), f"Rollout through all {r.num_layers} layers",
                               value_label="Rollout attribution", focus=views.tutorial_query(r), cell_px=cell_px)],
                      caption="Row i: how much each input token contributes to token i after the last layer.")
    raise KeyError(step)

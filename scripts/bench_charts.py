"""Time chart building and PNG/SVG export on synthetic attention (softmax of random logits).

Usage: .venv/bin/python scripts/bench_charts.py [--repeat 3]
       .venv/bin/python scripts/bench_charts.py --builders [--builder-repeat 20]
Prints median seconds; nothing is written to disk.

--builders times every chart builder on representative inputs (median CPU ms of
--builder-repeat runs after one warm-up: build, then ``to_dict(validate=False)``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.render import bars, grids, heatmaps  # noqa: E402
from core.render import export as E  # noqa: E402
from core.render.matrix import DrawMatrix, prepare  # noqa: E402


def softmax(shape, seed=0):
    x = np.random.default_rng(seed).normal(size=shape) * 2.0
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def tokens(n):
    base = ["the", "cat", "sat", "on", "the", "mat", ",", "and", "the", "dog", "ran", "."]
    return [base[i % len(base)] for i in range(n)]


def median_time(fn, repeat):
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def causal(shape, seed=0):
    a = softmax(shape, seed).astype(np.float64)
    mask = np.tril(np.ones(shape[-2:], dtype=bool))
    a = np.where(mask, a, 0.0)
    return (a / a.sum(axis=-1, keepdims=True)).astype(np.float32), mask


SENTENCE = ["[CLS]", "the", "cat", "sat", "on", "the", "mat", ".", "[SEP]"]


def builder_cases() -> dict:
    """name -> zero-argument callable building one chart."""
    import pandas as pd

    a9, (c9, m9), (c30, m30), a64 = softmax((9, 9)), causal((9, 9)), causal((30, 30)), softmax((64, 64))
    s9, ds9 = DrawMatrix.of(a9, SENTENCE), DrawMatrix.of(a9 - a9.T, SENTENCE)
    cs9 = DrawMatrix.of(c9, SENTENCE, allowed=m9)
    cs30, s64 = DrawMatrix.of(c30, tokens(30), allowed=m30), DrawMatrix.of(a64, tokens(64))
    auto = prepare(DrawMatrix.of(softmax((512, 512)), tokens(512)))
    att9, att64 = softmax((6, 12, 9, 9), 1), softmax((6, 12, 64, 64), 2)
    catt, cmask = causal((6, 12, 16, 16), 3)
    ov = np.random.default_rng(0).random((12, 12))
    codes = np.random.default_rng(0).integers(-1, 3, (6, 12)).astype(float)
    counts = pd.DataFrame({"layer": range(6), "positional": [3, 1, 0, 2, 2, 1], "special": [5, 4, 2, 2, 1, 0],
                           "syntactic": [1, 0, 2, 3, 3, 4], "semantic": [2, 2, 9, 1, 0, 3]})
    both = pd.concat([counts.assign(sentence="A cat."), counts.assign(sentence="The dog.")])
    return {
        "heatmap n=9 (annotated, selectable)": lambda: heatmaps.heatmap(s9, title="t"),
        "heatmap n=9 not selectable": lambda: heatmaps.heatmap(s9, title="t", selectable=False),
        "heatmap n=9 causal mask": lambda: heatmaps.heatmap(cs9, title="t"),
        "heatmap n=9 selected_query": lambda: heatmaps.heatmap(s9, title="t", selected_query=3),
        "heatmap n=9 symmetric redblue": lambda: heatmaps.heatmap(ds9, title="t", scheme="redblue",
                                                                  color_domain=(-0.5, 0.5)),
        "heatmap n=30 causal (unannotated)": lambda: heatmaps.heatmap(cs30, title="t"),
        "heatmap n=64": lambda: heatmaps.heatmap(s64, title="t"),
        "heatmap n=512 as 316x316 blocks": lambda: heatmaps.heatmap(auto, title="t", subtitle=auto.notes[-1]),
        "head_grid n=9 head=0 (6 panels)": lambda: grids.head_grid(att9, SENTENCE, head=0),
        "head_grid n=64 layer=0 (12 panels)": lambda: grids.head_grid(att64, tokens(64), layer=0),
        "head_grid n=16 causal head=0": lambda: grids.head_grid(catt, tokens(16), head=0, allowed_mask=cmask),
        "thumbnail_grid n=9 6x12": lambda: grids.thumbnail_grid(att9, SENTENCE, selected=(1, 2)),
        "thumbnail_grid n=16 6x12 causal": lambda: grids.thumbnail_grid(catt, tokens(16), allowed_mask=cmask),
        "overview_grid 12x12 (annotated)": lambda: grids.overview_grid(ov, title="t", value_label="v",
                                                                          selected=(1, 2)),
        "overview_grid 6x12 categories": lambda: grids.overview_grid(codes, title="t", value_label="v",
                                                                        categories=["a", "b", "c"]),
        "category_chart": lambda: bars.category_chart(counts),
        "category_compare_chart": lambda: bars.category_compare_chart(both),
        "bar_chart_for_tokens n=9 + reference": lambda: bars.bar_chart_for_tokens(a9[3], SENTENCE, "t", highlight=3,
                                                                                  reference=1 / 9),
    }


def _cpu_ms(fn, repeat: int) -> list[float]:
    """CPU milliseconds of this process for each of ``repeat`` calls (other processes on a loaded
    machine do not count, unlike wall time)."""
    out = []
    for _ in range(repeat):
        t = time.process_time()
        fn()
        out.append((time.process_time() - t) * 1e3)
    return out


def _todict(chart, validate: bool):
    import altair as alt

    with alt.data_transformers.enable("default", max_rows=None):
        return chart.to_dict(validate=validate)


def builders(repeat: int) -> None:
    """Median CPU ms per builder: build, then to_dict(validate=False)."""
    print(f"{'builder: median CPU ms of ' + str(repeat):44s} {'build':>8s} {'to_dict':>8s}")
    for name, build in builder_cases().items():
        chart = build()  # warm-up
        _todict(chart, False)
        b = _cpu_ms(build, repeat)
        d = _cpu_ms(lambda: _todict(chart, False), repeat)
        print(f"{name:44s} {statistics.median(b):8.1f} {statistics.median(d):8.1f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--builders", action="store_true", help="time every chart builder (see the module doc)")
    ap.add_argument("--builder-repeat", type=int, default=20)
    args = ap.parse_args()
    if args.builders:
        builders(args.builder_repeat)
        return
    r = args.repeat
    print(f"{'case':44s} {'median s':>9s}  detail")
    for n in (16, 128):
        a = softmax((n, n))
        t, chart = median_time(lambda: heatmaps.heatmap(DrawMatrix.of(a, tokens(n)), title=f"n={n}"), r)
        print(f"{f'heatmap build n={n}':44s} {t:9.3f}  cells={n * n}")
        for scale in (1, 2):
            t, png = median_time(lambda: E.chart_to_png(chart, scale=scale), r)
            print(f"{f'PNG n={n} scale={scale}':44s} {t:9.3f}  {len(png) / 1e3:.0f} kB")
        t, svg = median_time(lambda: E.chart_to_svg(chart), r)
        print(f"{f'SVG n={n}':44s} {t:9.3f}  {len(svg) / 1e3:.0f} kB")
    a512 = softmax((512, 512))
    t, prep = median_time(lambda: prepare(DrawMatrix.of(a512, tokens(512))), r)
    print(f"{'prepare n=512 (auto)':44s} {t:9.3f}  {prep.matrix.shape}")
    att = softmax((6, 12, 512, 512), seed=1)
    t, g = median_time(lambda: grids.head_grid(att, tokens(512), head=0), r)
    print(f"{'head_grid n=512 head=0 (6 panels) build':44s} {t:9.3f}  rows={len(g.data)}")
    t, th = median_time(lambda: grids.thumbnail_grid(att, tokens(512)), r)
    print(f"{'thumbnail_grid n=512 6x12 build':44s} {t:9.3f}  rows={len(th.data)}")
    t, csv = median_time(lambda: E.attention_to_csv(att, tokens(512), layer=0, head=0), r)
    print(f"{'CSV n=512 one head':44s} {t:9.3f}  {len(csv) / 1e6:.1f} MB")
    t, npz = median_time(lambda: E.attention_to_npz(_Result(att, tokens(512))), 1)
    print(f"{'NPZ n=512 6x12 (compressed)':44s} {t:9.3f}  {len(npz) / 1e6:.1f} MB")


class _Result:
    def __init__(self, att, toks):
        self.attention, self.tokens, self.display_tokens = att, toks, toks
        n = len(toks)
        self.token_ids = list(range(n))
        self.special_mask = np.zeros(n, bool)
        self.segment_ids = np.zeros(n, np.int8)
        self.word_ids = list(range(n))
        self.model_id, self.text, self.text_pair, self.causal, self.truncated_tokens = "bench", "x", None, False, 0


if __name__ == "__main__":
    main()

"""Time chart building and PNG/SVG export on synthetic attention (softmax of random logits).

Usage: .venv/bin/python scripts/bench_charts.py [--repeat 3]
Prints median seconds; nothing is written to disk.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import charts as C  # noqa: E402
from core import export as E  # noqa: E402


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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    r = args.repeat
    print(f"{'case':44s} {'median s':>9s}  detail")
    for n in (16, 128):
        a = softmax((n, n))
        t, chart = median_time(lambda: C.heatmap(a, tokens(n), title=f"n={n}"), r)
        print(f"{f'heatmap build n={n}':44s} {t:9.3f}  cells={n * n}")
        for scale in (1, 2):
            t, png = median_time(lambda: E.chart_to_png(chart, scale=scale), r)
            print(f"{f'PNG n={n} scale={scale}':44s} {t:9.3f}  {len(png) / 1e3:.0f} kB")
        t, svg = median_time(lambda: E.chart_to_svg(chart), r)
        print(f"{f'SVG n={n}':44s} {t:9.3f}  {len(svg) / 1e3:.0f} kB")
    a512 = softmax((512, 512))
    t, prep = median_time(lambda: C.prepare_matrix(a512, tokens(512)), r)
    print(f"{'prepare_matrix n=512 (auto)':44s} {t:9.3f}  {prep.matrix.shape}")
    att = softmax((6, 12, 512, 512), seed=1)
    t, g = median_time(lambda: C.head_grid(att, tokens(512), head=0), r)
    print(f"{'head_grid n=512 head=0 (6 panels) build':44s} {t:9.3f}  rows={len(g.data)}")
    t, th = median_time(lambda: C.thumbnail_grid(att, tokens(512)), r)
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

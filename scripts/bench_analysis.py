"""Benchmark core.analysis (statistics, lenses, norms) against its goals.

    HF_HUB_OFFLINE=1 .venv/bin/python scripts/bench_analysis.py [--repeats N] [--threads T] [--no-model] [--json]

Measures (median of several runs, 6 layers x 12 heads):
- all head statistics (`head_statistics`, every column incl. pattern classes and Clark
  labels) at n = 32, 128, 512 tokens (goal: <= 50 ms at n = 128);
- attention rollout, all layers, at n = 512;
- attention flow for one query row (top layer) at n = 16 and n = 32;
- norm-based attention (`norm_based`: tokenize + forward + norms) at n = 128 on the bundled
  real model (goal <= 250 ms), and its ratio to the bare forward pass measured interleaved
  (goal <= 2x, i.e. at most one extra forward; the ratio is steadier than the absolute time
  when other processes load the machine).
Statistics, rollout and flow use synthetic attention (softmax of random logits), which is as
costly as real attention; norm-based attention needs the real model.

Importable: `run() -> list[dict]` returns one row per figure with the same schema as
scripts/bench_engine.py (benchmark, metric, n_tokens, value, unit, goal, passed);
`markdown(rows)` renders them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench_common import text_with_tokens  # noqa: E402 - sets the offline env first

import numpy as np  # noqa: E402

LAYERS, HEADS = 6, 12
STATS_SIZES = (32, 128, 512)
STATS_GOAL_MS = {32: 50.0, 128: 50.0, 512: 1000.0}  # the brief's goal is the n=128 one
ROLLOUT_N, ROLLOUT_GOAL_MS = 512, 250.0
FLOW_GOALS_MS = {16: 500.0, 32: 2000.0}  # one query row, shown with a progress bar
NORMS_N, NORMS_GOAL_MS, NORMS_RATIO_GOAL = 128, 250.0, 2.0  # ratio: "at most one extra forward"; robust to load


def synthetic_attention(n: int, layers: int = LAYERS, heads: int = HEADS, seed: int = 0) -> np.ndarray:
    """float32 [layers, heads, n, n]: softmax of random logits (rows sum to 1)."""
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((layers, heads, n, n), dtype=np.float32) * 3
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _masks(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    special = np.zeros(n, dtype=bool)
    special[[0, n - 1]] = True
    punct = np.zeros(n, dtype=bool)
    punct[n - 2] = True
    return special, punct, np.zeros(n, dtype=np.int8)


def _median_ms(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples) * 1000.0


def _row(metric: str, n: int | None, value: float, unit: str, goal: str = "", passed: bool | None = None) -> dict:
    return {"benchmark": "analysis", "metric": metric, "n_tokens": n, "value": round(float(value), 3),
            "unit": unit, "goal": goal, "passed": passed}



def run(repeats: int = 15, with_model: bool = True) -> list[dict]:
    """Run the benchmark; returns rows (see module docstring). About 15-30 s on 2 cores."""
    from core.analysis import lenses, statistics

    rows: list[dict] = []
    for n in STATS_SIZES:
        att = synthetic_attention(n)
        special, punct, seg = _masks(n)
        reps = max(3, repeats // 3) if n >= 512 else repeats
        ms = _median_ms(lambda: statistics.head_statistics(att, special, punct, seg, False), reps)
        goal = STATS_GOAL_MS[n]
        rows.append(_row("head statistics (all 6x12 heads)", n, ms, "ms", f"<= {goal:g} ms", ms <= goal))

    att = synthetic_attention(ROLLOUT_N)
    ms = _median_ms(lambda: lenses.rollout(att), max(3, repeats // 3))
    rows.append(_row("rollout (all layers)", ROLLOUT_N, ms, "ms", f"<= {ROLLOUT_GOAL_MS:g} ms",
                     ms <= ROLLOUT_GOAL_MS))

    for n, goal in FLOW_GOALS_MS.items():
        att = synthetic_attention(n)
        ms = _median_ms(lambda: lenses.attention_flow(att, query=n // 2), max(3, repeats // 5))
        rows.append(_row("flow (one query, top layer)", n, ms, "ms", f"<= {goal:g} ms", ms <= goal))

    if with_model:
        rows.extend(_norm_rows(repeats))
    return rows


def _norm_rows(repeats: int) -> list[dict]:
    import torch

    from core.analysis import norms
    from core.models.loading import load_model, quiet_transformers
    from core.models.registry import BUNDLED_MODEL_ID, bundled_model_path

    if bundled_model_path() is None:
        return [_row("norm-based attention: bundled model not installed", NORMS_N, float("nan"), "ms")]
    quiet_transformers()
    loaded = load_model(BUNDLED_MODEL_ID, device="cpu")
    text = text_with_tokens(loaded.tokenizer, NORMS_N)
    enc = loaded.tokenizer(text, return_tensors="pt")

    def bare() -> None:
        with torch.inference_mode():
            loaded.model(**enc, output_attentions=True, output_hidden_states=True, return_dict=True)

    def full() -> None:
        result = norms.norm_based(loaded, text)
        assert result.n_tokens == NORMS_N

    for _ in range(2):
        bare()
        full()
    bare_s, full_s = [], []
    for _ in range(repeats):  # interleaved: both see the same machine load
        t = time.perf_counter()
        bare()
        bare_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        full()
        full_s.append(time.perf_counter() - t)
    bare_ms = statistics.median(bare_s) * 1000
    full_ms = statistics.median(full_s) * 1000
    return [
        _row("norm-based attention (bundled model, tokenize + forward + norms)", NORMS_N, full_ms, "ms",
             f"<= {NORMS_GOAL_MS:g} ms", full_ms <= NORMS_GOAL_MS),
        _row("  for scale: bare forward with attentions + hidden states", NORMS_N, bare_ms, "ms"),
        _row("  norm-based / bare forward", NORMS_N, full_ms / bare_ms, "x", f"<= {NORMS_RATIO_GOAL:g}x",
             full_ms / bare_ms <= NORMS_RATIO_GOAL),
    ]


def _fmt(value: float, unit: str) -> str:
    if unit == "ms":
        return f"{value:.2f} ms" if value < 10 else f"{value:.0f} ms" if value >= 1000 else f"{value:.1f} ms"
    if unit == "x":
        return f"{value:.2f}x"
    return f"{value:g} {unit}"


def markdown(rows: list[dict]) -> str:
    lines = ["| benchmark | tokens | median | goal | result |", "|---|---:|---:|---|---|"]
    for row in rows:
        verdict = "" if row["passed"] is None else ("pass" if row["passed"] else "FAIL")
        lines.append(f"| {row['metric']} | {row['n_tokens'] if row['n_tokens'] is not None else '-'} "
                     f"| {_fmt(row['value'], row['unit'])} | {row['goal'] or '-'} | {verdict or '-'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed runs per figure (fewer for big ones)")
    parser.add_argument("--no-model", action="store_true", help="skip norm-based attention (no model load)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON instead of markdown")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads (0: torch's default); 1 is steadier on a busy machine")
    args = parser.parse_args(argv)
    if args.threads > 0:
        import torch

        torch.set_num_threads(args.threads)
    rows = run(repeats=args.repeats, with_model=not args.no_model)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        import torch

        print(f"core.analysis, {LAYERS} layers x {HEADS} heads, CPU "
              f"({os.cpu_count()} cores, torch threads {torch.get_num_threads()}), medians.\n")
        print(markdown(rows))
    return 1 if any(r["passed"] is False for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())

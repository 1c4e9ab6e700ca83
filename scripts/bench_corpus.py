"""Benchmark corpus mode: sentences per second against a bare batched loop, and memory growth.

    .venv/bin/python scripts/bench_corpus.py [--sentences 640] [--repeats 3] [--memory 1000,10000] [--json]
    .venv/bin/python scripts/bench_corpus.py --quick     # 64 sentences, 1 repeat, memory 200 vs 1,000

--quick checks that the script works in a minute or two; its figures are rough (at batch 64 the
64 sentences are one batch, so fixed costs weigh more than in a real run) and its memory growth
(200 -> 1,000 sentences) is not the goal's 1,000 -> 10,000, so its rows show the goals without
a verdict.

1. Throughput on the bundled model (all-MiniLM-L6-v2, CPU) at batch 16 and 64 (--batch-sizes
   for others), for `core.corpus.run.run_corpus` (bucketing, padding, verification of every
   sentence, the head_statistics numbers of every sentence in one vectorised pass per batch,
   streaming aggregation, typical-sentence pools) and for a bare loop that anyone would write:
   sort the sentences by token count, then per batch of that order tokenize with padding, one
   forward pass with attentions, and the same vectorised statistics of the whole batch
   (`core.corpus.aggregate.batch_statistics`), summed per head. Same model, same torch threads,
   same token limit, same batches (the run also sorts by length), same statistics (their means
   are checked equal): the ratio is what the run's machinery costs. Both run in the same
   process, interleaved (A, B, A, B, ...), on the same sentences (the sample corpus and
   variants of it, all different); the figure is the best of the repeats, by wall clock and by
   this process's CPU time: other processes on a shared machine only ever add time (with two
   torch threads they can double a forward pass), so the fastest run is the estimate of each
   loop's own cost. Each loop's CPU time outside forward passes (median) is reported too: the
   part the run's own code decides, which other processes barely move. Goal: at least 0.9x the
   bare loop at batch 16 and at batch 64.
2. Peak memory: `run_corpus` over 1,000 and over 10,000 sentences, each in a fresh process
   (peak resident set size); goal: growth under 50 MB.

Importable: `run(..., quick=False) -> list[dict]` (benchmark, metric, value, unit, goal, passed) and
`markdown(rows)`, like the other scripts; scripts/run_benchmarks.py runs it as its "corpus" section.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

from bench_common import ROOT  # noqa: E402 - sets the offline env first

import numpy as np  # noqa: E402

BATCH_SIZES = (16, 64)
RATIO_GOAL = 0.9  # at each of GOAL_BATCH_SIZES
GOAL_BATCH_SIZES = (16, 64)
MEMORY_GOAL_MB = 50.0
MAX_TOKENS = 128
QUICK = {"sentences": 64, "repeats": 1, "memory_sizes": (200, 1_000)}
MEMORY_GOAL_SIZES = (1_000, 10_000)


_VARIANTS = ("{s}", "Yesterday, {l}", "{b} again{p}", "In the end, {l}", "I think that {l}", "{b}, of course{p}",
             "Honestly, {l}", "Once more, {l}")


def corpus(n: int) -> list[str]:
    """n sentences: the sample corpus (320 sentences, 8-25 tokens) and seven variants of each
    (a prefix or a suffix), so the first 2,560 are all different (then they repeat)."""
    from core.corpus import sources

    base = sources.builtin("sample_en").sentences
    out = []
    for i in range(n):
        s = base[i % len(base)]
        form = _VARIANTS[(i // len(base)) % len(_VARIANTS)]
        out.append(form.format(s=s, l=s[0].lower() + s[1:], b=s[:-1], p=s[-1]))
    return out


# --- the bare loop: the same work, none of the run's machinery ----------------------------------

def _punct_table(tokenizer: Any) -> np.ndarray:
    """bool [vocab]: pieces made only of Unicode punctuation (after a leading ##), the set
    core.models.token_sets.punctuation_mask finds in a sentence's labels."""
    import unicodedata

    table = np.zeros(len(tokenizer), dtype=bool)
    for piece, i in tokenizer.get_vocab().items():
        body = piece[2:] if piece.startswith("##") and len(piece) > 2 else piece
        body = body.strip()
        table[i] = bool(body) and all(unicodedata.category(c).startswith("P") for c in body)
    return table


def _bare_batch(loaded: Any, chunk: list[str], indices: np.ndarray, punct_table: np.ndarray) -> Any:
    """One sorted batch: tokenize it padded, one forward pass with attentions, the pads' rows set
    to 0 (their keys are 0 already), masks from token ids. A PaddedBatch, the statistics' input."""
    import torch

    from core.attention.batch import PaddedBatch

    tok, model = loaded.tokenizer, loaded.model
    enc = tok(chunk, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt",
              return_special_tokens_mask=True)
    with torch.inference_mode():
        out = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                    token_type_ids=enc.get("token_type_ids"), output_attentions=True)
        mask = enc["attention_mask"]
        att = torch.stack(out.attentions, dim=1) * mask[:, None, None, :, None]  # [B, L, H, N, N]
    arr = att.numpy()
    B, L, H, N, _ = arr.shape
    valid = mask.numpy().astype(bool)
    ids = enc["input_ids"].numpy()
    special = enc["special_tokens_mask"].numpy().astype(bool) & valid
    return PaddedBatch(indices, valid.sum(axis=1).astype(np.int64), arr,
                       arr.reshape(B, L * H, N, N).sum(axis=-1), special, punct_table[ids] & valid & ~special,
                       special & (ids == tok.cls_token_id), special & (ids == tok.sep_token_id), causal=False,
                       truncated=0)


def bare_loop(loaded: Any, texts: list[str], batch_size: int, punct_table: np.ndarray) -> tuple[Clock, dict]:
    """(wall and CPU seconds, {statistic: per-head mean [LH]}): sort the sentences by token count,
    then per batch of that order: tokenize, forward, the vectorised statistics of the whole batch
    (core.corpus.aggregate.batch_statistics, the run's own), summed per head with the pattern
    classes counted. What run_corpus adds to this is its overhead: the benchmark's ratio."""
    from core.corpus.aggregate import STAT_NAMES, batch_statistics

    tok = loaded.tokenizer
    clock = Clock()
    lengths = [len(ids) for ids in tok(texts, truncation=True, max_length=MAX_TOKENS)["input_ids"]]
    order = np.argsort(lengths, kind="stable")
    sums = sumsq = counts = classes = None
    for s in range(0, len(order), batch_size):
        indices = order[s:s + batch_size].astype(np.int64)
        batch = _bare_batch(loaded, [texts[i] for i in indices], indices, punct_table)
        _, stats, codes = batch_statistics(batch)  # [B, LH, S], [B, LH]
        if sums is None:
            sums, sumsq, counts = (np.zeros(stats.shape[1:]) for _ in range(3))
            classes = np.zeros((stats.shape[1], 5), dtype=np.int64)
        ok = ~np.isnan(stats)
        values = np.where(ok, stats, 0.0)
        sums += values.sum(axis=0)
        sumsq += (values**2).sum(axis=0)
        counts += ok.sum(axis=0)
        np.add.at(classes, (np.broadcast_to(np.arange(stats.shape[1]), codes.shape), codes), 1)
    means = np.divide(sums, counts, out=np.full(sums.shape, np.nan), where=counts > 0)
    return clock.stop(), {k: means[:, j] for j, k in enumerate(STAT_NAMES)}


def app_run(loaded: Any, texts: list[str], batch_size: int) -> tuple[Clock, Any]:
    from core.corpus.run import run_corpus

    clock = Clock()
    run = run_corpus(loaded, texts, batch_size, max_tokens=MAX_TOKENS, store=False, reuse=False)
    return clock.stop(), run


class ForwardTimer:
    """This process's CPU seconds inside the model's forward passes (the model's `forward` wrapped
    on this one object while the benchmark runs): what is left of a loop's CPU time is its own
    work, the one figure here that other processes on the machine barely move."""

    cpu = 0.0

    def __init__(self, model: Any) -> None:
        inner = model.forward

        def timed(*args: Any, **kwargs: Any) -> Any:
            t = time.process_time()
            try:
                return inner(*args, **kwargs)
            finally:
                ForwardTimer.cpu += time.process_time() - t

        model.forward = timed


class Clock:
    """Wall time, this process's CPU time, and its CPU time outside forward passes. On a machine
    other processes load, CPU time is the steadier measure of the work done (with one torch
    thread it does not count waiting)."""

    def __init__(self) -> None:
        self.wall0, self.cpu0, self.fwd0 = time.perf_counter(), time.process_time(), ForwardTimer.cpu
        self.wall = self.cpu = self.outside = 0.0

    def stop(self) -> Clock:
        self.wall, self.cpu = time.perf_counter() - self.wall0, time.process_time() - self.cpu0
        self.outside = self.cpu - (ForwardTimer.cpu - self.fwd0)
        return self


# --- memory (one fresh process per size) ----------------------------------------------------------

def _memory_child(n: int) -> None:
    import os

    os.environ["ATTENTION_DASHBOARD_CACHE_DIR"] = "off"
    from core.corpus.run import run_corpus
    from core.models.loading import load_model

    loaded = load_model("all-MiniLM-L6-v2", device="cpu")
    texts = corpus(n)
    run_corpus(loaded, texts[:64], 64, store=False, reuse=False)  # warm: first-call allocations
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    run = run_corpus(loaded, texts, 64, max_tokens=MAX_TOKENS, store=False, reuse=False)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"sentences": run.done, "peak_mb": peak / 1024, "base_mb": base / 1024, "seconds": seconds}))


def memory(sizes: tuple[int, ...]) -> list[dict]:
    out = []
    for n in sizes:
        done = subprocess.run([sys.executable, __file__, "--memory-child", str(n)], cwd=ROOT, capture_output=True,
                              text=True, timeout=3600)
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-2000:])
        out.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return out


# --- the report -----------------------------------------------------------------------------------

def _row(metric: str, value: float, unit: str, goal: str = "", passed: bool | None = None) -> dict:
    return {"benchmark": "corpus", "metric": metric, "value": value, "unit": unit, "goal": goal, "passed": passed}


def _throughput_rows(loaded: Any, texts: list[str], bs: int, repeats: int, table: np.ndarray, quick: bool,
                     tag: str) -> list[dict]:
    """run_corpus against the bare loop at one batch size, interleaved, `repeats` times each."""
    from core.corpus.aggregate import STAT_NAMES

    app_c, bare_c = [], []
    for _ in range(repeats):
        clock, app = app_run(loaded, texts, bs)
        app_c.append(clock)
        clock, bare_means = bare_loop(loaded, texts, bs, table)
        bare_c.append(clock)
    # The two loops compute the same statistics: check it once per batch size.
    app_means = app.means()
    same = set(bare_means) == set(STAT_NAMES) and all(
        np.allclose(app_means[k].to_numpy(), bare_means[k], atol=1e-4) for k in STAT_NAMES)
    judged = bs in GOAL_BATCH_SIZES
    rows = []
    for what in ("wall", "cpu"):
        app_rate = len(texts) / min(getattr(c, what) for c in app_c)  # best of the repeats
        bare_rate = len(texts) / min(getattr(c, what) for c in bare_c)
        ratio = app_rate / bare_rate
        label = f"{'wall clock' if what == 'wall' else 'CPU time'}, best of {len(app_c)}"
        rows.append(_row(f"run_corpus, batch {bs} ({label})", round(app_rate, 1), "sentences/s"))
        rows.append(_row(f"bare length-sorted loop, batch {bs} ({label})", round(bare_rate, 1), "sentences/s"))
        rows.append(_row(f"ratio run_corpus / bare, batch {bs} ({label}; same means: {'yes' if same else 'NO'}; "
                         f"statistics passes: {app.meta['statistics_calls']} for {len(texts)} sentences){tag}",
                         round(ratio, 3), "x", f">= {RATIO_GOAL}" if judged else "",
                         (ratio >= RATIO_GOAL) if judged and not quick else None))
    for name, clocks in (("run_corpus", app_c), ("bare loop", bare_c)):
        rows.append(_row(f"{name}, batch {bs}: CPU outside forward passes ({len(texts)} sentences){tag}",
                         round(statistics.median(c.outside for c in clocks), 3), "s"))
    return rows


def _memory_rows(memory_sizes: tuple[int, ...], quick: bool) -> list[dict]:
    mem = memory(memory_sizes)
    rows = [_row(f"peak RSS, {m['sentences']:,} sentences ({m['seconds']:.0f} s, "
                 f"{m['sentences'] / m['seconds']:.0f} sentences/s)", round(m["peak_mb"], 1), "MB") for m in mem]
    growth = mem[-1]["peak_mb"] - mem[0]["peak_mb"]
    judged = tuple(memory_sizes) == MEMORY_GOAL_SIZES  # the goal is for 1,000 -> 10,000 sentences
    rows.append(_row(f"peak RSS growth {mem[0]['sentences']:,} -> {mem[-1]['sentences']:,} sentences"
                     f"{' [quick]' if quick else ''}", round(growth, 1), "MB",
                     f"< {MEMORY_GOAL_MB:.0f}" if judged else "", (growth < MEMORY_GOAL_MB) if judged else None))
    return rows


def run(sentences: int = 640, repeats: int = 3, memory_sizes: tuple[int, ...] = MEMORY_GOAL_SIZES,
        batch_sizes: tuple[int, ...] = BATCH_SIZES, quick: bool = False) -> list[dict]:
    from core.models.loading import load_model

    if quick:
        sentences, repeats = int(QUICK["sentences"]), int(QUICK["repeats"])  # type: ignore[call-overload]
        memory_sizes = tuple(QUICK["memory_sizes"])  # type: ignore[arg-type]
    tag = f" [quick: {sentences} sentences, {repeats} repeat{'s' * (repeats != 1)}]" if quick else ""

    loaded = load_model("all-MiniLM-L6-v2", device="cpu")
    ForwardTimer(loaded.model)
    texts = corpus(sentences)
    table = _punct_table(loaded.tokenizer)
    rows: list[dict] = []
    app_run(loaded, texts[:64], 8)  # warm-up: first forward, imports
    bare_loop(loaded, texts[:64], 8, table)
    for bs in batch_sizes:
        n = texts if bs > 1 else texts[: max(64, sentences // 4)]  # batch 1 is slow: a quarter
        rows += _throughput_rows(loaded, n, bs, repeats, table, quick, tag)
    if memory_sizes:
        rows += _memory_rows(memory_sizes, quick)
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| metric | value | goal | |", "|---|---|---|---|"]
    for r in rows:
        mark = "" if r["passed"] is None else ("pass" if r["passed"] else "**miss**")
        lines.append(f"| {r['metric']} | {r['value']} {r['unit']} | {r['goal']} | {mark} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sentences", type=int, default=640)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch-sizes", default=",".join(map(str, BATCH_SIZES)))
    p.add_argument("--memory", default="1000,10000", help="sentence counts for the memory runs ('' to skip)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--quick", action="store_true", help="64 sentences, 1 repeat, memory 200 vs 1,000 (a check)")
    p.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.memory_child is not None:
        _memory_child(args.memory_child)
        return
    sizes = tuple(int(s) for s in args.memory.split(",") if s.strip())
    import os

    load0 = os.getloadavg()[0]
    rows = run(args.sentences, args.repeats, sizes, tuple(int(b) for b in args.batch_sizes.split(",")),
               quick=args.quick)
    note = (f"machine: {os.cpu_count()} CPUs, load average {load0:.1f} at the start and "
            f"{os.getloadavg()[0]:.1f} at the end; torch threads: {args.threads or 'default'}")
    print(json.dumps({"rows": rows, "note": note}, indent=1) if args.json else markdown(rows) + "\n\n" + note)


if __name__ == "__main__":
    main()

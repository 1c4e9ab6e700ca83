"""Benchmark corpus mode: sentences per second against a bare batched loop, and memory growth.

    .venv/bin/python scripts/bench_corpus.py [--sentences 640] [--repeats 3] [--memory 1000,10000] [--json]
    .venv/bin/python scripts/bench_corpus.py --quick     # 64 sentences, 1 repeat, memory 200 vs 1,000

--quick checks that the script works in a minute or two; its figures are rough (at batch 64 the
64 sentences are one batch, so fixed costs weigh more than in a real run) and its memory growth
(200 -> 1,000 sentences) is not the goal's 1,000 -> 10,000, so its rows show the goals without
a verdict.

1. Throughput on the bundled model (all-MiniLM-L6-v2, CPU) at batch 1, 8 and 64, for
   `core.corpus.run.run_corpus` (bucketing, padding, verification of every sentence, the
   head_statistics numbers of every sentence in one vectorised pass per batch, streaming
   aggregation, typical-sentence pools) and for a bare loop written here with no app
   code: sort by length, pad, one forward pass with attentions, then the same per-head
   statistics for the whole padded batch in one masked, vectorised numpy pass, summed per head.
   Both run in the same process, interleaved (A, B, A, B, ...), on the same sentences (the
   sample corpus and variants of it, all different); the figure is the median, by wall clock
   and by this process's CPU time (steadier when other processes load the machine). Goal: at
   least 0.9x the bare loop at batch 64.
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

BATCH_SIZES = (1, 8, 64)
RATIO_GOAL = 0.9  # at batch 64
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


# --- the bare loop (no app code) ------------------------------------------------------------------

def _punct_table(tokenizer: Any) -> np.ndarray:
    """bool [vocab]: pieces made only of Unicode punctuation (after a leading ##)."""
    import unicodedata

    table = np.zeros(len(tokenizer), dtype=bool)
    for piece, i in tokenizer.get_vocab().items():
        body = piece[2:] if piece.startswith("##") and len(piece) > 2 else piece
        table[i] = bool(body) and all(unicodedata.category(c).startswith("P") for c in body)
    return table


def bare_statistics(att: np.ndarray, valid: np.ndarray, special: np.ndarray, punct: np.ndarray) -> np.ndarray:
    """The head statistics of a padded encoder batch in one masked pass.

    att: [B, LH, N, N] float32 (pads: zero weight as keys); valid, special, punct: bool [B, N].
    Returns ({statistic name: [B, LH]}, pattern class codes [B, LH]).
    """
    B, LH, N, _ = att.shape
    n = valid.sum(axis=1).astype(np.float64)  # [B]
    vrow = valid[:, None, :].astype(np.float64)  # [B, 1, N]
    idx = np.arange(N)
    plogp = att * np.log(np.maximum(att, 1e-30))
    row_h = -plogp.sum(axis=-1, dtype=np.float64)  # [B, LH, N]
    entropy = (row_h * vrow).sum(-1) / n[:, None]
    entropy_norm = entropy / np.log(n)[:, None]
    dist = np.abs(idx[:, None] - idx[None, :]).astype(np.float32)
    row_d = np.einsum("bkij,ij->bki", att, dist).astype(np.float64)
    mean_distance = (row_d * vrow).sum(-1) / n[:, None]
    distance_ratio = mean_distance / ((n**2 - 1) / (3 * n))[:, None]
    col_mass = (att * valid[:, None, :, None]).sum(axis=2, dtype=np.float64) / n[:, None, None]  # [B, LH, N]
    cls = special & (idx[None, :] == 0)
    sep = special & ~cls
    cls_share = (col_mass * cls[:, None, :]).sum(-1)
    sep_share = (col_mass * sep[:, None, :]).sum(-1)
    special_share = cls_share + sep_share
    punct_share = (col_mass * (punct & ~special)[:, None, :]).sum(-1)
    first = col_mass[..., 0]
    diag = att[:, :, idx, idx].astype(np.float64) * vrow
    prev = att[:, :, idx[1:], idx[:-1]].astype(np.float64) * valid[:, None, 1:]
    nxt = att[:, :, idx[:-1], idx[1:]].astype(np.float64) * valid[:, None, 1:]
    self_score = diag.sum(-1) / n[:, None]
    prev_score = prev.sum(-1) / (n - 1)[:, None]
    next_score = nxt.sum(-1) / (n - 1)[:, None]
    plain = valid & ~special
    row_max = np.max(att, axis=-1, where=plain[:, None, None, :], initial=-np.inf).astype(np.float64)
    confidence = (row_max * vrow).sum(-1) / n[:, None]
    vertical = cls_share + sep_share
    diagonal = (diag.sum(-1) + prev.sum(-1) + nxt.sum(-1)) / n[:, None]
    block = np.zeros_like(vertical)  # one segment per sentence
    broad = entropy_norm > 0.78
    a_prev, a_next, a_special = prev_score > 0.5, next_score > 0.5, special_share > 0.6
    out = {"entropy": entropy, "entropy_norm": entropy_norm, "mean_distance": mean_distance,
           "distance_ratio": distance_ratio, "cls_share": cls_share, "sep_share": sep_share,
           "special_share": special_share, "punct_share": punct_share, "self_score": self_score,
           "prev_score": prev_score, "next_score": next_score, "confidence": confidence,
           "first_token_share": first, "sink_ratio": first * n[:, None], "vertical_score": vertical,
           "diagonal_score": diagonal, "block_score": block, "broad": broad, "attends_previous": a_prev,
           "attends_next": a_next, "attends_special": a_special}
    pattern = np.select([(vertical >= 0.6) & (diagonal < 0.3), (diagonal >= 0.5) & (vertical < 0.3),
                         (vertical + diagonal >= 0.7) & (vertical >= 0.25) & (diagonal >= 0.25), block >= 0.3],
                        [0, 1, 2, 3], default=4)
    return out, pattern


def bare_loop(loaded: Any, texts: list[str], batch_size: int, punct_table: np.ndarray) -> tuple[Clock, dict]:
    """(wall and CPU seconds, {statistic: per-head mean [LH]}): sort, pad, forward, vectorised
    statistics, sums."""
    import torch

    tok, model = loaded.tokenizer, loaded.model
    clock = Clock()
    lengths = [len(ids) for ids in tok(texts, truncation=True, max_length=MAX_TOKENS)["input_ids"]]
    order = np.argsort(lengths, kind="stable")
    sums = sumsq = None
    classes = None
    for s in range(0, len(order), batch_size):
        chunk = [texts[i] for i in order[s:s + batch_size]]
        enc = tok(chunk, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt",
                  return_special_tokens_mask=True)
        with torch.inference_mode():
            out = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                        token_type_ids=enc.get("token_type_ids"), output_attentions=True)
        att = torch.stack(out.attentions, dim=1).numpy()  # [B, L, H, N, N]
        B, L, H, N, _ = att.shape
        valid = enc["attention_mask"].numpy().astype(bool)
        special = enc["special_tokens_mask"].numpy().astype(bool) & valid
        punct = punct_table[enc["input_ids"].numpy()] & valid
        named, pattern = bare_statistics(att.reshape(B, L * H, N, N), valid, special, punct)
        names = list(named)
        stats = np.stack([named[k] for k in names], axis=-1)  # [B, LH, S]
        if sums is None:
            sums, sumsq = np.zeros(stats.shape[1:]), np.zeros(stats.shape[1:])
            classes = np.zeros((stats.shape[1], 5), dtype=np.int64)
        sums += stats.sum(axis=0)
        sumsq += (stats**2).sum(axis=0)
        np.add.at(classes, (np.broadcast_to(np.arange(stats.shape[1]), pattern.shape), pattern), 1)
    means = sums / len(texts)
    return clock.stop(), {k: means[:, j] for j, k in enumerate(names)}


def app_run(loaded: Any, texts: list[str], batch_size: int) -> tuple[Clock, Any]:
    from core.corpus.run import run_corpus

    clock = Clock()
    run = run_corpus(loaded, texts, batch_size, max_tokens=MAX_TOKENS, store=False, reuse=False)
    return clock.stop(), run


class Clock:
    """Wall time and this process's CPU time. On a machine other processes load, CPU time is the
    steadier measure of the work done (with one torch thread it does not count waiting)."""

    def __init__(self) -> None:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        self.wall = self.cpu = 0.0

    def stop(self) -> Clock:
        self.wall, self.cpu = time.perf_counter() - self.wall0, time.process_time() - self.cpu0
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

def run(sentences: int = 640, repeats: int = 3, memory_sizes: tuple[int, ...] = MEMORY_GOAL_SIZES,
        batch_sizes: tuple[int, ...] = BATCH_SIZES, quick: bool = False) -> list[dict]:
    from core.corpus.aggregate import STAT_NAMES
    from core.models.loading import load_model

    if quick:
        sentences, repeats = int(QUICK["sentences"]), int(QUICK["repeats"])  # type: ignore[call-overload]
        memory_sizes = tuple(QUICK["memory_sizes"])  # type: ignore[arg-type]
    tag = f" [quick: {sentences} sentences, {repeats} repeat{'s' * (repeats != 1)}]" if quick else ""

    loaded = load_model("all-MiniLM-L6-v2", device="cpu")
    texts = corpus(sentences)
    table = _punct_table(loaded.tokenizer)
    rows: list[dict] = []
    app_run(loaded, texts[:64], 8)  # warm-up: first forward, imports
    bare_loop(loaded, texts[:64], 8, table)
    for bs in batch_sizes:
        n = texts if bs > 1 else texts[: max(64, sentences // 4)]  # batch 1 is slow: a quarter
        app_c, bare_c = [], []
        for _ in range(repeats):
            clock, app = app_run(loaded, n, bs)
            app_c.append(clock)
            clock, bare_means = bare_loop(loaded, n, bs, table)
            bare_c.append(clock)
        # The two loops compute the same statistics: check it once per batch size.
        app_means = app.means()
        same = set(bare_means) == set(STAT_NAMES) and all(
            np.allclose(app_means[k].to_numpy(), bare_means[k], atol=1e-4) for k in STAT_NAMES)
        for what in ("wall", "cpu"):
            app_rate = len(n) / statistics.median(getattr(c, what) for c in app_c)
            bare_rate = len(n) / statistics.median(getattr(c, what) for c in bare_c)
            ratio = app_rate / bare_rate
            label = "wall clock" if what == "wall" else "CPU time"
            rows.append({"benchmark": "corpus", "metric": f"run_corpus, batch {bs} ({label})",
                         "value": round(app_rate, 1), "unit": "sentences/s", "goal": "", "passed": None})
            rows.append({"benchmark": "corpus", "metric": f"bare batched loop, batch {bs} ({label})",
                         "value": round(bare_rate, 1), "unit": "sentences/s", "goal": "", "passed": None})
            rows.append({"benchmark": "corpus", "metric": f"ratio run_corpus / bare, batch {bs} ({label}; "
                         f"same means: {'yes' if same else 'NO'}; statistics passes: "
                         f"{app.meta['statistics_calls']} for {len(n)} sentences){tag}", "value": round(ratio, 3), "unit": "x",
                         "goal": f">= {RATIO_GOAL}" if bs == 64 else "",
                         "passed": (ratio >= RATIO_GOAL) if bs == 64 and not quick else None})
    if memory_sizes:
        mem = memory(memory_sizes)
        for m in mem:
            rows.append({"benchmark": "corpus", "metric": f"peak RSS, {m['sentences']:,} sentences "
                         f"({m['seconds']:.0f} s, {m['sentences'] / m['seconds']:.0f} sentences/s)",
                         "value": round(m["peak_mb"], 1), "unit": "MB", "goal": "", "passed": None})
        growth = mem[-1]["peak_mb"] - mem[0]["peak_mb"]
        judged = tuple(memory_sizes) == MEMORY_GOAL_SIZES  # the goal is for 1,000 -> 10,000 sentences
        rows.append({"benchmark": "corpus", "metric": f"peak RSS growth {mem[0]['sentences']:,} -> "
                     f"{mem[-1]['sentences']:,} sentences{' [quick]' if quick else ''}", "value": round(growth, 1),
                     "unit": "MB",
                     "goal": f"< {MEMORY_GOAL_MB:.0f}" if judged else "",
                     "passed": (growth < MEMORY_GOAL_MB) if judged else None})
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

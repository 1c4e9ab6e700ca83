"""Command line: run a corpus file through a model and write the run the app opens (Parquet).

    python -m core.corpus --model all-MiniLM-L6-v2 --input corpus.txt --batch-size 64 \\
        --device cpu --out run.parquet
    python -m core.corpus --model all-MiniLM-L6-v2 --input reviews.csv --column text --out run.parquet
    python -m core.corpus --model all-MiniLM-L6-v2 --builtin sample_en --out sample.parquet

Input: .txt (one sentence per line), .csv (--column), .jsonl (--column is the field), or a
built-in set. No upload or sentence limit here (--max-sentences sets one). Ctrl-C stops after
the batch in flight and still writes what is done (marked incomplete). The run is also filed in
the result store's folder (ATTENTION_DASHBOARD_CACHE_DIR), so the app reopens it at once for the
same corpus and model. Exit status: 0 done, 1 stopped early (partial run written), 2 bad input.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path

from core.corpus import sources
from core.corpus.batch import DEFAULT_CORPUS_MAX_TOKENS
from core.errors import AttentionDashboardError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m core.corpus", description=__doc__.split("\n\n")[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--input", type=Path, help="a .txt, .csv or .jsonl file")
    src.add_argument("--builtin", choices=list(sources.BUILTINS), help="a built-in corpus")
    p.add_argument("--column", help="the .csv column or .jsonl field that holds the sentences")
    p.add_argument("--model", required=True, help="a registered model id, e.g. all-MiniLM-L6-v2")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--max-tokens", type=int, default=DEFAULT_CORPUS_MAX_TOKENS,
                   help=f"tokens kept per sentence (default {DEFAULT_CORPUS_MAX_TOKENS})")
    p.add_argument("--max-sentences", type=int, default=None, help="read at most this many sentences")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 or mps (default: CUDA, then MPS, then CPU)")
    p.add_argument("--half", action="store_true", help="float16 on CUDA / MPS (ignored on the CPU)")
    p.add_argument("--out", type=Path, default=None, help="where to write the run (default: <input>.run.parquet)")
    p.add_argument("--no-store", action="store_true", help="do not file the run in the result store's folder")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.batch_size < 1:
        print("error: --batch-size must be at least 1", file=sys.stderr)
        return 2
    try:
        if args.builtin:
            corpus = sources.builtin(args.builtin)
        else:
            corpus = sources.read_path(args.input, args.column, max_sentences=args.max_sentences)
    except AttentionDashboardError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = args.out or Path(f"{(args.input or Path(args.builtin)).with_suffix('')}.run.parquet")
    for note in corpus.notes():
        print(f"note: {note}", file=sys.stderr)

    from core.corpus.run import run_corpus

    cancel = threading.Event()
    previous = signal.getsignal(signal.SIGINT)

    def stop(signum, frame):  # noqa: ANN001 - signal handler signature
        if cancel.is_set():  # a second Ctrl-C: stop now
            signal.signal(signal.SIGINT, previous)
            raise KeyboardInterrupt
        cancel.set()
        print("\nstopping after this batch (Ctrl-C again to abort)...", file=sys.stderr)

    signal.signal(signal.SIGINT, stop)
    last = [0.0]

    def progress(done: int, total: int, rate: float, eta: float) -> None:
        now = time.monotonic()
        if args.quiet or (now - last[0] < 0.5 and done < total):
            return
        last[0] = now
        left = f"{eta:,.0f} s left" if eta != float("inf") else "..."
        print(f"\r{done:,}/{total:,} sentences  {rate:,.1f} sentences/s  {left}   ", end="", file=sys.stderr,
              flush=True)

    try:
        run = run_corpus(args.model, corpus, args.batch_size, progress=progress, cancel=cancel,
                         max_tokens=args.max_tokens, device=args.device, half=args.half, store=not args.no_store)
    except AttentionDashboardError as err:
        print(f"\nerror: {err}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGINT, previous)
    if not args.quiet:
        print(file=sys.stderr)
    run = run.save(out)
    meta = run.meta
    state = "complete" if run.complete else f"stopped early: {run.done:,} of {run.total:,} sentences"
    rate = meta.get("sentences_per_s")
    print(f"wrote {out} ({state}; {meta['model_id']} on {meta['device']}, "
          f"{run.num_layers} x {run.num_heads} heads, {meta['seconds']:.1f} s"
          f"{f', {rate:,.1f} sentences/s' if rate else ''})")
    return 0 if run.complete else 1


if __name__ == "__main__":
    sys.exit(main())

"""Command line: run a corpus file through a model and write the run the app opens (Parquet).

    python -m core.corpus --model all-MiniLM-L6-v2 --input corpus.txt --batch-size 64 \\
        --device cpu --out run.parquet
    python -m core.corpus --model all-MiniLM-L6-v2 --input reviews.csv --column text --out run.parquet
    python -m core.corpus --model all-MiniLM-L6-v2 --builtin sample_en --out sample.parquet
    python -m core.corpus --model all-MiniLM-L6-v2 --builtin sample_en --out sample.parquet --probe
    python -m core.corpus --model all-MiniLM-L6-v2 --input corpus.txt --probe-only --probe-out probe.parquet

Input: .txt (one sentence per line), .csv (--column), .jsonl (--column is the field), or a
built-in set. No upload or sentence limit here (--max-sentences sets one). Ctrl-C stops after
the batch in flight and still writes what is done (marked incomplete). The run is also filed in
the result store's folder (ATTENTION_DASHBOARD_CACHE_DIR), so the app reopens it at once for the
same corpus and model. Exit status: 0 done, 1 stopped early (partial run written), 2 bad input.

--probe also runs syntax probing (core.probing: spaCy's parse of every sentence against every
head, both directions, fixed-offset baselines; needs spaCy and its English model) and writes the
probing run (`core.probing.run.ProbeRun`, Parquet) to --probe-out (default: the corpus run's file
name with .probe.parquet); --probe-only skips the corpus statistics. A complete probing run is
filed in the result store's folder too (`core.probing.run.stored_probe` finds it for the same
sentences, model, --max-tokens and parser). Probing runs in full precision (--half is ignored there).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
    p.add_argument("--probe", action="store_true",
                   help="also probe syntax (spaCy parse against every head) and write the probing run")
    p.add_argument("--probe-only", action="store_true", help="only the probing run, no corpus statistics")
    p.add_argument("--probe-out", type=Path, default=None,
                   help="where to write the probing run (default: the run's name with .probe.parquet)")
    p.add_argument("--no-store", action="store_true", help="do not file the run in the result store's folder")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    return p


def _probe_path(args: argparse.Namespace, out: Path) -> Path:
    if args.probe_out is not None:
        return args.probe_out
    name = out.name[: -len(".run.parquet")] if out.name.endswith(".run.parquet") else out.stem
    return out.with_name(f"{name}.probe.parquet")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    probe = args.probe or args.probe_only
    found = _inputs(args, probe)
    if isinstance(found, str):
        print(f"error: {found}", file=sys.stderr)
        return 2
    status, corpus = found
    out = args.out or Path(f"{(args.input or Path(args.builtin)).with_suffix('')}.run.parquet")
    for note in corpus.notes():
        print(f"note: {note}", file=sys.stderr)

    cancel = threading.Event()
    previous = _stop_on_ctrl_c(cancel)
    progress = _progress_line(args.quiet)
    complete = True
    loaded: list[Any] = []

    def model() -> Any:
        """The model, loaded once for both runs."""
        if not loaded:
            from core.models.loading import load_model

            loaded.append(load_model(args.model, device=args.device))
        return loaded[0]

    try:
        stored = None
        if probe:
            from core.probing import run as probing

            stored = probing.stored_probe(args.model, list(corpus.sentences), args.max_tokens, parser=status)
        if not args.probe_only:
            # Probing needs the model anyway: load it once. Otherwise run_corpus loads it only when
            # the store does not hold this run already.
            target = model() if probe and stored is None else args.model
            complete = _corpus_run(args, corpus, target, cancel, progress, out)
        if probe and not cancel.is_set():
            complete = _probe(args, corpus, status, stored, model, _probe_path(args, out), cancel,
                              progress) and complete
    except AttentionDashboardError as err:
        print(f"\nerror: {err}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGINT, previous)
    if probe and cancel.is_set() and not args.probe_only:
        print("note: stopped before probing; no probing run written", file=sys.stderr)
    return 0 if complete else 1


def _inputs(args: argparse.Namespace, probe: bool) -> tuple[Any, sources.Corpus] | str:
    """(the parser's status when probing, else None; the corpus), or what is wrong with the input.
    The parser is checked before any sentence is read or model loaded."""
    if args.batch_size < 1:
        return "--batch-size must be at least 1"
    status = None
    if probe:
        from core.probing import parser as parsing

        status = parsing.parser_status()
        if not status.available:
            return status.message
    try:
        if args.builtin:
            corpus = sources.builtin(args.builtin)
        else:
            corpus = sources.read_path(args.input, args.column, max_sentences=args.max_sentences)
    except AttentionDashboardError as err:
        return str(err)
    return status, corpus


def _stop_on_ctrl_c(cancel: threading.Event) -> Any:
    """The first Ctrl-C sets `cancel` (the run stops after its batch), a second one aborts.
    Returns the SIGINT handler it replaced."""
    previous = signal.getsignal(signal.SIGINT)

    def stop(signum, frame):  # noqa: ANN001 - signal handler signature
        if cancel.is_set():  # a second Ctrl-C: stop now
            signal.signal(signal.SIGINT, previous)
            raise KeyboardInterrupt
        cancel.set()
        print("\nstopping after this batch (Ctrl-C again to abort)...", file=sys.stderr)

    signal.signal(signal.SIGINT, stop)
    return previous


def _progress_line(quiet: bool) -> Callable[..., None]:
    """A progress callback that rewrites one line on stderr at most twice a second (nothing when quiet)."""
    last = [0.0]

    def progress(done: int, total: int, rate: float, eta: float, what: str = "sentences") -> None:
        now = time.monotonic()
        if quiet or (now - last[0] < 0.5 and done < total):
            return
        last[0] = now
        left = f"{eta:,.0f} s left" if eta != float("inf") else "..."
        print(f"\r{done:,}/{total:,} {what}  {rate:,.1f} sentences/s  {left}   ", end="", file=sys.stderr, flush=True)

    return progress


def _corpus_run(args: argparse.Namespace, corpus: sources.Corpus, target: Any, cancel: threading.Event,
                progress: Callable[..., None], out: Path) -> bool:
    """The corpus statistics run, written to `out`. Returns whether it is complete."""
    from core.corpus.run import run_corpus

    run = run_corpus(target, corpus, args.batch_size, progress=progress, cancel=cancel,
                     max_tokens=args.max_tokens, device=args.device, half=args.half, store=not args.no_store)
    if not args.quiet:
        print(file=sys.stderr)
    run = run.save(out)
    meta = run.meta
    state = "complete" if run.complete else f"stopped early: {run.done:,} of {run.total:,} sentences"
    rate = meta.get("sentences_per_s")
    print(f"wrote {out} ({state}; {meta['model_id']} on {meta['device']}, "
          f"{run.num_layers} x {run.num_heads} heads, {meta['seconds']:.1f} s"
          f"{f', {rate:,.1f} sentences/s' if rate else ''})")
    return run.complete


def _probe(args: argparse.Namespace, corpus: sources.Corpus, status: Any, found: Any, model: Any, path: Path,
           cancel: threading.Event, progress: Any) -> bool:
    """The probing run: the stored one (`found`) when there is one, else parse + extract + count.
    Returns whether it is complete."""
    from core.probing import run as probing

    texts = list(corpus.sentences)
    if found is not None:
        found.save(path)
        print(f"wrote {path} (probing, from the store: {found.done:,} sentences, {found.counts.arcs:,} words "
              f"checked, {len(found.counts.relations)} relations; {found.parser})")
        return True
    from core.probing import parser as parsing

    loaded = model()
    nlp = parsing.load_parser(status.name)

    def tick(run: probing.ProbeRun) -> None:
        rate = run.rate
        left = (run.total - run.done - run.failed) / rate if rate > 0 else float("inf")
        progress(run.done + run.failed, run.total, rate, left, "sentences probed")

    result = probing.probe_corpus(loaded, texts, nlp, max_tokens=args.max_tokens, batch_size=args.batch_size,
                                  progress=tick, cancel=cancel.is_set)
    if not args.quiet:
        print(file=sys.stderr)
    result.meta.update({"corpus_name": corpus.name, "corpus_kind": corpus.kind, "corpus_digest": corpus.digest,
                        "max_tokens": args.max_tokens, "batch_size": args.batch_size,
                        "device": loaded.info.device, "parser_name": status.name, "parser_version": status.version,
                        "created": time.time()})
    if result.counts is None:
        print(f"note: no sentence could be probed ({result.failed:,} failed); no probing run written",
              file=sys.stderr)
        for index, why in result.failures[:5]:
            print(f"  sentence {index + 1}: {why}", file=sys.stderr)
        return False
    result.save(path)
    if not args.no_store:
        probing.file_probe(result, texts, args.max_tokens, parser=status)
    state = "complete" if result.complete else f"stopped early: {result.done:,} of {result.total:,} sentences"
    failed = f", {result.failed:,} failed" if result.failed else ""
    print(f"wrote {path} (probing, {state}{failed}; {result.counts.arcs:,} words checked against their parse "
          f"head, {len(result.counts.relations)} relations; {result.parser}; {result.seconds:.1f} s)")
    return result.complete


if __name__ == "__main__":
    sys.exit(main())

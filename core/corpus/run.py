"""One corpus through one model: `run_corpus(...) -> CorpusRun`, kept on disk as Parquet.

A `CorpusRun` is one row per head (the aggregate of `core.corpus.aggregate`: moments, spread,
pattern-class counts, typical and least typical sentences) plus a JSON header of what it was
computed from. It is the format the app opens and `python -m core.corpus` writes.

On disk: `<result store folder>/corpus/<40 hex>.parquet` (the store's folder is
core.attention.store.default_dir(): ATTENTION_DASHBOARD_CACHE_DIR, `off` turns it off), keyed by
the corpus (sha256 of its sentences), the model's files (`store.model_fingerprint`), the
library versions and extraction code (`store.library_versions`), this package's own code and
the token limit. A complete run is written atomically and reopened at once the next time the
same corpus meets the same model, before any model loads. A cancelled run is returned with
what it finished (it is not filed under the key: it is not the answer to that key).
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core import runfiles
from core.analysis.patterns import PATTERN_CLASSES
from core.corpus.aggregate import STAT_NAMES, TYPICAL_K, CorpusAggregate
from core.attention.batch import DEFAULT_BATCH_SIZE, iter_padded
from core.corpus.batch import DEFAULT_CORPUS_MAX_TOKENS
from core.corpus.sources import Corpus
from core.corpus.errors import CorpusRunError
from core.jobs import Job
from core.models.loading import LoadedModel

log = logging.getLogger("attention_dashboard")

FORMAT_VERSION = 1
META_KEY = b"attention_dashboard.corpus_run"
SUBDIR = "corpus"
MAX_STORED_RUNS = 64  # least recently used runs past this are deleted
# This app's code that decides a run's numbers, besides the extraction code in every result key
# (core.attention.store.library_versions): the padded batches, their token masks, the statistics.
_CODE_FILES = ("attention/batch.py", "models/token_sets.py", "corpus/aggregate.py", "analysis/statistics.py",
               "analysis/patterns.py")

Progress = Callable[[int, int, float, float], None]  # (done, total, sentences per second, seconds left)


# --- the run ------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class CorpusRun:
    """The statistics of a corpus run, one row per head in `heads`; `meta` says what produced it."""

    heads: pd.DataFrame
    meta: dict[str, Any]
    path: Path | None = field(default=None, compare=False)

    # -- facts ------------------------------------------------------------------------------------
    @property
    def model_id(self) -> str:
        return str(self.meta["model_id"])

    @property
    def num_layers(self) -> int:
        return int(self.meta["num_layers"])

    @property
    def num_heads(self) -> int:
        return int(self.meta["num_heads"])

    @property
    def done(self) -> int:
        return int(self.meta["done"])

    @property
    def total(self) -> int:
        return int(self.meta["total"])

    @property
    def complete(self) -> bool:
        return bool(self.meta["complete"])

    @property
    def causal(self) -> bool:
        return bool(self.meta.get("causal", False))

    # -- views ------------------------------------------------------------------------------------
    def grid(self, statistic: str, what: str = "mean") -> np.ndarray:
        """[layers, heads] of one statistic's mean (or "sd", "ci_low", "ci_high", "n")."""
        if statistic not in STAT_NAMES:
            raise KeyError(statistic)
        values = self.heads[f"{statistic}__{what}"].to_numpy(dtype=np.float64)
        return values.reshape(self.num_layers, self.num_heads)

    def means(self) -> pd.DataFrame:
        """One row per head, one column per statistic (its corpus mean): the Head atlas's table."""
        out = self.heads[["layer", "head"]].copy()
        for name in STAT_NAMES:
            out[name] = self.heads[f"{name}__mean"].to_numpy()
        return out

    def summary(self, statistic: str | None = None) -> pd.DataFrame:
        """Long form: layer, head, statistic, n, mean, sd, ci_low, ci_high (95% interval of the mean)."""
        names = STAT_NAMES if statistic is None else (statistic,)
        frames = []
        for name in names:
            frames.append(pd.DataFrame({
                "layer": self.heads["layer"].to_numpy(), "head": self.heads["head"].to_numpy(), "statistic": name,
                **{what: self.heads[f"{name}__{what}"].to_numpy() for what in ("n", "mean", "sd", "ci_low", "ci_high")},
            }))
        return pd.concat(frames, ignore_index=True)

    def pattern_shares(self) -> pd.DataFrame:
        """layer, head, one share column per pattern class (of the sentences), the commonest class
        and its share."""
        counts = self.heads[[f"pattern__{c}" for c in PATTERN_CLASSES]].to_numpy(dtype=np.float64)
        total = counts.sum(axis=1, keepdims=True)
        shares = np.divide(counts, total, out=np.zeros_like(counts), where=total > 0)
        out = self.heads[["layer", "head"]].copy()
        for j, name in enumerate(PATTERN_CLASSES):
            out[name] = shares[:, j]
        top = shares.argmax(axis=1)
        out["commonest"] = np.asarray(PATTERN_CLASSES, dtype=object)[top]
        out["commonest_share"] = shares[np.arange(len(top)), top]
        return out

    def typical(self, layer: int, head: int) -> pd.DataFrame:
        """The head's most typical and least typical sentences: kind, rank, index, distance, text."""
        row = self.heads.iloc[int(layer) * self.num_heads + int(head)]
        frames = []
        for kind in ("typical", "atypical"):
            idx = list(row[f"{kind}_index"])
            frames.append(pd.DataFrame({
                "kind": "most typical" if kind == "typical" else "least typical",
                "rank": np.arange(1, len(idx) + 1), "index": np.asarray(idx, dtype=np.int64),
                "distance": np.asarray(list(row[f"{kind}_distance"]), dtype=np.float64),
                "text": list(row[f"{kind}_text"]),
            }))
        return pd.concat(frames, ignore_index=True)

    # -- files ------------------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        return runfiles.headed_parquet(self.heads, META_KEY, self.meta)

    def save(self, path: str | Path) -> CorpusRun:
        """Write atomically (temporary file + rename); returns the run with its `path`."""
        target = runfiles.write_atomic(path, self.to_bytes())
        return CorpusRun(self.heads, self.meta, target)

    @classmethod
    def load(cls, source: str | Path | bytes) -> CorpusRun:
        """Open a run written by `save` / `python -m core.corpus` (a path or the file's bytes)."""
        heads, meta, path = runfiles.read_headed_parquet(source, META_KEY, FORMAT_VERSION, "corpus-run",
                                                         CorpusRunError)
        missing = [c for c in ("layer", "head", *(f"{s}__mean" for s in STAT_NAMES), "typical_index")
                   if c not in heads.columns]
        expected = int(meta.get("num_layers", -1)) * int(meta.get("num_heads", -1))
        if missing or len(heads) != expected:
            raise CorpusRunError("its columns or rows do not match its header")
        return cls(heads, meta, path)


# --- the disk store -------------------------------------------------------------------------------

def corpus_dir() -> Path | None:
    """`<result store folder>/corpus`, or None when the store is off."""
    from core.attention.store import default_dir

    base = default_dir()
    return None if base is None else base / SUBDIR


def _code_version() -> str:
    from core.attention.store import code_version

    return code_version(_CODE_FILES)


def run_key(model_id: str, corpus_digest: str, max_tokens: int | None, half: bool = False) -> dict[str, Any] | None:
    """What a stored run depends on, or None when the model's files are not on this machine.
    (Not the device or the batch size: they change numbers only at float rounding.)"""
    from core.attention.store import library_versions, model_fingerprint

    try:
        fp = model_fingerprint(model_id)
    except Exception:  # noqa: BLE001 - an unregistered model simply has no stored runs
        fp = None
    if fp is None:
        return None
    return {"kind": "corpus_run", "model_id": model_id, "corpus": corpus_digest,
            "max_tokens": None if max_tokens is None else int(max_tokens), "half": bool(half), "model": fp,
            "versions": library_versions(), "code": _code_version(), "format": FORMAT_VERSION}


def stored_run(model_id: str, corpus: Corpus, max_tokens: int | None = DEFAULT_CORPUS_MAX_TOKENS, *,
               half: bool = False, folder: Path | None = None) -> CorpusRun | None:
    """The complete stored run for this corpus and model, or None. Never loads a model."""
    key = run_key(model_id, corpus.digest, max_tokens, half)
    return runfiles.load_filed(folder or corpus_dir(), key, CorpusRun.load, "corpus")


def _prune(folder: Path, keep: int = MAX_STORED_RUNS) -> None:
    try:
        files = sorted((p for p in folder.glob("*.parquet") if len(p.stem) == 40), key=lambda p: p.stat().st_mtime)
    except OSError:
        return
    for p in files[:-keep] if len(files) > keep else []:
        p.unlink(missing_ok=True)


# --- running ----------------------------------------------------------------------------------

def run_corpus(model: str | LoadedModel, texts: Corpus | Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE, *,
               progress: Progress | None = None, cancel: threading.Event | None = None,
               max_tokens: int | None = DEFAULT_CORPUS_MAX_TOKENS, device: str | None = None, half: bool = False,
               store: bool = True, folder: Path | None = None, reuse: bool = True) -> CorpusRun:
    """Run every sentence through the model in length-bucketed batches and aggregate as it goes.

    `model`: a registered model id (loaded with `load_model(id, device=device)` unless a stored
    run answers first) or a LoadedModel. `progress(done, total, sentences_per_s, eta_s)` after
    every batch. `cancel`: when set, the batch in flight finishes and the run returns what is
    done (`complete` False, `cancelled` True). `store`: file a complete run under the result
    store's folder (or `folder`); `reuse`: answer from there when a stored run matches.
    """
    corpus = texts if isinstance(texts, Corpus) else Corpus.of(texts, max_sentences=None)
    model_id = model if isinstance(model, str) else model.info.model_id
    folder = folder or (corpus_dir() if store or reuse else None)
    if reuse and folder is not None:
        found = stored_run(model_id, corpus, max_tokens, half=half, folder=folder)
        if found is not None:
            if progress is not None:
                progress(found.done, found.total, 0.0, 0.0)
            return found
    if isinstance(model, str):
        from core.models.loading import load_model

        loaded = load_model(model, device=device)
    else:
        loaded = model
    info = loaded.info
    agg = CorpusAggregate(info.num_layers, info.num_heads)
    total = len(corpus)
    done = 0
    cancelled = False
    start = time.perf_counter()
    with _long_lived_objects_frozen():
        for batch in iter_padded(loaded, corpus.sentences, batch_size, max_tokens, half=half):
            agg.add(batch)
            done += batch.size
            del batch  # not held while the next batch's attention is made
            if progress is not None:
                elapsed = time.perf_counter() - start
                rate = done / elapsed if elapsed > 0 else 0.0
                progress(done, total, rate, (total - done) / rate if rate > 0 else float("inf"))
            if cancel is not None and cancel.is_set():
                cancelled = done < total
                break
        agg.flush()
    seconds = time.perf_counter() - start
    key = run_key(model_id, corpus.digest, max_tokens, half)
    run = finish_run(agg, corpus, info, seconds=seconds, batch_size=batch_size, max_tokens=max_tokens, half=half,
                     cancelled=cancelled, key=key)
    return file_run(run, folder) if store else run


def file_run(run: CorpusRun, folder: Path | None = None) -> CorpusRun:
    """File a complete run under its key in the store's folder (or `folder`), where `stored_run`
    finds it; returns the run with its path (the run itself when it is incomplete, has no key, or
    the store is off or cannot be written)."""
    folder = folder or corpus_dir()
    key = run.meta.get("key")
    if folder is None or key is None or not run.complete:
        return run
    try:
        filed = run.save(runfiles.key_path(folder, key))
        _prune(folder)
    except OSError as err:  # a read-only or full disk must not lose the run
        log.info("corpus store: could not write (%s)", err)
        return run
    return filed


@contextmanager
def _long_lived_objects_frozen() -> Iterator[None]:
    """Keep the process's long-lived objects out of the garbage collector's sight during a run.

    A run allocates many short-lived containers (tokens, offsets, results); the full collections
    they trigger would rescan every long-lived object of the process (torch, transformers, the
    model, Streamlit) each time: measured 0.3-0.5 s apiece, ~10% of a 640-sentence run on a
    2-core machine, for nothing (those objects are not garbage). gc.freeze() sets them aside for
    the run (new objects are collected as usual); gc.unfreeze() returns them afterwards.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def finish_run(agg: CorpusAggregate, corpus: Corpus, info: Any, *, seconds: float, batch_size: int,
               max_tokens: int | None, half: bool = False, cancelled: bool = False,
               key: dict[str, Any] | None = None, runner: str = "in-process") -> CorpusRun:
    """The CorpusRun of an aggregate (also used by the Ray runner after merging)."""
    agg.flush()
    sentences = corpus.sentences
    heads = agg.heads_frame(lambda i: sentences[i], TYPICAL_K)
    meta = {
        "format": FORMAT_VERSION, "key": key, "model_id": info.model_id, "model": asdict(info),
        "num_layers": info.num_layers, "num_heads": info.num_heads, "causal": bool(info.causal),
        "device": info.device, "half": bool(half), "runner": runner,
        "corpus_name": corpus.name, "corpus_kind": corpus.kind, "corpus_digest": corpus.digest,
        "total": len(corpus), "done": agg.sentences, "complete": agg.sentences == len(corpus) and not cancelled,
        "cancelled": bool(cancelled), "seconds": round(float(seconds), 3),
        "sentences_per_s": round(agg.sentences / seconds, 2) if seconds > 0 else None,
        "batch_size": int(batch_size), "max_tokens": max_tokens, "tokens": agg.tokens,
        "truncated_sentences": agg.truncated_sentences, "skipped_empty": corpus.skipped_empty,
        "truncated_lines": corpus.truncated_lines, "dropped_lines": corpus.dropped_lines,
        "skipped_other": corpus.skipped_other, "pool_size": agg.pool_size, "created": time.time(),
        "statistics_calls": agg.statistics_calls,
    }
    return CorpusRun(heads, meta)


# --- a run as a background job (the app) -------------------------------------------------------------

RUN_FAILED = "The corpus run failed. Try a smaller batch size or a shorter corpus."


@dataclass(frozen=True)
class JobStatus:
    done: int
    total: int
    sentences_per_s: float
    eta_s: float
    running: bool
    phase: str  # "loading the model" | "running" | "finished" | "cancelled" | "failed"
    run: CorpusRun | None  # the finished (or cancelled, partial) run
    error: str | None  # a sentence for the user when the run failed


class CorpusJob:
    """A corpus run on a background job (core.jobs.Job): `status()` to poll, `cancel()` to stop
    after the batch in flight (the partial run is kept). The job reports `run_corpus`'s progress
    (done, total, sentences per second, seconds left) and returns the CorpusRun; until its first
    report it is loading the model."""

    def __init__(self, job: Job, total: int) -> None:
        self.job = job
        self.total = total

    @classmethod
    def start(cls, model: str | LoadedModel | Callable[[], LoadedModel], corpus: Corpus,
              batch_size: int = DEFAULT_BATCH_SIZE, **kwargs: Any) -> CorpusJob:
        """`run_corpus` on a job of its own. `model`: an id, a LoadedModel, or a function returning
        one (called on the job, so the caller does not wait for the model to load)."""

        def work(job: Job) -> CorpusRun:
            target = model() if callable(model) and not isinstance(model, (str, LoadedModel)) else model
            job.report((0, len(corpus), 0.0, float("inf")))
            return run_corpus(target, corpus, batch_size, progress=lambda *p: job.report(p),
                              cancel=job.cancel_event, **kwargs)

        return cls(Job(work, name="corpus-run", failure=RUN_FAILED), len(corpus))

    def cancel(self) -> None:
        self.job.cancel()

    @property
    def cancelling(self) -> bool:
        return self.job.cancelled

    def join(self, timeout: float | None = None) -> None:
        self.job.join(timeout)

    def status(self) -> JobStatus:
        job = self.job
        progress = job.progress
        done, total, rate, eta = progress if progress is not None else (0, self.total, 0.0, float("inf"))
        run = job.result if job.done else None
        if job.running:
            phase = "loading the model" if progress is None else "running"
        elif job.error is not None:
            phase = "failed"
        else:
            phase = "finished" if run is not None and run.complete else "cancelled"
        return JobStatus(done, total, rate, eta, job.running, phase, run, job.error)

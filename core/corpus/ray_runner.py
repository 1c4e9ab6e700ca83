"""The corpus run on Ray Data, for corpora too big for one machine (an optional install).

    pip install "ray[data]==2.60.0"
    from core.corpus import ray_runner, sources
    run = ray_runner.run_corpus_ray("all-MiniLM-L6-v2", sources.read_path("big.txt"), batch_size=64)
    run.save("big.parquet")          # the same file the app opens

Each Ray actor loads the model once and runs, on its partition of the corpus, exactly what the
in-process `core.corpus.run.run_corpus` runs: `core.attention.batch.iter_padded` (bucketing,
padding, verified padded batches) fed to `core.corpus.aggregate.CorpusAggregate.add`. It
returns the aggregate's state (plain numpy arrays, written with `np.savez`, no pickle); the
driver merges the partitions (Chan's update for the moments, sums for the class counts, the
typical-sentence pools re-ranked against the merged mean) and builds the same `CorpusRun`.

Where: `ray.init()` on this machine by default (Ray's local mode: a small local cluster), or
`address="ray://head:10001"` / `address="auto"` for a cluster whose workers have this
repository and its requirements (for example through a runtime_env `working_dir`). Ray is
imported only here, only when called.
"""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from core.corpus.aggregate import CorpusAggregate
from core.attention.batch import DEFAULT_BATCH_SIZE, iter_padded
from core.corpus.batch import DEFAULT_CORPUS_MAX_TOKENS
from core.corpus.run import CorpusRun, finish_run, run_key
from core.corpus.sources import Corpus
from core.corpus.errors import RayUnavailableError

ROOT = Path(__file__).resolve().parents[2]
PARTITION_SIZE = 4096  # sentences per Ray task (one aggregate each)
RAY_REQUIREMENT = "ray[data]==2.60.0"


def summarise(loaded: Any, texts: Sequence[str], indices: Sequence[int], batch_size: int,
              max_tokens: int | None, half: bool = False) -> CorpusAggregate:
    """The per-partition work: iter_padded into one CorpusAggregate (what run_corpus does, minus
    progress and cancel)."""
    agg = CorpusAggregate(loaded.info.num_layers, loaded.info.num_heads)
    for batch in iter_padded(loaded, texts, batch_size, max_tokens, indices=indices, half=half):
        agg.add(batch)
    agg.flush()
    return agg


def state_to_bytes(agg: CorpusAggregate) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **agg.to_state())
    return buf.getvalue()


def state_from_bytes(data: bytes) -> CorpusAggregate:
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return CorpusAggregate.from_state({k: npz[k] for k in npz.files})


class _Summariser:
    """A Ray Data actor: loads the model once, then summarises one partition per call."""

    def __init__(self, model_id: str, device: str | None, batch_size: int, max_tokens: int | None,
                 half: bool) -> None:
        from core.models.loading import load_model

        self.loaded = load_model(model_id, device=device)
        self.batch_size, self.max_tokens, self.half = batch_size, max_tokens, half

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        texts = [str(t) for t in batch["text"]]
        indices = [int(i) for i in batch["index"]]
        agg = summarise(self.loaded, texts, indices, self.batch_size, self.max_tokens, self.half)
        info = json.dumps(asdict(self.loaded.info))
        return {"state": np.array([state_to_bytes(agg)], dtype=object), "info": np.array([info], dtype=object)}


def _ray() -> Any:
    try:
        import ray  # type: ignore[import-not-found]
        import ray.data  # noqa: F401  # type: ignore[import-not-found]
    except ImportError:
        raise RayUnavailableError(RAY_REQUIREMENT) from None
    return ray


def run_corpus_ray(model_id: str, texts: Corpus | Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE, *,
                   max_tokens: int | None = DEFAULT_CORPUS_MAX_TOKENS, device: str | None = "cpu",
                   half: bool = False, partition_size: int = PARTITION_SIZE, actors: int = 1,
                   address: str | None = None, num_cpus: int | None = None) -> CorpusRun:
    """Run the corpus on Ray Data and return the same CorpusRun as `run_corpus` (runner "ray").

    `actors`: how many model copies run at once (each takes one CPU, or one GPU with
    device="cuda"). `address`: an existing cluster; None starts Ray on this machine (left
    running for later calls; `ray.shutdown()` stops it).
    """
    ray = _ray()
    corpus = texts if isinstance(texts, Corpus) else Corpus.of(texts, max_sentences=None)
    if not ray.is_initialized():
        env = {"PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
        ray.init(address=address, num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": env}, configure_logging=False)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    start = time.perf_counter()
    ds = ray.data.from_items([{"index": i, "text": t} for i, t in enumerate(corpus.sentences)])
    use_gpu = bool(device) and str(device).startswith("cuda")
    parts = ds.map_batches(
        _Summariser, batch_size=max(1, int(partition_size)), batch_format="numpy",
        fn_constructor_kwargs={"model_id": model_id, "device": device, "batch_size": batch_size,
                               "max_tokens": max_tokens, "half": half},
        compute=ray.data.ActorPoolStrategy(size=max(1, int(actors))),
        num_gpus=1 if use_gpu else 0,
    )
    merged: CorpusAggregate | None = None
    info: dict[str, Any] | None = None
    for row in parts.iter_rows():
        part = state_from_bytes(row["state"])
        merged = part if merged is None else merged.merge(part)
        info = info or json.loads(row["info"])
    if merged is None or info is None:
        raise ValueError("the corpus is empty")
    from core.models.loading import ModelInfo

    return finish_run(merged, corpus, ModelInfo(**info), seconds=time.perf_counter() - start,
                      batch_size=batch_size, max_tokens=max_tokens, half=half,
                      key=run_key(model_id, corpus.digest, max_tokens, half), runner="ray")

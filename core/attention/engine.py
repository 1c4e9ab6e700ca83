"""The engine: the one keeper of everything computed, and of the loaded models.

Everything the app computes is asked for with a typed request (`Request`, core.attention.request:
a frozen dataclass that says what, and how to compute it) and answered by `AttentionEngine.get(request)`: memory
(a bounded LRU, single-flight: two sessions asking for the same thing compute it once), then
the request's disk store when its kind has one (results, corpus runs, probing runs), then
`request.compute(engine)`. The attention of a text (`Attention`) is the first request; the
catalogue of derived quantities, charts and runs lives in core.requests, above the analysis
and render packages this module must not import.

One engine is shared by every session of the app (held by `st.cache_resource` in ui/cache.py),
so nothing per-session is ever kept on it. Changing layer or head never re-runs a model:
results are keyed by (model id, text, second text, max tokens) only. Models are loaded on first
use and kept in a set bounded by bytes; `jobs` runs background work (warm-ups, downloads,
corpus and probing runs), one job per key.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np

from core.attention.extract import effective_max_tokens, extract
from core.attention.request import Loading, Request
from core.attention.result import AttentionResult, normalise_pair
from core.errors import EmptyTextError
from core.jobs import Job, Jobs
from core.models.loading import LoadedModel, load_model

if TYPE_CHECKING:
    from core.attention.store import ResultStore

T = TypeVar("T")
_MISSING = object()
log = logging.getLogger("attention_dashboard")

ENV_MODEL_MEMORY = "ATTENTION_DASHBOARD_MODEL_MEMORY_MB"
# Loaded models' parameters, in bytes. Community Cloud gives an app about 2.7 GB: Python, torch,
# transformers and Streamlit take ~0.6-0.8 GB, the result and derived caches up to 0.6 GB; 1.25 GiB
# holds DistilBERT and its fine-tuned copy (2 x 265 MB) plus BERT base (440 MB), or XLM-R base alone.
DEFAULT_MODEL_MEMORY = 1280 * 2**20


def model_memory_budget() -> int:
    """Bytes of model parameters the engine keeps loaded: ATTENTION_DASHBOARD_MODEL_MEMORY_MB, else
    DEFAULT_MODEL_MEMORY (1280 MiB)."""
    raw = os.environ.get(ENV_MODEL_MEMORY, "").strip()
    if raw:
        try:
            value = float(raw)
        except ValueError:
            log.warning("%s=%r is not a number of MB; using %d MB", ENV_MODEL_MEMORY, raw, DEFAULT_MODEL_MEMORY >> 20)
        else:
            if value > 0:
                return int(value * 2**20)
    return DEFAULT_MODEL_MEMORY


def model_bytes(loaded: LoadedModel) -> int:
    """Bytes of a loaded model's parameters and buffers (what it holds in memory, roughly)."""
    model = getattr(loaded, "model", None)
    total = 0
    try:
        for t in list(model.parameters()) + list(model.buffers()):  # type: ignore[union-attr]
            total += int(t.numel()) * int(t.element_size())
    except Exception:  # noqa: BLE001 - a stand-in without parameters (tests)
        total = int(getattr(getattr(loaded, "info", None), "num_parameters", 0) or 0) * 4
    return total


@dataclass(frozen=True)
class ModelEviction:
    """A loaded model the engine let go of to make room (the page says so instead of failing)."""

    seq: int  # increasing number of the event
    evicted: str  # model id let go of
    evicted_bytes: int
    for_model: str  # the model that needed the room
    budget_bytes: int
    at: float  # time.time()

    @property
    def message(self) -> str:
        return (f"{self.evicted} was unloaded to make room for {self.for_model} (models may use "
                f"{self.budget_bytes / 2**20:,.0f} MB; it freed {self.evicted_bytes / 2**20:,.0f} MB). "
                "Its results stay available; it loads again on its next new text.")


def _sizeof(value: Any) -> int:
    if isinstance(value, AttentionResult):
        return value.nbytes
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, (tuple, list)):
        return sum(_sizeof(v) for v in value) + 64
    if isinstance(value, dict):
        return sum(_sizeof(v) for v in value.values()) + 64
    nbytes = getattr(value, "nbytes", None)
    if isinstance(nbytes, int):
        return nbytes
    if hasattr(value, "__dataclass_fields__"):
        return sum(_sizeof(getattr(value, f)) for f in value.__dataclass_fields__) + 64
    try:  # pandas objects
        return int(value.memory_usage(deep=True).sum())  # type: ignore[union-attr]
    except Exception:  # noqa: BLE001
        return 256


class BoundedCache:
    """Thread-safe LRU bounded by entry count and by bytes. Values are shared: never mutate."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._data: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._key_locks: dict[Hashable, list[Any]] = {}  # key -> [lock, waiters]
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._data)

    @property
    def nbytes(self) -> int:
        return self._bytes

    def get(self, key: Hashable) -> Any | None:
        """The cached value (counted as a hit), or None."""
        value = self._lookup(key)
        return None if value is _MISSING else value

    def _lookup(self, key: Hashable) -> Any:
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return _MISSING
            self._data.move_to_end(key)
            self.hits += 1
            return item[0]

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._data

    def put(self, key: Hashable, value: Any) -> None:
        size = _sizeof(value)
        with self._lock:
            if key in self._data:
                self._bytes -= self._data.pop(key)[1]
            if size > self.max_bytes:
                return  # too big to keep; the caller still gets its value
            self._data[key] = (value, size)
            self._bytes += size
            while len(self._data) > self.max_entries or self._bytes > self.max_bytes:
                _, (_, old) = self._data.popitem(last=False)
                self._bytes -= old

    def get_or_compute(self, key: Hashable, compute: Callable[[], T], keep: Callable[[T], bool] | None = None) -> T:
        """The cached value, or compute it once: concurrent callers of one key wait for it.
        A value for which `keep(value)` is False is returned but not cached."""
        value = self._lookup(key)
        if value is not _MISSING:
            return value
        with self._lock:
            entry = self._key_locks.get(key)
            if entry is None:
                entry = self._key_locks[key] = [threading.Lock(), 0]
            entry[1] += 1  # waiters; the last one out removes the per-key lock
        try:
            with entry[0]:  # two sessions asking for the same thing compute it once
                value = self._lookup(key)
                if value is not _MISSING:
                    return value
                with self._lock:
                    self.misses += 1
                value = compute()  # an exception propagates and caches nothing
                if keep is None or keep(value):
                    self.put(key, value)
                return value
        finally:
            with self._lock:
                entry[1] -= 1
                if entry[1] == 0 and self._key_locks.get(key) is entry:
                    del self._key_locks[key]

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes = 0


# --- the requests of this layer ---------------------------------------------------------------

@dataclass(frozen=True)
class Attention(Request):
    """The attention of a text: one forward pass of the model (`AttentionResult`). Stored on disk
    (core.attention.store) and in the read-only seed. `loading(message)` is entered only while the
    model itself loads."""

    cache: ClassVar[str] = "results"

    model_id: str
    text: str
    text_pair: str | None = None
    max_tokens: int | None = None
    loading: Loading | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Derived(Request):
    """A value derived from a result by a function the caller names (`AttentionEngine.memo`);
    core.requests holds the typed requests that replace it."""

    result: AttentionResult
    name: str
    params: Hashable
    function: Callable[[], Any] = field(compare=False)

    def compute(self, engine: AttentionEngine) -> Any:
        return self.function()


def _estimate_from_files(model_id: str) -> int | None:
    """A model's size before loading it: its weight files on this machine (None if unknown)."""
    from core.models.config import config_path

    try:
        config = config_path(model_id)
    except Exception:  # noqa: BLE001 - unregistered ids (tests' stand-ins)
        return None
    if config is None:
        return None
    folder = config.parent
    for names in (("model.safetensors",), ("pytorch_model.bin",)):
        size = sum((folder / n).stat().st_size for n in names if (folder / n).is_file())
        if size:
            return size
    shards = [p for p in folder.glob("model-*.safetensors") if p.is_file()]
    return sum(p.stat().st_size for p in shards) or None


class AttentionEngine:
    """Models, results, derived values and runs, all bounded; background jobs. Safe to share
    across threads."""

    def __init__(self, *, max_results: int = 48, max_result_bytes: int = 384 * 2**20,
                 max_derived: int = 256, max_derived_bytes: int = 256 * 2**20,
                 max_runs: int = 96, max_run_bytes: int = 160 * 2**20,
                 device: str | None = None,
                 loader: Callable[[str], LoadedModel] | None = None,
                 store: ResultStore | None = None, seed: ResultStore | None = None,
                 model_budget_bytes: int | None = None,
                 estimate: Callable[[str], int | None] | None = None) -> None:
        self.device = device
        self.store = store  # results on disk: a restarted server redraws them without a model
        self.seed = seed  # read-only results shipped with the app (assets/seed)
        self._limits: dict[tuple[str, str, str | None, int | None], int] = {}  # request -> effective limit
        self._loader = loader or (lambda mid: load_model(mid, device=device))
        # Loaded models, least recently used first, bounded by parameter bytes (`model_budget`).
        self._models: OrderedDict[str, LoadedModel] = OrderedDict()
        self._model_bytes: dict[str, int] = {}
        self.model_budget = int(model_budget_bytes) if model_budget_bytes is not None else model_memory_budget()
        self._estimate = estimate or _estimate_from_files
        self._events: deque[ModelEviction] = deque(maxlen=64)
        self._event_seq = 0
        self._model_locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self.results = BoundedCache(max_results, max_result_bytes)
        self.derived = BoundedCache(max_derived, max_derived_bytes)
        self.runs = BoundedCache(max_runs, max_run_bytes)  # corpus and probing runs, what is derived from them
        self.jobs = Jobs()

    def model(self, model_id: str, loader: Callable[[str], Any] | None = None) -> LoadedModel:
        """The loaded model (loaded on first use). Loading one more than the memory budget holds
        lets go of the least recently used ones first, and records a `ModelEviction` (see
        `events`) instead of failing; a model larger than the whole budget is still loaded, alone.
        `loader`: how to load this id instead of the engine's own (an encoder-decoder model is
        loaded by core.generate.seq2seq; it is kept in the same bounded set)."""
        with self._lock:
            if model_id in self._models:
                self._models.move_to_end(model_id)
                return self._models[model_id]
            lock = self._model_locks.setdefault(model_id, threading.Lock())
        with lock:
            with self._lock:
                if model_id in self._models:
                    self._models.move_to_end(model_id)
                    return self._models[model_id]
            try:
                need = self._estimate(model_id)
            except Exception:  # noqa: BLE001 - no estimate: make room after loading instead
                need = None
            if need:
                self._make_room(int(need), model_id)  # before loading: the peak stays within budget
            loaded = (loader or self._loader)(model_id)
            if self.store is not None:  # file what this model computes under the files it loaded
                self.store.pin(model_id)
            self._register(model_id, loaded)
            return loaded

    def _register(self, model_id: str, loaded: LoadedModel) -> None:
        size = model_bytes(loaded)
        self._make_room(size, model_id)
        with self._lock:
            self._models[model_id] = loaded
            self._models.move_to_end(model_id)
            self._model_bytes[model_id] = size

    def _make_room(self, need: int, for_model: str) -> None:
        """Let go of least recently used models until `need` more bytes fit the budget."""
        evicted: list[tuple[str, int]] = []
        with self._lock:
            used = sum(b for mid, b in self._model_bytes.items() if mid != for_model)
            for mid in list(self._models):
                if used + need <= self.model_budget:
                    break
                if mid == for_model:
                    continue
                self._models.pop(mid)
                size = self._model_bytes.pop(mid, 0)
                used -= size
                evicted.append((mid, size))
            for mid, size in evicted:
                self._event_seq += 1
                event = ModelEviction(self._event_seq, mid, size, for_model, self.model_budget, time.time())
                self._events.append(event)
                log.info("model memory: %s", event.message)
        if evicted:
            gc.collect()  # the model's tensors go back to the allocator now, not at some later collection

    def events(self, since: int = 0) -> list[ModelEviction]:
        """Evictions with seq > since (the last 64 at most), oldest first."""
        with self._lock:
            return [e for e in self._events if e.seq > since]

    def model_memory(self) -> dict[str, int]:
        """Bytes per loaded model, least recently used first."""
        with self._lock:
            return {mid: self._model_bytes.get(mid, 0) for mid in self._models}

    def add_model(self, loaded: LoadedModel) -> None:
        """Register an already loaded model (tests build tiny ones); counts against the budget."""
        self._register(loaded.info.model_id, loaded)

    def loaded_ids(self) -> list[str]:
        """Loaded model ids, least recently used first."""
        with self._lock:
            return list(self._models)

    def is_loaded(self, model_id: str) -> bool:
        with self._lock:
            return model_id in self._models

    # -- the one path -----------------------------------------------------------------------------
    def get(self, request: Request) -> Any:
        """The value of `request`: memory, then its disk store (if its kind has one), then
        `request.compute(self)` (saved to the store); computed once however many ask at once."""
        if isinstance(request, Attention):
            return self._attention(request)
        cache = self._cache_for(request)

        def run() -> Any:
            found = request.load(self)
            if found is not None:
                return found
            value = request.compute(self)
            if request.keep(value):
                request.save(self, value)
            return value

        return cache.get_or_compute(request.key, run, keep=request.keep)

    def find(self, request: Request) -> Any | None:
        """The value of `request` if it is in memory or in its store already (else None); never
        computes, never loads a model."""
        if isinstance(request, Attention):
            return self._stored_attention(request)
        cache = self._cache_for(request)
        key = request.key
        hit = cache.get(key)
        if hit is not None:
            return hit
        found = request.load(self)
        if found is not None and request.keep(found):
            cache.put(key, found)
        return found

    def _cache_for(self, request: Request) -> BoundedCache:
        return {"results": self.results, "derived": self.derived, "runs": self.runs}[request.cache]

    def loaded(self, model_id: str, loading: Loading | None = None,
               note: str = "first use only; the rest of the app keeps working",
               loader: Callable[[str], Any] | None = None) -> LoadedModel:
        """The loaded model; `loading(message)` is entered only while it has to be loaded
        (`loader`: as for `model`)."""
        if self.is_loaded(model_id) or loading is None:
            return self.model(model_id, loader)
        with loading(f"Loading {model_id}… ({note})"):
            return self.model(model_id, loader)

    # -- results -----------------------------------------------------------------------------------
    def result(self, model_id: str, text: str, text_pair: str | None = None, max_tokens: int | None = None,
               *, loading: Loading | None = None) -> AttentionResult:
        """The attention of a text (`get(Attention(...))`): memory, then the on-disk store and the
        seed, then the model (loaded on first use) and one forward pass, stored on disk for next time.

        One cached result per (model, text, second text, effective max tokens): `max_tokens=None`
        and the explicit default share one entry, and a blank second text is the same as none.
        `loading(message)` is entered only while the model itself has to be loaded (a spinner).
        """
        return self._attention(Attention(model_id, text, text_pair, max_tokens, loading))

    def peek(self, model_id: str, text: str, text_pair: str | None = None,
             max_tokens: int | None = None) -> AttentionResult | None:
        """The result if it is already in memory or on disk, without loading a model (else None)."""
        return self._stored_attention(Attention(model_id, text, text_pair, max_tokens))

    def _attention(self, request: Attention) -> AttentionResult:
        model_id, text = request.model_id, request.text
        if not isinstance(text, str) or not text.strip():
            raise EmptyTextError()
        pair = normalise_pair(request.text_pair)
        max_tokens = request.max_tokens
        stored = self._stored_attention(request)
        if stored is not None:
            return stored
        loaded = self.loaded(model_id, request.loading, "first use only; the rest of the app keeps working")
        limit = effective_max_tokens(loaded.info, loaded.tokenizer, max_tokens)
        key = ("attention", model_id, text, pair, limit)
        with self._lock:  # so a later lookup finds this result even after the model is let go of
            if len(self._limits) > 4096:
                self._limits.clear()
            self._limits[(model_id, text, pair, max_tokens)] = limit

        def run() -> AttentionResult:
            result = extract(loaded, text, pair, limit)
            if self.store is not None:
                self.store.save(result, max_tokens, self.device)
            return result

        return self.results.get_or_compute(key, run)

    def _stored_attention(self, request: Attention) -> AttentionResult | None:
        """Memory under the effective token limit (when known), then the store and the seed."""
        model_id, text = request.model_id, request.text
        if not isinstance(text, str) or not text.strip():
            return None
        pair = normalise_pair(request.text_pair)
        max_tokens = request.max_tokens
        asked = (model_id, text, pair, max_tokens)
        with self._lock:
            loaded = self._models.get(model_id)
            limit = self._limits.get(asked)
        if loaded is not None:
            limit = effective_max_tokens(loaded.info, loaded.tokenizer, max_tokens)
        if limit is not None:
            hit = self.results.get(("attention", model_id, text, pair, limit))
            if hit is not None:
                return hit
        stored = None
        for source in (self.store, self.seed):
            if source is not None and stored is None:
                stored = source.load(model_id, text, pair, max_tokens, self.device)
        if stored is not None:
            self.results.put(("attention", model_id, text, pair, stored.max_tokens), stored)
            with self._lock:
                if len(self._limits) > 4096:
                    self._limits.clear()
                self._limits[asked] = stored.max_tokens
        return stored

    def memo(self, result: AttentionResult, name: str, params: Hashable, compute: Callable[[], T]) -> T:
        """Memoise something derived from a result under a name (`get(Derived(...))`)."""
        return self.get(Derived(result, name, params, compute))

    # -- background work ---------------------------------------------------------------------------
    def warm_up(self, model_id: str, prefetch: tuple[str, ...] = (), delay_s: float = 0.0) -> Job:
        """Load the model on a background job (once per model), after `delay_s` unless a call
        without delay comes first; then compute the `prefetch` texts, so picking one is instant."""

        def work(job: Job) -> None:
            self.model(model_id)
            for text in prefetch:
                if job.cancelled:
                    return
                self.result(model_id, text)

        return self.jobs.start(("warm_up", model_id), work, once=True, name=f"warm-{model_id}", delay_s=delay_s,
                               failure=f"Loading {model_id} failed; the page that needs it says why.")

"""THE facade between pages and core: every cached quantity is one typed function here.

`st.cache_resource` holds ONE AttentionEngine shared by every session: its models are loaded
once, its bounded LRU holds results and derived values (no pickling copies on a hit), and
nothing per-session is ever stored on it. No other UI module calls `engine.memo`, touches a
model or names a cache key: a page asks for `result(...)`, `rollout(result)`,
`head_statistics(result)` and so on.

Heavy imports (torch, transformers) happen on a background thread started by `warm_up`, so the
page skeleton and sidebar draw before the model is ready; a view already in the on-disk result
store draws without them (`is_stored`).
"""

from __future__ import annotations

import atexit
import copy
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeVar

import numpy as np
import pandas as pd
import streamlit as st

from core.attention.engine import AttentionEngine, BoundedCache
from core.attention.result import AttentionResult, normalise_pair
from core.attention.store import ResultStore, seed_store
from core.models import availability, registry
from ui import presenter

if TYPE_CHECKING:
    import altair as alt

    from core.analysis.norms import NormResult
    from core.analysis.patterns import PatternSummary, PatternThresholds
    from core.models.loading import LoadedModel
    from core.probing.parser import ParserStatus
    from core.probing.run import ProbeRun, SentenceView
    from core.probing.syntax import SyntaxCounts
    from core.render.bertviz import BertvizOptions, EmbeddedView

log = logging.getLogger("attention_dashboard")
T = TypeVar("T")


# --- the engine and the model ---------------------------------------------------------------

@st.cache_resource(show_spinner=False)
def get_engine() -> AttentionEngine:
    # The on-disk store (core/attention/store.py) lets a restarted server redraw earlier views
    # before torch is even imported; the seed (assets/seed) does the same for the default text
    # and the examples on a first start. ATTENTION_DASHBOARD_CACHE_DIR=off / _SEED=off.
    return AttentionEngine(device=os.environ.get(registry.ENV_DEVICE) or None, store=ResultStore.from_env(),
                           seed=seed_store())


@dataclass(frozen=True)
class _WarmUp:
    """One model's warm-up: its thread, and the event that ends its initial wait."""

    thread: threading.Thread
    start_now: threading.Event


@st.cache_resource(show_spinner=False)
def _warm_threads() -> dict[str, _WarmUp]:
    return {}


# The router's warm-up after a page drawn from stored results waits this long first. That page is
# then still on its way into the browser: on a first visit the browser fetches Streamlit's chart
# code from this server, and torch's import would hold the GIL the server needs to send it (a cold
# first start drew its chart 0.67 -> 0.48 s after the script ended, median of 5 each; how it was
# measured: docs/performance.md). A call for a model this very run needs ends the wait at once.
AFTER_DRAW_DELAY_S = 1.5


def warm_up(model_id: str, prefetch: Iterable[str] = (), delay_s: float = 0.0) -> None:
    """Import torch/transformers and load the model on a background thread (once per model).

    The router calls this after the page when the page's result came from the store, with
    `delay_s=AFTER_DRAW_DELAY_S` (so the import does not compete with the first paint for the
    GIL), and the sidebar calls it before the page when the model is needed for this very run
    (no delay: that also ends the wait of a delayed warm-up of the same model). Then the
    `prefetch` texts (the examples) are computed, so picking one is instant now and after a
    restart."""
    warm = _warm_threads()
    if model_id in warm:
        if delay_s <= 0:
            warm[model_id].start_now.set()
        return
    engine = get_engine()
    texts = tuple(prefetch)
    start_now = threading.Event()
    if delay_s <= 0:
        start_now.set()

    def work() -> None:
        start_now.wait(delay_s)
        try:
            if _STOPPING.is_set():
                return
            engine.model(model_id)
            for text in texts:
                if _STOPPING.is_set():
                    return
                engine.result(model_id, text)
        except Exception:  # noqa: BLE001 - the page that needs it reports the error
            log.info("warm-up of %s failed; the page will report it", model_id, exc_info=True)

    thread = threading.Thread(target=work, name=f"warm-{model_id}", daemon=True)
    warm[model_id] = _WarmUp(thread, start_now)
    _RUNNING.append(warm[model_id])
    thread.start()


# A daemon thread still inside torch when the interpreter finalises can abort the process
# ("terminate called without an active exception", exit status 134): at exit, stop prefetching
# and give running warm-ups a few seconds to finish.
_STOPPING = threading.Event()
_RUNNING: list[_WarmUp] = []


@atexit.register
def _finish_warm_ups() -> None:
    _STOPPING.set()
    for warm in _RUNNING:
        warm.start_now.set()  # a warm-up still waiting returns at once
    deadline = time.monotonic() + 5.0
    for warm in list(_RUNNING):
        warm.thread.join(timeout=max(0.0, deadline - time.monotonic()))


def model_is_loaded(model_id: str) -> bool:
    return get_engine().is_loaded(model_id)


def _config_key() -> tuple[str, ...]:
    """What the registry and availability depend on, so a configuration change is seen at once."""
    names = (registry.ENV_EXTRA_MODELS, registry.ENV_OFFLINE, "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_ENDPOINT")
    return tuple(os.environ.get(name, "") for name in names)


def model_statuses() -> list[tuple[str, str, str, str]]:
    """(model id, display name, availability value, reason) for every registered model."""
    return _model_statuses(_config_key())


def default_model() -> tuple[str, str]:
    """(model id, why it is the default here)."""
    return _default_model(_config_key())


@st.cache_data(ttl=300, show_spinner=False)
def _model_statuses(config_key: tuple[str, ...]) -> list[tuple[str, str, str, str]]:
    return [(s.spec.model_id, s.spec.display_name, s.availability.value, s.reason)
            for s in availability.all_statuses()]


@st.cache_data(ttl=300, show_spinner=False)
def _default_model(config_key: tuple[str, ...]) -> tuple[str, str]:
    return availability.choose_default()


# --- the result -----------------------------------------------------------------------------

def result(model_id: str, text: str, text_pair: str | None = None, max_tokens: int | None = None) -> AttentionResult:
    """The attention for a text (shared by sessions; never mutate it): memory, disk, or the model,
    with a spinner only while the model itself loads (first use)."""
    return get_engine().result(model_id, text, normalise_pair(text_pair), max_tokens, loading=st.spinner)


def is_stored(model_id: str, text: str, text_pair: str | None = None, max_tokens: int | None = None) -> bool:
    """True when the result is in memory or on disk already: it draws without waiting for a model."""
    return get_engine().peek(model_id, text, normalise_pair(text_pair), max_tokens) is not None


# --- derived values (one engine memo entry each) --------------------------------------------

def head_statistics(res: AttentionResult) -> pd.DataFrame:
    """Every head's statistics (core.analysis.statistics.head_statistics_for), one row per head."""
    from core.analysis import statistics

    return get_engine().memo(res, "head_statistics", None, lambda: statistics.head_statistics_for(res))


def rollout(res: AttentionResult) -> np.ndarray:
    """Attention rollout through every layer, [layers, query, key] (core.analysis.lenses.rollout)."""
    from core.analysis import lenses

    return get_engine().memo(res, "rollout", None, lambda: lenses.rollout(res.attention, causal=res.causal))


def flow(res: AttentionResult, layer: int, query: int,
         progress: Callable[[float], None] | None = None) -> np.ndarray:
    """Attention flow from `query` at `layer` to every input token, [key] (core.analysis.lenses);
    `progress(fraction)` is called while it is computed (a cache hit calls nothing)."""
    from core.analysis import lenses

    def compute() -> np.ndarray:
        return lenses.attention_flow(res.attention, int(query), int(layer), causal=res.causal,
                                     progress=progress)
    return get_engine().memo(res, "flow", (int(layer), int(query)), compute)


def pattern_summary(res: AttentionResult, thresholds: PatternThresholds) -> PatternSummary:
    """Kovaleva et al.'s class of every head under `thresholds` (core.analysis.patterns.pattern_summary
    of head_statistics), once per text and thresholds."""
    from core.analysis import patterns

    return get_engine().memo(res, "pattern_summary", thresholds,
                             lambda: patterns.pattern_summary(head_statistics(res), thresholds))


def template_scores(res: AttentionResult, exclude_first: bool = False, exclude_diagonal: bool = False) -> pd.DataFrame:
    """Every head's template scores (core.analysis.patterns.template_scores_for), once per text and options."""
    from core.analysis import patterns

    return get_engine().memo(res, "template_scores", (bool(exclude_first), bool(exclude_diagonal)),
                             lambda: patterns.template_scores_for(res, exclude_first=bool(exclude_first),
                                                                  exclude_diagonal=bool(exclude_diagonal)))


def category_breakdown(res: AttentionResult, threshold: float, mode: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The tutorial's categories of strong connections (core.analysis.compare.category_breakdown),
    once per text, threshold and mode."""
    from core.analysis import compare

    return get_engine().memo(res, "category_breakdown", (float(threshold), str(mode)),
                             lambda: compare.category_breakdown(res, float(threshold), str(mode)))


def examples_breakdown(model_id: str, threshold: float, mode: str) -> pd.DataFrame:
    """category_breakdown's counts for the tutorial's example sentences, in one table
    (core.analysis.compare.compare_examples), each text's counts cached."""
    from core.analysis import compare
    from core.examples import EXAMPLES

    results = {name: result(model_id, text) for name, text in EXAMPLES.items()}
    return compare.compare_examples(results, float(threshold), str(mode), breakdown=category_breakdown)


def _loaded_model(model_id: str, note: str = "first use only") -> LoadedModel:
    """The engine's model, loaded under a spinner when it is not loaded yet."""
    engine = get_engine()
    if engine.is_loaded(model_id):
        return engine.model(model_id)
    with st.spinner(f"Loading {model_id}… ({note})"):
        return engine.model(model_id)


def norm_based(res: AttentionResult) -> NormResult:
    """Norm-based attention (Kobayashi et al. 2020) for the result's text: one extra forward pass
    of the model (loaded first, with a spinner, if needed), then cached."""
    from core.analysis import norms

    def compute() -> NormResult:
        loaded = _loaded_model(res.model_id, "first use only; the rest of the app keeps working")
        with st.spinner("Computing ‖f(x)‖ for every head (one extra forward pass)…"):
            return norms.norm_based(loaded, res.text, res.text_pair, res.max_tokens)
    return get_engine().memo(res, "norm_based", None, compute)


def bertviz_view(res: AttentionResult, kind: Literal["head", "model"],
                 options: BertvizOptions | None = None) -> EmbeddedView:
    """BertViz's head or model view as self-contained HTML (core.render.bertviz). Building costs
    0.1-0.3 s at 64 tokens; reruns (every click) do not pay it again."""
    from core.render import bertviz

    opts = options or bertviz.BertvizOptions()
    build = bertviz.build_head_view if kind == "head" else bertviz.build_model_view
    return get_engine().memo(res, f"bertviz_{kind}_view", opts, lambda: build(res, options=opts))


def overview_chart(owner: object, name: str, values: Callable[[], np.ndarray], *, title: str, value_label: str,
                   categories: tuple[str, ...] | None = None, scheme: str = "blues",
                   color_domain: tuple[float, float] | None = None) -> alt.LayerChart:
    """A one-cell-per-head grid (core.render.heatmaps.overview_grid of ``values()``, [layers,
    heads]) built once per (owner, name, title, value label, categories, scheme, colour domain)
    and marking no head: draw it with ``presenter.chart(..., marked=(layer, head))``, so a head change neither builds
    nor converts it again (a copy is returned). `owner`: the AttentionResult the values come from
    (kept with the result), or a corpus run (kept while the run is); `name` says which values."""
    from core.render import heatmaps

    def build() -> alt.LayerChart:
        return heatmaps.overview_grid(values(), title=title, value_label=value_label, marking=True,
                                      categories=list(categories) if categories is not None else None,
                                      scheme=scheme, color_domain=color_domain)

    params = (name, title, value_label, categories, scheme, color_domain)
    if isinstance(owner, AttentionResult):
        chart = get_engine().memo(owner, "overview_chart", params, build)
    else:
        chart = _run_memo(owner, "overview_chart", params, build)
    return _drawn_copy(chart)


def head_overview(res: AttentionResult) -> pd.DataFrame:
    """The layer x head overview as a table (core.analysis.tables.head_overview), once per text."""
    from core.analysis import tables

    return get_engine().memo(res, "head_overview", None, lambda: tables.head_overview(res, head_statistics(res)))


def _drawn_copy(chart: T) -> T:
    """What a memo hands out for one run: a shallow copy of the memoised chart (a page may derive
    from it), sharing the memo's spec slot, so the chart is converted to Vega-Lite once
    (ui.presenter.spec_of)."""
    return copy.copy(presenter.with_spec_slot(chart))


def thumbnail_chart(res: AttentionResult) -> alt.FacetChart:
    """Every layer x head as a clickable thumbnail (core.render.heatmaps.thumbnail_grid). It does
    not depend on the selected head: built once per text (a copy is returned)."""
    from core.render import heatmaps

    chart = get_engine().memo(res, "thumbnail_chart", None,
                              lambda: heatmaps.thumbnail_grid(res.attention, list(res.display_tokens)))
    return _drawn_copy(chart)


def head_chart(res: AttentionResult, layer: int, head: int, *, title: str, mode: str = "auto", start: int = 0,
               size: int = 64, max_cells: int | None = None, scheme: str = "blues") -> alt.LayerChart:
    """One head's heatmap as drawn for a fixed (layer, head) that the shared selection does not
    change (Compare's B): built once per choice (a copy is returned)."""
    from core.render import heatmaps, matrix

    budget = matrix.CELL_BUDGET if max_cells is None else int(max_cells)

    def build() -> alt.LayerChart:
        dm = matrix.DrawMatrix.of(res.head(layer, head), res.display_tokens, special=res.special_mask)
        shown = matrix.prepare(dm, mode, start=start, size=size, max_cells=budget)  # type: ignore[arg-type]
        return heatmaps.heatmap(shown, title=title, scheme=scheme)
    params = (int(layer), int(head), title, mode, int(start), int(size), budget, scheme)
    return _drawn_copy(get_engine().memo(res, "head_chart", params, build))


# === syntax probing (core.probing; pages/probing.py) =========================================
# The spaCy parser is one shared pipeline behind a lock; finished probing runs are kept in a
# small bounded cache keyed by model, texts, token limit and parser; the one-sentence view is an
# engine memo of the page's text. Nothing here runs unless the Syntax probing page asks.

class _LockedParser:
    """A spaCy pipeline shared by every session: one parse at a time (spaCy does not promise
    thread safety for a shared Language)."""

    def __init__(self, nlp: object) -> None:
        self.nlp = nlp
        self.lock = threading.Lock()

    @property
    def meta(self) -> dict:
        return getattr(self.nlp, "meta", {})

    def __call__(self, text: str) -> object:
        with self.lock:
            return self.nlp(text)  # type: ignore[operator]

    def pipe(self, texts: Iterable[str], batch_size: int = 64) -> list:
        with self.lock:
            return list(self.nlp.pipe(texts, batch_size=batch_size))  # type: ignore[attr-defined]


def parser_status() -> ParserStatus:
    """Whether spaCy and an English model are installed (package metadata only, no import)."""
    from core.probing import parser as parsing

    return _parser_status(os.environ.get(parsing.ENV_PARSER, ""))


@st.cache_data(ttl=60, show_spinner=False)
def _parser_status(override: str) -> ParserStatus:
    from core.probing import parser as parsing

    return parsing.parser_status()


@st.cache_resource(show_spinner=False)
def _parser(name: str) -> _LockedParser:
    from core.probing import parser as parsing

    return _LockedParser(parsing.load_parser(name))


def parser() -> _LockedParser:
    """The shared spaCy parser (loaded once, with a spinner). Raises ParserUnavailableError,
    whose message says what to install, when spaCy or its English model is missing."""
    from core.probing import parser as parsing

    status = parser_status()
    if not status.available or status.name is None:
        raise parsing.ParserUnavailableError(status.message)
    with st.spinner("Loading the spaCy parser… (first use only)"):
        return _parser(status.name)


@st.cache_resource(show_spinner=False)
def _probe_runs() -> BoundedCache:
    return BoundedCache(max_entries=16, max_bytes=64 * 2**20)


def _probe_key(model_id: str, texts: tuple[str, ...], max_tokens: int | None) -> tuple:
    import hashlib

    digest = hashlib.sha256("\x1e".join(texts).encode("utf-8", "surrogatepass")).hexdigest()
    status = parser_status()
    return ("probe", model_id, digest, len(texts), max_tokens, status.name, status.version)


def finished_probe(model_id: str, texts: tuple[str, ...], max_tokens: int | None) -> ProbeRun | None:
    """A finished probing run of exactly these texts, if one was kept in memory or filed in the
    store (by this app or by `python -m core.corpus --probe`); never computes, never loads a model."""
    from core.probing import run as probing_run

    key = _probe_key(model_id, texts, max_tokens)
    done = _probe_runs().get(key)
    if done is None:
        done = probing_run.stored_probe(model_id, list(texts), max_tokens, parser=parser_status())
        if done is not None:
            _probe_runs().put(key, done)
    return done


def probe_corpus(model_id: str, texts: tuple[str, ...], max_tokens: int | None,
                 progress: Callable[[ProbeRun], None] | None = None, batch_size: int = 16) -> ProbeRun:
    """Probe the heads of `model_id` against spaCy's parse of `texts` (core.probing.run.probe_corpus,
    batched when core.corpus is present). `progress(run)` is called as it goes with the run being
    filled in, so a page stopped mid-run still holds the partial counts. Only a finished run is
    kept (and returned at once next time)."""
    from core.probing import run as probing_run

    done = finished_probe(model_id, texts, max_tokens)
    if done is not None:
        return done
    nlp = parser()
    loaded = _loaded_model(model_id)
    out = probing_run.probe_corpus(loaded, list(texts), nlp, max_tokens=max_tokens, progress=progress,
                                   batch_size=batch_size)
    if not out.cancelled and out.counts is not None:
        _probe_runs().put(_probe_key(model_id, texts, max_tokens), out)
        probing_run.file_probe(out, list(texts), max_tokens, parser=parser_status())  # reopens after a restart
    return out


@st.cache_resource(show_spinner=False)
def _run_derived() -> BoundedCache:
    return BoundedCache(max_entries=64, max_bytes=32 * 2**20)


def _run_memo(owner: object, name: str, params: tuple, compute: Callable[[], T]) -> T:
    """Something derived from a finished object of many sentences (a probing run's counts, a
    corpus run), once per (owner, name, params). Keyed by the owner object itself (kept in the
    entry, so an id cannot be reused while it is cached). Owners are final once a page draws them:
    a finished run's, or a stopped run's (a new Run makes new ones)."""
    cache = _run_derived()
    key = (id(owner), name, params)
    hit = cache.get(key)
    if hit is not None and hit[0] is owner:
        return hit[1]
    value = compute()
    cache.put(key, (owner, value))
    return value


def probe_best_heads(counts: SyntaxCounts, min_count: int) -> pd.DataFrame:
    """core.probing.syntax.best_heads of a run, once per minimum (a head change reuses it)."""
    from core.probing import syntax

    return _run_memo(counts, "best_heads", (int(min_count),),
                     lambda: syntax.best_heads(counts, min_count=int(min_count)))


def probe_head_relation_map(counts: SyntaxCounts, direction: str, min_count: int) -> pd.DataFrame:
    """core.probing.syntax.head_relation_map of a run, once per (direction, minimum)."""
    from core.probing import syntax

    return _run_memo(counts, "head_relation_map", (str(direction), int(min_count)),
                     lambda: syntax.head_relation_map(counts, direction=direction, min_count=int(min_count)))


def probe_best_chart(counts: SyntaxCounts, min_count: int, held_out: bool) -> alt.LayerChart:
    """The best-head-per-relation chart (core.render.syntax.best_head_chart); it does not depend on
    the selected head: built once per (minimum, held-out), a copy is returned."""
    from core.render import syntax as syntax_charts

    chart = _run_memo(counts, "best_chart", (int(min_count), bool(held_out)),
                      lambda: syntax_charts.best_head_chart(probe_best_heads(counts, min_count), held_out=held_out))
    return _drawn_copy(chart)


def probe_map_chart(counts: SyntaxCounts, direction: str, min_count: int, value: str) -> alt.LayerChart:
    """The head x relation map (core.render.syntax.head_relation_heatmap), built once per
    (direction, minimum, colour) and marking no head: draw it with
    ``presenter.chart(..., marked=(layer, head))``, so a head change neither builds nor converts
    it again (a copy is returned)."""
    from core.render import syntax as syntax_charts

    chart = _run_memo(counts, "map_chart", (str(direction), int(min_count), str(value)),
                      lambda: syntax_charts.head_relation_heatmap(
                          probe_head_relation_map(counts, direction, min_count), counts.layers, counts.heads,
                          value=value, marking=True))
    return _drawn_copy(chart)


def probe_sentence_view(res: AttentionResult, layer: int, head: int) -> SentenceView:
    """The parse of the result's text against one head's word-level attention, for the arc chart
    (core.probing.run.sentence_view); parse and offsets once per text, the view once per head."""
    from core.probing import parser as parsing
    from core.probing import run as probing_run

    engine = get_engine()

    def inputs() -> tuple:
        nlp = parser()
        loaded = _loaded_model(res.model_id)
        return probing_run.sentence_input(loaded, res.text, result=res), parsing.from_doc(nlp(res.text))

    def view() -> SentenceView:
        item, parse = engine.memo(res, "probe_inputs", None, inputs)
        return probing_run.sentence_view(item, parse, int(layer), int(head))
    return engine.memo(res, "probe_view", (int(layer), int(head)), view)


# === compare models (pages/compare.py, the sidebar's download box; issue 13) =================
# Word maps, word-level heads and head matching are engine memos of side A's result, keyed by
# side B's identity; downloads run on one background thread per model, shared by sessions.

def _identity(res: AttentionResult) -> tuple:
    return (res.model_id, res.text, res.text_pair, res.max_tokens)


def compare_words(a: AttentionResult, b: AttentionResult, mode: str = "text") -> tuple:
    """(A's WordMap, B's WordMap, Alignment) of two results (core.compare.words / align)."""
    from core.compare import align, words

    def compute() -> tuple:
        map_a, map_b = words.word_maps_for(a, b, mode)
        return map_a, map_b, align.align(map_a, map_b)
    return get_engine().memo(a, "compare_words", (_identity(b), mode), compute)


def compare_word_head(a: AttentionResult, b: AttentionResult, side: Literal["a", "b"], layer: int,
                      head: int | None, *, mode: str = "text", specials: str = "hidden") -> object:
    """One side's word-level matrix (core.compare.words.WordMatrix, values [m, m]) for a head, or
    the layer's head average when `head` is None."""
    from core.compare import words

    res = a if side == "a" else b

    def compute() -> object:
        map_a, map_b, _ = compare_words(a, b, mode)
        values = res.layer_mean(layer) if head is None else res.head(layer, head)
        return words.word_matrix(values, res, map_a if side == "a" else map_b, specials=specials)
    params = (_identity(b), side, int(layer), None if head is None else int(head), mode, specials)
    return get_engine().memo(a, "compare_word_head", params, compute)


def head_matching(pairs: list[tuple[AttentionResult, AttentionResult]], *, mode: str = "text",
                  specials: str = "hidden") -> tuple:
    """(core.compare.match.HeadMatching or None, texts used, texts skipped because their words do
    not line up or they are longer than core.compare.match.MATCH_MAX_WORDS) for (A, B) result
    pairs, pooled over the pairs."""
    from core.compare import align, match, words

    def compute() -> tuple:
        used, skipped, stacks = 0, 0, []
        for ra, rb in pairs:
            map_a, map_b, alignment = compare_words(ra, rb, mode)
            if not alignment.lines_up or len(map_a.words) > match.MATCH_MAX_WORDS:
                skipped += 1  # checked first: word-level heads of a long text cost seconds
                continue
            ha = words.word_heads(ra, map_a, specials=specials)
            hb = words.word_heads(rb, map_b, specials=specials)
            if align.rows_line_up(ha, hb) is not None:
                skipped += 1
                continue
            stacks.append((ha.values, hb.values))
            used += 1
        return (match.match_heads(stacks) if stacks else None), used, skipped
    key = (tuple(_identity(ra) + _identity(rb) for ra, rb in pairs), mode, specials)
    return get_engine().memo(pairs[0][0], "head_matching", key, compute)


def refresh_models() -> None:
    """Forget the cached availability (a download finished): the picker shows it ready now."""
    _model_statuses.clear()
    _default_model.clear()


def model_events(since: int = 0) -> list:
    """The engine's model evictions after `since` (core.attention.engine.ModelEviction)."""
    return get_engine().events(since)


@st.cache_data(ttl=600, show_spinner=False, max_entries=32)
def download_plan(model_id: str, endpoint_key: str = "") -> object:
    """core.models.download.DownloadPlan (files and sizes from the Hub). Raises DownloadError
    (one sentence; not cached, so the next try asks the Hub again)."""
    from core.models import download

    return download.plan_download(model_id, timeout=5.0)


class DownloadJob:
    """One model's download on a background thread: progress, cancel, outcome (shared by sessions)."""

    def __init__(self, plan: object) -> None:
        self.plan = plan
        self.model_id: str = plan.model_id  # type: ignore[attr-defined]
        self.cancel = threading.Event()
        self.progress: object | None = None
        self.error: str | None = None
        self.done = False
        self.thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()


@st.cache_resource(show_spinner=False)
def _download_jobs() -> dict[str, DownloadJob]:
    return {}


def download_job(model_id: str) -> DownloadJob | None:
    return _download_jobs().get(model_id)


def start_download(plan: object) -> DownloadJob:
    """Start (or join) the download of a planned model; returns its job."""
    from core.models import download

    jobs = _download_jobs()
    job = jobs.get(plan.model_id)  # type: ignore[attr-defined]
    if job is not None and (job.running or job.done):
        return job
    job = DownloadJob(plan)
    jobs[job.model_id] = job

    def work() -> None:
        def on_progress(p: object) -> None:
            job.progress = p
        try:
            download.download_model(plan, progress=on_progress, cancel=job.cancel)  # type: ignore[arg-type]
            job.done = True
            refresh_models()
        except download.DownloadError as err:
            job.error = str(err)
        except Exception as err:  # noqa: BLE001 - one sentence on the page, the log has the rest
            log.exception("download of %s failed", job.model_id)
            job.error = f"The download of {job.model_id} failed ({type(err).__name__})."

    job.thread = threading.Thread(target=work, name=f"download-{job.model_id}", daemon=True)
    job.thread.start()
    return job


def forget_download(model_id: str) -> None:
    """Drop a finished, failed or cancelled job so the box offers the download again."""
    job = _download_jobs().get(model_id)
    if job is not None and not job.running:
        _download_jobs().pop(model_id, None)


def compare_chart(a: AttentionResult, b: AttentionResult, params: tuple, build: Callable[[], object]) -> object:
    """A Compare chart built once per (A, B, params) and shared by reruns (a copy is returned):
    a head change rebuilds only the charts whose inputs changed."""
    return _drawn_copy(get_engine().memo(a, "compare_chart", (_identity(b), params), build))


# === corpus atlas (core.corpus; pages/corpus.py) =============================================
# Finished corpus runs live on disk (core.corpus.run files them under the result store's folder)
# and, for this server, in a small bounded cache (so they reopen at once even with the store
# off). A small corpus runs in the script run; a larger one on a background job that the page
# keeps in its session (progress, cancel, partial results). Nothing here runs unless the Corpus
# atlas page asks.

if TYPE_CHECKING:
    from core.corpus.run import CorpusJob, CorpusRun
    from core.corpus.sources import Corpus


@st.cache_resource(show_spinner=False)
def _corpus_runs() -> BoundedCache:
    return BoundedCache(max_entries=16, max_bytes=64 * 2**20)


def _corpus_key(model_id: str, corpus: Corpus, max_tokens: int | None) -> tuple:
    return ("corpus", model_id, corpus.digest, max_tokens)


def stored_corpus_run(model_id: str, corpus: Corpus, max_tokens: int | None) -> CorpusRun | None:
    """A finished run of exactly this corpus with this model: memory, then disk. Never loads a model."""
    from core.corpus import run as corpus_run

    key = _corpus_key(model_id, corpus, max_tokens)
    found = _corpus_runs().get(key)
    if found is None:
        found = corpus_run.stored_run(model_id, corpus, max_tokens)
        if found is not None:
            _corpus_runs().put(key, found)
    return found


def _keep_corpus_run(model_id: str, corpus: Corpus, max_tokens: int | None, run: CorpusRun) -> None:
    if run.complete:
        _corpus_runs().put(_corpus_key(model_id, corpus, max_tokens), run)


def run_corpus_now(model_id: str, corpus: Corpus, batch_size: int, max_tokens: int | None) -> CorpusRun:
    """Run a small corpus in this script run (the tutorial's six sentences take well under a
    second once the model is loaded; the model loads first, with a spinner)."""
    from core.corpus import run as corpus_run

    found = stored_corpus_run(model_id, corpus, max_tokens)
    if found is not None:
        return found
    loaded = _loaded_model(model_id)
    run = corpus_run.run_corpus(loaded, corpus, batch_size, max_tokens=max_tokens)
    _keep_corpus_run(model_id, corpus, max_tokens, run)
    return run


def start_corpus_run(model_id: str, corpus: Corpus, batch_size: int, max_tokens: int | None) -> CorpusJob:
    """Start a run on a background thread with the engine's shared model (loaded on that thread if
    needed); the caller keeps the job (pages/corpus.py: in its session) to poll and cancel it."""
    from core.corpus import run as corpus_run

    engine = get_engine()
    return corpus_run.CorpusJob(lambda: engine.model(model_id), corpus, batch_size, max_tokens=max_tokens,
                                on_done=lambda run: _keep_corpus_run(model_id, corpus, max_tokens, run))


def hub_dataset_status() -> tuple[bool, str]:
    """(usable, why) for Hugging Face datasets: the optional `datasets` package, the offline
    switches, one short probe of the Hub (core.corpus.sources.hub_dataset_status)."""
    return _hub_dataset_status(_config_key())


@st.cache_data(ttl=300, show_spinner=False)
def _hub_dataset_status(config_key: tuple[str, ...]) -> tuple[bool, str]:
    from core.corpus import sources

    return sources.hub_dataset_status()


@st.cache_data(ttl=3600, max_entries=8, show_spinner="Reading the dataset from the Hugging Face Hub…")
def hub_corpus(dataset: str, config: str, split: str, column: str) -> Corpus:
    """The first sentences of a Hub dataset's column (streamed; core.corpus.sources.from_hub)."""
    from core.corpus import sources

    return sources.from_hub(dataset, config or None, split, column)

"""The Streamlit adapter of the engine: typed requests in, values out.

`st.cache_resource` holds ONE AttentionEngine shared by every session (core.attention.engine):
it keeps every computed value (memory, then disk, then compute; core.requests lists what can be
asked for) and runs background jobs (warm-ups, downloads, corpus and probing runs). This module only adapts
it to Streamlit: spinners while a model or the parser loads, `st.cache_data` for answers that
depend on this machine's configuration, and shallow copies of shared charts. Pages ask
`get(HeadStatistics(result))`, `chart(OverviewGrid(...))`, or one of the short names below;
nothing here keeps state of its own or starts a thread.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

import streamlit as st

from core.attention.engine import AttentionEngine
from core.attention.request import Request
from core.attention.result import AttentionResult, normalise_pair
from core.attention.store import ResultStore, seed_store
from core.models import availability, registry
from core.render import vega
from core.requests import analysis, charts, explain, runs

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from core.corpus.run import CorpusJob, CorpusRun
    from core.corpus.sources import Corpus
    from core.jobs import Job
    from core.probing.parser import ParserStatus
    from core.probing.run import ProbeRun

T = TypeVar("T")

# The router's warm-up after a page drawn from stored results waits this long first: the page is
# still on its way into the browser, and torch's import would hold the GIL the server needs to
# send it (docs/performance.md). A call for a model this very run needs ends the wait at once.
AFTER_DRAW_DELAY_S = 1.5


# --- the engine -------------------------------------------------------------------------------

@st.cache_resource(show_spinner=False)
def get_engine() -> AttentionEngine:
    # The on-disk store (core/attention/store.py) lets a restarted server redraw earlier views
    # before torch is even imported; the seed (assets/seed) does the same for the default text
    # and the examples on a first start. ATTENTION_DASHBOARD_CACHE_DIR=off / _SEED=off.
    return AttentionEngine(device=os.environ.get(registry.ENV_DEVICE) or None, store=ResultStore.from_env(),
                           seed=seed_store())


def _adapted(request: Request) -> Request:
    """The request with a spinner for slow first steps (a model load), where it takes one."""
    if getattr(request, "loading", False) is None:
        request = dataclasses.replace(request, loading=st.spinner)
    return request


def get(request: Request) -> Any:
    """The value of a typed request (core.requests): memory, disk or computed once, shared by
    every session (never mutate it). A request that parses text gets the shared spaCy parser."""
    engine = get_engine()
    if getattr(request, "nlp", False) is None:
        found = engine.find(request)
        if found is not None:
            return found
        request = dataclasses.replace(request, nlp=parser())
    return engine.get(_adapted(request))


def find(request: Request) -> Any | None:
    """The value if it is in memory or on disk already (else None): never computes or loads a model."""
    return get_engine().find(request)


def chart(request: Request) -> Any:
    """A shared chart (a chart request of core.requests): a copy that shares the engine's spec
    slot, so it is converted to Vega-Lite once (ui.presenter.chart draws it)."""
    return vega.shared_copy(get(request))


# --- models -----------------------------------------------------------------------------------

def warm_up(model_id: str, prefetch: Iterable[str] = (), delay_s: float = 0.0) -> Job:
    """Load the model on the engine's background job (once per model), then the `prefetch` texts.
    The router calls this after a page drawn from stored results with `delay_s=AFTER_DRAW_DELAY_S`;
    the sidebar calls it without delay when this very run needs the model (ending that wait)."""
    return get_engine().warm_up(model_id, tuple(prefetch), delay_s)


def model_is_loaded(model_id: str) -> bool:
    return get_engine().is_loaded(model_id)


def model_events(since: int = 0) -> list:
    """The engine's model evictions after `since` (core.attention.engine.ModelEviction)."""
    return get_engine().events(since)


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


def seq2seq_statuses() -> list[tuple[str, str, str, str]]:
    """(model id, display name, availability value, reason) for every encoder-decoder model."""
    return _seq2seq_statuses(_config_key(), tuple(registry.encoder_decoder_registry()))


@st.cache_data(ttl=300, show_spinner=False)
def _seq2seq_statuses(config_key: tuple[str, ...], ids: tuple[str, ...]) -> list[tuple[str, str, str, str]]:
    statuses = (availability.check_encoder_decoder_availability(mid) for mid in ids)
    return [(s.spec.model_id, s.spec.display_name, s.availability.value, s.reason) for s in statuses]


def refresh_models() -> None:
    """Forget the cached availability (a download finished): the picker shows it ready now."""
    _model_statuses.clear()
    _default_model.clear()
    _seq2seq_statuses.clear()


@st.cache_data(ttl=600, show_spinner=False, max_entries=32)
def download_plan(model_id: str, endpoint_key: str = "") -> object:
    """core.models.download.DownloadPlan (files and sizes from the Hub). Raises DownloadError
    (one sentence; not cached, so the next try asks the Hub again)."""
    from core.models import download

    return download.plan_download(model_id, timeout=5.0)


def download_job(model_id: str) -> Job | None:
    """The download of `model_id` (core.jobs.Job: progress, cancel, error; `subject` is its plan)."""
    return get_engine().jobs.get(("download", model_id))


def start_download(plan: Any) -> Job:
    """Start (or join) the download of a planned model, on an engine job shared by sessions."""
    from core.models import download

    def work(job: Job) -> None:
        download.download_model(plan, progress=job.report, cancel=job.cancel_event)
        refresh_models()

    return get_engine().jobs.start(("download", plan.model_id), work, name=f"download-{plan.model_id}",
                                   subject=plan, failure=f"The download of {plan.model_id} failed.")


def forget_download(model_id: str) -> None:
    """Drop a finished, failed or cancelled download so the box offers it again."""
    get_engine().jobs.forget(("download", model_id))


# --- results and what is computed from them -----------------------------------------------------

def result(model_id: str, text: str, text_pair: str | None = None, max_tokens: int | None = None) -> AttentionResult:
    """The attention for a text (shared by sessions; never mutate it): memory, disk, or the model,
    with a spinner only while the model itself loads (first use)."""
    return get_engine().result(model_id, text, normalise_pair(text_pair), max_tokens, loading=st.spinner)


def is_stored(model_id: str, text: str, text_pair: str | None = None, max_tokens: int | None = None) -> bool:
    """True when the result is in memory or on disk already: it draws without waiting for a model."""
    return get_engine().peek(model_id, text, normalise_pair(text_pair), max_tokens) is not None


def head_statistics(res: AttentionResult) -> pd.DataFrame:
    return get(analysis.HeadStatistics(res))


def rollout(res: AttentionResult) -> np.ndarray:
    return get(analysis.Rollout(res))


def flow(res: AttentionResult, layer: int, query: int, progress: Callable[[float], None] | None = None) -> np.ndarray:
    return get(analysis.Flow(res, int(layer), int(query), progress))


def examples_breakdown(model_id: str, threshold: float, mode: str) -> pd.DataFrame:
    """The tutorial's categories for its example sentences in one table
    (core.analysis.compare.compare_examples), each text's counts computed once."""
    from core.analysis import compare
    from core.examples import EXAMPLES

    results = {name: result(model_id, text) for name, text in EXAMPLES.items()}
    return compare.compare_examples(results, float(threshold), str(mode),
                                    breakdown=lambda r, t, m: get(analysis.CategoryBreakdown(r, float(t), str(m))))


def bertviz_view(res: AttentionResult, kind: str, options: Any = None) -> Any:
    from core.render import bertviz

    return get(charts.BertvizView(res, kind, options or bertviz.BertvizOptions()))  # type: ignore[arg-type]


# --- the spaCy parser -------------------------------------------------------------------------

def parser_status() -> ParserStatus:
    """Whether spaCy and an English model are installed (package metadata only, no import)."""
    from core.probing import parser as parsing

    return _parser_status(os.environ.get(parsing.ENV_PARSER, ""))


@st.cache_data(ttl=60, show_spinner=False)
def _parser_status(override: str) -> ParserStatus:
    from core.probing import parser as parsing

    return parsing.parser_status()


@st.cache_resource(show_spinner=False)
def _parser(name: str) -> runs.SharedParser:
    from core.probing import parser as parsing

    return runs.SharedParser(parsing.load_parser(name))


def parser() -> runs.SharedParser:
    """The shared spaCy parser (loaded once, with a spinner). Raises ParserUnavailableError,
    whose message says what to install, when spaCy or its English model is missing."""
    from core.probing import parser as parsing

    status = parser_status()
    if not status.available or status.name is None:
        raise parsing.ParserUnavailableError(status.message)
    with st.spinner("Loading the spaCy parser… (first use only)"):
        return _parser(status.name)


# --- runs over many sentences -------------------------------------------------------------------

def probe_request(model_id: str, texts: tuple[str, ...], max_tokens: int | None, **options: Any) -> runs.ProbeRunOf:
    """The probing run of these texts with this model and the parser installed here."""
    return runs.ProbeRunOf(model_id, tuple(texts), max_tokens, parser_status(), **options)


def start_probe_run(model_id: str, texts: tuple[str, ...], max_tokens: int | None) -> Job:
    """A probing run on the engine's background job (the parser loads here, with a spinner; the
    model on the job). Raises ParserUnavailableError when spaCy or its model is missing."""
    return runs.start_probe_run(get_engine(), probe_request(model_id, texts, max_tokens, nlp=parser()))


def probe_job(model_id: str, texts: tuple[str, ...], max_tokens: int | None) -> Job | None:
    return runs.probe_job(get_engine(), probe_request(model_id, texts, max_tokens))


def start_corpus_run(model_id: str, corpus: Corpus, batch_size: int, max_tokens: int | None) -> CorpusJob:
    """A corpus run on the engine's background job (the model loads on the job)."""
    return runs.start_corpus_run(get_engine(), model_id, corpus, batch_size, max_tokens)


def stored_corpus_run(model_id: str, corpus: Corpus, max_tokens: int | None) -> CorpusRun | None:
    return find(runs.CorpusRunOf(model_id, corpus, max_tokens))


def finished_probe(model_id: str, texts: tuple[str, ...], max_tokens: int | None) -> ProbeRun | None:
    return find(probe_request(model_id, texts, max_tokens))


def hub_dataset_status() -> tuple[bool, str]:
    """(usable, why) for Hugging Face datasets (core.corpus.sources.hub_dataset_status)."""
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


def start_faithfulness_run(model_id: str, corpus: Corpus) -> Job:
    """The lenses' faithfulness over a corpus on the engine's background job (core.requests.explain)."""
    return explain.start_faithfulness_run(get_engine(), model_id, corpus)


def faithfulness_job(model_id: str, corpus: Corpus) -> Job | None:
    return explain.faithfulness_job(get_engine(), model_id, corpus)

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
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
import streamlit as st

from core.attention.engine import AttentionEngine
from core.attention.result import AttentionResult, normalise_pair
from core.attention.store import ResultStore, seed_store
from core.models import availability, registry

if TYPE_CHECKING:
    import altair as alt

    from core.analysis.norms import NormResult
    from core.render.bertviz import BertvizOptions, EmbeddedView

log = logging.getLogger("attention_dashboard")


# --- the engine and the model ---------------------------------------------------------------

@st.cache_resource(show_spinner=False)
def get_engine() -> AttentionEngine:
    # The on-disk store (core/attention/store.py) lets a restarted server redraw earlier views
    # before torch is even imported; the seed (assets/seed) does the same for the default text
    # and the examples on a first start. ATTENTION_DASHBOARD_CACHE_DIR=off / _SEED=off.
    return AttentionEngine(device=os.environ.get(registry.ENV_DEVICE) or None, store=ResultStore.from_env(),
                           seed=seed_store())


@st.cache_resource(show_spinner=False)
def _warm_threads() -> dict[str, threading.Thread]:
    return {}


def warm_up(model_id: str, prefetch: Iterable[str] = ()) -> None:
    """Import torch/transformers and load the model on a background thread (once per model).

    The router calls this after the page is drawn when the page's result came from the store
    (so the import does not compete with the first paint for the GIL), and the sidebar calls it
    before the page when the model is needed for this very run. Then the `prefetch` texts (the
    examples) are computed, so picking one is instant now and after a restart."""
    threads = _warm_threads()
    if model_id in threads:
        return
    engine = get_engine()
    texts = tuple(prefetch)

    def work() -> None:
        try:
            engine.model(model_id)
            for text in texts:
                if _STOPPING.is_set():
                    return
                engine.result(model_id, text)
        except Exception:  # noqa: BLE001 - the page that needs it reports the error
            log.info("warm-up of %s failed; the page will report it", model_id, exc_info=True)

    thread = threading.Thread(target=work, name=f"warm-{model_id}", daemon=True)
    threads[model_id] = thread
    _RUNNING.append(thread)
    thread.start()


# A daemon thread still inside torch when the interpreter finalises can abort the process
# ("terminate called without an active exception", exit status 134): at exit, stop prefetching
# and give running warm-ups a few seconds to finish.
_STOPPING = threading.Event()
_RUNNING: list[threading.Thread] = []


@atexit.register
def _finish_warm_ups() -> None:
    _STOPPING.set()
    deadline = time.monotonic() + 5.0
    for thread in list(_RUNNING):
        thread.join(timeout=max(0.0, deadline - time.monotonic()))


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


def norm_based(res: AttentionResult) -> NormResult:
    """Norm-based attention (Kobayashi et al. 2020) for the result's text: one extra forward pass
    of the model (loaded first, with a spinner, if needed), then cached."""
    from core.analysis import norms

    def compute() -> NormResult:
        engine = get_engine()
        if engine.is_loaded(res.model_id):
            loaded = engine.model(res.model_id)
        else:
            with st.spinner(f"Loading {res.model_id}… (first use only; the rest of the app keeps working)"):
                loaded = engine.model(res.model_id)
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


def thumbnail_chart(res: AttentionResult) -> alt.FacetChart:
    """Every layer x head as a clickable thumbnail (core.render.heatmaps.thumbnail_grid). It does
    not depend on the selected head: built once per text (a copy is returned)."""
    from core.render import heatmaps

    chart = get_engine().memo(res, "thumbnail_chart", None,
                              lambda: heatmaps.thumbnail_grid(res.attention, list(res.display_tokens)))
    return copy.copy(chart)


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
    return copy.copy(get_engine().memo(res, "head_chart", params, build))

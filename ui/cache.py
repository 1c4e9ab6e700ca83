"""The one thin module that wraps core/ with Streamlit's caches.

`st.cache_resource` holds ONE AttentionEngine shared by every session: its models are loaded
once, its bounded LRU holds results (no pickling copies on a hit), and nothing per-session is
ever stored on it. Heavy imports (torch, transformers) happen on a background thread started
by `warm_up`, so the page skeleton and sidebar draw before the model is ready; a view already
in the on-disk result store draws without them.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from typing import TypeVar

import streamlit as st

from core import models
from core.attention import AttentionResult
from core.engine import AttentionEngine
from core.models import LoadedModel
from core.result_store import ResultStore, seed_store

T = TypeVar("T")
log = logging.getLogger("attention_dashboard")


@st.cache_resource(show_spinner=False)
def get_engine() -> AttentionEngine:
    # The on-disk store (core/result_store.py) lets a restarted server redraw earlier views
    # before torch is even imported; the seed (assets/seed) does the same for the default text
    # and the examples on a first start. ATTENTION_DASHBOARD_CACHE_DIR=off / _SEED=off.
    return AttentionEngine(device=os.environ.get(models.ENV_DEVICE) or None, store=ResultStore.from_env(),
                           seed=seed_store())


@st.cache_resource(show_spinner=False)
def _warm_threads() -> dict[str, threading.Thread]:
    return {}


def warm_up(model_id: str, prefetch: Iterable[str] = ()) -> None:
    """Import torch/transformers and load the model on a background thread (once per model).

    The router calls this after the page is drawn when the page's result came from the store
    (so the import does not compete with the first paint for the GIL), and from the sidebar,
    before the page, when the model is needed for this very run. Then the `prefetch` texts
    (the examples) are computed, so picking one is instant now and after a restart."""
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
                engine.extract(model_id, text)
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
    return model_id in get_engine().loaded_ids()


def _config_key() -> tuple[str, ...]:
    """What the registry and availability depend on, so a configuration change is seen at once."""
    names = (models.ENV_EXTRA_MODELS, models.ENV_OFFLINE, "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_ENDPOINT")
    return tuple(os.environ.get(name, "") for name in names)


def model_statuses() -> list[tuple[str, str, str, str]]:
    """(model id, display name, availability value, reason) for every registered model."""
    return _model_statuses(_config_key())


def default_model() -> tuple[str, str]:
    return _default_model(_config_key())


@st.cache_data(ttl=300, show_spinner=False)
def _model_statuses(config_key: tuple[str, ...]) -> list[tuple[str, str, str, str]]:
    out = []
    for status in models.all_statuses():
        out.append((status.spec.model_id, status.spec.display_name, status.availability.value, status.reason))
    return out


@st.cache_data(ttl=300, show_spinner=False)
def _default_model(config_key: tuple[str, ...]) -> tuple[str, str]:
    return models.choose_default()


def stored_result(model_id: str, text: str, text_pair: str | None,
                  max_tokens: int | None = None) -> AttentionResult | None:
    """The result if it is in memory or on disk already, without waiting for a model."""
    return get_engine().peek(model_id, text, text_pair or None, max_tokens)


def ensure_model(model_id: str) -> LoadedModel:
    """The loaded model; loading it first, with a spinner that says so, if needed (first use only)."""
    if model_is_loaded(model_id):
        return get_engine().model(model_id)
    with st.spinner(f"Loading {model_id}… (first use only; the rest of the app keeps working)"):
        return get_engine().model(model_id)


def get_result(model_id: str, text: str, text_pair: str | None, max_tokens: int | None = None) -> AttentionResult:
    """The engine's cached extraction (shared by sessions; never mutate the result). A result that
    needs the model while it still loads shows the loading spinner (a page drawn from stored
    results may ask for another text: Compare's text B, the breakdown's examples)."""
    stored = stored_result(model_id, text, text_pair, max_tokens)
    if stored is not None:
        return stored
    ensure_model(model_id)
    return get_engine().compute(model_id, text, text_pair or None, max_tokens)


def memo(result: AttentionResult, name: str, params: Hashable, compute: Callable[[], T]) -> T:
    """Cache something derived from a result (statistics, rollout, norms) in the engine's LRU."""
    return get_engine().memo(result, name, params, compute)

"""A restarted server draws a stored view before (and without) loading its model."""

from __future__ import annotations

import pytest

from core.attention import engine as engine_module
from core.attention.extract import extract
from core.models.registry import BUNDLED_MODEL_ID
from core.attention.store import ENV_CACHE_DIR, ResultStore
from tests.app.apptest_util import charts_of, errors_of, exceptions_of, make_app
from ui import cache

TEXT = "The cat sat on the mat."


@pytest.fixture()
def fresh_engine(monkeypatch, tmp_path):
    """The app's shared engine, rebuilt on a store in tmp_path (and rebuilt again afterwards)."""
    monkeypatch.setenv(ENV_CACHE_DIR, str(tmp_path))
    cache.get_engine.clear()
    yield tmp_path
    cache.get_engine.clear()


def test_stored_default_view_draws_while_the_model_cannot_load(fresh_engine, bundled_model, monkeypatch) -> None:
    ResultStore(fresh_engine).save(extract(bundled_model, TEXT), None)
    loads: list[str] = []

    def no_model(model_id: str, **_: object):
        loads.append(model_id)
        raise RuntimeError("the model must not be needed for a stored view")

    monkeypatch.setattr(engine_module, "load_model", no_model)
    at = make_app(None, model=BUNDLED_MODEL_ID, text=TEXT, layer=2, head=3)
    assert not exceptions_of(at) and not errors_of(at), (exceptions_of(at), errors_of(at))
    assert len(charts_of(at)) >= 1
    # Changing layer and head needs no model either.
    at.sidebar.selectbox(key="head").set_value(7).run()
    assert not exceptions_of(at) and not errors_of(at)
    # A new sentence does: the page says the model could not load, with no traceback.
    at.text_area(key="text").set_value("Nobody stored this sentence.").run()
    assert not exceptions_of(at)
    assert errors_of(at)
    assert BUNDLED_MODEL_ID in loads


def test_pages_store_what_they_compute(fresh_engine) -> None:
    at = make_app(None, model=BUNDLED_MODEL_ID, text="A sentence to keep for next time.")
    assert not exceptions_of(at) and len(charts_of(at)) >= 1
    store = ResultStore(fresh_engine)
    assert store.load(BUNDLED_MODEL_ID, "A sentence to keep for next time.", None, None) is not None


def test_the_warm_up_after_a_stored_view_waits_until_a_run_needs_the_model(fresh_engine, monkeypatch) -> None:
    """The router's warm-up (after a page drawn from stored results) waits AFTER_DRAW_DELAY_S before
    importing torch, so the browser gets the page first; a run that needs the model ends the wait."""
    import threading

    loads: list[str] = []
    loaded = threading.Event()
    engine = cache.get_engine()  # (a warm-up thread of an earlier test holds an older engine)

    def fake_model(self, model_id: str):  # noqa: ANN001 - the engine's method, replaced
        if self is engine:
            loads.append(model_id)
            loaded.set()

    monkeypatch.setattr(engine_module.AttentionEngine, "model", fake_model)
    monkeypatch.setattr(cache, "AFTER_DRAW_DELAY_S", 60.0)
    warm = cache.warm_up(BUNDLED_MODEL_ID, delay_s=cache.AFTER_DRAW_DELAY_S)
    assert not loaded.wait(0.3) and loads == []  # still waiting
    again = cache.warm_up(BUNDLED_MODEL_ID, delay_s=cache.AFTER_DRAW_DELAY_S)  # the router again: no second job
    assert again is warm and not loaded.wait(0.2)
    cache.warm_up(BUNDLED_MODEL_ID)  # this run needs the model: start now
    assert loaded.wait(10)
    warm.join(10)
    assert loads == [BUNDLED_MODEL_ID]


def test_a_delayed_warm_up_starts_by_itself(fresh_engine, monkeypatch) -> None:
    import threading

    loaded = threading.Event()
    engine = cache.get_engine()
    monkeypatch.setattr(engine_module.AttentionEngine, "model",
                        lambda self, model_id: loaded.set() if self is engine else None)
    cache.warm_up(BUNDLED_MODEL_ID, delay_s=0.2)
    assert loaded.wait(10)

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
    cache._warm_threads.clear()
    yield tmp_path
    cache.get_engine.clear()
    cache._warm_threads.clear()


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

"""The engine keeps loaded models in a set bounded by bytes: one more evicts the least recently
used, and the eviction is reported (an event the page shows), never an error."""

from __future__ import annotations

import pytest

from core.attention import engine as engine_mod
from core.attention.engine import AttentionEngine, model_bytes, model_memory_budget
from tests.sentences import TUTORIAL_SENTENCES


@pytest.fixture
def four(tiny_models):
    return {m.info.model_id: m for m in tiny_models.values()}


def _engine(four, budget: int, estimate=None) -> AttentionEngine:
    return AttentionEngine(loader=lambda mid: four[mid], model_budget_bytes=budget,
                           estimate=estimate or (lambda mid: None))


def test_model_bytes_counts_parameters(tiny_bert):
    params = sum(p.numel() * p.element_size() for p in tiny_bert.model.parameters())
    assert params <= model_bytes(tiny_bert) <= params * 1.1


def test_budget_from_environment(monkeypatch):
    monkeypatch.setenv(engine_mod.ENV_MODEL_MEMORY, "300")
    assert model_memory_budget() == 300 * 2**20
    monkeypatch.setenv(engine_mod.ENV_MODEL_MEMORY, "lots")
    assert model_memory_budget() == engine_mod.DEFAULT_MODEL_MEMORY
    monkeypatch.delenv(engine_mod.ENV_MODEL_MEMORY)
    assert model_memory_budget() == engine_mod.DEFAULT_MODEL_MEMORY


def test_loading_one_more_evicts_the_least_recently_used_and_says_so(four):
    ids = list(four)
    sizes = {mid: model_bytes(four[mid]) for mid in ids}
    budget = sizes[ids[0]] + sizes[ids[1]] + sizes[ids[2]] // 2  # room for two of them
    eng = _engine(four, budget)
    eng.model(ids[0])
    eng.model(ids[1])
    assert eng.events() == []
    eng.model(ids[0])  # ids[0] is now the most recently used
    eng.model(ids[2])  # needs room: ids[1] goes
    assert eng.loaded_ids() == [ids[0], ids[2]]
    (event,) = eng.events()
    assert event.evicted == ids[1] and event.for_model == ids[2]
    assert event.evicted_bytes == sizes[ids[1]]
    assert ids[1] in event.message and ids[2] in event.message and "MB" in event.message
    assert sum(eng.model_memory().values()) <= budget
    assert eng.events(since=event.seq) == []


def test_results_of_an_evicted_model_stay_and_it_reloads_on_demand(four):
    ids = list(four)
    eng = _engine(four, 1)  # room for one model at a time
    first = eng.result(ids[0], TUTORIAL_SENTENCES[0])
    eng.result(ids[1], TUTORIAL_SENTENCES[0])
    assert eng.loaded_ids() == [ids[1]]
    assert eng.result(ids[0], TUTORIAL_SENTENCES[0]) is first  # from the result cache, no reload
    assert eng.loaded_ids() == [ids[1]]
    eng.result(ids[0], TUTORIAL_SENTENCES[1])  # a new text loads it again (and evicts the other)
    assert eng.loaded_ids() == [ids[0]]
    assert [e.evicted for e in eng.events()] == [ids[0], ids[1]]


def test_a_model_larger_than_the_budget_still_loads_alone(four):
    ids = list(four)
    eng = _engine(four, 10)
    eng.model(ids[0])
    eng.model(ids[1])
    assert eng.loaded_ids() == [ids[1]]


def test_room_is_made_before_loading_when_the_size_is_known(four):
    ids = list(four)
    sizes = {mid: model_bytes(four[mid]) for mid in ids}
    seen: list[list[str]] = []
    eng = AttentionEngine(loader=lambda mid: (seen.append(eng.loaded_ids()), four[mid])[1],
                          model_budget_bytes=max(sizes.values()) + 1, estimate=lambda mid: sizes[mid])
    eng.model(ids[0])
    eng.model(ids[1])
    assert seen[1] == []  # ids[0] was let go of before ids[1] started loading

"""AttentionEngine.get: typed requests answered by memory, then their store, then compute; and the
catalogue in core.requests keyed by what they ask (results by identity, runs by object)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from core.attention.engine import AttentionEngine
from core.attention.request import Request, key_of
from core.requests import analysis, charts


@dataclass(frozen=True)
class _Square(Request):
    value: int
    calls: list = field(compare=False, default_factory=list)

    def compute(self, engine: AttentionEngine) -> int:
        self.calls.append(self.value)
        return self.value ** 2


@dataclass(frozen=True)
class _Stored(Request):
    cache: ClassVar[str] = "runs"

    name: str
    disk: dict = field(compare=False, default_factory=dict)
    complete: bool = field(compare=False, default=True)

    def load(self, engine: AttentionEngine) -> Any:
        return self.disk.get(self.name)

    def compute(self, engine: AttentionEngine) -> Any:
        return {"name": self.name, "complete": self.complete}

    def save(self, engine: AttentionEngine, value: Any) -> None:
        self.disk[self.name] = value

    def keep(self, value: Any) -> bool:
        return bool(value["complete"])


def test_memory_then_compute_once_keyed_by_compared_fields() -> None:
    engine = AttentionEngine()
    calls: list[int] = []
    assert engine.get(_Square(3, calls)) == 9
    assert engine.get(_Square(3, [])) == 9  # another callback, same request: a hit
    assert calls == [3]
    assert engine.find(_Square(4)) is None and engine.get(_Square(4, calls)) == 16 and calls == [3, 4]


def test_store_then_compute_and_only_kept_values_are_filed_and_memoised() -> None:
    engine = AttentionEngine()
    disk: dict = {}
    first = engine.get(_Stored("a", disk))
    assert disk["a"] is first and engine.runs.get(_Stored("a").key) is first
    disk["b"] = {"name": "b", "complete": True}
    assert engine.find(_Stored("b", disk)) is disk["b"]  # from the store, never computed
    partial = engine.get(_Stored("c", disk, complete=False))
    assert not partial["complete"] and "c" not in disk and engine.find(_Stored("c", disk)) is None


def test_concurrent_callers_compute_once() -> None:
    engine = AttentionEngine()
    calls: list[int] = []
    gate = threading.Barrier(6)

    def ask() -> None:
        gate.wait()
        engine.get(_Square(7, calls))

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [7]


def _engine_with(model: Any) -> tuple[AttentionEngine, str]:
    engine = AttentionEngine()
    engine.add_model(model)
    return engine, model.info.model_id


def test_keys_of_results_runs_and_nested_requests(tiny_bert) -> None:
    engine, model_id = _engine_with(tiny_bert)
    res = engine.result(model_id, "The cat sat.")
    engine.results.clear()
    again = engine.result(model_id, "The cat sat.")  # computed again: another object, the same key
    assert again is not res
    assert key_of(res) == key_of(again) and key_of(res)[0] == "result"
    owner = object()
    unhashable = [1, 2]  # compared by identity
    assert key_of(owner) == key_of(owner) and key_of(unhashable) == key_of(unhashable)
    assert key_of([1, 2]) == (1, 2)  # lists and tuples element by element
    grid = charts.OverviewGrid(charts.StatisticValues(res, "entropy_norm"), title="t", value_label="v")
    assert grid.key == charts.OverviewGrid(charts.StatisticValues(again, "entropy_norm"), title="t",
                                           value_label="v").key
    assert grid.key != charts.OverviewGrid(charts.StatisticValues(res, "confidence"), title="t", value_label="v").key


def test_derived_requests_share_their_inputs(tiny_bert) -> None:
    engine, model_id = _engine_with(tiny_bert)
    res = engine.result(model_id, "The cat sat on the mat.")
    stats = engine.get(analysis.HeadStatistics(res))
    assert engine.get(analysis.HeadStatistics(res)) is stats
    values = engine.get(charts.StatisticValues(res, "entropy_norm"))
    assert values.shape == (res.num_layers, res.num_heads)
    np.testing.assert_allclose(values.ravel(), stats["entropy_norm"].to_numpy())
    assert engine.memo(res, "x", (1,), lambda: 5) == 5 and engine.memo(res, "x", (1,), lambda: 6) == 5

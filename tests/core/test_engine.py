"""core.engine: bounded caches, one computation per key, thread safety on a shared model."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import core.attention.engine as engine_mod
from core.attention.extract import extract
from core.attention.engine import AttentionEngine, BoundedCache
from core.errors import EmptyTextError, ModelUnavailableError, UnknownModelError
from tests.sentences import TUTORIAL_SENTENCES

SENTENCES = [
    *TUTORIAL_SENTENCES,
    "Attention heads look at other tokens.",
    "A dog barked at the mailman this morning, and then it slept.",
]


class Counting:
    """A loader and an extract that count their calls."""

    def __init__(self, models: dict) -> None:
        self.models = models
        self.loads = 0
        self.extracts = 0
        self._lock = threading.Lock()

    def loader(self, model_id: str):
        with self._lock:
            self.loads += 1
        return self.models[model_id]

    def extract(self, *args, **kwargs):
        with self._lock:
            self.extracts += 1
        return extract(*args, **kwargs)


@pytest.fixture
def counting(tiny_models, bundled_model, monkeypatch):
    models = {m.info.model_id: m for m in tiny_models.values()}
    models[bundled_model.info.model_id] = bundled_model
    c = Counting(models)
    monkeypatch.setattr(engine_mod, "extract", c.extract)
    return c


# --- BoundedCache ----------------------------------------------------------------------------------

def test_bounded_cache_evicts_by_entries_lru():
    cache = BoundedCache(max_entries=3, max_bytes=10**9)
    for k in "abc":
        cache.put(k, np.zeros(10))
    assert cache.get("a") is not None  # a is now the most recent
    cache.put("d", np.zeros(10))
    assert len(cache) == 3
    assert "b" not in cache and "a" in cache and "c" in cache and "d" in cache
    assert cache.get("b") is None


def test_bounded_cache_evicts_by_bytes():
    cache = BoundedCache(max_entries=100, max_bytes=10_000)
    for i in range(5):
        cache.put(i, np.zeros(500, dtype=np.float32))  # 2,000 bytes each
    assert len(cache) == 5 and cache.nbytes == 10_000
    cache.put(5, np.zeros(1000, dtype=np.float32))  # 4,000 bytes: two oldest must go
    assert cache.nbytes <= 10_000
    assert 0 not in cache and 1 not in cache and 5 in cache
    assert cache.nbytes == sum(2_000 for k in (2, 3, 4)) + 4_000


def test_bounded_cache_value_larger_than_budget_is_not_kept():
    cache = BoundedCache(max_entries=10, max_bytes=1_000)
    cache.put("small", np.zeros(10, dtype=np.uint8))
    cache.put("huge", np.zeros(5_000, dtype=np.uint8))
    assert "huge" not in cache and "small" in cache
    calls = []
    value = cache.get_or_compute("huge2", lambda: calls.append(1) or np.zeros(5_000, dtype=np.uint8))
    assert value.nbytes == 5_000 and calls == [1]  # the caller still gets it


def test_bounded_cache_replacing_a_key_keeps_bytes_right():
    cache = BoundedCache(max_entries=10, max_bytes=10**6)
    cache.put("k", np.zeros(100, dtype=np.uint8))
    cache.put("k", np.zeros(300, dtype=np.uint8))
    assert len(cache) == 1 and cache.nbytes == 300
    cache.clear()
    assert len(cache) == 0 and cache.nbytes == 0


def test_bounded_cache_hits_misses_and_errors():
    cache = BoundedCache(max_entries=10, max_bytes=10**6)
    assert cache.get_or_compute("x", lambda: 1) == 1
    assert cache.get_or_compute("x", lambda: 2) == 1
    assert (cache.hits, cache.misses) == (1, 1)

    def boom():
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        cache.get_or_compute("y", boom)
    assert "y" not in cache
    assert cache.get_or_compute("y", lambda: 3) == 3  # an error is not cached
    assert cache._key_locks == {}  # per-key locks are cleaned up, errors included


def test_bounded_cache_none_value_is_cached():
    cache = BoundedCache(max_entries=10, max_bytes=10**6)
    calls = []
    for _ in range(3):
        cache.get_or_compute("none", lambda: calls.append(1))
    assert calls == [1]


def test_bounded_cache_concurrent_same_key_computes_once():
    cache = BoundedCache(max_entries=10, max_bytes=10**6)
    calls = []
    gate = threading.Barrier(8)

    def slow():
        calls.append(1)
        threading.Event().wait(0.05)
        return "value"

    def ask():
        gate.wait()
        return cache.get_or_compute("k", slow)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: ask(), range(8)))
    assert results == ["value"] * 8 and calls == [1] and cache.misses == 1


# --- AttentionEngine -----------------------------------------------------------------------------

def test_cache_hit_returns_the_same_object(counting):
    eng = AttentionEngine(loader=counting.loader)
    a = eng.result("tiny-bert", "The cat sat on the mat.")
    b = eng.result("tiny-bert", "The cat sat on the mat.")
    assert a is b
    assert counting.extracts == 1 and counting.loads == 1
    assert eng.results.hits >= 1 and eng.results.misses == 1


def test_changing_layer_or_head_never_reruns_the_model(counting):
    eng = AttentionEngine(loader=counting.loader)
    text = "The cat sat on the mat."
    first = eng.result("tiny-distilbert", text)
    for layer in range(first.num_layers):
        for head in range(first.num_heads):
            r = eng.result("tiny-distilbert", text)  # what a page does on every rerun
            assert r.head(layer, head).shape == (r.n_tokens, r.n_tokens)
            r.layer_mean(layer)
    assert counting.extracts == 1 and counting.loads == 1
    # a different max_tokens that resolves to the same limit shares the entry
    assert eng.result("tiny-distilbert", text, None, None) is first
    assert eng.result("tiny-distilbert", text, "", first.max_tokens) is first
    assert eng.result("tiny-distilbert", text, "   ", 10**6) is first
    assert counting.extracts == 1
    # anything that changes the tokens is a new entry
    eng.result("tiny-distilbert", text, "A second text.")
    eng.result("tiny-distilbert", text, max_tokens=5)
    eng.result("tiny-bert", text)
    assert counting.extracts == 4 and counting.loads == 2


def test_loading_context_is_entered_only_while_the_model_loads(counting):
    """engine.result is the one path: memory, disk, then the model. The `loading` context (a
    spinner in the app) wraps the model load and nothing else."""
    from contextlib import contextmanager

    messages: list[str] = []

    @contextmanager
    def loading(message: str):
        messages.append(message)
        yield

    eng = AttentionEngine(loader=counting.loader)
    first = eng.result("tiny-bert", "The cat sat.", loading=loading)
    assert len(messages) == 1 and "tiny-bert" in messages[0] and counting.loads == 1
    eng.result("tiny-bert", "The dog sat.", loading=loading)  # model already loaded: no spinner
    assert eng.result("tiny-bert", "The cat sat.", loading=loading) is first  # memory hit
    assert len(messages) == 1 and counting.extracts == 2


def test_blank_second_text_is_no_pair_in_one_place():
    from core.attention.result import normalise_pair

    assert normalise_pair(None) is None and normalise_pair("") is None and normalise_pair(" \n\t ") is None
    assert normalise_pair("It rained.") == "It rained."


def test_engine_result_cache_is_bounded(counting):
    eng = AttentionEngine(loader=counting.loader, max_results=3)
    for s in SENTENCES[:5]:
        eng.result("tiny-gpt2", s)
    assert len(eng.results) == 3
    eng.result("tiny-gpt2", SENTENCES[0])  # evicted: computed again
    assert counting.extracts == 6

    one = eng.result("tiny-gpt2", SENTENCES[1])
    small = AttentionEngine(loader=counting.loader, max_result_bytes=int(one.nbytes * 2.5))
    for s in SENTENCES:
        small.result("tiny-gpt2", s)
        assert small.results.nbytes <= small.results.max_bytes
    assert 1 <= len(small.results) <= 3


def test_memo_is_keyed_by_result_and_params(counting):
    eng = AttentionEngine(loader=counting.loader)
    r = eng.result("tiny-bert", "The cat sat.")
    calls = []

    def stat():
        calls.append(1)
        return r.attention.mean(axis=(1, 2))

    a = eng.memo(r, "mean", (0,), stat)
    b = eng.memo(r, "mean", (0,), stat)
    assert a is b and calls == [1]
    eng.memo(r, "mean", (1,), stat)
    assert calls == [1, 1]
    r2 = eng.result("tiny-bert", "The dog sat.")
    eng.memo(r2, "mean", (0,), stat)
    assert len(calls) == 3


def test_engine_model_loaded_once_and_add_model(counting, tiny_roberta):
    eng = AttentionEngine(loader=counting.loader)
    assert eng.model("tiny-gpt2") is eng.model("tiny-gpt2")
    assert counting.loads == 1
    eng.add_model(tiny_roberta)
    assert eng.model("tiny-roberta") is tiny_roberta and counting.loads == 1
    assert set(eng.loaded_ids()) == {"tiny-gpt2", "tiny-roberta"}


def test_engine_empty_text_raises_before_loading(counting):
    eng = AttentionEngine(loader=counting.loader)
    for text in ("", "  ", "\n\t"):
        with pytest.raises(EmptyTextError):
            eng.result("tiny-bert", text)
    assert counting.loads == 0 and len(eng.results) == 0


def test_engine_errors_from_the_default_loader():
    eng = AttentionEngine(device="cpu")
    with pytest.raises(UnknownModelError):
        eng.model("../../etc")
    with pytest.raises(ModelUnavailableError):
        eng.result("gpt2", "The cat sat.")
    assert eng.loaded_ids() == []


def test_engine_eight_threads_same_key_compute_once(counting):
    eng = AttentionEngine(loader=counting.loader)
    gate = threading.Barrier(8)

    def ask(_):
        gate.wait()
        return eng.result("all-MiniLM-L6-v2", "The cat and the dog played together.")

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(ask, range(8)))
    assert all(r is results[0] for r in results)
    assert eng.results.misses == 1 and counting.extracts == 1 and counting.loads == 1


def test_eight_threads_share_one_model_safely(bundled_model):
    """Different sentences from 8 threads on ONE loaded model equal a serial run exactly."""
    serial = [extract(bundled_model, s) for s in SENTENCES]
    gate = threading.Barrier(8)

    def work(i):
        gate.wait()
        return extract(bundled_model, SENTENCES[i])

    with ThreadPoolExecutor(8) as pool:
        parallel = list(pool.map(work, range(8)))
    for s, p in zip(serial, parallel):
        assert p.tokens == s.tokens and p.word_ids == s.word_ids
        np.testing.assert_array_equal(p.attention, s.attention)
        np.testing.assert_array_equal(p.segment_ids, s.segment_ids)


def test_eight_threads_through_the_engine_many_keys(counting):
    eng = AttentionEngine(loader=counting.loader)
    serial = {s: extract(counting.models["tiny-gpt2"], s) for s in SENTENCES}
    errors = []

    def work(i):
        try:
            for k in range(3):  # each thread asks for all sentences, in a different order
                s = SENTENCES[(i + k) % len(SENTENCES)]
                r = eng.result("tiny-gpt2", s)
                np.testing.assert_array_equal(r.attention, serial[s].attention)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert eng.results.misses == len(SENTENCES) == counting.extracts


def test_threads_mixing_truncated_and_short_texts(tiny_models):
    """Truncating and non-truncating calls flip the shared Rust tokenizer's truncation state;
    every read of it must happen under the model lock ("Already borrowed" otherwise)."""
    long_text = " ".join(["the cat sat on the mat"] * 30)  # far beyond the tiny models' 64/128
    texts = [long_text, "The cat sat.", long_text + " and more", "A dog barked at the mailman."]
    errors = []
    gate = threading.Barrier(8)

    def work(i):
        try:
            gate.wait()
            for k in range(12):
                loaded = tiny_models[("roberta", "gpt2", "bert", "distilbert")[(i + k) % 4]]
                r = extract(loaded, texts[(i + k) % len(texts)], max_tokens=48 if k % 3 else None)
                assert r.n_tokens <= 128 and all(r.display_tokens)
        except Exception as exc:  # noqa: BLE001
            errors.append(repr(exc))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []

"""The on-disk result store: exact round trip, stale or damaged entries refused, bounded size,
and an engine that redraws a stored view without loading its model."""

from __future__ import annotations

import io
import json
import os
import shutil
import threading

import numpy as np
import pytest

from core.attention import store as result_store
from core.attention.extract import extract
from core.attention.engine import AttentionEngine
from core.models.registry import BUNDLED_MODEL_ID
from core.models.loading import load_model
from core.attention.store import ResultStore, default_dir

TEXT = "The cat sat on the mat."


def _same(a, b) -> None:
    assert np.array_equal(a.attention, b.attention)
    assert a.attention.dtype == b.attention.dtype == np.float32
    for field in ("model_id", "text", "text_pair", "max_tokens", "tokens", "display_tokens", "token_ids",
                  "word_ids", "causal", "truncated_tokens", "info"):
        assert getattr(a, field) == getattr(b, field), field
    assert np.array_equal(a.special_mask, b.special_mask)
    assert np.array_equal(a.segment_ids, b.segment_ids)


def _failing_loader(model_id: str):
    raise AssertionError(f"the engine tried to load {model_id}")


@pytest.fixture()
def store(tmp_path) -> ResultStore:
    return ResultStore(tmp_path / "results")


def test_round_trip_is_exact_and_read_only(bundled_model, store) -> None:
    result = extract(bundled_model, TEXT, "A second sentence.")
    assert store.save(result, None)
    back = store.load(BUNDLED_MODEL_ID, TEXT, "A second sentence.", None)
    assert back is not None
    _same(result, back)
    assert not back.attention.flags.writeable and not back.special_mask.flags.writeable
    assert store.stats().hits == 1 and store.stats().files == 1


def test_engine_redraws_a_stored_view_without_loading_the_model(bundled_model, tmp_path) -> None:
    first = AttentionEngine(loader=lambda mid: bundled_model, store=ResultStore(tmp_path))
    computed = first.result(BUNDLED_MODEL_ID, TEXT)
    # A restarted server: a new engine whose model cannot load at all.
    restarted = AttentionEngine(loader=_failing_loader, store=ResultStore(tmp_path))
    assert restarted.peek(BUNDLED_MODEL_ID, TEXT) is not None
    again = restarted.result(BUNDLED_MODEL_ID, TEXT)
    _same(computed, again)
    assert restarted.loaded_ids() == []
    # After the first read everything comes from memory: one disk read in all.
    assert restarted.result(BUNDLED_MODEL_ID, TEXT) is again
    assert restarted.store.stats().hits == 1
    # Anything new still needs the model.
    with pytest.raises(AssertionError, match="tried to load"):
        restarted.result(BUNDLED_MODEL_ID, "A sentence nobody stored.")


def test_only_the_exact_request_matches(bundled_model, store) -> None:
    store.save(extract(bundled_model, TEXT), None)
    assert store.load(BUNDLED_MODEL_ID, TEXT, None, None) is not None
    assert store.load(BUNDLED_MODEL_ID, TEXT + " ", None, None) is None
    assert store.load(BUNDLED_MODEL_ID, TEXT, "pair", None) is None
    assert store.load(BUNDLED_MODEL_ID, TEXT, None, 64) is None
    assert store.load(BUNDLED_MODEL_ID, TEXT, None, None, device="cuda") is None


def test_a_library_upgrade_makes_entries_stale(bundled_model, store, monkeypatch) -> None:
    store.save(extract(bundled_model, TEXT), None)
    versions = result_store.library_versions()
    monkeypatch.setattr(result_store, "library_versions", lambda: {**versions, "transformers": "99.0"})
    assert store.load(BUNDLED_MODEL_ID, TEXT, None, None) is None


def test_changed_model_files_make_entries_stale(tiny_models_dir, tiny_gpt2, tmp_path, monkeypatch) -> None:
    from tests.tiny_models import model_folder

    folder = tmp_path / "my-gpt2"
    shutil.copytree(model_folder(tiny_models_dir, "gpt2"), folder)
    monkeypatch.setenv("ATTENTION_DASHBOARD_MODELS", str(folder))
    loaded = load_model(str(folder), device="cpu")
    store = ResultStore(tmp_path / "results")
    result = extract(loaded, "the cat sat on the mat")
    assert result.causal
    assert store.save(result, None)
    _same(result, store.load(str(folder), "the cat sat on the mat", None, None))
    config = folder / "config.json"
    stat = config.stat()
    os.utime(config, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # the model was replaced
    store._fingerprints.clear()  # the one-second memo of file stats
    assert store.load(str(folder), "the cat sat on the mat", None, None) is None


def test_damaged_and_foreign_files_are_refused_and_removed(bundled_model, store) -> None:
    result = extract(bundled_model, TEXT)
    store.save(result, None)
    key = store.key(BUNDLED_MODEL_ID, TEXT, None, None, None)
    path = store._path(key)

    path.write_bytes(b"not a zip file")
    assert store.load(BUNDLED_MODEL_ID, TEXT, None, None) is None
    assert not path.exists()

    # A pickled object array: refused (allow_pickle=False), never executed.
    buf = io.BytesIO()
    np.savez(buf, meta=np.array([{"key": key}], dtype=object))
    path.write_bytes(buf.getvalue())
    assert store.load(BUNDLED_MODEL_ID, TEXT, None, None) is None

    # A well-formed entry whose weights were altered: rows no longer sum to 1.
    store.save(result, None)
    with np.load(path, allow_pickle=False) as npz:
        parts = {name: npz[name] for name in npz.files}
    parts["attention"] = parts["attention"] * 1.5
    buf = io.BytesIO()
    np.savez(buf, **parts)
    path.write_bytes(buf.getvalue())
    assert store.load(BUNDLED_MODEL_ID, TEXT, None, None) is None
    assert store.stats().rejected == 3


def test_an_entry_filed_under_another_key_is_refused(bundled_model, store) -> None:
    store.save(extract(bundled_model, TEXT), None)
    here = store._path(store.key(BUNDLED_MODEL_ID, TEXT, None, None, None))
    other = store._path(store.key(BUNDLED_MODEL_ID, "Something else.", None, None, None))
    here.rename(other)
    assert store.load(BUNDLED_MODEL_ID, "Something else.", None, None) is None


def test_size_bounds_and_least_recently_used_pruning(bundled_model, tmp_path) -> None:
    results = [extract(bundled_model, f"Sentence number {i} is here.") for i in range(4)]
    tiny = ResultStore(tmp_path / "tiny", max_entry_bytes=1000)
    assert not tiny.save(results[0], None)
    probe = ResultStore(tmp_path / "probe")
    probe.save(results[0], None)
    entry_bytes = probe.stats().bytes
    bounded = ResultStore(tmp_path / "bounded", max_total_bytes=int(entry_bytes * 2.5))
    bounded.save(results[0], None)
    bounded.save(results[1], None)
    path0 = bounded._path(bounded.key(BUNDLED_MODEL_ID, results[0].text, None, None, None))
    path1 = bounded._path(bounded.key(BUNDLED_MODEL_ID, results[1].text, None, None, None))
    old = path1.stat().st_mtime_ns - 5 * 10**9
    os.utime(path1, ns=(old, old))  # results[1] is the least recently used
    bounded.save(results[2], None)
    assert bounded.stats().files == 2
    assert path0.exists() and not path1.exists()
    assert bounded.stats().bytes <= bounded.max_total_bytes


def test_concurrent_writers_and_readers_never_see_half_a_file(bundled_model, store) -> None:
    result = extract(bundled_model, TEXT)
    errors: list[BaseException] = []

    def write() -> None:
        for _ in range(10):
            store.save(result, None)

    def read() -> None:
        for _ in range(20):
            got = store.load(BUNDLED_MODEL_ID, TEXT, None, None)
            if got is not None and not np.array_equal(got.attention, result.attention):
                errors.append(AssertionError("a different result came back"))

    threads = [threading.Thread(target=write) for _ in range(3)] + [threading.Thread(target=read) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert store.stats().rejected == 0
    assert not list(store.root.glob(".tmp-*"))


def test_folder_comes_from_the_environment(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(result_store.ENV_CACHE_DIR, "off")
    assert default_dir() is None and ResultStore.from_env() is None
    monkeypatch.setenv(result_store.ENV_CACHE_DIR, str(tmp_path / "x"))
    assert default_dir() == tmp_path / "x"
    monkeypatch.delenv(result_store.ENV_CACHE_DIR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_dir() == tmp_path / "xdg" / "attention-dashboard" / "results"


def test_an_unwritable_folder_never_breaks_extraction(bundled_model, tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder should be")
    engine = AttentionEngine(loader=lambda mid: bundled_model, store=ResultStore(blocker / "results"))
    assert engine.result(BUNDLED_MODEL_ID, TEXT).n_tokens > 0


def test_unknown_models_have_no_entries(store) -> None:
    assert store.load("no-such-model", TEXT, None, None) is None


# --- the seed shipped in assets/seed ------------------------------------------------------------

def test_the_seed_holds_every_example_and_matches_the_live_model(bundled_model, monkeypatch) -> None:
    """Every seed entry is current for the installed pins and equals what the model computes.
    When this fails after a change of torch / transformers / tokenizers or the bundled model:
    `.venv/bin/python scripts/make_seed.py`."""
    from core.examples import EXAMPLES

    monkeypatch.setenv(result_store.ENV_SEED, "on")
    seed = result_store.seed_store()
    assert seed is not None and seed.read_only
    for text in EXAMPLES.values():
        stored = seed.load(BUNDLED_MODEL_ID, text, None, None)
        assert stored is not None, f"no current seed entry for {text!r}: run scripts/make_seed.py"
        live = extract(bundled_model, text)
        assert stored.tokens == live.tokens and stored.display_tokens == live.display_tokens
        assert stored.word_ids == live.word_ids and stored.token_ids == live.token_ids
        np.testing.assert_allclose(stored.attention, live.attention, atol=1e-5, rtol=0)
        assert stored.info.source == live.info.source  # this machine's folder, not the writer's
        assert stored.info.device == "cpu (precomputed)"
    assert len(list(result_store.SEED_DIR.glob("*.npz"))) == len(set(EXAMPLES.values()))


def test_seed_keys_name_no_machine_paths() -> None:
    fp = result_store.package_fingerprint(BUNDLED_MODEL_ID)
    assert fp is not None and fp["package"] == result_store.BUNDLED_PACKAGE
    assert "folder" not in fp and "/" not in json.dumps(fp["files"])
    assert result_store.package_fingerprint("distilbert-base-uncased") is None


def test_the_seed_is_never_written_or_cleaned(bundled_model, tmp_path) -> None:
    seed = ResultStore(tmp_path, fingerprint=result_store.package_fingerprint, read_only=True)
    assert not seed.save(extract(bundled_model, TEXT), None)
    assert not list(tmp_path.iterdir())
    writable = ResultStore(tmp_path, fingerprint=result_store.package_fingerprint)
    writable.save(extract(bundled_model, TEXT), None)
    path = next(tmp_path.glob("*.npz"))
    path.write_bytes(b"damaged")
    assert seed.load(BUNDLED_MODEL_ID, TEXT, None, None) is None
    assert path.exists()  # refused, but a read-only store deletes nothing


def test_engine_falls_back_to_the_seed_without_loading(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(result_store.ENV_SEED, "on")
    engine = AttentionEngine(loader=_failing_loader, store=ResultStore(tmp_path), seed=result_store.seed_store())
    result = engine.result(BUNDLED_MODEL_ID, "The cat sat on the mat.")
    assert result.display_tokens[0] == "[CLS]" and engine.loaded_ids() == []
    monkeypatch.setenv(result_store.ENV_SEED, "off")
    assert result_store.seed_store() is None


def test_only_the_stores_own_files_are_ever_deleted(bundled_model, tmp_path) -> None:
    store = ResultStore(tmp_path, max_total_bytes=1)  # everything of its own must go
    mine = tmp_path / "my_download.npz"  # e.g. the app's own NPZ export, saved into this folder
    mine.write_bytes(b"user data")
    store.save(extract(bundled_model, TEXT), None)
    store.clear()
    assert mine.read_bytes() == b"user data"
    assert store.stats().files == 0


def test_old_and_oversized_entries_are_misses(bundled_model, tmp_path) -> None:
    store = ResultStore(tmp_path)
    store.save(extract(bundled_model, TEXT), None)
    path = store._path(store.key(BUNDLED_MODEL_ID, TEXT, None, None, None))
    month = 31 * 24 * 3600
    old = path.stat().st_mtime - month
    os.utime(path, (old, old))
    assert store.load(BUNDLED_MODEL_ID, TEXT, None, None) is None
    assert not path.exists()
    small = ResultStore(tmp_path, max_entry_bytes=10)
    ResultStore(tmp_path).save(extract(bundled_model, TEXT), None)
    path.write_bytes(path.read_bytes() + b"\0" * (2**20 + 100))  # larger than any entry could be
    assert small.load(BUNDLED_MODEL_ID, TEXT, None, None) is None


def test_results_are_filed_under_the_files_the_model_was_loaded_from(bundled_model, tmp_path, monkeypatch) -> None:
    store = ResultStore(tmp_path)
    store.pin(BUNDLED_MODEL_ID)
    pinned = store.key(BUNDLED_MODEL_ID, TEXT, None, None, None)
    monkeypatch.setattr(store, "_fingerprint_of", lambda mid: {"folder": "/elsewhere", "files": {}})
    store._fingerprints.clear()
    assert store.key(BUNDLED_MODEL_ID, TEXT, None, None, None) == pinned


def test_the_apps_extraction_code_is_part_of_the_key() -> None:
    versions = result_store.library_versions()
    assert set(versions) >= {"torch", "transformers", "tokenizers", "format", "code"}
    assert len(versions["code"]) == 16

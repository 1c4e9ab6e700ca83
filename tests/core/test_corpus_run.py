"""run_corpus: progress, a cancel that keeps what is done, the disk round trip (reopened without
a model), damaged files refused, the background job, and the command line end to end."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.attention.batch import iter_batches
from core.corpus import run as run_mod
from core.corpus import sources
from core.corpus.aggregate import STAT_NAMES, CorpusAggregate
from core.corpus.run import CorpusJob, CorpusRun, CorpusRunError, run_corpus, stored_run
from core.models.registry import BUNDLED_MODEL_ID

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = sources.Corpus.of(sources.builtin("sample_en").sentences[:40], name="sample, first 40")


@pytest.fixture()
def store_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("ATTENTION_DASHBOARD_CACHE_DIR", str(tmp_path / "results"))
    return tmp_path / "results" / "corpus"


def _no_loading(*args, **kwargs):
    raise AssertionError("a model was loaded although the run is on disk")


def test_run_matches_the_aggregate_and_reports_progress(tiny_gpt2) -> None:
    seen = []
    run = run_corpus(tiny_gpt2, SAMPLE, 8, progress=lambda *a: seen.append(a), store=False, reuse=False)
    assert run.complete and run.done == run.total == len(SAMPLE) and run.path is None
    dones = [s[0] for s in seen]
    assert dones == sorted(dones) and dones[-1] == len(SAMPLE)
    assert all(s[1] == len(SAMPLE) and s[2] > 0 for s in seen) and seen[-1][3] == 0
    agg = CorpusAggregate(tiny_gpt2.info.num_layers, tiny_gpt2.info.num_heads)
    for recs in iter_batches(tiny_gpt2, SAMPLE.sentences, 8, run.meta["max_tokens"]):
        agg.add(recs)
    np.testing.assert_allclose(run.grid("entropy_norm"), agg.summary()["mean"][:, STAT_NAMES.index("entropy_norm")]
                               .reshape(2, 2), atol=1e-12)
    assert run.causal and run.meta["model_id"] == tiny_gpt2.info.model_id
    shares = run.pattern_shares()
    np.testing.assert_allclose(shares[["vertical", "diagonal", "vertical+diagonal", "block", "heterogeneous"]]
                               .sum(axis=1), 1.0)
    table = run.typical(1, 1)
    assert set(table["kind"]) == {"most typical", "least typical"}
    assert all(SAMPLE.sentences[i] == t for i, t in zip(table["index"], table["text"]))
    long = run.summary()
    assert len(long) == len(STAT_NAMES) * 4
    defined = long.dropna(subset=["mean"])  # a causal model's next-token score has no value
    assert set(long["statistic"]) - set(defined["statistic"]) == {"next_score"}
    assert (defined["ci_low"] <= defined["mean"]).all() and (defined["mean"] <= defined["ci_high"]).all()


def test_cancel_keeps_partial_results(tiny_bert, store_dir) -> None:
    cancel = threading.Event()

    def progress(done, total, rate, eta) -> None:
        if done >= 8:
            cancel.set()

    run = run_corpus(tiny_bert, SAMPLE, 4, progress=progress, cancel=cancel)
    assert not run.complete and run.meta["cancelled"]
    assert 8 <= run.done < run.total
    counts = run.heads[[c for c in run.heads.columns if c.startswith("pattern__")]].sum(axis=1)
    assert (counts == run.done).all()  # every class count covers exactly the sentences done
    assert (run.heads["entropy_norm__n"] == run.done).all()
    assert run.path is None and not list(store_dir.glob("*.parquet"))  # a partial run is not filed
    data = run.to_bytes()
    back = CorpusRun.load(data)
    assert back.done == run.done and not back.complete


def test_disk_round_trip_reopens_without_a_model(bundled_model, store_dir, monkeypatch) -> None:
    corpus = sources.builtin("tutorial")
    first = run_corpus(bundled_model, corpus, 4)
    assert first.path is not None and first.path.parent == store_dir and first.path.is_file()
    monkeypatch.setattr("core.models.loading.load_model", _no_loading)
    again = run_corpus(BUNDLED_MODEL_ID, corpus, 64)  # another batch size: the same key
    assert again.path == first.path
    pd.testing.assert_frame_equal(again.heads, first.heads)
    assert again.meta == first.meta
    assert stored_run(BUNDLED_MODEL_ID, corpus) is not None
    assert stored_run(BUNDLED_MODEL_ID, sources.Corpus.of(["Another corpus."])) is None
    # A damaged file is a miss, and it is removed.
    first.path.write_bytes(b"not parquet")
    assert stored_run(BUNDLED_MODEL_ID, corpus) is None
    assert not first.path.exists()


def test_store_off_and_unregistered_models_are_not_filed(tiny_bert, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("ATTENTION_DASHBOARD_CACHE_DIR", "off")
    assert run_mod.corpus_dir() is None
    assert run_corpus(tiny_bert, SAMPLE, 16).path is None
    monkeypatch.setenv("ATTENTION_DASHBOARD_CACHE_DIR", str(tmp_path))
    assert run_mod.run_key(tiny_bert.info.model_id, SAMPLE.digest, 128) is None  # not in the registry
    assert run_corpus(tiny_bert, SAMPLE, 16).path is None


def test_bad_run_files_are_refused(tmp_path) -> None:
    for data in (b"", b"garbage", pd.DataFrame({"a": [1]}).to_parquet()):
        with pytest.raises(CorpusRunError) as info:
            CorpusRun.load(data)
        assert str(info.value).startswith("This file is not a corpus run")


def test_background_job_cancel_and_error(tiny_bert) -> None:
    job = CorpusJob.start(tiny_bert, SAMPLE, 2, store=False, reuse=False)
    job.cancel()
    job.join(120)
    status = job.status()
    assert not status.running and status.error is None and status.run is not None
    assert 0 < status.run.done <= len(SAMPLE)
    failing = CorpusJob.start("no-such-model", SAMPLE, 2, store=False, reuse=False)
    failing.join(60)
    assert failing.status().run is None and "no-such-model" in failing.status().error


def _cli(*args: str, env_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "ATTENTION_DASHBOARD_CACHE_DIR": str(env_dir), "ATTENTION_DASHBOARD_OFFLINE": "1",
           "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "core.corpus", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


def test_command_line_end_to_end(bundled_model, tmp_path) -> None:
    corpus = tmp_path / "corpus.csv"
    corpus.write_text("id,text\n1,The cat sat on the mat.\n2,\n3,Why did the dog bark?\n4,Birds sing.\n",
                      encoding="utf-8")
    out = tmp_path / "run.parquet"
    done = _cli("--model", BUNDLED_MODEL_ID, "--input", str(corpus), "--column", "text", "--batch-size", "2",
                "--device", "cpu", "--out", str(out), "--quiet", env_dir=tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    assert "1 empty lines skipped" in done.stderr and f"wrote {out}" in done.stdout
    run = CorpusRun.load(out)
    assert run.complete and run.done == 3 and run.meta["device"] == "cpu"
    # The same numbers as in process, and the app finds the run in the store at once.
    inproc = run_corpus(bundled_model, sources.read_path(corpus, "text"), 8, store=False, reuse=False)
    np.testing.assert_allclose(run.grid("entropy_norm"), inproc.grid("entropy_norm"), atol=1e-6)
    filed = list((tmp_path / "cache" / "corpus").glob("*.parquet"))
    assert len(filed) == 1
    # Bad input: a clear message and exit status 2, nothing written.
    bad = _cli("--model", BUNDLED_MODEL_ID, "--input", str(corpus), "--column", "body", "--out",
               str(tmp_path / "x.parquet"), env_dir=tmp_path / "cache")
    assert bad.returncode == 2 and "has no column 'body'" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "x.parquet").exists()
    unknown = _cli("--model", "no-such-model", "--builtin", "tutorial", "--out", str(tmp_path / "y.parquet"),
                   env_dir=tmp_path / "cache")
    assert unknown.returncode == 2 and "not a model this app knows" in unknown.stderr

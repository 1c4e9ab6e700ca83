"""core.render.export: offline PNG/SVG, bounded long-form CSV, NPZ round trip."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import time
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd
import pytest

from core.render import export as E
from core.render import heatmaps
from core.render.matrix import DrawMatrix
from core.attention.result import AttentionResult
from core.models.loading import ModelInfo
from tests.core.synthetic import softmax

ROOT = Path(__file__).resolve().parents[2]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TOKENS = ["[CLS]", "the", "cat", "</script><script>alert(1)</script>", "the", "🙂", "שלום",
          "a\u200bb", '"quoted, comma"', "[SEP]"]


def make_result(n=len(TOKENS), layers=2, heads=3, causal=False, pair=None) -> AttentionResult:
    info = ModelInfo(model_id="tiny/test-model", display_name="Tiny", model_type="bert", num_layers=layers,
                     num_heads=heads, hidden_size=8, vocab_size=100, max_positions=512, num_parameters=1,
                     causal=causal, device="cpu", source="test")
    toks = (TOKENS * (n // len(TOKENS) + 1))[:n]
    word_ids = tuple(None if t in ("[CLS]", "[SEP]") else i for i, t in enumerate(toks))
    return AttentionResult(
        model_id=info.model_id, text="the cat </script> 🙂 שלום", text_pair=pair, max_tokens=512,
        tokens=tuple(toks), display_tokens=tuple(toks), token_ids=tuple(range(100, 100 + n)),
        attention=softmax((layers, heads, n, n)), special_mask=np.array([w is None for w in word_ids]),
        word_ids=word_ids, segment_ids=np.zeros(n, dtype=np.int8), causal=causal, truncated_tokens=0, info=info)


@pytest.fixture(scope="module")
def chart10():
    n = len(TOKENS)
    return heatmaps.heatmap(DrawMatrix.of(softmax((n, n)), TOKENS), title="Layer 0 · head 0")


def test_png_export(chart10):
    t = time.perf_counter()
    png = E.chart_to_png(chart10, scale=1)
    assert time.perf_counter() - t < 20
    assert isinstance(png, bytes) and png.startswith(PNG_SIGNATURE) and len(png) > 1000
    assert E.chart_to_png(chart10, scale=2) != png


def test_svg_export_escapes_tokens(chart10):
    svg = E.chart_to_svg(chart10)
    assert isinstance(svg, str) and "<svg" in svg
    assert "<script" not in svg.lower()  # the hostile token is escaped text, not markup
    assert "&lt;/script&gt;" in svg
    assert "Keys (attending to)" in svg


def test_export_spec_inline_only(chart10):
    spec = E.export_spec(chart10)
    assert spec["datasets"] and spec["background"] == "white"
    assert not E._find_urls(spec)
    remote = alt.Chart("https://example.com/data.csv").mark_point().encode(x="a:Q")
    with pytest.raises(E.ExternalDataError):
        E.chart_to_svg(remote)


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare for a no-network namespace")
def test_png_renders_without_network():
    code = (
        "import numpy as np; from core.render import export as E, heatmaps; from core.render.matrix import DrawMatrix\n"
        "a = np.full((4, 4), 0.25)\n"
        "png = E.chart_to_png(heatmaps.heatmap(DrawMatrix.of(a, ['a', 'b', 'a', 'c']), title='t'), scale=1)\n"
        "assert png[:4] == b'\\x89PNG'; print('ok')\n"
    )
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("unprivileged network namespaces are not allowed here")
    out = subprocess.run(["unshare", "-rn", sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")


def test_csv_round_trip_one_head():
    res = make_result()
    data = E.attention_to_csv(res, layer=1, head=2)
    df = pd.read_csv(io.BytesIO(data), keep_default_na=False)
    n = res.n_tokens
    assert list(df.columns) == ["layer", "head", "query_pos", "query", "key_pos", "key", "weight"]
    assert len(df) == n * n and set(df.layer) == {1} and set(df["head"]) == {2}
    np.testing.assert_allclose(df.weight.to_numpy().reshape(n, n), res.attention[1, 2], atol=1e-6)
    assert df[df.query_pos == 3]["query"].iloc[0] == TOKENS[3]
    assert df[df.key_pos == 8].key.iloc[0] == '"quoted, comma"'
    assert df[df.key_pos == 7].key.iloc[0] == "a\u200bb"


def test_csv_full_tensor_and_array_input():
    res = make_result()
    L, H, n = 2, 3, res.n_tokens
    df = pd.read_csv(io.BytesIO(E.attention_to_csv(res)), keep_default_na=False)
    assert len(df) == L * H * n * n == E.csv_row_count(res.attention.shape)
    back = df.sort_values(["layer", "head", "query_pos", "key_pos"]).weight.to_numpy().reshape(L, H, n, n)
    np.testing.assert_allclose(back, res.attention, atol=1e-6)
    one = pd.read_csv(io.BytesIO(E.attention_to_csv(res.attention[0, 1], TOKENS)), keep_default_na=False)
    assert len(one) == n * n and set(one.layer) == {0} and set(one["head"]) == {0}
    by_layer = pd.read_csv(io.BytesIO(E.attention_to_csv(res.attention, TOKENS, layer=1)))
    assert len(by_layer) == H * n * n and set(by_layer["head"]) == {0, 1, 2}
    with pytest.raises(ValueError):
        E.attention_to_csv(res.attention)  # a bare array needs tokens
    with pytest.raises(ValueError):
        E.attention_to_csv(res, layer=5)


def test_matrix_csv_is_the_drawn_table_with_sentence_positions():
    a = softmax((4, 4))
    dm = DrawMatrix.of(a, ["the", "cat", "the", "."], positions=[1, 2, 3, 4], allowed=np.tril(np.ones((4, 4))))
    df = pd.read_csv(io.BytesIO(E.matrix_to_csv(dm)))
    assert list(df.columns) == ["query_pos", "key_pos", "query", "key", "weight", "allowed"]
    assert sorted(set(df.query_pos)) == [1, 2, 3, 4] and df["query"].iloc[0] == "1 · the"
    np.testing.assert_allclose(df.weight.to_numpy().reshape(4, 4), a, rtol=1e-6)
    assert df.allowed.tolist() == np.tril(np.ones((4, 4), bool)).reshape(-1).tolist()


def test_csv_is_bounded_at_512_tokens():
    assert E.csv_row_count((6, 12, 512, 512)) == 18_874_368 > E.CSV_MAX_ROWS
    assert E.csv_row_count((6, 12, 512, 512), layer=0, head=0) == 262_144
    big = np.broadcast_to(np.float32(1 / 512), (6, 12, 512, 512))  # no 72 MiB allocation
    toks = [f"w{i}" for i in range(512)]
    with pytest.raises(E.ExportTooLargeError, match="layer or one head"):
        E.attention_to_csv(big, toks)
    t = time.perf_counter()
    data = E.attention_to_csv(big, toks, layer=5, head=11)
    assert time.perf_counter() - t < 10
    assert data.count(b"\n") == 262_144 + 1


@pytest.mark.parametrize("causal,pair", [(False, None), (True, "second text")])
def test_npz_round_trip(causal, pair):
    res = make_result(causal=causal, pair=pair)
    blob = E.attention_to_npz(res)
    with np.load(io.BytesIO(blob), allow_pickle=False) as z:
        assert z["attention"].dtype == np.float32
        np.testing.assert_array_equal(z["attention"], res.attention)
        assert z["tokens"].tolist() == list(res.tokens)
        assert z["display_tokens"].tolist() == list(res.display_tokens)
        np.testing.assert_array_equal(z["special_mask"], res.special_mask)
        np.testing.assert_array_equal(z["segment_ids"], res.segment_ids)
        assert z["word_ids"].dtype.kind == "i"
        assert z["word_ids"].tolist() == [-1 if w is None else w for w in res.word_ids]
        assert z["token_ids"].tolist() == list(res.token_ids)
        assert str(z["model_id"]) == "tiny/test-model" and str(z["text"]) == res.text
        assert str(z["text_pair"]) == (pair or "")
        assert bool(z["causal"]) is causal
    assert len(E.attention_to_npz(res, compress=False)) > len(blob) * 0.5

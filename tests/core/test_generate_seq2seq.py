"""core.generate.seq2seq and alignment on tiny random MarianMT and T5 models; the registry's
encoder-decoder entries."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import EmptyTextError, ModelUnavailableError, UnknownModelError
from core.generate.alignment import token_words, word_alignment, word_spans
from core.generate.errors import NotEncoderDecoderError, TargetTooLongError
from core.generate.seq2seq import load_seq2seq, load_seq2seq_from_source, piece_offsets, run_seq2seq
from core.models import availability
from core.models.availability import Availability, check_availability, check_encoder_decoder_availability
from core.models.registry import all_models, causal_models, encoder_decoder_registry, registry, resolve_spec
from tests.tiny_models import seq2seq_once

SOURCE = "The cat sat on the mat."
TARGET = "Die Katze sitzt auf der Matte."


@pytest.fixture(scope="module", params=["marian", "t5"])
def s2s(request):
    return seq2seq_once()[request.param]


def test_shapes_rows_and_offsets(s2s):
    r = run_seq2seq(s2s, SOURCE, TARGET)
    S, T = len(r.source.token_ids), len(r.target.token_ids)
    info = s2s.info
    assert r.encoder_attention.shape == (info.encoder_layers, info.num_heads, S, S)
    assert r.decoder_attention.shape == (info.decoder_layers, info.num_heads, T, T)
    assert r.cross_attention.shape == (info.decoder_layers, info.num_heads, T, S)
    for a in (r.encoder_attention, r.decoder_attention, r.cross_attention):
        np.testing.assert_allclose(a.sum(-1), 1.0, atol=1e-5)
        assert not a.flags.writeable
    assert np.allclose(np.triu(r.decoder_attention, k=1), 0)  # the decoder is causal
    assert r.target.token_ids[0] == info.decoder_start_id and r.target.special_mask[0]
    assert not r.target_generated
    for side in (r.source, r.target):
        for off, label, special in zip(side.offsets, side.labels, side.special_mask):
            if off is not None:
                assert not special and side.text[off[0]:off[1]].strip()
    words = [side.text[o[0]:o[1]] for side in (r.source,) for o in side.offsets if o]
    assert "".join(words).replace(" ", "") == SOURCE.replace(" ", "")


def test_typed_target_uses_text_target(s2s):
    r = run_seq2seq(s2s, SOURCE, TARGET)
    expected = list(s2s.tokenizer(text_target=TARGET)["input_ids"])
    assert list(r.target.token_ids) == [s2s.info.decoder_start_id] + expected


def test_generated_target_is_the_models_greedy_output(s2s):
    import torch

    r = run_seq2seq(s2s, SOURCE)
    assert r.target_generated
    x = torch.tensor([list(r.source.token_ids)])
    with torch.inference_mode():
        ref = s2s.model.generate(input_ids=x, do_sample=False, num_beams=1, max_new_tokens=63)[0].tolist()
    assert list(r.target.token_ids) == ref[: len(r.target.token_ids)]
    np.testing.assert_allclose(r.cross_attention.sum(-1), 1.0, atol=1e-5)


def test_refusals(s2s):
    with pytest.raises(EmptyTextError):
        run_seq2seq(s2s, "  ", TARGET)
    with pytest.raises(TargetTooLongError) as err:
        run_seq2seq(s2s, "cat " * 300, TARGET)
    assert "source" in str(err.value)


def test_a_causal_model_is_not_encoder_decoder(tmp_path):
    from tests.tiny_models import build_gpt2

    build_gpt2(tmp_path)
    with pytest.raises(NotEncoderDecoderError) as err:
        load_seq2seq_from_source(str(tmp_path / "tiny-gpt2"), local_only=True)
    assert "encoder-decoder" in str(err.value)


# --- alignment -------------------------------------------------------------------------------

def test_word_spans_and_piece_offsets():
    assert word_spans("Die Katze, naïve!") == [(0, 3), (4, 9), (9, 10), (11, 16), (16, 17)]
    assert piece_offsets("ab cd", ["▁ab", "▁", "c", "d", "</s>"], [False] * 4 + [True]) == \
        [(0, 2), None, (3, 4), (4, 5), None]


def _plant(model, planted: np.ndarray):
    """Make every decoder layer's cross-attention return `planted` [T, S] on every head."""
    import torch

    if model.config.model_type == "t5":
        modules = [block.layer[1].EncDecAttention for block in model.decoder.block]
    else:
        modules = [layer.encoder_attn for layer in model.model.decoder.layers]

    def hook(_module, _args, output):
        weights = output[-1]  # (output, weights) in Marian; (output, position bias, weights) in T5
        new = torch.from_numpy(planted).to(weights.dtype)[None, None].expand_as(weights).clone()
        return (*output[:-1], new)

    # prepend: before the hooks with which transformers records the attention outputs
    return [m.register_forward_hook(hook, prepend=True) for m in modules]


def test_a_planted_alignment_is_read_back_exactly(s2s):
    plain = run_seq2seq(s2s, SOURCE, TARGET)
    src_words, src_of = token_words(plain.source)
    tgt_words, tgt_of = token_words(plain.target)
    n_src = len(src_words)
    wanted = [(n_src - 1 - i) % n_src for i in range(len(tgt_words))]  # reversed: nothing by position
    first_piece = {w: src_of.index(w) for w in range(n_src)}
    S, T = len(plain.source.token_ids), len(plain.target.token_ids)
    planted = np.zeros((T, S), dtype=np.float32)
    for t, w in enumerate(tgt_of):
        planted[t, first_piece[wanted[w]] if w is not None else S - 1] = 1.0
    handles = _plant(s2s.model, planted)
    try:
        r = run_seq2seq(s2s, SOURCE, TARGET)
    finally:
        for h in handles:
            h.remove()
    np.testing.assert_array_equal(r.cross_attention[0, 0], planted)
    a = word_alignment(r)
    assert list(a.links) == wanted
    np.testing.assert_allclose(a.matrix[np.arange(len(wanted)), wanted], 1.0)
    assert [p[0] for p in a.pairs()] == [w.text for w in tgt_words]
    # "output" rows: the row that predicted a token is one earlier
    shifted = word_alignment(r, rows="output")
    assert shifted.links[1:] != a.links[1:] or len(set(wanted)) == 1
    one = word_alignment(r, layers=[1], heads=[0])
    assert one.layers == (1,) and one.heads == (0,) and one.links == a.links
    with pytest.raises(ValueError):
        word_alignment(r, layers=[9])


def test_alignment_rows_are_distributions(s2s):
    a = word_alignment(run_seq2seq(s2s, SOURCE, TARGET))
    assert a.matrix.shape == (len(a.target_words), len(a.source_words))
    assert (a.matrix.sum(1) <= 1 + 1e-5).all() and (a.matrix.sum(1) > 0.5).all()
    assert [w.text for w in a.source_words] == ["The", "cat", "sat", "on", "the", "mat", "."]


# --- registry --------------------------------------------------------------------------------

def test_registry_keeps_encoder_decoder_models_apart():
    ed = encoder_decoder_registry()
    assert list(ed) == ["Helsinki-NLP/opus-mt-en-de", "t5-small"]
    assert all(spec.encoder_decoder for spec in ed.values())
    assert not set(ed) & set(registry())  # the sidebar's list is unchanged
    assert set(all_models()) == set(registry()) | set(ed)
    assert resolve_spec("t5-small").encoder_decoder
    status = check_availability("t5-small")
    assert status.availability is Availability.UNAVAILABLE and "encoder-decoder" in status.reason
    assert check_encoder_decoder_availability("t5-small").availability is Availability.UNAVAILABLE  # offline
    with pytest.raises(UnknownModelError):
        check_encoder_decoder_availability("gpt2")
    assert all(s.spec.model_id not in ed for s in availability.all_statuses())
    assert causal_models() == ["gpt2", "distilgpt2"]


def test_loading_an_unavailable_encoder_decoder_model_is_fast_and_says_why(monkeypatch):
    import time

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.perf_counter()
    with pytest.raises(ModelUnavailableError) as err:
        load_seq2seq("Helsinki-NLP/opus-mt-en-de")
    assert time.perf_counter() - t0 < 2 and "not available" in str(err.value)
    with pytest.raises(UnknownModelError):
        load_seq2seq("../../etc")

"""core.attention.extract on the real bundled model and on tiny DistilBERT/BERT/RoBERTa/GPT-2."""

from __future__ import annotations

import numpy as np
import pytest

from core.attention.result import ROW_SUM_TOLERANCE, AttentionResult
from core.attention.extract import effective_max_tokens, extract
from core.attention.extract import verify as _verify
from core.errors import EmptyTextError, NoAttentionError
from tests.sentences import TUTORIAL_SENTENCES


FAMILIES = ["distilbert", "bert", "roberta", "gpt2"]

# Inputs a user may paste: none of them may raise or produce an empty label.
ODD_TEXTS = {
    "control chars": "tab\there\x00null\x07bell\x1b[31mred\x7f del",
    "only control chars": "\x00\x01\x02",
    "zero-width space": "zero\u200bwidth\u200bspace",
    "zero-width joiner": "join\u200der \u200d",
    "lone zero-width space": "\u200b",
    "emoji": "I love 🐱 and 🙂!",
    "flag": "Vive la France 🇫🇷 🇯🇵",
    "zwj sequence": "family 👩\u200d👩\u200d👧 and 🏳️\u200d🌈",
    "cjk": "東京は日本の首都です。我爱你。",
    "arabic": "مرحبا بالعالم",
    "hebrew": "שלום עולם",
    "mixed direction": "The word שלום means peace.",
    "html": "</script><script>alert(1)</script>",
    "combining marks": "e\u0301 a\u0308 \u0301",
    "bidi controls": "abc\u202edef\u202c ghi\u2066x\u2069",
}


def _check_common(r: AttentionResult) -> None:
    n = r.n_tokens
    assert n >= 1
    assert r.attention.shape == (r.info.num_layers, r.info.num_heads, n, n)
    assert r.attention.dtype == np.float32
    assert len(r.tokens) == len(r.display_tokens) == len(r.token_ids) == len(r.word_ids) == n
    assert r.special_mask.shape == (n,) and r.special_mask.dtype == bool
    assert r.segment_ids.shape == (n,) and r.segment_ids.dtype == np.int8
    np.testing.assert_allclose(r.attention.sum(axis=-1), 1.0, atol=ROW_SUM_TOLERANCE)
    assert all(isinstance(lbl, str) and lbl.strip() for lbl in r.display_tokens), r.display_tokens
    for i in np.flatnonzero(r.special_mask):
        assert r.word_ids[i] is None


# --- the real bundled model ------------------------------------------------------------------

@pytest.fixture(scope="module")
def tutorial_results(bundled_model):
    return [extract(bundled_model, s) for s in TUTORIAL_SENTENCES]


def test_bundled_tutorial_sentences_shapes_and_rows(bundled_model, tutorial_results):
    assert bundled_model.info.num_layers == 6 and bundled_model.info.num_heads == 12
    for sentence, r in zip(TUTORIAL_SENTENCES, tutorial_results):
        expected = bundled_model.tokenizer(sentence)["input_ids"]
        n = len(expected)
        assert r.attention.shape == (6, 12, n, n)
        assert list(r.token_ids) == expected
        _check_common(r)
        assert r.causal is False and r.truncated_tokens == 0 and r.text_pair is None


def test_bundled_cls_sep_flagged_and_word_ids(tutorial_results):
    r = tutorial_results[0]  # "The cat sat on the mat."
    assert r.tokens == ("[CLS]", "the", "cat", "sat", "on", "the", "mat", ".", "[SEP]")
    assert r.display_tokens == r.tokens
    assert r.special_mask.tolist() == [True] + [False] * 7 + [True]
    assert r.word_ids == (None, 0, 1, 2, 3, 4, 5, 6, None)
    assert (r.segment_ids == 0).all()
    for res in tutorial_results:
        assert res.tokens[0] == "[CLS]" and res.tokens[-1] == "[SEP]"
        assert res.special_mask[0] and res.special_mask[-1] and not res.special_mask[1:-1].any()


def test_bundled_sentence_pair_segments(bundled_model):
    r = extract(bundled_model, "The cat sat on the mat.", "It was sleeping.")
    _check_common(r)
    first_sep = r.tokens.index("[SEP]")
    assert r.tokens.count("[SEP]") == 2 and r.tokens[-1] == "[SEP]"
    assert (r.segment_ids[: first_sep + 1] == 0).all()
    assert (r.segment_ids[first_sep + 1:] == 1).all()
    assert r.text_pair == "It was sleeping."
    # word ids restart at 0 in the second text
    assert r.word_ids[first_sep + 1] == 0
    assert r.special_mask.sum() == 3


def test_bundled_blank_pair_is_no_pair(bundled_model):
    single = extract(bundled_model, "The cat sat.")
    for pair in ("", "   ", "\n"):
        r = extract(bundled_model, "The cat sat.", pair)
        assert r.text_pair is None and r.tokens == single.tokens


def test_bundled_truncation_reports_exact_count(bundled_model):
    text = " ".join(["the cat sat on the mat"] * 40)  # 240 words, 242 tokens
    full = len(bundled_model.tokenizer(text)["input_ids"])
    assert full == 242
    for limit in (16, 64, 128):
        r = extract(bundled_model, text, max_tokens=limit)
        assert r.n_tokens == limit == r.max_tokens
        assert r.truncated_tokens == full - limit
        assert r.tokens[0] == "[CLS]" and r.tokens[-1] == "[SEP]"
        _check_common(r)
    r = extract(bundled_model, text, max_tokens=512)
    assert r.n_tokens == full and r.truncated_tokens == 0


def test_bundled_truncation_of_a_pair(bundled_model):
    a = " ".join(["the cat sat on the mat"] * 10)
    b = " ".join(["a dog barked"] * 10)
    full = len(bundled_model.tokenizer(a, b)["input_ids"])
    r = extract(bundled_model, a, b, max_tokens=40)
    assert r.n_tokens == 40 and r.truncated_tokens == full - 40
    assert set(r.segment_ids.tolist()) == {0, 1}


def test_max_tokens_is_clamped_to_the_model(bundled_model):
    info, tok = bundled_model.info, bundled_model.tokenizer
    assert effective_max_tokens(info, tok, None) == 512
    assert effective_max_tokens(info, tok, 10_000) == 512
    assert effective_max_tokens(info, tok, 1) == 4  # never fewer than 4
    text = " ".join(["word"] * 1000)
    r = extract(bundled_model, text, max_tokens=10_000)
    assert r.n_tokens == 512 and r.truncated_tokens == 1002 - 512


def test_result_arrays_are_read_only(tutorial_results):
    r = tutorial_results[0]
    for arr in (r.attention, r.special_mask, r.segment_ids):
        assert not arr.flags.writeable
    with pytest.raises(ValueError):
        r.attention[0, 0, 0, 0] = 1.0
    with pytest.raises(ValueError):
        r.special_mask[0] = False
    with pytest.raises(ValueError):
        r.segment_ids[0] = 1
    with pytest.raises(AttributeError):
        r.text = "changed"  # frozen dataclass
    assert isinstance(r.tokens, tuple) and isinstance(r.word_ids, tuple)


def test_result_helpers(tutorial_results):
    r = tutorial_results[1]
    np.testing.assert_array_equal(r.head(2, 3), r.attention[2, 3])
    np.testing.assert_allclose(r.layer_mean(4), r.attention[4].mean(axis=0))
    assert r.allowed_mask().all()
    assert r.num_layers == 6 and r.num_heads == 12
    assert r.nbytes >= r.attention.nbytes


# --- tiny models -------------------------------------------------------------------------------

@pytest.mark.parametrize("family", FAMILIES)
def test_tiny_models_basic(tiny_models, family):
    loaded = tiny_models[family]
    r = extract(loaded, "The cat sat on the mat.")
    _check_common(r)
    assert r.attention.shape[:2] == (2, 2)
    assert r.info.model_type == {"distilbert": "distilbert", "bert": "bert", "roberta": "roberta",
                                 "gpt2": "gpt2"}[family]


def test_gpt2_causal_mask(tiny_gpt2):
    r = extract(tiny_gpt2, "The cat sat on the mat and the dog played together.")
    _check_common(r)
    n = r.n_tokens
    assert r.causal is True and r.info.causal is True
    upper = np.triu(np.ones((n, n), dtype=bool), k=1)
    assert (r.attention[..., upper] == 0).all()
    assert (r.attention[..., ~upper] >= 0).all()
    # the first token can only see itself
    np.testing.assert_allclose(r.attention[:, :, 0, 0], 1.0, atol=1e-6)
    np.testing.assert_array_equal(r.allowed_mask(), ~upper)
    assert not r.special_mask.any()  # GPT-2 adds no BOS/EOS by default


def test_encoders_are_not_causal(tiny_models):
    for family in ("distilbert", "bert", "roberta"):
        r = extract(tiny_models[family], "The cat sat on the mat.")
        assert r.causal is False
        n = r.n_tokens
        assert (r.attention[..., np.triu(np.ones((n, n), dtype=bool), k=1)] > 0).all()


def test_distilbert_pair_segments_without_type_ids(tiny_distilbert):
    assert "token_type_ids" not in tiny_distilbert.tokenizer.model_input_names
    r = extract(tiny_distilbert, "The cat sat.", "A dog barked.")
    assert r.tokens == ("[CLS]", "the", "cat", "sat", ".", "[SEP]", "a", "dog", "barked", ".", "[SEP]")
    assert r.segment_ids.tolist() == [0] * 6 + [1] * 5
    assert r.special_mask.tolist() == [True, False, False, False, False, True,
                                       False, False, False, False, True]
    assert r.word_ids == (None, 0, 1, 2, 3, None, 0, 1, 2, 3, None)


def test_bert_pair_segments_from_token_type_ids(tiny_bert):
    r = extract(tiny_bert, "The cat sat.", "A dog barked.")
    tt = tiny_bert.tokenizer("The cat sat.", "A dog barked.")["token_type_ids"]
    assert r.segment_ids.tolist() == tt == [0] * 6 + [1] * 5


def test_roberta_pair_segments_double_sep(tiny_roberta):
    r = extract(tiny_roberta, "The cat sat.", "A dog barked.")
    _check_common(r)
    toks = list(r.tokens)
    assert toks[0] == "<s>" and toks[-1] == "</s>"
    i = toks.index("</s>")
    assert toks[i + 1] == "</s>", toks  # RoBERTa pairs: <s> A </s></s> B </s>
    # both separators close the first segment; the second text is segment 1
    assert (r.segment_ids[: i + 2] == 0).all() and (r.segment_ids[i + 2:] == 1).all()
    assert r.special_mask[[0, i, i + 1, len(toks) - 1]].all()
    assert r.special_mask.sum() == 4


def test_gpt2_pair_segments(tiny_gpt2):
    r = extract(tiny_gpt2, "The cat sat.", "A dog barked.")
    single = extract(tiny_gpt2, "The cat sat.")
    k = single.n_tokens
    assert r.tokens[:k] == single.tokens
    assert (r.segment_ids[:k] == 0).all() and (r.segment_ids[k:] == 1).all()


@pytest.mark.parametrize("family", FAMILIES)
def test_special_tokens_flagged(tiny_models, family):
    loaded = tiny_models[family]
    r = extract(loaded, "The cat sat on the mat.")
    specials = set(loaded.tokenizer.all_special_tokens)
    for tok, flag in zip(r.tokens, r.special_mask):
        if flag:
            assert tok in specials
    if family in ("distilbert", "bert"):
        assert r.tokens[0] == "[CLS]" and r.tokens[-1] == "[SEP]"
        assert r.special_mask[0] and r.special_mask[-1]
    elif family == "roberta":
        assert r.tokens[0] == "<s>" and r.tokens[-1] == "</s>"
        assert r.special_mask[0] and r.special_mask[-1]


@pytest.mark.parametrize("family", FAMILIES + ["bundled"])
@pytest.mark.parametrize("text", [" ", "", "   \n\t ", "\u3000\xa0"])
def test_empty_text_raises(tiny_models, bundled_model, family, text):
    loaded = bundled_model if family == "bundled" else tiny_models[family]
    with pytest.raises(EmptyTextError) as info:
        extract(loaded, text)
    assert "empty" in str(info.value).lower()


def test_non_string_text_raises_empty(tiny_bert):
    with pytest.raises(EmptyTextError):
        extract(tiny_bert, None)  # type: ignore[arg-type]


@pytest.mark.parametrize("family", FAMILIES + ["bundled"])
@pytest.mark.parametrize("name", list(ODD_TEXTS))
def test_odd_inputs_come_back_as_tokens(tiny_models, bundled_model, family, name):
    loaded = bundled_model if family == "bundled" else tiny_models[family]
    r = extract(loaded, ODD_TEXTS[name])
    _check_common(r)
    if loaded.info.causal:
        n = r.n_tokens
        assert (r.attention[..., np.triu(np.ones((n, n), dtype=bool), k=1)] == 0).all()


def test_html_text_is_tokenized_not_interpreted(tiny_models, bundled_model):
    text = ODD_TEXTS["html"]
    for loaded in [bundled_model, *tiny_models.values()]:
        r = extract(loaded, text)
        joined = "".join(t.lstrip("#") for t in r.display_tokens)
        assert "script" in joined and "<" in joined and "alert" in joined


def test_invisible_characters_get_visible_labels(tiny_gpt2):
    # the tiny vocab splits U+200B (3 UTF-8 bytes) into byte pieces: shown as bytes, not mojibake
    r = extract(tiny_gpt2, "a\u200bb")
    assert r.display_tokens == ("a", "<0xE2>", "##<0x80>", "##<0x8B>", "b")
    r = extract(tiny_gpt2, "x\x07y")
    assert "<U+0007>" in "".join(r.display_tokens)


def test_extraction_is_deterministic(tiny_models):
    for loaded in tiny_models.values():
        a = extract(loaded, "The cat sat on the mat.")
        b = extract(loaded, "The cat sat on the mat.")
        np.testing.assert_array_equal(a.attention, b.attention)
        assert a.attention is not b.attention


# --- verification ------------------------------------------------------------------------------

def test_verify_rejects_broken_attention(tiny_bert, tiny_gpt2):
    info = tiny_bert.info
    good = np.full((2, 2, 3, 3), 1 / 3, dtype=np.float32)
    _verify(good, 3, info)
    with pytest.raises(NoAttentionError, match="shape"):
        _verify(good, 4, info)
    bad = good.copy()
    bad[1, 1, 2, 0] = 0.9
    with pytest.raises(NoAttentionError, match="sum to 1"):
        _verify(bad, 3, info)
    nan = good.copy()
    nan[0, 0, 1, 1] = np.nan
    with pytest.raises(NoAttentionError, match="NaN"):
        _verify(nan, 3, info)
    inf = good.copy()
    inf[0, 1, 0, 2] = np.inf
    with pytest.raises(NoAttentionError, match="NaN or infinity"):
        _verify(inf, 3, info)
    # a "causal" model whose rows sum to 1 but that looks ahead
    with pytest.raises(NoAttentionError, match="future"):
        _verify(good, 3, tiny_gpt2.info)
    causal_ok = np.broadcast_to(np.tril(np.ones((3, 3), np.float32)) / np.arange(1, 4)[:, None],
                                (2, 2, 3, 3)).astype(np.float32)
    _verify(causal_ok, 3, tiny_gpt2.info)


def test_short_inputs_run_on_one_thread_and_the_count_is_restored(bundled_model, monkeypatch):
    """cpu_threads_for: one torch thread for a short pass, the default for a long one, and the
    calling thread's own count afterwards; the attention is the same either way."""
    import torch

    from core.attention import extract as extract_mod

    torch.set_num_threads(2)
    monkeypatch.setattr(extract_mod, "_default_threads", 2)
    seen: list[int] = []
    with extract_mod.cpu_threads_for(extract_mod.SHORT_INPUT_TOKENS):
        seen.append(torch.get_num_threads())
    with extract_mod.cpu_threads_for(extract_mod.SHORT_INPUT_TOKENS + 1):
        seen.append(torch.get_num_threads())
    assert seen == [1, 2]
    assert torch.get_num_threads() == 2

    text = "The cat sat on the mat because it was warm."
    one_thread = extract(bundled_model, text).attention
    monkeypatch.setattr(extract_mod, "SHORT_INPUT_TOKENS", 0)  # every pass on the default threads
    both_threads = extract(bundled_model, text).attention
    # float32 sums in another order: equal within a few 1e-6 (measured up to 1.3e-6)
    np.testing.assert_allclose(one_thread, both_threads, rtol=0, atol=1e-5)
    assert torch.get_num_threads() == 2

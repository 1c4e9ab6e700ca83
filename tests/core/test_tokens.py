"""Readable token labels for each tokenizer family (core.tokens)."""

from __future__ import annotations

import pytest

from core.attention.extract import extract
from core.models.tokens import _decode_byte_level, display_tokens, visible


def _words_from_labels(labels, word_ids, special):
    """Glue labels back into words: a '##' label continues the previous word; a bare '␣'
    label is a piece holding only the word's leading space (small BPE / Unigram vocabularies)."""
    words: dict[int, str] = {}
    for lbl, w, s in zip(labels, word_ids, special):
        if s or w is None:
            continue
        piece = lbl[2:] if lbl.startswith("##") else ("" if lbl == "␣" else lbl)
        words[w] = words.get(w, "") + piece
    return [words[k] for k in sorted(words)]


# --- visible() -----------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, shown", [
    ("", "∅"),
    (" ", "␣"),
    ("\n", "⏎"),
    ("\t", "⇥"),
    ("\u200b", "<U+200B>"),
    ("\u200d", "<U+200D>"),
    ("\x00", "<U+0000>"),
    ("\x1b", "<U+001B>"),
    ("\u202e", "<U+202E>"),
    ("\xa0", "<U+00A0>"),
    ("\u2028", "<U+2028>"),
    ("cat", "cat"),
    ("東京", "東京"),
    ("שלום", "שלום"),
    ("🇫🇷", "🇫🇷"),
    ("<script>", "<script>"),
])
def test_visible(raw, shown):
    assert visible(raw) == shown


# --- WordPiece (BERT, DistilBERT, MiniLM) -----------------------------------------------------------

def test_wordpiece_continuations_keep_hashes(bundled_model):
    r = extract(bundled_model, "The unbelievably playful kittens")
    assert r.tokens == ("[CLS]", "the", "un", "##bel", "##ie", "##va", "##bly", "playful", "kitten", "##s", "[SEP]")
    assert r.display_tokens == r.tokens
    assert _words_from_labels(r.display_tokens, r.word_ids, r.special_mask) == \
        ["the", "unbelievably", "playful", "kittens"]


def test_wordpiece_tiny_models_use_the_real_vocab(tiny_distilbert, tiny_bert):
    for loaded in (tiny_distilbert, tiny_bert):
        r = extract(loaded, "The cat sat on the mat.")
        assert "[UNK]" not in r.tokens  # the transformers 5 vocab_file= trap maps all to [UNK]
        assert r.display_tokens == ("[CLS]", "the", "cat", "sat", "on", "the", "mat", ".", "[SEP]")


# --- byte-level BPE (GPT-2, RoBERTa) -------------------------------------------------------------

@pytest.mark.parametrize("family", ["gpt2", "roberta"])
def test_byte_level_space_marker_stripped(tiny_models, family):
    r = extract(tiny_models[family], "The cat sat on the mat.")
    assert any(t.startswith("Ġ") for t in r.tokens)
    assert not any("Ġ" in lbl for lbl in r.display_tokens)
    body = r.display_tokens[1:-1] if family == "roberta" else r.display_tokens
    assert body == ("The", "cat", "sat", "on", "the", "mat", ".")


@pytest.mark.parametrize("family", ["gpt2", "roberta"])
def test_byte_level_subwords_rebuild_words(tiny_models, family):
    text = "The playful kittens were sleeping"
    r = extract(tiny_models[family], text)
    assert any(lbl.startswith("##") for lbl in r.display_tokens)  # the tiny vocab splits words
    assert _words_from_labels(r.display_tokens, r.word_ids, r.special_mask) == text.split()


def test_byte_level_partial_utf8_shown_as_bytes(tiny_gpt2):
    r = extract(tiny_gpt2, "naïve 🇫🇷")
    labels = r.display_tokens
    assert all("Ã" not in lbl and "ð" not in lbl for lbl in labels), labels  # no mojibake
    assert any("<0x" in lbl for lbl in labels)
    assert labels[0] == "n"


def test_decode_byte_level_piece():
    assert _decode_byte_level(None, "Ġcat") == " cat"
    assert _decode_byte_level(None, "Ċ") == "\n"
    assert _decode_byte_level(None, "Ã©") == "é"  # a whole character decodes to text
    assert _decode_byte_level(None, "Ã") == "<0xC3>"  # half a character: its byte
    assert _decode_byte_level(None, "aÃ") == "a<0xC3>"
    assert _decode_byte_level(None, "<|endoftext|>") == "<|endoftext|>"  # not byte-level: as is
    assert _decode_byte_level(None, "\\x41") == "\\x41"  # a literal backslash stays literal


# --- SentencePiece / Metaspace (XLM-R, T5 style) ------------------------------------------------

@pytest.fixture(scope="module")
def sentencepiece_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tk = Tokenizer(models.Unigram())
    tk.pre_tokenizer = pre_tokenizers.Metaspace()
    tk.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=120, special_tokens=["<unk>"], unk_token="<unk>",
                                      show_progress=False)
    corpus = ["The cat sat on the mat.", "The dog played in the park.", "She said the cat was sleeping.",
              "Kittens are playful.", "The big red cat sat on the soft mat."] * 4
    tk.train_from_iterator(corpus, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="<unk>")


def test_sentencepiece_marker_stripped(sentencepiece_tokenizer):
    text = "The cat sat on the mat. Kittens sleeping"
    enc = sentencepiece_tokenizer(text)
    tokens = sentencepiece_tokenizer.convert_ids_to_tokens(enc["input_ids"])
    assert any(t.startswith("▁") for t in tokens)
    special = [False] * len(tokens)
    labels = display_tokens(sentencepiece_tokenizer, tokens, special, enc.word_ids())
    assert len(labels) == len(tokens)
    assert not any("▁" in lbl for lbl in labels), labels
    assert all(lbl.strip() for lbl in labels)
    assert _words_from_labels(labels, enc.word_ids(), special) == text.split()
    # "▁sa" starts a word: shown as "sa"; a bare "▁" piece is shown as "␣", and the pieces
    # after it in the same word continue it ("##")
    i = tokens.index("▁sa")
    assert labels[i] == "sa" and labels[i + 1] == "##t"
    assert labels[:4] == ["␣", "##T", "##h", "##e"]


# --- every label is visible and non-empty -----------------------------------------------------

def test_labels_never_blank():
    tokens = ["[CLS]", "", "##", "Ġ", "\u200b", " ", "[SEP]"]
    labels = display_tokens(None, tokens, [True, False, False, False, False, False, True],
                            [None, 0, 0, 1, 2, 3, None])
    assert len(labels) == len(tokens)
    assert all(lbl and lbl.strip() for lbl in labels), labels

"""Shared inputs for the probing tests: tokenizers of the three families built here (no network),
hand-checked parses, and planted attention heads. It holds no tests (its name only follows the probing tests' file pattern)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from core.probing import align as aligning
from core.probing.parser import Parse


@dataclass(frozen=True)
class Tokenized:
    tokens: tuple[str, ...]
    offsets: tuple[tuple[int, int], ...]
    special: tuple[bool, ...]
    word_ids: tuple[int | None, ...]


@lru_cache(maxsize=None)
def wordpiece():
    """BERT's uncased WordPiece (the bundled model's vocab), as a fast tokenizer."""
    from transformers import BertTokenizerFast

    from tests.tiny_models import wordpiece_vocab

    return BertTokenizerFast(vocab=str(wordpiece_vocab()), do_lower_case=True)


@lru_cache(maxsize=None)
def byte_bpe():
    """A byte-level BPE with RoBERTa's <s> ... </s> (trained on the tiny models' corpus)."""
    from tokenizers import processors

    from tests.tiny_models import _byte_level_bpe

    tk = _byte_level_bpe(specials=("<s>", "</s>"))
    tk.post_processor = processors.RobertaProcessing(("</s>", tk.token_to_id("</s>")), ("<s>", tk.token_to_id("<s>")))
    return tk


@lru_cache(maxsize=None)
def byte_bpe_gpt2():
    """The same BPE without specials or offset trimming (GPT-2: spans include the space)."""
    from tests.tiny_models import _byte_level_bpe

    return _byte_level_bpe()


@lru_cache(maxsize=None)
def sentencepiece():
    """A SentencePiece-style Unigram model with a Metaspace pre-tokenizer and <s> ... </s>."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    from tests.tiny_models import BPE_CORPUS

    tk = Tokenizer(models.Unigram())
    tk.pre_tokenizer = pre_tokenizers.Metaspace()
    tk.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=300, special_tokens=["<s>", "</s>", "<unk>"], unk_token="<unk>",
                                      show_progress=False)
    tk.train_from_iterator(BPE_CORPUS, trainer=trainer)
    tk.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", tk.token_to_id("<s>")), ("</s>", tk.token_to_id("</s>"))])
    return tk


FAMILIES = {"wordpiece": wordpiece, "byte_bpe": byte_bpe, "byte_bpe_gpt2": byte_bpe_gpt2,
            "sentencepiece": sentencepiece}


def tokenize(family: str, text: str) -> Tokenized:
    tk = FAMILIES[family]()
    if hasattr(tk, "convert_ids_to_tokens"):  # transformers fast tokenizer
        enc = tk(text, return_offsets_mapping=True, return_special_tokens_mask=True)
        return Tokenized(tuple(tk.convert_ids_to_tokens(enc["input_ids"])), tuple(map(tuple, enc["offset_mapping"])),
                         tuple(bool(s) for s in enc["special_tokens_mask"]), tuple(enc.word_ids()))
    enc = tk.encode(text)
    special = tuple(bool(s) for s in enc.special_tokens_mask)
    return Tokenized(tuple(enc.tokens), tuple(map(tuple, enc.offsets)), special,
                     tuple(None if s else w for w, s in zip(enc.word_ids, special)))


# --- hand-checked parses (ClearNLP labels, as spaCy's English models use) --------------------

HAND_PARSES: dict[str, tuple[list[str], list[int], list[str]]] = {
    "The cat sat on the mat.": (
        ["The", "cat", "sat", "on", "the", "mat", "."],
        [1, 2, 2, 2, 5, 3, 2],
        ["det", "nsubj", "ROOT", "prep", "det", "pobj", "punct"]),
    "She said that the cat was sleeping.": (
        ["She", "said", "that", "the", "cat", "was", "sleeping", "."],
        [1, 1, 6, 4, 6, 6, 1, 1],
        ["nsubj", "ROOT", "mark", "det", "nsubj", "aux", "ccomp", "punct"]),
    "The dog chased a red ball.": (
        ["The", "dog", "chased", "a", "red", "ball", "."],
        [1, 2, 2, 5, 5, 2, 2],
        ["det", "nsubj", "ROOT", "det", "amod", "dobj", "punct"]),
    "I don't like big dogs.": (
        ["I", "do", "n't", "like", "big", "dogs", "."],
        [3, 3, 3, 3, 5, 3, 3],
        ["nsubj", "aux", "neg", "ROOT", "amod", "dobj", "punct"]),
}


def hand_parse(text: str) -> Parse:
    words, heads, deps = HAND_PARSES[text]
    return Parse.of(text, words, heads, deps)


def planted_attention(parse: Parse, tok: Tokenized, target: str, *, layers: int = 1, heads: int = 1) -> np.ndarray:
    """[layers, heads, n, n]: every piece of a word attends entirely to the first piece of its
    syntactic head's unit ("head") or of the next unit ("next"); anything else (specials, the
    root, the last word) attends to itself, which the probe never counts."""
    al = aligning.align(parse, tok.offsets, tok.special, tok.word_ids)
    n = len(tok.tokens)
    first = [min(u.tokens) for u in al.units]
    att = np.zeros((n, n), dtype=np.float32)
    for t in range(n):
        u = al.unit_of_token[t]
        goal = None
        if u is not None:
            if target == "head":
                w = al.units[u].words[0] if al.units[u].words else None
                h = parse.tokens[w].head if w is not None else None
                goal = al.unit_of_word[h] if h is not None and h != w else None
            elif target == "next":
                goal = u + 1 if u + 1 < al.n_units else None
            else:
                raise ValueError(target)
        if goal is None or goal == u:
            att[t, t] = 1.0
        else:
            att[t, first[goal]] = 1.0
    return np.broadcast_to(att, (layers, heads, n, n)).copy()

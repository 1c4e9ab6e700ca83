"""A word alignment read from cross-attention (formulas in docs/methods.md, Generation).

Cross-attention [layers, heads, T, S] is averaged over the layers and heads the user picks.
Tokens become words by character offsets, as elsewhere in the app (Clark et al. 2019, §4.1):
a target word's row is the MEAN of its pieces' rows, a source word's column the SUM of its
pieces' columns, so each target word's row is still a distribution over the source (less what
fell on special tokens such as </s>). Each target word is aligned to the source word with the
most mass (the first on a tie).

Which decoder row stands for a target token: "input" (default) is the row of the position that
READS the token (Chen et al. 2020, "Accurate Word Alignment Induction from Neural Machine
Translation": Shift-Att aligns better than the row that predicts it); "output" is the row of the
position that PREDICTS it (one earlier).
"""

from __future__ import annotations

import bisect
import unicodedata
from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np

from core.generate.seq2seq import Seq2SeqResult, Side

RowChoice = Literal["input", "output"]


@dataclass(frozen=True)
class Word:
    text: str
    start: int
    end: int  # character span [start, end) in its side's text


@dataclass(frozen=True, eq=False)  # holds arrays: compared by identity
class Alignment:
    source_words: tuple[Word, ...]
    target_words: tuple[Word, ...]
    matrix: np.ndarray  # [target words, source words] float32, read-only
    links: tuple[int, ...]  # per target word: the index of its source word (-1: no source word)
    layers: tuple[int, ...]
    heads: tuple[int, ...]
    rows: RowChoice

    def pairs(self) -> list[tuple[str, str, float]]:
        """(target word, source word, mass) per target word, in target order."""
        return [(t.text, self.source_words[j].text if j >= 0 else "", float(self.matrix[i, j]) if j >= 0 else 0.0)
                for i, (t, j) in enumerate(zip(self.target_words, self.links))]


def _is_word_char(ch: str) -> bool:
    cat = unicodedata.category(ch)
    return cat[0] in "LNM" or cat == "Pc"


def word_spans(text: str) -> list[tuple[int, int]]:
    """Runs of letters, digits and marks are words; every other visible character (punctuation,
    a symbol) is a word of its own; whitespace separates. (A simpler rule than the Compare page's,
    enough for the Latin-script languages of the registered translation models.)"""
    spans: list[tuple[int, int]] = []
    start: int | None = None
    for i, ch in enumerate(text):
        if ch.isspace():
            if start is not None:
                spans.append((start, i))
            start = None
        elif _is_word_char(ch):
            if start is None:
                start = i
        else:
            if start is not None:
                spans.append((start, i))
            spans.append((i, i + 1))
            start = None
    if start is not None:
        spans.append((start, len(text)))
    return spans


def token_words(side: Side) -> tuple[list[Word], list[int | None]]:
    """The side's words, and each token's word index (None: a special token). A piece with no
    characters of its own (a lone space marker) joins the word of the next piece."""
    spans = word_spans(side.text)
    words = [Word(side.text[a:b], a, b) for a, b in spans]
    ends = [b for _, b in spans]
    out: list[int | None] = []
    for off in side.offsets:
        # the first word that ends after the token starts, if the token reaches into it
        idx = bisect.bisect_right(ends, off[0]) if off is not None else len(spans)
        out.append(idx if off is not None and idx < len(spans) and spans[idx][0] < off[1] else None)
    for i in range(len(out) - 2, -1, -1):
        if out[i] is None and side.offsets[i] is None and not side.special_mask[i]:
            out[i] = out[i + 1]
    return words, out


def _pick(values: Sequence[int] | None, size: int, what: str) -> tuple[int, ...]:
    if values is None:
        return tuple(range(size))
    picked = tuple(sorted({int(v) for v in values}))
    if not picked or picked[0] < 0 or picked[-1] >= size:
        raise ValueError(f"{what} must be between 0 and {size - 1}, got {list(values)}")
    return picked


def word_alignment(result: Seq2SeqResult, layers: Sequence[int] | None = None, heads: Sequence[int] | None = None,
                   rows: RowChoice = "input") -> Alignment:
    """Per target word, the source word with the most cross-attention mass (see the module doc)."""
    cross = result.cross_attention
    lay = _pick(layers, cross.shape[0], "layers")
    hds = _pick(heads, cross.shape[1], "heads")
    avg = cross[list(lay)][:, list(hds)].mean(axis=(0, 1), dtype=np.float64)  # [T, S]
    if rows == "output":  # the row that predicted token j is row j - 1
        avg = np.vstack([np.zeros((1, avg.shape[1])), avg[:-1]])
    elif rows != "input":
        raise ValueError(f"rows must be 'input' or 'output', not {rows!r}")
    src_words, src_of = token_words(result.source)
    tgt_words, tgt_of = token_words(result.target)
    cols = np.zeros((avg.shape[0], len(src_words)))
    for s, w in enumerate(src_of):
        if w is not None:
            cols[:, w] += avg[:, s]  # sum over a source word's pieces
    matrix = np.zeros((len(tgt_words), len(src_words)))
    counts = np.zeros(len(tgt_words))
    for t, w in enumerate(tgt_of):
        if w is not None:
            matrix[w] += cols[t]
            counts[w] += 1
    matrix /= np.maximum(counts, 1)[:, None]  # mean over a target word's pieces
    links = tuple(int(np.argmax(r)) if src_words and c else -1 for r, c in zip(matrix, counts))
    m = np.ascontiguousarray(matrix, dtype=np.float32)
    m.setflags(write=False)
    return Alignment(tuple(src_words), tuple(tgt_words), m, links, lay, hds, rows)

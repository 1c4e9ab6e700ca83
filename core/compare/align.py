"""Do two word sequences line up? Identical words, a minimal pair (the same number of words, some
different: "...because she was lying." / "...because he was lying."), or not at all.

Word level only (see core.compare.words): two tokenizers never line up token by token, but the
same text always lines up word by word. No Streamlit.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np

from core.compare.words import WordMap, WordMatrix

IDENTICAL = "identical"
MINIMAL_PAIR = "minimal pair"
NO_LINE_UP = "do not line up"


@dataclass(frozen=True)
class Alignment:
    """kind: IDENTICAL, MINIMAL_PAIR or NO_LINE_UP. differing: word positions whose words differ
    (minimal pairs). reason: one sentence for the page."""

    kind: str
    words_a: tuple[str, ...]
    words_b: tuple[str, ...]
    differing: tuple[int, ...] = ()
    reason: str = ""

    @property
    def lines_up(self) -> bool:
        return self.kind != NO_LINE_UP


def _same(a: str, b: str) -> bool:
    return unicodedata.normalize("NFC", a) == unicodedata.normalize("NFC", b)


def align_words(words_a: tuple[str, ...] | list[str], words_b: tuple[str, ...] | list[str]) -> Alignment:
    """Line up two word sequences position by position (words compared after NFC normalisation)."""
    a, b = tuple(words_a), tuple(words_b)
    if len(a) != len(b):
        return Alignment(NO_LINE_UP, a, b, reason=(
            f"The words do not line up: A has {len(a)} words and B has {len(b)}. Only texts with the "
            "same number of words are compared word by word (a minimal pair such as she / he)."))
    differing = tuple(i for i, (x, y) in enumerate(zip(a, b)) if not _same(x, y))
    if not differing:
        return Alignment(IDENTICAL, a, b, reason=f"Both sides have the same {len(a)} words.")
    listed = ", ".join(f"{a[i]} / {b[i]}" for i in differing[:5]) + (" …" if len(differing) > 5 else "")
    return Alignment(MINIMAL_PAIR, a, b, differing, reason=(
        f"A minimal pair: {len(a)} words each, {len(differing)} differ{'s' if len(differing) == 1 else ''} ({listed})."))


def align(map_a: WordMap, map_b: WordMap) -> Alignment:
    """Alignment of two results' words; truncation notes are passed on as the reason."""
    out = align_words(map_a.texts, map_b.texts)
    if not out.lines_up and (map_a.notes or map_b.notes):
        return Alignment(out.kind, out.words_a, out.words_b, reason=" ".join((out.reason, *map_a.notes, *map_b.notes)))
    return out


@dataclass(frozen=True)
class WordDifference:
    """B - A at word level, when the two sides line up cell by cell."""

    values: np.ndarray  # float32 [m, m]: B - A
    labels: tuple[str, ...]  # "a" for words that agree, "a / b" for words that differ
    differing: np.ndarray  # bool [m]: rows/columns whose words differ
    special: np.ndarray  # bool [m]


def rows_line_up(a: WordMatrix, b: WordMatrix) -> str | None:
    """None when the two word matrices have the same rows (words and special rows at the same
    places), else one sentence saying why not."""
    if a.values.shape[-1] != b.values.shape[-1]:
        return (f"A has {a.values.shape[-1]} rows and B has {b.values.shape[-1]}: their special tokens "
                "differ (for example [CLS]/[SEP] against none). Hide special tokens to compare them.")
    if not np.array_equal(a.special, b.special):
        return ("Their special tokens sit in different places (for example [CLS]/[SEP] against none). "
                "Hide special tokens to compare them.")
    return None


def difference(a: WordMatrix, b: WordMatrix, alignment: Alignment) -> WordDifference | None:
    """B - A cell by cell, or None when the words or the special rows do not line up."""
    if not alignment.lines_up or rows_line_up(a, b) is not None:
        return None
    diff_words = set(alignment.differing)
    labels, differing = [], []
    for la, lb, wi in zip(a.labels, b.labels, a.word_index):
        differs = wi >= 0 and wi in diff_words
        differing.append(differs)
        labels.append(f"{la} / {lb}" if differs or (wi < 0 and la != lb) else la)
    return WordDifference(values=(np.asarray(b.values, np.float32) - np.asarray(a.values, np.float32)),
                          labels=tuple(labels), differing=np.asarray(differing, dtype=bool),
                          special=np.asarray(a.special, dtype=bool))


# Minimal pairs the Compare page offers and scripts/model_kit.py precomputes (Winograd-style:
# the pronoun changes, every other word stays).
MINIMAL_PAIRS: tuple[tuple[str, str], ...] = (
    ("The lawyer questioned the witness because she was lying.",
     "The lawyer questioned the witness because he was lying."),
)

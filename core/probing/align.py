"""Aligning the parser's words to a model's tokens by character offsets.

The parser (spaCy) and the model split a text differently: "don't" is `do` + `n't` for spaCy,
`don` `'` `t` for BERT's WordPiece, `Ġdo` `n` `'t` for a byte-level BPE; "mat." is one
SentencePiece word (`▁mat` `.`) but two spaCy tokens. Both sides carry character offsets into the
same text, so:

1. Each model token's span (the fast tokenizer's `offset_mapping`) is trimmed of surrounding
   whitespace (byte-level BPE and SentencePiece spans include the space before a word).
2. A model token and a parser token are linked when their spans overlap. The connected groups
   of that graph are the *units*: a unit is usually one parser word and the model pieces inside
   it (Clark et al.'s words); a piece that straddles two parser words (BERT's `don` across
   `do`|`n't`) joins them into one unit, which probing then leaves out (it cannot tell the two
   apart). A model word (`word_ids` group) whose pieces fall cleanly into two parser words
   ("mat." in SentencePiece) is split between them, and counted.
3. Pieces whose trimmed span is empty (a lone `▁` or `Ġ`) join the unit of another piece of the
   same model word (the following one first), else the unit of the next piece in the sentence.
4. Parser tokens that are only whitespace are ignored; parser tokens no model token overlaps
   (text cut by the token limit, characters a tokenizer drops) are reported, never an error.

Special tokens ([CLS], [SEP], `<s>`...) belong to no unit. The unit ids of the model's tokens are
the word keys for `core.analysis.tokens.merge_words` (sum over a unit's pieces for attention TO
it, mean for attention FROM it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.disjoint_sets import DisjointSets
from core.probing.errors import AlignmentError
from core.probing.parser import Parse


@dataclass(frozen=True)
class Unit:
    """One aligned word: the parser tokens and model tokens it holds, and its text."""

    words: tuple[int, ...]  # parser token indices (usually one)
    tokens: tuple[int, ...]  # model token indices
    start: int
    end: int
    text: str

    @property
    def clean(self) -> bool:
        """Exactly one parser word: probing can use it."""
        return len(self.words) == 1


@dataclass(frozen=True)
class Alignment:
    units: tuple[Unit, ...]  # in text order
    unit_of_token: tuple[int | None, ...]  # per model token; None for special tokens (and unmatched)
    unit_of_word: tuple[int | None, ...]  # per parser token; None for whitespace and unmatched tokens
    unmatched_words: tuple[int, ...]  # parser tokens (not whitespace) that no model token overlaps
    unmatched_tokens: tuple[int, ...]  # non-special model tokens that could join no unit
    split_model_words: int  # model words (word_ids groups) spread over more than one unit
    empty_tokens: int  # pieces with an empty trimmed span that joined a neighbour's unit

    @property
    def n_units(self) -> int:
        return len(self.units)

    @property
    def merged_units(self) -> tuple[Unit, ...]:
        """Units holding several parser words (a piece straddles them)."""
        return tuple(u for u in self.units if len(u.words) > 1)

    def word_keys(self) -> list[int | None]:
        """Per model token: its unit id, None for special tokens (keys for merge_words)."""
        return list(self.unit_of_token)

    def table(self, parse: Parse, pieces: Sequence[str] | None = None) -> pd.DataFrame:
        """One row per unit: its text, parser words, model pieces and whether probing can use it."""
        rows = []
        for k, u in enumerate(self.units):
            rows.append({
                "unit": k, "text": u.text,
                "parser words": " ".join(parse.tokens[w].text for w in u.words),
                "model pieces": " ".join(pieces[t] if pieces is not None else str(t) for t in u.tokens),
                "status": ("aligned" if u.clean else
                           "no parser word" if not u.words else "several parser words: left out"),
            })
        for w in self.unmatched_words:
            rows.append({"unit": None, "text": parse.tokens[w].text, "parser words": parse.tokens[w].text,
                         "model pieces": "", "status": "no model token (cut off or dropped): left out"})
        return pd.DataFrame(rows, columns=["unit", "text", "parser words", "model pieces", "status"])


def trim_span(text: str, start: int, end: int) -> tuple[int, int]:
    """The span without leading and trailing whitespace; (start, start) when nothing is left."""
    start, end = max(0, int(start)), min(len(text), int(end))
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if start < end else (start, start)


def align(parse: Parse, offsets: Sequence[tuple[int, int]], special_mask: Sequence[bool],
          word_ids: Sequence[int | None] | None = None, *, text: str | None = None) -> Alignment:
    """Align the parse's tokens to the model's tokens (see the module docstring).

    offsets: per model token (start, end) into the text (specials: anything, ignored);
    special_mask: per model token; word_ids: per model token (the fast tokenizer's word ids),
    used for empty pieces and to count split model words; text: the text the model saw (must equal
    the parse's text; default the parse's).
    """
    text = parse.text if text is None else text
    if text != parse.text:
        raise AlignmentError("the parse is of a different text than the model's tokens")
    n = len(offsets)
    if len(special_mask) != n or (word_ids is not None and len(word_ids) != n):
        raise AlignmentError(f"{n} offsets but {len(special_mask)} special flags / "
                             f"{None if word_ids is None else len(word_ids)} word ids")
    special = np.asarray(special_mask, dtype=bool)
    m = len(parse.tokens)
    wspans = np.array([(t.start, t.end) for t in parse.tokens], dtype=np.int64).reshape(m, 2)
    wreal = np.array([not (t.is_space or not t.text.strip()) for t in parse.tokens], dtype=bool)
    tspans = np.array([trim_span(text, s, e) for s, e in offsets], dtype=np.int64).reshape(n, 2)
    treal = ~special & (tspans[:, 1] > tspans[:, 0])

    # overlap graph: nodes 0..m-1 parser tokens, m..m+n-1 model tokens
    overlap = ((np.maximum(tspans[:, None, 0], wspans[None, :, 0]) < np.minimum(tspans[:, None, 1], wspans[None, :, 1]))
               & treal[:, None] & wreal[None, :])  # [n, m]
    sets = DisjointSets(m + n)
    for t, w in zip(*np.nonzero(overlap)):
        sets.union(int(w), m + int(t))

    linked_t = overlap.any(axis=1)
    linked_w = overlap.any(axis=0)
    roots = sorted({sets.find(int(w)) for w in np.flatnonzero(linked_w)},
                   key=lambda r: r)  # provisional; reordered by text position below
    members_w: dict[int, list[int]] = {r: [] for r in roots}
    members_t: dict[int, list[int]] = {r: [] for r in roots}
    for w in np.flatnonzero(linked_w):
        members_w[sets.find(int(w))].append(int(w))
    for t in np.flatnonzero(linked_t):
        members_t[sets.find(m + int(t))].append(int(t))

    unit_tok: list[int | None] = [None] * n
    order = sorted(roots, key=lambda r: (min(int(wspans[w, 0]) for w in members_w[r]), r))
    for k, r in enumerate(order):
        for t in members_t[r]:
            unit_tok[t] = k

    wid = list(word_ids) if word_ids is not None else [None] * n
    empty = _attach_empty_pieces(unit_tok, special, treal, wid)

    unmatched_tokens = tuple(t for t in range(n) if not special[t] and unit_tok[t] is None)
    units = []
    for k, r in enumerate(order):
        ws = tuple(sorted(members_w[r]))
        ts = tuple(t for t in range(n) if unit_tok[t] == k)
        start = int(min(wspans[w, 0] for w in ws))
        end = int(max(wspans[w, 1] for w in ws))
        units.append(Unit(ws, ts, start, end, text[start:end]))
    unit_word: list[int | None] = [None] * m
    for k, u in enumerate(units):
        for w in u.words:
            unit_word[w] = k
    unmatched_words = tuple(int(w) for w in range(m) if wreal[w] and not linked_w[w])

    split = _split_model_words(unit_tok, special, wid) if word_ids is not None else 0
    return Alignment(tuple(units), tuple(unit_tok), tuple(unit_word), unmatched_words, unmatched_tokens,
                     split, empty)


def _attach_empty_pieces(unit_tok: list[int | None], special: np.ndarray, real: np.ndarray,
                         wid: Sequence[int | None]) -> int:
    """Give each piece with an empty trimmed span (a lone "▁" / "Ġ", or a span the tokenizer left
    empty) a unit: its model word's next piece's (else its last piece's), else the nearest later
    (else earlier) aligned piece's. Changes `unit_tok` in place; returns how many got one."""
    n = len(unit_tok)
    empty = 0
    for t in range(n):
        if special[t] or unit_tok[t] is not None or real[t]:
            continue
        target = None
        if wid[t] is not None:
            siblings = [u for u in range(n) if u != t and wid[u] == wid[t] and not special[u]
                        and unit_tok[u] is not None]
            after = [u for u in siblings if u > t]
            if after or siblings:
                target = unit_tok[(after or siblings)[0] if after else siblings[-1]]
        if target is None:
            later = [u for u in range(t + 1, n) if not special[u] and unit_tok[u] is not None]
            earlier = [u for u in range(t - 1, -1, -1) if not special[u] and unit_tok[u] is not None]
            if later or earlier:
                target = unit_tok[(later or earlier)[0]]
        if target is not None:
            unit_tok[t] = target
            empty += 1
    return empty


def _split_model_words(unit_tok: Sequence[int | None], special: np.ndarray, wid: Sequence[int | None]) -> int:
    """How many of the model's words have pieces in more than one unit."""
    seen: dict[int, set[int]] = {}
    for t in range(len(unit_tok)):
        if wid[t] is not None and unit_tok[t] is not None and not special[t]:
            seen.setdefault(int(wid[t]), set()).add(int(unit_tok[t]))
    return sum(1 for units in seen.values() if len(units) > 1)

"""Words of a text, shared by every tokenizer, and word-level attention (docs/methods.md,
section "Words across tokenizers").

Two models cut the same sentence into different pieces (WordPiece "##ing", byte-level BPE
"Ġthe", SentencePiece "▁the"). To compare them cell by cell both are mapped onto the same
words, found from the text and each token's character span (`AttentionResult.offsets`):

1. Base words, from the text alone (`text_spans`): runs of letters, marks and digits; every
   punctuation mark or symbol alone; characters of scripts written without spaces (Chinese,
   Japanese kana, Thai, ...) one by one. Right-to-left text (Arabic, Hebrew) keeps its logical
   order: spans are character offsets, never screen positions. Alternatively (`mode="tokenizer"`)
   the base words are the tokenizer's own pre-tokenised words (the fast tokenizer's word ids).
2. Maximal spans: a token that overlaps two base words joins them (a SentencePiece piece "東京"
   over the characters 東 and 京), for every tokenizer taking part, so no token ever belongs to
   two words and both models land on the same words. A word no token touches (a character a
   tokenizer drops) joins the word before it; words after the last token of a truncated text
   are left out for that result (so the word counts then differ, and `align` says why).
3. Each token belongs to the word it overlaps most (ties: the earlier word); a token that
   overlaps none (a lone "Ġ" or "▁") belongs to the next word of its text, else the previous one.

Word-level matrices follow Clark et al. (2019, section 4.1): a word's key pieces are summed, its
query pieces averaged (`core.analysis.tokens.merge_words`), so rows still sum to 1. Special
tokens ([CLS], [SEP], <s>, </s>) are either their own rows (`specials="own"`: the specials
between the same two words form one row, e.g. RoBERTa's "</s></s>") or hidden
(`specials="hidden"`: their rows and columns are dropped and each row renormalised over the words).
"""

from __future__ import annotations

import bisect
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from core.analysis.tokens import hide_special, merge_words
from core.attention.result import AttentionResult
from core.disjoint_sets import DisjointSets

WordMode = Literal["text", "tokenizer"]
SpecialsMode = Literal["own", "hidden"]
WORD_MODES: tuple[str, ...] = ("text", "tokenizer")
SPECIALS_MODES: tuple[str, ...] = ("own", "hidden")

# Scripts written without spaces between words: one base word per character.
_NO_SPACE_RANGES = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x2E80, 0x2FDF),  # CJK radicals, Kangxi radicals
    (0x3005, 0x3007),  # 々 〆 〇
    (0x3021, 0x3029),  # Hangzhou numerals
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF66, 0xFF9F),  # half-width Katakana
    (0x20000, 0x3FFFF),  # CJK extensions B and later
)
_NO_SPACE_STARTS = [lo for lo, _ in _NO_SPACE_RANGES]
_ZWJ = "\u200d"


def no_space_script(ch: str) -> bool:
    """True for a character of a script written without spaces (Chinese, Japanese, Thai, ...)."""
    cp = ord(ch)
    i = bisect.bisect_right(_NO_SPACE_STARTS, cp) - 1
    return i >= 0 and _NO_SPACE_RANGES[i][0] <= cp <= _NO_SPACE_RANGES[i][1]


def is_rtl(text: str) -> bool:
    """True when the text has a right-to-left letter (bidirectional class R or AL: Hebrew, Arabic)."""
    return any(unicodedata.bidirectional(ch) in ("R", "AL") for ch in text)


def _kind(ch: str) -> str:
    """'space', 'mark' (attaches to what precedes), 'joiner', 'char' (a word of its own: no-space
    scripts), 'word' (letters, digits, connector punctuation) or 'single' (punctuation, symbols)."""
    if ch.isspace():
        return "space"
    cat = unicodedata.category(ch)
    if cat.startswith("M") or 0x1F3FB <= ord(ch) <= 0x1F3FF:  # combining marks, emoji skin tones
        return "mark"
    if ch == _ZWJ:
        return "joiner"
    if cat == "Cf":  # other format characters (ZWNJ inside Persian words, bidi controls)
        return "mark"
    if no_space_script(ch):
        return "char"
    if cat[0] in "LN" or cat == "Pc":
        return "word"
    if cat[0] == "C":  # control, unassigned, private use: separators
        return "space"
    return "single"


def text_spans(text: str) -> list[tuple[int, int]]:
    """Base words of a text as (start, end) character spans, in logical order.

    Runs of letters, marks and digits are one word ("naïve", "2026", "لماذا", "שלום"); each
    punctuation mark or symbol is a word of its own ("isn't" is "isn", "'", "t"); each character
    of a script written without spaces is a word ("東京" is "東", "京"); combining marks stay
    with the character before them, and a zero-width joiner glues its neighbours (emoji sequences).
    Whitespace and control characters separate words and belong to none.
    """
    spans: list[tuple[int, int]] = []
    start: int | None = None
    open_kind = ""
    glue = False  # the previous character was a zero-width joiner: the next one joins the word
    for i, ch in enumerate(text):
        kind = _kind(ch)
        if kind == "space":
            if start is not None:
                spans.append((start, i))
            start, open_kind, glue = None, "", False
            continue
        if kind in ("mark", "joiner"):
            if start is None:  # a mark with nothing to attach to is a word of its own
                start, open_kind = i, "single"
            glue = kind == "joiner"
            continue
        flag = 0x1F1E6 <= ord(ch) <= 0x1F1FF  # regional indicators: two make one flag
        if flag and start is not None and open_kind == "single" and i - start == 1 \
                and 0x1F1E6 <= ord(text[start]) <= 0x1F1FF:
            continue
        if start is not None and (glue or (kind == "word" and open_kind == "word")):
            glue = False
            continue
        if start is not None:
            spans.append((start, i))
        start, open_kind, glue = i, kind, False
    if start is not None:
        spans.append((start, len(text)))
    return spans


@dataclass(frozen=True)
class Word:
    """One word: a character span of the text of its segment (0: first text, 1: second text)."""

    segment: int
    start: int
    end: int
    text: str

    @property
    def rtl(self) -> bool:
        return is_rtl(self.text)


@dataclass(frozen=True)
class WordMap:
    """A result's tokens mapped onto words.

    words: the words in order (first text, then second text). token_word: per token, the index
    of its word, or -1 for a special token. slot: per token, for special tokens the number of
    words before it (specials with the same slot form one row), else -1.
    """

    words: tuple[Word, ...]
    token_word: tuple[int, ...]
    slot: tuple[int, ...]
    mode: str = "text"
    notes: tuple[str, ...] = ()

    @property
    def texts(self) -> tuple[str, ...]:
        return tuple(w.text for w in self.words)

    def special_slots(self) -> tuple[int, ...]:
        """The slots that hold special tokens, in order (e.g. (0, 9, 14) for [CLS] .. [SEP] .. [SEP])."""
        return tuple(sorted({s for s in self.slot if s >= 0}))


@dataclass(frozen=True)
class WordMatrix:
    """Word-level values ready to compare or draw.

    values: float32 [..., m, m] (rows: query words, columns: key words). labels: m row labels
    (the word's text, or the joined special tokens). word_index: per row, the index into
    `WordMap.words`, or -1 for a special row. special: bool [m].
    """

    values: np.ndarray
    labels: tuple[str, ...]
    word_index: tuple[int, ...]
    special: np.ndarray
    notes: tuple[str, ...] = field(default=())


# --- mapping ------------------------------------------------------------------------------------

def _token_spans(result: AttentionResult) -> list[tuple[int, int, int] | None]:
    """(segment, start, end) per token, None for specials. Needs offsets on the result."""
    if len(result.offsets) != result.n_tokens:
        raise ValueError(f"result for {result.model_id!r} has no character offsets: recompute it "
                         "(results stored before offsets existed are not comparable word by word)")
    out: list[tuple[int, int, int] | None] = []
    for i, off in enumerate(result.offsets):
        if off is None or bool(result.special_mask[i]):
            out.append(None)
        else:
            out.append((int(result.segment_ids[i]), int(off[0]), int(off[1])))
    return out


def _segments_of(result: AttentionResult) -> list[int]:
    return [0, 1] if result.text_pair is not None else [0]


def _base_spans(result: AttentionResult, mode: str) -> list[tuple[int, int, int]]:
    """(segment, start, end) base words of the result's text(s), in order."""
    if mode == "text":
        return [(seg, s, e) for seg in _segments_of(result) for s, e in text_spans(result.segment_text(seg))]
    if mode != "tokenizer":
        raise ValueError(f"unknown word mode {mode!r}; use one of {WORD_MODES}")
    spans: dict[tuple[int, int], list[int]] = {}
    for i, ts in enumerate(_token_spans(result)):
        wid = result.word_ids[i]
        if ts is None or wid is None:
            continue
        seg, s, e = ts
        text = result.segment_text(seg)
        while s < e and text[s].isspace():  # byte-level BPE spans include the space before a word
            s += 1
        if s >= e:
            continue
        cur = spans.setdefault((seg, int(wid)), [s, e])
        cur[0], cur[1] = min(cur[0], s), max(cur[1], e)
    return sorted((seg, s, e) for (seg, _), (s, e) in spans.items())


class _Index:
    """Base words of one segment, for overlap look-ups."""

    def __init__(self, base: list[tuple[int, int, int]]) -> None:
        self.by_segment: dict[int, tuple[list[int], list[int], list[int]]] = {}
        for k, (seg, s, e) in enumerate(base):
            starts, ends, ids = self.by_segment.setdefault(seg, ([], [], []))
            starts.append(s)
            ends.append(e)
            ids.append(k)

    def overlapping(self, seg: int, s: int, e: int) -> list[tuple[int, int]]:
        """[(word id, overlap chars)] of the words the span [s, e) overlaps, in order."""
        if seg not in self.by_segment:
            return []
        starts, ends, ids = self.by_segment[seg]
        hi = bisect.bisect_left(starts, e)
        out = []
        for j in range(max(0, bisect.bisect_right(ends, s) - 1), hi):
            ov = min(e, ends[j]) - max(s, starts[j])
            if ov > 0:
                out.append((ids[j], ov))
        return out

    def nearest(self, seg: int, s: int, e: int) -> int | None:
        """A token that overlaps no word: the next word of its segment, else the previous one."""
        if seg not in self.by_segment:
            return None
        starts, _, ids = self.by_segment[seg]
        j = bisect.bisect_left(starts, max(s, e - 1) if e > s else s)
        if j < len(ids):
            return ids[j]
        return ids[-1] if ids else None


def _assign(result: AttentionResult, index: _Index, uf: DisjointSets) -> list[int]:
    """Per token: its base word's root (the word it overlaps most; ties to the earlier), -1 special."""
    out = []
    for ts in _token_spans(result):
        if ts is None:
            out.append(-1)
            continue
        hits = index.overlapping(*ts)
        if hits:
            best = max(hits, key=lambda h: (h[1], -h[0]))[0]
        else:
            near = index.nearest(*ts)
            best = -1 if near is None else near
        out.append(-1 if best < 0 else uf.find(best))
    return out


def _truncated_tail(result: AttentionResult, base: list[tuple[int, int, int]],
                    spans: list[tuple[int, int, int] | None]) -> set[int]:
    """Base words after the last token of a truncated result (per segment): not in its words."""
    if result.truncated_tokens <= 0:
        return set()
    last: dict[int, int] = {}
    for ts in spans:
        if ts is not None:
            last[ts[0]] = max(last.get(ts[0], 0), ts[2])
    return {k for k, (seg, s, _) in enumerate(base) if s >= last.get(seg, 0)}


def build_word_maps(results: Sequence[AttentionResult], mode: str = "text") -> list[WordMap]:
    """Map every result onto ONE word sequence of their common text (maximal spans over all their
    tokenizers). All results must have the same text and second text; truncated results lose the
    words after their last token."""
    if not results:
        return []
    first = results[0]
    for r in results[1:]:
        if (r.text, r.text_pair) != (first.text, first.text_pair):
            raise ValueError("build_word_maps needs results of the same text; use word_map for each")
    base = _base_spans(first, mode)
    index = _Index(base)
    uf = DisjointSets(len(base))
    all_spans = [_token_spans(r) for r in results]
    for spans in all_spans:  # a token over several base words joins them (maximal spans)
        for ts in spans:
            if ts is None:
                continue
            hits = index.overlapping(*ts)
            for (a, _), (b, _) in zip(hits, hits[1:]):
                uf.union(a, b)
    tails = [_truncated_tail(r, base, sp) for r, sp in zip(results, all_spans)]
    changed = True
    while changed:  # a word no token of some result touches joins the word before it
        changed = False
        for r, tail in zip(results, tails):
            covered = set(_assign(r, index, uf))
            for k in range(len(base)):
                root = uf.find(k)
                if root != k or root in covered or k in tail:
                    continue
                seg = base[k][0]
                prev = next((j for j in range(k - 1, -1, -1) if base[j][0] == seg), None)
                nxt = next((j for j in range(k + 1, len(base)) if base[j][0] == seg and uf.find(j) != k), None)
                other = prev if prev is not None else nxt
                if other is not None and uf.union(k, other):
                    changed = True
    maps = []
    for r, tail in zip(results, tails):
        roots = [k for k in range(len(base)) if uf.find(k) == k and k not in tail]
        members: dict[int, list[int]] = {}
        for k in range(len(base)):
            members.setdefault(uf.find(k), []).append(k)
        words = []
        for root in roots:
            seg = base[root][0]
            s = min(base[k][1] for k in members[root])
            e = max(base[k][2] for k in members[root])
            words.append(Word(seg, s, e, r.segment_text(seg)[s:e]))
        position = {root: i for i, root in enumerate(roots)}
        token_root = _assign(r, index, uf)
        token_word = [position.get(root, -1) if root >= 0 else -1 for root in token_root]
        notes = []
        if tail:
            notes.append(f"{r.model_id} was truncated ({r.truncated_tokens} tokens dropped): "
                         f"{len(tail)} words at the end are left out.")
        # special tokens: the number of words before them (specials in one gap share a row)
        slot, seen = [], 0
        for i, w in enumerate(token_word):
            if w >= 0:
                seen = max(seen, w + 1)
                slot.append(-1)
            elif bool(r.special_mask[i]) or token_root[i] < 0:
                slot.append(seen)
            else:
                slot.append(-1)
        # a non-special token that found no word (should not happen) counts as special
        token_word = [w if (w >= 0 or slot[i] >= 0) else -1 for i, w in enumerate(token_word)]
        maps.append(WordMap(words=tuple(words), token_word=tuple(token_word), slot=tuple(slot),
                            mode=mode, notes=tuple(notes)))
    return maps


def word_map(result: AttentionResult, mode: str = "text") -> WordMap:
    """One result mapped onto the words of its own text (maximal spans over its own tokens)."""
    return build_word_maps([result], mode)[0]


def word_maps_for(a: AttentionResult, b: AttentionResult, mode: str = "text") -> tuple[WordMap, WordMap]:
    """Word maps for a comparison: one shared word sequence when A and B have the same text(s)
    (maximal spans over both tokenizers), else each on the words of its own text."""
    if (a.text, a.text_pair) == (b.text, b.text_pair):
        wa, wb = build_word_maps([a, b], mode)
        return wa, wb
    return word_map(a, mode), word_map(b, mode)


# --- word-level matrices ------------------------------------------------------------------------

def _group_keys(wmap: WordMap) -> list[tuple[str, int]]:
    return [("w", w) if w >= 0 else ("s", s) for w, s in zip(wmap.token_word, wmap.slot)]


def word_matrix(matrix: np.ndarray, result: AttentionResult, wmap: WordMap, *,
                specials: str = "hidden", renormalise: bool = True) -> WordMatrix:
    """[..., n, n] token attention of `result` -> word level (Clark et al. 2019: key pieces summed,
    query pieces averaged; `core.analysis.tokens.merge_words`).

    specials="own": the special tokens of each gap between words form one row and column,
    labelled with their tokens ("[CLS]", "</s></s>"). specials="hidden": those rows and columns
    are dropped; with `renormalise` each row is rescaled to sum to 1 over the words (rows that
    gave everything to special tokens stay 0), else rows sum to less than 1.
    """
    if specials not in SPECIALS_MODES:
        raise ValueError(f"specials must be one of {SPECIALS_MODES}, not {specials!r}")
    keys = _group_keys(wmap)
    merged, _, groups = merge_words(matrix, keys, list(result.tokens))
    labels, index, special = [], [], []
    for g in groups:
        kind, value = keys[g[0]]
        if kind == "w":
            labels.append(wmap.words[value].text)
            index.append(value)
            special.append(False)
        else:
            labels.append("".join(result.display_tokens[i] for i in g))
            index.append(-1)
            special.append(True)
    special_arr = np.asarray(special, dtype=bool)
    notes = ["Word level: a word's key pieces summed, its query pieces averaged (Clark et al. 2019)."]
    if specials == "hidden" and special_arr.any():
        values, kept = hide_special(merged, special_arr, renormalise)
        labels = [labels[i] for i in kept]
        index = [index[i] for i in kept]
        special_arr = special_arr[kept]
        notes.append("Special tokens hidden; rows " + ("renormalised over the words." if renormalise
                                                      else "NOT renormalised (they sum to less than 1)."))
    else:
        values = merged.astype(np.float32)
        if special_arr.any():
            notes.append("Special tokens are their own rows (those between the same two words share one).")
    if result.causal:
        notes.append("Causal model: a word's later pieces may see keys its first piece could not.")
    return WordMatrix(values=np.asarray(values, dtype=np.float32), labels=tuple(labels),
                      word_index=tuple(index), special=special_arr, notes=tuple(notes) + wmap.notes)


def word_heads(result: AttentionResult, wmap: WordMap, *, specials: str = "hidden",
               renormalise: bool = True) -> WordMatrix:
    """Every head at word level: values [layers, heads, m, m], one layer at a time (float64 of all
    layers at n = 512 would be hundreds of MB)."""
    layers = [word_matrix(result.attention[layer], result, wmap, specials=specials, renormalise=renormalise)
              for layer in range(result.num_layers)]
    first = layers[0]
    values = np.stack([wm.values for wm in layers]).astype(np.float32)
    return WordMatrix(values=values, labels=first.labels, word_index=first.word_index,
                      special=first.special, notes=first.notes)

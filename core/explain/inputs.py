"""A text tokenised once, with the app's words: every method in core.explain starts from this.

Words are the tokenizer's words (`word_ids`, keyed by segment as in
core.analysis.tokens.word_keys, the key the app's word merge uses); special tokens are their
own words. A word's label is its characters in the text (offsets), so "##ing" and "Ġthe"
never reach the user.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.analysis.tokens import word_keys
from core.attention.extract import effective_max_tokens, has_type_ids, tokenize
from core.attention.result import normalise_pair
from core.errors import EmptyTextError
from core.models.loading import LoadedModel
from core.models.tokens import display_tokens


@dataclass(frozen=True, eq=False)
class Sentence:
    """One tokenised text. Arrays are read-only."""

    model_id: str
    text: str
    text_pair: str | None  # a second text read in the same input (a sentence pair), or None
    input_ids: np.ndarray  # int64 [n]
    token_type_ids: np.ndarray | None  # int64 [n] for models that read segment ids, else None
    tokens: tuple[str, ...]  # raw pieces [n]
    display_tokens: tuple[str, ...]  # readable labels [n]
    special_mask: np.ndarray  # bool [n]
    word_of_token: np.ndarray  # int64 [n]: index into `words`
    words: tuple[str, ...]  # [w] labels; special tokens are their own words
    word_tokens: tuple[tuple[int, ...], ...]  # [w] token positions of each word
    word_special: np.ndarray  # bool [w]
    dropped_tokens: int = 0  # tokens past the limit that truncation cut off the end of the text

    @property
    def n_tokens(self) -> int:
        return len(self.tokens)

    @property
    def n_words(self) -> int:
        return len(self.words)

    def content_words(self) -> np.ndarray:
        """int [k]: indices of the words that are not special tokens."""
        return np.flatnonzero(~self.word_special)

    def merge(self, token_scores: np.ndarray) -> np.ndarray:
        """Token scores [..., n] -> word scores [..., w], summed over each word's pieces."""
        scores = np.asarray(token_scores, dtype=np.float64)
        assign = np.zeros((self.n_tokens, self.n_words))
        assign[np.arange(self.n_tokens), self.word_of_token] = 1.0
        return scores @ assign


def _readonly(*arrays: np.ndarray | None) -> None:
    for a in arrays:
        if a is not None:
            a.setflags(write=False)


def prepare(loaded: LoadedModel, text: str, text_pair: str | None = None,
            max_tokens: int | None = None) -> Sentence:
    """Tokenise exactly as the attention views do (core.attention.extract.tokenize), under the lock."""
    if not isinstance(text, str) or not text.strip():
        raise EmptyTextError()
    text_pair = normalise_pair(text_pair)
    limit = effective_max_tokens(loaded.info, loaded.tokenizer, max_tokens)
    with loaded.lock:  # the fast tokenizer is shared and not thread-safe
        enc, dropped = tokenize(loaded, text, text_pair, limit)
        ids = enc["input_ids"][0].tolist()
        special = [bool(x) for x in enc["special_tokens_mask"][0].tolist()]
        raw_words = enc.word_ids(0)
        try:
            seq = enc.sequence_ids(0)
        except Exception:  # noqa: BLE001 - slow tokenizers: one segment
            seq = [0] * len(ids)
        tokens = loaded.tokenizer.convert_ids_to_tokens(ids)
        offsets = enc["offset_mapping"][0].tolist()
        word_ids = [None if special[i] else w for i, w in enumerate(raw_words)]
        labels = display_tokens(loaded.tokenizer, tokens, special, tuple(word_ids))
        types = enc["token_type_ids"][0].tolist() if "token_type_ids" in enc and has_type_ids(loaded) else None
    segments = [0 if s is None else int(s) for s in seq]
    for i in range(1, len(segments)):  # a special token joins the segment before it (as extract does)
        if seq[i] is None:
            segments[i] = segments[i - 1]
    keys = word_keys(word_ids, segments)
    groups: list[list[int]] = []
    group_of: dict[object, int] = {}
    for i, key in enumerate(keys):
        if key is None:
            groups.append([i])
        elif key in group_of:
            groups[group_of[key]].append(i)
        else:
            group_of[key] = len(groups)
            groups.append([i])
    word_of = np.zeros(len(ids), dtype=np.int64)
    names, is_special = [], []
    for g, members in enumerate(groups):
        word_of[members] = g
        first = members[0]
        if special[first]:
            names.append(labels[first])
            is_special.append(True)
            continue
        source = text_pair if segments[first] == 1 and text_pair is not None else text
        start, end = offsets[first][0], offsets[members[-1]][1]
        names.append(source[start:end].strip() or labels[first])
        is_special.append(False)
    arrays = (np.asarray(ids, dtype=np.int64), None if types is None else np.asarray(types, dtype=np.int64),
              np.asarray(special, dtype=bool), word_of, np.asarray(is_special, dtype=bool))
    _readonly(*arrays)
    return Sentence(model_id=loaded.info.model_id, text=text, text_pair=text_pair, input_ids=arrays[0],
                    token_type_ids=arrays[1], tokens=tuple(tokens), display_tokens=tuple(labels),
                    special_mask=arrays[2], word_of_token=arrays[3], words=tuple(names),
                    word_tokens=tuple(tuple(g) for g in groups), word_special=arrays[4],
                    dropped_tokens=int(dropped))


def blank_token_id(loaded: LoadedModel) -> int:
    """The token that blanks a word out: [MASK] (<mask>), else [UNK], else the end-of-text token."""
    tok = loaded.tokenizer
    for candidate in (tok.mask_token_id, tok.unk_token_id, tok.eos_token_id, tok.pad_token_id):
        if candidate is not None:
            return int(candidate)
    return 0


# RoBERTa-style models number positions from the non-padding tokens, so a [PAD] baseline would
# also move the position embeddings: their baseline is the mask token.
_POSITIONS_FROM_PADDING = ("roberta", "xlm-roberta", "camembert")


def baseline_token_id(loaded: LoadedModel) -> int:
    """The integrated-gradients baseline token: [PAD], else (or for RoBERTa-style models) the blank token."""
    pad = loaded.tokenizer.pad_token_id
    if pad is None or loaded.info.model_type in _POSITIONS_FROM_PADDING:
        return blank_token_id(loaded)
    return int(pad)

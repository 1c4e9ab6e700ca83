"""The token sets every head statistic uses, read from a model's token strings: the sequence
start ([CLS], <s>), separators ([SEP], </s>) and punctuation (Clark et al. 2019). numpy only.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import numpy as np

CLS_TOKENS = frozenset({"[CLS]", "<s>", "<cls>", "<|endoftext|>", "<|begin_of_text|>", "<bos>"})
SEP_TOKENS = frozenset({"[SEP]", "</s>", "<sep>", "<eos>"})


def punctuation_mask(display_tokens: Sequence[str], special_mask: np.ndarray | None = None) -> np.ndarray:
    """bool [n]: tokens made only of Unicode punctuation (category P*), e.g. ".", ",", "##?".

    Set used by Clark et al. 2019 ("What Does BERT Look At?") for attention to punctuation.
    A leading "##" (continuation marker) is ignored; special tokens are never punctuation.
    """
    out = np.zeros(len(display_tokens), dtype=bool)
    for i, tok in enumerate(display_tokens):  # O(n) over labels, not over the n^2 cells
        body = tok[2:] if tok.startswith("##") and len(tok) > 2 else tok
        body = body.strip()
        out[i] = bool(body) and all(unicodedata.category(ch).startswith("P") for ch in body)
    if special_mask is not None:
        out &= ~np.asarray(special_mask, dtype=bool)
    return out


def cls_mask(tokens: Sequence[str], special_mask: np.ndarray) -> np.ndarray:
    """bool [n]: the sequence-start special token: [CLS], <s>, or <|endoftext|> in first place.

    Rule: a special token that is a known start token, or any special token at position 0
    that is not a known separator (Clark et al. 2019 treat [CLS] and [SEP] separately).
    """
    special = np.asarray(special_mask, dtype=bool)
    n = len(tokens)
    known = np.fromiter((t in CLS_TOKENS and t != "<|endoftext|>" for t in tokens), dtype=bool, count=n)
    first = np.zeros(n, dtype=bool)
    if n:
        first[0] = tokens[0] not in SEP_TOKENS
    return special & (known | first)


def sep_mask(tokens: Sequence[str], special_mask: np.ndarray) -> np.ndarray:
    """bool [n]: separator special tokens: [SEP], </s>, <|endoftext|> after position 0, and any
    other special token that is not the start token (Clark et al. 2019's [SEP] set)."""
    return np.asarray(special_mask, dtype=bool) & ~cls_mask(tokens, special_mask)

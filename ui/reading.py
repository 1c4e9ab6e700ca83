"""Whether the model can read the text at all: an English-only model turns Chinese into [UNK] pieces,
Arabic into single letters and emoji into [UNK], and every chart still draws them as if they were
understood. `notice(result, model_id)` says so on the page, with the share of such pieces and the
models that would read the text; `unread_pieces` counts them (no Streamlit).
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from core.attention.result import AttentionResult
from core.models.registry import registry

UNKNOWN = frozenset({"[UNK]", "<unk>", "<UNK>", "<|unk|>"})
_PIECE_MARKS = ("##", "Ġ", "▁", "Ċ")
NOTICE_SHARE = 0.1  # a notice once a tenth of the pieces are unknown or lone letters of another script


@dataclass(frozen=True)
class Unread:
    pieces: int  # the text's pieces (special tokens left out)
    unknown: int  # [UNK] and the like: the vocabulary has no piece for them
    letters: int  # lone letters of a non-Latin script (a word spelt out, letter by letter)

    @property
    def share(self) -> float:
        return (self.unknown + self.letters) / self.pieces if self.pieces else 0.0


def _lone_foreign_letter(token: str) -> bool:
    piece = token
    for mark in _PIECE_MARKS:
        piece = piece.removeprefix(mark)
    return len(piece) == 1 and piece.isalpha() and ord(piece) > 0x24F  # past Latin Extended-B


def unread_pieces(result: AttentionResult) -> Unread:
    special = list(result.special_mask)
    tokens = [t for t, s in zip(result.tokens, special) if not s]
    return Unread(len(tokens), sum(t in UNKNOWN for t in tokens), sum(_lone_foreign_letter(t) for t in tokens))


def readers(model_id: str) -> list[str]:
    """Display names of the offered models that read many languages (none when this one does)."""
    models = registry()
    here = models.get(model_id)
    if here is not None and here.languages != "en":
        return []
    return [spec.display_name for spec in models.values() if spec.languages != "en"]


def notice(result: AttentionResult, model_id: str) -> None:
    """A warning above the page's charts when the model cannot read much of the text."""
    found = unread_pieces(result)
    if not found.pieces or found.share < NOTICE_SHARE:
        return
    parts = []
    if found.unknown:
        parts.append(f"{found.unknown} of {found.pieces} pieces are unknown to its vocabulary ([UNK])")
    if found.letters:
        parts.append(f"{found.letters} are single letters of a script it was not trained on")
    others = readers(model_id)
    spec = registry().get(model_id)
    who = "This model reads English only" if spec is None or spec.languages == "en" else "This model"
    advice = (" A multilingual model reads it: " + " or ".join(others) + " (the sidebar's model picker)."
              if others else "")
    st.warning(f"{who}: {' and '.join(parts)} ({found.share:.0%} of the text). Its attention to those pieces says "
               f"nothing about what they mean, though the charts draw them like any other." + advice,
               icon=":material/translate:")

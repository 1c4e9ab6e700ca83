"""Readable token labels: WordPiece `##`, byte-level BPE `Ġ`, SentencePiece `▁` made plain.

Convention for every tokenizer family: a piece that starts a word is shown as the word text;
a piece that continues a word is shown with a leading "##" (BERT's convention, which most
readers know). Invisible characters are made visible so a heatmap never has a blank label.
"""

from __future__ import annotations

import unicodedata
from typing import Any, Sequence

_BPE_SPACE = "Ġ"  # byte-level BPE (GPT-2, RoBERTa): a leading space
_BPE_NEWLINE = "Ċ"
_SP_SPACE = "▁"  # SentencePiece (XLM-R): a leading space


def visible(text: str) -> str:
    """Replace control, format (zero-width, bidi) and blank characters with <U+XXXX> or ␣."""
    if text == "":
        return "∅"
    out: list[str] = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch == " ":
            out.append("␣")
        elif ch == "\n":
            out.append("⏎")
        elif ch == "\t":
            out.append("⇥")
        elif cat in {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"} or (cat == "Zs" and ch != " "):
            out.append(f"<U+{ord(ch):04X}>")
        else:
            out.append(ch)
    return "".join(out)


def display_tokens(tokenizer: Any, tokens: Sequence[str], special: Sequence[bool],
                   word_ids: Sequence[int | None]) -> list[str]:
    """One readable label per token, same length and order as `tokens`."""
    out: list[str] = []
    byte_level = any(t.startswith(_BPE_SPACE) for t in tokens) or _is_byte_level(tokenizer)
    for i, tok in enumerate(tokens):
        if special[i]:
            out.append(visible(tok))
            continue
        continues = i > 0 and word_ids[i] is not None and word_ids[i] == word_ids[i - 1]
        if tok.startswith("##"):
            body, continues = tok[2:], True
        elif tok.startswith(_SP_SPACE):
            body = tok[len(_SP_SPACE):]
            continues = False
        elif byte_level:
            body = _decode_byte_level(tokenizer, tok)
            if body.startswith(" "):
                body, continues = body[1:], False
        else:
            body = tok
        label = visible(body) if body else ("␣" if not continues else "∅")
        out.append(("##" + label) if continues else label)
    return out


def _is_byte_level(tokenizer: Any) -> bool:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return False
    try:
        return "ByteLevel" in type(backend.pre_tokenizer).__name__ or "ByteLevel" in str(backend.pre_tokenizer)
    except Exception:  # noqa: BLE001 - a tokenizer without a pre-tokenizer is simply not byte-level
        return False


def _decode_byte_level(tokenizer: Any, tok: str) -> str:
    """Decode one byte-level BPE piece; a partial UTF-8 sequence keeps its raw form."""
    try:
        text = tokenizer.convert_tokens_to_string([tok])
    except Exception:  # noqa: BLE001
        return tok.replace(_BPE_SPACE, " ").replace(_BPE_NEWLINE, "\n")
    if "\ufffd" in text:
        return tok.replace(_BPE_SPACE, " ")
    return text

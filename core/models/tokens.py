"""Readable token labels: WordPiece `##`, byte-level BPE `Ġ`, SentencePiece `▁` made plain.

Convention for every tokenizer family: a piece that starts a word is shown as the word text;
a piece that continues a word is shown with a leading "##" (BERT's convention, which most
readers know). A piece that is only the space marker ("Ġ" or "▁" alone, common with small
vocabularies) is shown as "␣" and the pieces after it in the same word continue it. Invisible
characters are made visible so a heatmap never has a blank label, and a byte-level piece
holding part of a multi-byte character is shown as its bytes ("<0xF0><0x9F>"), not mojibake.
"""

from __future__ import annotations

import codecs
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


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character table (used by every byte-level BPE)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    table = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


_UNICODE_TO_BYTE = {ch: b for b, ch in _bytes_to_unicode().items()}


def _decode_byte_level(tokenizer: Any, tok: str) -> str:
    """Decode one byte-level BPE piece to text.

    A piece that holds only part of a multi-byte character (an emoji or CJK character split
    across pieces) cannot be shown as text: it is shown as its bytes, e.g. "<0xC3>", the
    convention SentencePiece byte fallback uses, instead of mojibake such as "Ã".
    """
    raw = bytearray()
    for ch in tok:
        b = _UNICODE_TO_BYTE.get(ch)
        if b is None:  # not a byte-level piece (an added token): show it as it is
            return tok
        raw.append(b)
    # Keep the decodable part as text and show stray bytes in hex.
    return bytes(raw).decode("utf-8", errors=_HEX_BYTES)


def _hex_bytes(err: UnicodeError) -> tuple[str, int]:
    assert isinstance(err, UnicodeDecodeError)
    bad = err.object[err.start:err.end]
    return "".join(f"<0x{b:02X}>" for b in bad), err.end


_HEX_BYTES = "attention_dashboard_hex_bytes"
codecs.register_error(_HEX_BYTES, _hex_bytes)

"""Extraction: (loaded model, text[, second text], max tokens) -> one verified AttentionResult."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from core.attention.result import DEFAULT_MAX_TOKENS, ROW_SUM_TOLERANCE, AttentionResult, normalise_pair
from core.errors import EmptyTextError, NoAttentionError
from core.models.loading import LoadedModel, ModelInfo
from core.models.tokens import display_tokens


def effective_max_tokens(info: ModelInfo, tokenizer: Any, max_tokens: int | None) -> int:
    limit = info.max_positions
    tok_max = getattr(tokenizer, "model_max_length", None)
    if isinstance(tok_max, int) and 0 < tok_max < 100_000:
        limit = min(limit, tok_max)
    wanted = DEFAULT_MAX_TOKENS if max_tokens is None else int(max_tokens)
    return max(4, min(wanted, limit))


def _segments(enc: Any, n: int, token_type_ids: list[int] | None) -> np.ndarray:
    """token_type_ids where the model has them, else derived from the sequence ids.

    Derived rule: a special token joins the segment of the token before it, so [SEP] and
    `</s></s>` close the first segment (DistilBERT and RoBERTa have no usable type ids).
    """
    if token_type_ids is not None and any(token_type_ids):
        return np.asarray(token_type_ids, dtype=np.int8)
    seg = np.zeros(n, dtype=np.int8)
    try:
        seq_ids = enc.sequence_ids(0)
    except Exception:  # noqa: BLE001 - slow tokenizers have no sequence ids; one segment then
        return seg
    current = 0
    for i, s in enumerate(seq_ids):
        if s is not None:
            current = int(s)
        seg[i] = current
    return seg


def has_type_ids(loaded: LoadedModel) -> bool:
    cfg = loaded.model.config
    return int(getattr(cfg, "type_vocab_size", 0) or 0) > 1 and "token_type_ids" in loaded.tokenizer.model_input_names


def tokenize(loaded: LoadedModel, text: str, text_pair: str | None, max_tokens: int) -> tuple[Any, int]:
    """Encode with truncation; returns (encoding, number of tokens truncation dropped).

    The encoding holds "pt" tensors, `special_tokens_mask` and `offset_mapping` (each token's
    character span in its own text; not a model input). Callers hold `loaded.lock`.
    One tokenizer call when the text fits (the usual case); a second, truncating call only
    when it does not, so the dropped count is exact for pairs too.
    """
    tok = loaded.tokenizer
    pair = normalise_pair(text_pair)
    # verbose=False: "sequence longer than the maximum" is expected here, we truncate below.
    enc = tok(text, pair, add_special_tokens=True, truncation=False, return_tensors="pt",
              return_special_tokens_mask=True, return_offsets_mapping=True, verbose=False)
    full = int(enc["input_ids"].shape[1])
    if full <= max_tokens:
        return enc, 0
    enc = tok(text, pair, add_special_tokens=True, truncation=True, max_length=max_tokens,
              return_tensors="pt", return_special_tokens_mask=True, return_offsets_mapping=True,
              verbose=False)
    return enc, max(0, full - int(enc["input_ids"].shape[1]))


SHORT_INPUT_TOKENS = 64
"""Forward passes of at most this many tokens run on one CPU thread (see :func:`cpu_threads_for`)."""

_default_threads: int | None = None


@contextlib.contextmanager
def cpu_threads_for(n_tokens: int) -> Iterator[None]:
    """Run a CPU forward pass of `n_tokens` on one thread if it is short, on torch's default
    thread count otherwise; the calling thread's count is restored afterwards.

    Measured on a 2-core machine with the browser on the same machine (the app's own use, and
    every benchmark): the Compare page's text commit (two forward passes of 16 tokens) took
    0.20-0.46 s with 2 torch threads and 0.10-0.26 s with one. A short pass has hundreds of tiny
    parallel regions, and each waits for a worker that the browser's work has descheduled. On an
    idle machine one thread costs 4-7 ms at 16-64 tokens (a forward pass of 11 ms becomes 18 ms
    at 64); longer inputs keep every thread (128 tokens: 20 ms on 2 threads, 36 ms on one; 512:
    97 ms against 174). torch's count is per thread (a script run's own), so other sessions'
    passes are untouched. scripts/bench_engine.py times the bare forward pass the same way.
    """
    import torch

    global _default_threads
    before = torch.get_num_threads()
    if _default_threads is None:
        _default_threads = before
    wanted = 1 if n_tokens <= SHORT_INPUT_TOKENS else _default_threads
    if wanted == before:
        yield
        return
    torch.set_num_threads(wanted)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def extract(loaded: LoadedModel, text: str, text_pair: str | None = None,
            max_tokens: int | None = None) -> AttentionResult:
    """Run one forward pass and return verified attention. Thread-safe (holds loaded.lock)."""
    if not isinstance(text, str) or not text.strip():
        raise EmptyTextError()
    text_pair = normalise_pair(text_pair)
    import torch

    info = loaded.info
    limit = effective_max_tokens(info, loaded.tokenizer, max_tokens)
    with loaded.lock:  # fast tokenizers are not thread-safe; the model is shared
        enc, dropped = tokenize(loaded, text, text_pair, limit)
        names = [k for k in loaded.tokenizer.model_input_names if k in enc]
        if not has_type_ids(loaded):
            names = [k for k in names if k != "token_type_ids"]
        inputs = {k: enc[k].to(loaded.model.device) for k in names}
        with torch.inference_mode(), cpu_threads_for(int(enc["input_ids"].shape[1])):
            out = loaded.model(**inputs, output_attentions=True, return_dict=True)
        atts = getattr(out, "attentions", None)
        del out
        word_ids_raw = enc.word_ids(0)
        ids = enc["input_ids"][0].tolist()
        # Reads of the shared Rust tokenizer stay inside the lock too: another thread's call
        # may be switching truncation on it (a mutable borrow), and a concurrent read would
        # then fail with "RuntimeError: Already borrowed".
        tokens = loaded.tokenizer.convert_ids_to_tokens(ids)
        special_list = [bool(x) for x in enc["special_tokens_mask"][0].tolist()]
        word_ids = tuple(None if special_list[i] else w for i, w in enumerate(word_ids_raw))
        offsets = _offsets(enc, special_list)
        labels = display_tokens(loaded.tokenizer, tokens, special_list, word_ids)
    # The copy to numpy runs outside the lock: these tensors belong to this call alone, so
    # another session's forward pass can already start.
    if not atts:
        raise NoAttentionError(info.model_id, "the model's attention implementation returns none "
                                              "(load it with attn_implementation='eager')")
    attention = _to_numpy(atts, info)
    del atts
    special = np.asarray(special_list, dtype=bool)
    tt = enc["token_type_ids"][0].tolist() if "token_type_ids" in enc and has_type_ids(loaded) else None
    segments = _segments(enc, len(ids), tt)

    verify(attention, len(ids), info)
    for arr in (attention, special, segments):
        arr.setflags(write=False)
    return AttentionResult(
        model_id=info.model_id, text=text, text_pair=text_pair, max_tokens=limit,
        tokens=tuple(tokens), display_tokens=tuple(labels), token_ids=tuple(int(i) for i in ids),
        attention=attention, special_mask=special, word_ids=word_ids, segment_ids=segments,
        causal=info.causal, truncated_tokens=dropped, info=info, offsets=offsets,
    )


def _offsets(enc: Any, special: list[bool]) -> tuple[tuple[int, int] | None, ...]:
    """Each token's (start, end) character span in its own text (for a pair, the second text's
    tokens index the second text: that is how fast tokenizers report them); None for specials."""
    mapping = enc.get("offset_mapping") if hasattr(enc, "get") else None
    if mapping is None:
        return ()
    pairs = mapping[0].tolist()
    return tuple(None if special[i] else (int(s), int(e)) for i, (s, e) in enumerate(pairs))


def _to_numpy(atts: Any, info: ModelInfo) -> np.ndarray:
    """Copy L tensors of (1, H, n, n) into one float32 [L, H, n, n] numpy array.

    Measured at n=512 (75 MB) on a 2-core machine: filling a buffer from np.empty with
    np.copyto is several times faster than torch.stack or a torch copy_ into it, and much
    less sensitive to other processes competing for the cores (torch's multi-threaded copy
    stalls when one of its threads is descheduled). Large numpy buffers also get
    transparent huge pages (madvise), which cuts the page faults of a fresh 75 MB array.
    """
    import torch

    first = atts[0]
    shape = (len(atts), int(first.shape[1]), int(first.shape[2]), int(first.shape[3]))
    if first.shape[0] != 1 or any(tuple(a.shape) != tuple(first.shape) for a in atts):
        raise NoAttentionError(info.model_id, f"unexpected attention shapes {[tuple(a.shape) for a in atts][:3]}")
    out = np.empty(shape, dtype=np.float32)
    for i, a in enumerate(atts):
        layer = a[0]
        if layer.device.type != "cpu" or layer.dtype != torch.float32:
            layer = layer.to(device="cpu", dtype=torch.float32)  # fp16/bf16, cuda, mps
        np.copyto(out[i], layer.numpy())
    return out


def verify(attention: np.ndarray, n: int, info: ModelInfo) -> None:
    """Shape, finite, rows sum to 1, and (causal) nothing above the diagonal.

    A NaN or infinity anywhere makes its row sum non-finite, so the row-sum check also
    catches them; the finite check only runs to word the error. numpy (one thread) rather
    than torch: as fast on a quiet machine, far steadier on a busy one.
    """
    expected = (info.num_layers, info.num_heads, n, n)
    if attention.shape != expected:
        raise NoAttentionError(info.model_id, f"shape {attention.shape}, expected {expected}")
    worst = float(np.abs(attention.sum(axis=-1) - 1.0).max()) if n else 0.0
    if not worst <= ROW_SUM_TOLERANCE:  # NaN-safe: NaN fails this comparison
        if not np.isfinite(attention).all():
            raise NoAttentionError(info.model_id, "weights contain NaN or infinity")
        raise NoAttentionError(info.model_id, f"rows do not sum to 1 (worst {worst:.2e})")
    if info.causal and n > 1:
        if float(np.abs(np.triu(attention, k=1)).max()) > 1e-6:
            raise NoAttentionError(info.model_id, "a causal model attends to future tokens")


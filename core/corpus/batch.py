"""Batched extraction for a corpus: length bucketing, padding, and per-sentence attention that
equals the one-sentence `core.attention.extract.extract` result (to float rounding, < 1e-5).

How padding is kept out of every number:
- Right padding for every architecture. Real tokens come first, so their position ids are
  0..n-1 exactly as in a one-sentence pass (GPT-2 numbers positions 0..N-1 whatever the mask,
  so left padding would shift them), and a causal row never sees a pad (pads come after it).
- `attention_mask` marks the pads; the model adds the dtype's most negative value to their
  scores, so a real query gives a pad key exactly 0 weight after the softmax.
- Each sentence's attention is cut to its own n x n block ([:n, :n]): pad rows and columns are
  dropped before anything is computed from them, and `verify` checks that every real row still
  sums to 1 over the real keys alone.

Bucketing: sentences are read in pools of `pool_batches * batch_size` (at least
POOL_MIN_SENTENCES), tokenized in one call,
sorted by token count (and by punctuation positions, so sentences with identical token masks
sit together for the statistics), then cut into batches of similar length. A batch is also cut
short when its attention would pass `ATTENTION_BUDGET_BYTES` (long sentences at a large batch
size). Batches therefore come out in length order, not corpus order; every record carries its
corpus `index`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.analysis.tokens import punctuation_mask
from core.attention.extract import effective_max_tokens, has_type_ids, verify
from core.attention.result import AttentionResult
from core.models.loading import LoadedModel
from core.models.tokens import display_tokens

DEFAULT_BATCH_SIZE = 32
DEFAULT_CORPUS_MAX_TOKENS = 128  # sentences, not documents; the page states it
ATTENTION_BUDGET_BYTES = 256 * 2**20  # float32 attention of one batch, all layers
POOL_BATCHES = 16  # sentences are sorted by length within pools of this many batches
POOL_MIN_SENTENCES = 4096  # ... and of at least this many sentences (bigger groups of equal masks, less padding)


@dataclass(frozen=True, eq=False)
class SentenceAttention:
    """One sentence of a batch: its verified `AttentionResult` (exactly what `extract` returns for
    it alone, to float rounding), its place in the corpus and each token's character offsets."""

    index: int  # position in the corpus (batches come in length order, not corpus order)
    result: AttentionResult
    offsets: tuple[tuple[int, int], ...]  # (start, end) characters of `text` per token; (0, 0) for specials

    @property
    def text(self) -> str:
        return self.result.text

    @property
    def attention(self) -> np.ndarray:
        """float32 [layers, heads, n, n], read-only."""
        return self.result.attention

    @property
    def tokens(self) -> tuple[str, ...]:
        return self.result.tokens

    @property
    def display_tokens(self) -> tuple[str, ...]:
        return self.result.display_tokens

    @property
    def word_ids(self) -> tuple[int | None, ...]:
        return self.result.word_ids

    @property
    def special_mask(self) -> np.ndarray:
        return self.result.special_mask

    @property
    def n_tokens(self) -> int:
        return self.result.n_tokens


@dataclass
class _Encoded:
    index: int
    text: str
    ids: list[int]
    type_ids: list[int] | None
    special: list[bool]
    word_ids: tuple[int | None, ...]
    offsets: tuple[tuple[int, int], ...]
    truncated: int
    tokens: list[str]
    labels: list[str]
    punct_key: bytes


def _encode_pool(loaded: LoadedModel, items: Sequence[tuple[int, str]], limit: int) -> list[_Encoded]:
    """Tokenize a pool in one call, exactly as `extract.tokenize` does one text (a second,
    truncating call only for texts past `limit`). Holds `loaded.lock` (shared fast tokenizer)."""
    tok = loaded.tokenizer
    texts = [t for _, t in items]
    kw: dict[str, Any] = dict(add_special_tokens=True, return_special_tokens_mask=True,
                              return_offsets_mapping=True, verbose=False)
    type_ids_wanted = has_type_ids(loaded)
    out: list[_Encoded] = []
    with loaded.lock:
        enc = tok(texts, truncation=False, **kw)
        for b, (index, text) in enumerate(items):
            ids = list(enc["input_ids"][b])
            truncated = 0
            single: Any = None
            if len(ids) > limit:
                full = len(ids)
                single = tok(text, truncation=True, max_length=limit, **kw)
                ids = list(single["input_ids"])
                truncated = max(0, full - len(ids))
            src = single if single is not None else {k: enc[k][b] for k in enc.keys()}
            word_ids_raw = single.word_ids() if single is not None else enc.word_ids(b)
            special = [bool(x) for x in src["special_tokens_mask"]]
            word_ids = tuple(None if special[i] else w for i, w in enumerate(word_ids_raw))
            type_ids = list(src["token_type_ids"]) if type_ids_wanted and "token_type_ids" in src else None
            tokens = tok.convert_ids_to_tokens(ids)
            labels = display_tokens(tok, tokens, special, word_ids)
            offsets = tuple((int(s), int(e)) for s, e in src["offset_mapping"])
            punct = punctuation_mask(labels, np.asarray(special, dtype=bool))
            out.append(_Encoded(index, text, ids, type_ids, special, word_ids, offsets, truncated, tokens,
                                labels, np.packbits(punct).tobytes()))
    return out


def _batches(encoded: list[_Encoded], batch_size: int, per_token2: int) -> Iterator[list[_Encoded]]:
    """Cut a length-sorted pool into batches of at most `batch_size` whose padded attention
    (batch x per_token2 x N^2 bytes) stays within ATTENTION_BUDGET_BYTES."""
    batch: list[_Encoded] = []
    for e in encoded:
        n = len(e.ids)  # sorted ascending: the newcomer is the longest
        if batch and (len(batch) >= batch_size or (len(batch) + 1) * per_token2 * n * n > ATTENTION_BUDGET_BYTES):
            yield batch
            batch = []
        batch.append(e)
    if batch:
        yield batch


def _forward(loaded: LoadedModel, batch: list[_Encoded], half: bool) -> np.ndarray:
    """One padded forward pass -> float32 [layers, batch, heads, N, N] on the CPU."""
    import torch

    model = loaded.model
    device = model.device
    size = max(len(e.ids) for e in batch)
    pad = loaded.tokenizer.pad_token_id
    if pad is None:
        pad = getattr(model.config, "pad_token_id", None)
    if pad is None:
        pad = 0  # any id will do: the mask gives pads zero weight and they are cut off afterwards
    ids = np.full((len(batch), size), int(pad), dtype=np.int64)
    mask = np.zeros((len(batch), size), dtype=np.int64)
    types = np.zeros((len(batch), size), dtype=np.int64) if has_type_ids(loaded) else None
    for b, e in enumerate(batch):
        n = len(e.ids)
        ids[b, :n] = e.ids
        mask[b, :n] = 1
        if types is not None and e.type_ids is not None:
            types[b, :n] = e.type_ids
    inputs = {"input_ids": torch.from_numpy(ids).to(device), "attention_mask": torch.from_numpy(mask).to(device)}
    if types is not None:
        inputs["token_type_ids"] = torch.from_numpy(types).to(device)
    autocast = (torch.autocast(device_type=device.type, dtype=torch.float16)
                if half and device.type in {"cuda", "mps"} else nullcontext())
    with loaded.lock, torch.inference_mode(), autocast:
        out = model(**inputs, output_attentions=True, return_dict=True)
    atts = getattr(out, "attentions", None)
    del out
    if not atts:
        from core.errors import NoAttentionError

        raise NoAttentionError(loaded.info.model_id, "the model's attention implementation returns none "
                                                     "(load it with attn_implementation='eager')")
    first = atts[0]
    arr = np.empty((len(atts), *first.shape), dtype=np.float32)
    for i, a in enumerate(atts):
        if a.device.type != "cpu" or a.dtype != torch.float32:
            a = a.to(device="cpu", dtype=torch.float32)
        np.copyto(arr[i], a.numpy())
    return arr


def _records(loaded: LoadedModel, batch: list[_Encoded], arr: np.ndarray, limit: int) -> list[SentenceAttention]:
    info = loaded.info
    out = []
    for b, e in enumerate(batch):
        n = len(e.ids)
        attention = np.ascontiguousarray(arr[:, b, :, :n, :n])  # the pads' rows and columns are dropped here
        verify(attention, n, info)  # real rows sum to 1 over real keys: no weight went to a pad
        special = np.asarray(e.special, dtype=bool)
        segments = np.zeros(n, dtype=np.int8)  # one text per sentence: one segment
        for a in (attention, special, segments):
            a.setflags(write=False)
        result = AttentionResult(
            model_id=info.model_id, text=e.text, text_pair=None, max_tokens=limit, tokens=tuple(e.tokens),
            display_tokens=tuple(e.labels), token_ids=tuple(int(i) for i in e.ids), attention=attention,
            special_mask=special, word_ids=e.word_ids, segment_ids=segments, causal=info.causal,
            truncated_tokens=e.truncated, info=info,
        )
        out.append(SentenceAttention(index=e.index, result=result, offsets=e.offsets))
    return out


def iter_batches(loaded: LoadedModel, texts: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE,
                 max_tokens: int | None = None, *, indices: Sequence[int] | None = None, half: bool = False,
                 pool_batches: int = POOL_BATCHES) -> Iterator[list[SentenceAttention]]:
    """Yield one list of `SentenceAttention` per forward pass, in length order.

    `max_tokens` means what it means for `extract` (None: its default; the model's limit caps
    it). `indices`: the corpus position of each text (default 0..len-1), for callers that pass
    a slice of a corpus. Blank texts are skipped (a corpus from `core.corpus.sources` has none).
    `half`: float16 autocast on CUDA / MPS (ignored on the CPU); the equality with `extract`
    then holds only to half precision. The model stays on its device (see `load_model`).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    info = loaded.info
    limit = effective_max_tokens(info, loaded.tokenizer, max_tokens)
    idx = range(len(texts)) if indices is None else indices
    if len(idx) != len(texts):
        raise ValueError("indices and texts differ in length")
    items = [(int(i), t) for i, t in zip(idx, texts) if isinstance(t, str) and t.strip()]
    per_token2 = 4 * max(1, info.num_layers) * max(1, info.num_heads)
    pool = max(max(1, pool_batches) * batch_size, POOL_MIN_SENTENCES)
    for start in range(0, len(items), pool):
        encoded = _encode_pool(loaded, items[start:start + pool], limit)
        encoded.sort(key=lambda e: (len(e.ids), e.punct_key, e.index))
        for batch in _batches(encoded, batch_size, per_token2):
            yield _records(loaded, batch, _forward(loaded, batch, half), limit)

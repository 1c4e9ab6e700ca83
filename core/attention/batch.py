"""Batched extraction for many sentences (a corpus, a probing run): length bucketing, padding,
and per-sentence attention that equals the one-sentence `core.attention.extract.extract` result
(to float rounding, < 1e-5).

How padding is kept out of every number:
- Right padding for every architecture. Real tokens come first, so their position ids are
  0..n-1 exactly as in a one-sentence pass (GPT-2 numbers positions 0..N-1 whatever the mask,
  so left padding would shift them), and a causal row never sees a pad (pads come after it).
- `attention_mask` marks the pads; the model adds the dtype's most negative value to their
  scores, so a real query gives a pad key exactly 0 weight after the softmax.
- The pads' rows and columns are set to 0 in the batch, and every real row must still sum to 1
  over the real keys alone (the check `verify` makes for one sentence, made for the whole batch
  at once). `iter_batches` cuts each sentence's own n x n block ([:n, :n]); `iter_padded` hands
  the padded batch to the statistics, whose sums over all N positions are then sums over the
  sentence's own tokens.

Bucketing: sentences are read in pools of `pool_batches * batch_size` (at least
POOL_MIN_SENTENCES), tokenized ENCODE_CHUNK at a time, sorted by token count (ties in corpus
order), then cut into batches of similar length. A batch is also cut short when its attention
would pass `ATTENTION_BUDGET_BYTES` (long sentences at a large batch size). Batches therefore
come out in length order, not corpus order; every record carries its corpus `index`. A pool
keeps per sentence only its ids and token masks (and, for `iter_batches`, its token strings and
offsets), so its memory is small and bounded whatever the corpus.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from itertools import islice
from typing import Any

import numpy as np

from core.attention.extract import effective_max_tokens, has_type_ids
from core.attention.result import ROW_SUM_TOLERANCE, AttentionResult
from core.errors import NoAttentionError
from core.models.loading import LoadedModel
from core.models.token_sets import CLS_TOKENS, SEP_TOKENS, cls_mask, punctuation_mask, sep_mask
from core.models.tokens import display_tokens

DEFAULT_BATCH_SIZE = 32
ATTENTION_BUDGET_BYTES = 256 * 2**20  # float32 attention of one batch, all layers
POOL_BATCHES = 16  # sentences are sorted by length within pools of this many batches
POOL_MIN_SENTENCES = 4096  # ... and of at least this many sentences (less padding at small batch sizes)
ENCODE_CHUNK = 512  # texts per tokenizer call (bounds the Python lists of ids and offsets it returns)


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


@dataclass(frozen=True, eq=False)
class PaddedBatch:
    """One verified forward pass, padded to its longest sentence (N tokens): what the corpus
    statistics need, with no per-sentence copy. The pads' rows and columns of `attention` are 0,
    so a sum over all N positions is a sum over the sentence's own tokens. Arrays are read-only.

    One segment per sentence (one text each), as in `SentenceAttention`; the masks are those
    `core.analysis.statistics.head_statistics_for` takes from a sentence's AttentionResult.
    """

    indices: np.ndarray  # int64 [B]: corpus positions
    lengths: np.ndarray  # int64 [B]: real tokens per sentence
    attention: np.ndarray  # float32 [B, layers, heads, N, N]
    row_sums: np.ndarray  # float32 [B, layers * heads, N]: each row's weight over the real keys (0 on pad rows)
    special: np.ndarray  # bool [B, N]: special tokens (False on pads)
    punct: np.ndarray  # bool [B, N]: core.models.token_sets.punctuation_mask of the display tokens
    cls: np.ndarray  # bool [B, N]: core.models.token_sets.cls_mask
    sep: np.ndarray  # bool [B, N]: core.models.token_sets.sep_mask
    causal: bool
    truncated: int  # sentences of the batch cut at the token limit

    @property
    def size(self) -> int:
        return len(self.indices)

    @property
    def tokens(self) -> int:
        return int(self.lengths.sum())

    @classmethod
    def of_records(cls, records: Sequence[SentenceAttention]) -> PaddedBatch:
        """The records (verified sentences of one model) padded into one batch again."""
        if not records:
            raise ValueError("no records to pad")
        first = records[0].result
        size = max(r.n_tokens for r in records)
        attention = np.zeros((len(records), first.num_layers, first.num_heads, size, size), dtype=np.float32)
        masks = np.zeros((4, len(records), size), dtype=bool)
        for b, rec in enumerate(records):
            res = rec.result
            if res.causal != first.causal or np.any(res.segment_ids != res.segment_ids[0]):
                raise ValueError("records to pad must come from one model and hold one text each")
            n = res.n_tokens
            attention[b, :, :, :n, :n] = res.attention
            masks[:, b, :n] = _masks(res.tokens, res.display_tokens, res.special_mask)
        lengths = np.fromiter((r.n_tokens for r in records), dtype=np.int64, count=len(records))
        row_sums = attention.reshape(len(records), -1, size, size).sum(axis=-1)
        indices = np.fromiter((r.index for r in records), dtype=np.int64, count=len(records))
        truncated = sum(1 for r in records if r.result.truncated_tokens)
        return _frozen(PaddedBatch(indices, lengths, attention, row_sums, *masks, causal=bool(first.causal),
                                   truncated=truncated))


def _frozen(batch: PaddedBatch) -> PaddedBatch:
    for a in (batch.indices, batch.lengths, batch.attention, batch.row_sums, batch.special, batch.punct,
              batch.cls, batch.sep):
        a.setflags(write=False)
    return batch


def _masks(tokens: Sequence[str], labels: Sequence[str], special: Sequence[bool] | np.ndarray) -> np.ndarray:
    """bool [4, n]: special, punctuation, [CLS] and [SEP] tokens, as head_statistics_for takes them."""
    sp = np.asarray(special, dtype=bool)
    return np.stack([sp, punctuation_mask(labels, sp), cls_mask(tokens, sp), sep_mask(tokens, sp)])


class _TokenFlags:
    """`_masks` for many sentences at once, from flags kept per token id (one object per run).

    What `_masks` reads from a sentence's labels depends on each token alone, with one exception:
    `display_tokens` decodes every piece as byte-level BPE in a sentence holding a "Ġ" piece. So
    each id keeps its punctuation flag both ways (its label alone, and after a "Ġ" piece), and
    the [CLS] / [SEP] flags of its token string; the masks of a pool are then array lookups.
    The "##" a continuing piece's label gets changes no flag (punctuation_mask drops it, and "#"
    is punctuation itself), so word ids are not needed.
    """

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.ids = np.zeros(0, dtype=np.int64)  # sorted
        self.flags = np.zeros((0, 5), dtype=bool)  # per id: punct alone, punct after "Ġ", starts "Ġ", cls, sep

    def _learn(self, new_ids: np.ndarray) -> None:
        tok = self.tokenizer
        pieces = tok.convert_ids_to_tokens(new_ids.tolist())
        flags = np.zeros((len(pieces), 5), dtype=bool)
        for k, piece in enumerate(pieces):
            alone = display_tokens(tok, [piece], [False], [None])
            after_space = display_tokens(tok, ["Ġ", piece], [False, False], [None, None])[1:]
            flags[k, 0] = punctuation_mask(alone)[0]
            flags[k, 1] = punctuation_mask(after_space)[0]
            flags[k, 2] = piece.startswith("Ġ")
            flags[k, 3] = piece in CLS_TOKENS and piece != "<|endoftext|>"
            flags[k, 4] = piece in SEP_TOKENS
        order = np.argsort(np.concatenate([self.ids, new_ids]), kind="stable")
        self.ids = np.concatenate([self.ids, new_ids])[order]
        self.flags = np.concatenate([self.flags, flags])[order]

    def masks(self, ids: list[np.ndarray], special: list[np.ndarray]) -> list[np.ndarray]:
        """bool [4, n] per sentence, equal to `_masks` of its tokens, labels and special mask."""
        if not ids:
            return []
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        flat = np.concatenate(ids)
        sp = np.concatenate(special).astype(bool)
        unique = np.unique(flat)
        new = unique[~np.isin(unique, self.ids)]
        if len(new):
            self._learn(new)
        f = self.flags[np.searchsorted(self.ids, flat)]  # [total, 5]
        sentence = np.repeat(np.arange(len(ids)), lengths)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        byte_level = np.bincount(sentence, weights=f[:, 2], minlength=len(ids)) > 0  # a "Ġ" piece in the sentence
        punct = np.where(byte_level[sentence], f[:, 1], f[:, 0]) & ~sp
        first = np.zeros(len(flat), dtype=bool)
        first[starts[lengths > 0]] = True
        cls = sp & (f[:, 3] | (first & ~f[:, 4]))
        out = np.stack([sp, punct, cls, sp & ~cls])
        return np.split(out, np.cumsum(lengths)[:-1], axis=1)


@dataclass(eq=False, slots=True)
class _Encoded:
    """One tokenized sentence of a pool. `tokens`, `labels`, `word_ids` and `offsets` are kept only
    for `iter_batches` (its records carry them); the statistics need the ids and the masks."""

    index: int
    text: str
    ids: np.ndarray  # int64 [n]
    type_ids: np.ndarray | None  # int64 [n], where the model takes them
    masks: np.ndarray  # bool [4, n]: see _masks
    truncated: int
    tokens: tuple[str, ...] | None = None
    labels: tuple[str, ...] | None = None
    word_ids: tuple[int | None, ...] | None = None
    offsets: tuple[tuple[int, int], ...] | None = None
    special: np.ndarray | None = None  # bool [n], until the pool's masks are made


_NO_MASKS = np.zeros((4, 0), dtype=bool)


def _encode_pool(loaded: LoadedModel, items: Sequence[tuple[int, str]], limit: int, *,
                 full: bool = True, flags: _TokenFlags | None = None) -> list[_Encoded]:
    """Tokenize a pool, ENCODE_CHUNK texts per call, exactly as `extract.tokenize` does one text
    (a second, truncating call only for texts past `limit`). `full`: keep each sentence's token
    strings, labels, word ids and offsets too; otherwise the masks come from `flags` (the run's
    `_TokenFlags`), with no per-token Python. Holds `loaded.lock` (shared fast tokenizer)."""
    tok = loaded.tokenizer
    kw: dict[str, Any] = dict(add_special_tokens=True, return_special_tokens_mask=True,
                              return_offsets_mapping=full, verbose=False)
    type_ids_wanted = has_type_ids(loaded)
    out: list[_Encoded] = []
    with loaded.lock:
        for start in range(0, len(items), ENCODE_CHUNK):
            chunk = items[start:start + ENCODE_CHUNK]
            enc = tok([t for _, t in chunk], truncation=False, **kw)
            for b, (index, text) in enumerate(chunk):
                ids = enc["input_ids"][b]
                truncated = 0
                single: Any = None
                if len(ids) > limit:
                    full_length = len(ids)
                    single = tok(text, truncation=True, max_length=limit, **kw)
                    ids = single["input_ids"]
                    truncated = max(0, full_length - len(ids))
                src = single if single is not None else {k: enc[k][b] for k in enc.keys()}
                type_ids = (np.asarray(src["token_type_ids"], dtype=np.int64)
                            if type_ids_wanted and "token_type_ids" in src else None)
                if not full:
                    e = _Encoded(index, text, np.asarray(ids, dtype=np.int64), type_ids, _NO_MASKS, truncated)
                    e.special = np.asarray(src["special_tokens_mask"], dtype=bool)
                    out.append(e)
                    continue
                word_ids_raw = single.word_ids() if single is not None else enc.word_ids(b)
                special = [bool(x) for x in src["special_tokens_mask"]]
                word_ids = tuple(None if special[i] else w for i, w in enumerate(word_ids_raw))
                tokens = tok.convert_ids_to_tokens(ids)
                labels = display_tokens(tok, tokens, special, word_ids)
                e = _Encoded(index, text, np.asarray(ids, dtype=np.int64), type_ids, _masks(tokens, labels, special),
                             truncated)
                e.tokens, e.labels, e.word_ids = tuple(tokens), tuple(labels), word_ids
                e.offsets = tuple((int(s), int(t)) for s, t in src["offset_mapping"])
                out.append(e)
            del enc
        if not full:
            flags = flags or _TokenFlags(tok)
            for e, masks in zip(out, flags.masks([e.ids for e in out], [e.special for e in out])):
                e.masks, e.special = masks, None
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
    """One padded forward pass -> float32 [batch, layers, heads, N, N] on the CPU."""
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
    atts = list(getattr(out, "attentions", None) or ())
    del out
    if not atts:
        raise NoAttentionError(loaded.info.model_id, "the model's attention implementation returns none "
                                                     "(load it with attn_implementation='eager')")
    first = atts[0]
    arr = np.empty((first.shape[0], len(atts), *first.shape[1:]), dtype=np.float32)
    for i in range(len(atts)):
        a, atts[i] = atts[i], None  # each layer's tensor goes once copied: never the batch's attention twice
        if a.device.type != "cpu" or a.dtype != torch.float32:
            a = a.to(device="cpu", dtype=torch.float32)
        np.copyto(arr[:, i], a.numpy())
        del a
    return arr


def _padded(loaded: LoadedModel, batch: list[_Encoded], arr: np.ndarray) -> PaddedBatch:
    """Zero the pads' rows and columns, then verify every sentence at once, as
    `core.attention.extract.verify` does one: every real row sums to 1 over the real keys alone
    (so no weight went to a pad; NaN or infinity fail it too), and a causal model attends to no
    later token."""
    info = loaded.info
    size, n_max = len(batch), arr.shape[-1]
    expected = (size, info.num_layers, info.num_heads, n_max, n_max)
    if arr.shape != expected:
        raise NoAttentionError(info.model_id, f"shape {arr.shape[1:]}, expected {expected[1:]}")
    lengths = np.fromiter((len(e.ids) for e in batch), dtype=np.int64, count=size)
    flat = arr.reshape(size, info.num_layers * info.num_heads, n_max, n_max)
    masks = np.zeros((4, size, n_max), dtype=bool)
    for b, e in enumerate(batch):
        n = len(e.ids)
        masks[:, b, :n] = e.masks
        if n < n_max:
            flat[b, :, n:, :] = 0.0  # pad queries: nobody's rows
            flat[b, :, :n, n:] = 0.0  # pad keys: 0 already (the mask); a weight there fails the row check below
    row_sums = flat.sum(axis=-1)
    real = np.arange(n_max) < lengths[:, None]
    worst = float(np.abs(row_sums - 1.0).max(where=real[:, None, :], initial=0.0))
    if not worst <= ROW_SUM_TOLERANCE:  # NaN-safe: NaN fails this comparison
        if not np.isfinite(arr).all():
            raise NoAttentionError(info.model_id, "weights contain NaN or infinity")
        raise NoAttentionError(info.model_id, f"rows do not sum to 1 (worst {worst:.2e})")
    if info.causal and n_max > 1:
        if float(np.abs(flat[:, :, np.triu(np.ones((n_max, n_max), dtype=bool), k=1)]).max()) > 1e-6:
            raise NoAttentionError(info.model_id, "a causal model attends to future tokens")
    indices = np.fromiter((e.index for e in batch), dtype=np.int64, count=size)
    return _frozen(PaddedBatch(indices, lengths, arr, row_sums, *masks, causal=bool(info.causal),
                               truncated=sum(1 for e in batch if e.truncated)))


def _records(loaded: LoadedModel, batch: list[_Encoded], padded: PaddedBatch, limit: int) -> list[SentenceAttention]:
    info = loaded.info
    out = []
    for b, e in enumerate(batch):
        n = len(e.ids)
        assert e.tokens is not None and e.labels is not None and e.word_ids is not None and e.offsets is not None
        attention = np.ascontiguousarray(padded.attention[b, :, :, :n, :n])  # the pads' rows and columns go here
        special = np.array(e.masks[0])
        segments = np.zeros(n, dtype=np.int8)  # one text per sentence: one segment
        for a in (attention, special, segments):
            a.setflags(write=False)
        result = AttentionResult(
            model_id=info.model_id, text=e.text, text_pair=None, max_tokens=limit, tokens=e.tokens,
            display_tokens=e.labels, token_ids=tuple(int(i) for i in e.ids), attention=attention,
            special_mask=special, word_ids=e.word_ids, segment_ids=segments, causal=info.causal,
            truncated_tokens=e.truncated, info=info,
        )
        out.append(SentenceAttention(index=e.index, result=result, offsets=e.offsets))
    return out


def _passes(loaded: LoadedModel, texts: Sequence[str], batch_size: int, limit: int, indices: Sequence[int] | None,
            half: bool, pool_batches: int, *, full: bool) -> Iterator[tuple[list[_Encoded], PaddedBatch]]:
    """(the batch's sentences, its verified padded attention) per forward pass, in length order."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    info = loaded.info
    idx = range(len(texts)) if indices is None else indices
    if len(idx) != len(texts):
        raise ValueError("indices and texts differ in length")
    items = ((int(i), t) for i, t in zip(idx, texts) if isinstance(t, str) and t.strip())
    per_token2 = 4 * max(1, info.num_layers) * max(1, info.num_heads)
    pool = max(max(1, pool_batches) * batch_size, POOL_MIN_SENTENCES)
    flags = None if full else _TokenFlags(loaded.tokenizer)
    while chunk := list(islice(items, pool)):
        encoded = _encode_pool(loaded, chunk, limit, full=full, flags=flags)
        del chunk
        encoded.sort(key=lambda e: (len(e.ids), e.index))
        for batch in _batches(encoded, batch_size, per_token2):
            yield batch, _padded(loaded, batch, _forward(loaded, batch, half))


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
    limit = effective_max_tokens(loaded.info, loaded.tokenizer, max_tokens)
    for batch, padded in _passes(loaded, texts, batch_size, limit, indices, half, pool_batches, full=True):
        records = _records(loaded, batch, padded, limit)
        del padded  # the records hold copies of their own blocks
        yield records


def iter_padded(loaded: LoadedModel, texts: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE,
                max_tokens: int | None = None, *, indices: Sequence[int] | None = None, half: bool = False,
                pool_batches: int = POOL_BATCHES) -> Iterator[PaddedBatch]:
    """`iter_batches` for the statistics (`core.corpus.aggregate.CorpusAggregate.add`): the same
    forward passes, each one `PaddedBatch` instead of per-sentence copies and token strings."""
    limit = effective_max_tokens(loaded.info, loaded.tokenizer, max_tokens)
    for _, padded in _passes(loaded, texts, batch_size, limit, indices, half, pool_batches, full=False):
        yield padded
        del padded  # not held while the next batch's attention is made

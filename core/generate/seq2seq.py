"""Encoder-decoder models (MarianMT, T5): loading, and the attention of a source and a target.

Three kinds of attention, one eager forward pass with the target given to the decoder (teacher
forcing): encoder self-attention [layers, heads, S, S] over the source, decoder self-attention
[layers, heads, T, T] over the target (causal), and cross-attention [layers, heads, T, S]: each
target position's attention over the source tokens (rows sum to 1).

The decoder's tokens are the decoder's INPUTS: the start token, then the target's tokens up to
and including the end-of-sequence token. Row j is the decoder state that has read tokens 0..j
and predicts token j + 1. A typed target is tokenized with `tokenizer(text_target=...)`
(transformers 5 has no `as_target_tokenizer`); a generated one is the model's greedy output.

Nothing is stored on the shared model; every forward pass runs under `Seq2SeqModel.lock`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from core.attention.extract import cpu_threads_for
from core.errors import EmptyTextError, ModelUnavailableError
from core.generate.errors import NotEncoderDecoderError, TargetTooLongError
from core.models.availability import Availability, check_encoder_decoder_availability, offline_mode
from core.models.loading import pick_device, quiet_transformers
from core.models.tokens import display_tokens

MAX_TARGET_TOKENS = 128  # a generated target stops here (bounded work per request)
MAX_SOURCE_TOKENS = 256


@dataclass(frozen=True)
class Seq2SeqInfo:
    model_id: str
    display_name: str
    model_type: str  # "marian", "t5"
    encoder_layers: int
    decoder_layers: int
    num_heads: int
    max_positions: int
    decoder_start_id: int
    device: str


@dataclass
class Seq2SeqModel:
    """Tokenizer + encoder-decoder model with eager attention, eval mode. Shared; never mutate;
    hold `lock` around tokenize + forward."""

    info: Seq2SeqInfo
    tokenizer: Any  # fast (T5) or SentencePiece-backed (Marian): offsets come from `side_offsets`
    model: Any  # AutoModelForSeq2SeqLM
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    load_seconds: float = 0.0


@dataclass(frozen=True, eq=False)  # holds arrays: compared by identity
class Side:
    """One side's tokens: the source text, or the target as the decoder reads it."""

    text: str
    token_ids: tuple[int, ...]
    tokens: tuple[str, ...]  # the tokenizer's pieces
    labels: tuple[str, ...]  # readable labels (core.models.tokens)
    offsets: tuple[tuple[int, int] | None, ...]  # character spans in `text`; None for specials
    special_mask: np.ndarray  # bool [n], read-only


@dataclass(frozen=True, eq=False)  # holds arrays: compared by identity
class Seq2SeqResult:
    """Frozen, read-only: shared by every session."""

    info: Seq2SeqInfo
    source: Side
    target: Side
    target_generated: bool  # True: the model's greedy output; False: typed
    encoder_attention: np.ndarray  # [enc layers, heads, S, S] float32
    decoder_attention: np.ndarray  # [dec layers, heads, T, T] float32, causal
    cross_attention: np.ndarray  # [dec layers, heads, T, S] float32: target rows over source keys


def _read_only(a: np.ndarray, dtype: Any = np.float32) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=dtype)
    a.setflags(write=False)
    return a


def _int(cfg: Any, *names: str) -> int:
    for name in names:
        value = getattr(cfg, name, None)
        if value:
            return int(value)
    return 0


def load_seq2seq_from_source(source: str, *, model_id: str | None = None, display_name: str | None = None,
                             device: str | None = None, local_only: bool = False) -> Seq2SeqModel:
    """AutoModelForSeq2SeqLM with eager attention (sdpa returns no weights), eval, no remote code."""
    quiet_transformers()
    from transformers import AutoConfig, AutoModelForSeq2SeqLM, AutoTokenizer

    start = time.perf_counter()
    kwargs: dict[str, Any] = {"trust_remote_code": False}
    if local_only or offline_mode():
        kwargs["local_files_only"] = True
    mid = model_id or source
    config = AutoConfig.from_pretrained(source, **kwargs)
    if not getattr(config, "is_encoder_decoder", False):
        raise NotEncoderDecoderError(mid)
    tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
    model = AutoModelForSeq2SeqLM.from_pretrained(source, attn_implementation="eager", **kwargs)
    dev = pick_device(device)
    model.to(dev)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    cfg = model.config
    start_id = getattr(cfg, "decoder_start_token_id", None)
    if start_id is None:
        start_id = cfg.pad_token_id
    enc_layers = _int(cfg, "encoder_layers", "num_layers")
    max_pos = _int(cfg, "max_position_embeddings", "n_positions") or 512
    tok_max = getattr(tokenizer, "model_max_length", None)
    if isinstance(tok_max, int) and 0 < tok_max < max_pos:
        max_pos = tok_max
    info = Seq2SeqInfo(
        model_id=mid, display_name=display_name or mid, model_type=str(getattr(cfg, "model_type", "unknown")),
        encoder_layers=enc_layers, decoder_layers=_int(cfg, "decoder_layers", "num_decoder_layers") or enc_layers,
        num_heads=_int(cfg, "encoder_attention_heads", "num_heads", "num_attention_heads"),
        max_positions=max_pos, decoder_start_id=int(start_id), device=str(dev),
    )
    return Seq2SeqModel(info=info, tokenizer=tokenizer, model=model, load_seconds=time.perf_counter() - start)


def load_seq2seq(model_id: str, *, device: str | None = None) -> Seq2SeqModel:
    """A registered encoder-decoder model. Raises UnknownModelError, NotEncoderDecoderError or
    ModelUnavailableError (fast: availability is decided before any download)."""
    status = check_encoder_decoder_availability(model_id)
    if not status.usable:
        raise ModelUnavailableError(model_id, status.reason, [])
    spec = status.spec
    try:
        return load_seq2seq_from_source(spec.source, model_id=spec.model_id, display_name=spec.display_name,
                                        device=device, local_only=status.availability is Availability.READY)
    except (ModelUnavailableError, NotEncoderDecoderError):
        raise
    except Exception as exc:  # noqa: BLE001 - any loader failure becomes one clear message
        raise ModelUnavailableError(model_id, f"loading failed ({type(exc).__name__}: {str(exc)[:200]})",
                                    []) from exc


# --------------------------------------------------------------------------------------------
# tokens and offsets


def piece_offsets(text: str, pieces: Sequence[str], special: Sequence[bool]) -> list[tuple[int, int] | None]:
    """Character spans of SentencePiece / byte-level pieces found in order in `text` (for
    tokenizers without an offset mapping, such as Marian's). A piece that cannot be found right
    after the previous one (only whitespace between) gets None."""
    out: list[tuple[int, int] | None] = []
    cursor = 0
    for piece, sp in zip(pieces, special):
        body = piece.replace("▁", " ").replace("Ġ", " ").lstrip(" ")
        if sp or not body:
            out.append(None)
            continue
        at = text.find(body, cursor)
        if at < 0 or text[cursor:at].strip():
            out.append(None)
            continue
        out.append((at, at + len(body)))
        cursor = at + len(body)
    return out


def _side(tokenizer: Any, text: str, ids: Sequence[int], offsets: Sequence[Any] | None) -> Side:
    ids = [int(i) for i in ids]
    pieces = list(tokenizer.convert_ids_to_tokens(ids))
    special_ids = set(getattr(tokenizer, "all_special_ids", []) or [])
    special = [i in special_ids for i in ids]
    if offsets is None:
        spans = piece_offsets(text, pieces, special)
    else:
        # a lone space marker has no characters of its own (fast tokenizers give it the next
        # character's span); piece_offsets gives it None too
        spans = [None if sp or o is None or o[1] <= o[0] or not p.strip("▁Ġ") else (int(o[0]), int(o[1]))
                 for o, sp, p in zip(offsets, special, pieces)]
    word_ids: list[int | None] = []
    w = -1
    for i, piece in enumerate(pieces):
        if special[i]:
            word_ids.append(None)
            continue
        if not word_ids or word_ids[-1] is None or piece.startswith(("▁", "Ġ")):
            w += 1
        word_ids.append(w)
    labels = display_tokens(tokenizer, pieces, special, word_ids)
    return Side(text=text, token_ids=tuple(ids), tokens=tuple(pieces), labels=tuple(labels),
                offsets=tuple(spans), special_mask=_read_only(np.array(special, dtype=bool), bool))


def _encode(tokenizer: Any, text: str, *, target: bool) -> tuple[list[int], list[Any] | None]:
    key = "text_target" if target else "text"
    fast = bool(getattr(tokenizer, "is_fast", False))
    enc = tokenizer(**{key: text}, return_offsets_mapping=fast) if fast else tokenizer(**{key: text})
    return list(enc["input_ids"]), (list(enc["offset_mapping"]) if fast else None)


# --------------------------------------------------------------------------------------------
# the forward pass


def _check_length(side: str, n: int, limit: int) -> None:
    if n > limit:
        raise TargetTooLongError(side, n, limit)


def run_seq2seq(loaded: Seq2SeqModel, source: str, target: str | None = None) -> Seq2SeqResult:
    """The three attentions of `source` -> `target`; `target` None or blank: the model's greedy
    translation (at most MAX_TARGET_TOKENS tokens)."""
    import torch

    if not isinstance(source, str) or not source.strip():
        raise EmptyTextError()
    tok, model, info = loaded.tokenizer, loaded.model, loaded.info
    limit = min(info.max_positions, MAX_SOURCE_TOKENS)
    device = next(model.parameters()).device
    generated = target is None or not str(target).strip()
    with loaded.lock, torch.inference_mode():
        src_ids, src_offsets = _encode(tok, source, target=False)
        _check_length("source", len(src_ids), limit)
        x = torch.tensor([src_ids], dtype=torch.long, device=device)
        if generated:  # one token a pass: one thread (core.attention.extract.cpu_threads_for)
            with cpu_threads_for(1):
                out_ids = model.generate(input_ids=x, attention_mask=torch.ones_like(x), do_sample=False,
                                         num_beams=1, max_new_tokens=min(MAX_TARGET_TOKENS, info.max_positions - 1))
            dec_ids = [int(i) for i in out_ids[0].tolist()]
            if dec_ids[0] != info.decoder_start_id:
                dec_ids = [info.decoder_start_id] + dec_ids
            pad = getattr(tok, "pad_token_id", None)
            while len(dec_ids) > 1 and pad is not None and dec_ids[-1] == pad and pad != info.decoder_start_id:
                dec_ids.pop()
            target_text = tok.decode(dec_ids[1:], skip_special_tokens=True)
            tgt_offsets = None
        else:
            target_text = str(target)
            tgt_ids, tgt_offsets = _encode(tok, target_text, target=True)
            _check_length("target", len(tgt_ids) + 1, min(info.max_positions, MAX_TARGET_TOKENS + 1))
            dec_ids = [info.decoder_start_id] + tgt_ids
            if tgt_offsets is not None:
                tgt_offsets = [None] + tgt_offsets
        y = torch.tensor([dec_ids], dtype=torch.long, device=device)
        with cpu_threads_for(len(src_ids) + len(dec_ids)):
            out = model(input_ids=x, attention_mask=torch.ones_like(x), decoder_input_ids=y,
                        output_attentions=True, use_cache=False)
    enc = torch.stack([a[0] for a in out.encoder_attentions]).float().cpu().numpy()
    dec = torch.stack([a[0] for a in out.decoder_attentions]).float().cpu().numpy()
    cross = torch.stack([a[0] for a in out.cross_attentions]).float().cpu().numpy()
    with loaded.lock:
        src_side = _side(tok, source, src_ids, src_offsets)
        tgt_side = _side(tok, target_text, dec_ids, tgt_offsets)
    return Seq2SeqResult(info=info, source=src_side, target=tgt_side, target_generated=generated,
                         encoder_attention=_read_only(enc), decoder_attention=_read_only(dec),
                         cross_attention=_read_only(cross))

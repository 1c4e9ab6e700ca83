"""Loading a registered model: tokenizer + eager-attention model in eval mode, on a device.

A `LoadedModel` is shared by every session of the app: callers must hold `loaded.lock`
around tokenize + forward and must never mutate it.

When the checkpoint has a language-model head (its config's `architectures` name a
`...ForMaskedLM`, `...LMHeadModel` or `...ForCausalLM` class), that head model is loaded and
`LoadedModel.model` is its encoder (`lm.base_model`): one copy of the weights serves the
attention views and the predictions. A sentence-transformers folder (a `1_Pooling` config
with mean pooling) has kind "embedding"; anything else has no output head ("none").
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from core.errors import ModelUnavailableError
from core.models.availability import Availability, all_statuses, check_availability, offline_mode
from core.models.registry import CAUSAL_MODEL_TYPES, ENV_DEVICE

@dataclass(frozen=True)
class ModelInfo:
    """The facts the tutorial prints, plus a few more."""

    model_id: str
    display_name: str
    model_type: str  # config.model_type, e.g. "bert", "distilbert", "gpt2"
    num_layers: int
    num_heads: int
    hidden_size: int
    vocab_size: int
    max_positions: int
    num_parameters: int
    causal: bool
    device: str
    source: str


OutputKind = Literal["masked", "causal", "embedding", "none"]


@dataclass
class LoadedModel:
    """A tokenizer + eager-attention model in eval mode. Shared; never mutate."""

    info: ModelInfo
    tokenizer: Any  # a fast tokenizer (PreTrainedTokenizerFast)
    model: Any  # transformers PreTrainedModel (the encoder), eval mode, attn_implementation="eager"
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    load_seconds: float = 0.0
    # The model with its language-model head, whose `base_model` IS `model` (same parameters);
    # None when the checkpoint has no such head.
    lm: Any = None
    # "masked" (masked-LM head), "causal" (next-token head), "embedding" (a sentence-embedding
    # model: mean pooling, see core.explain.outputs), "none" (no output this app can read).
    kind: OutputKind = "none"


_MASKED_SUFFIXES = ("ForMaskedLM",)
_CAUSAL_SUFFIXES = ("LMHeadModel", "ForCausalLM")


def head_kind(architectures: list[str] | None) -> OutputKind:
    """"masked" or "causal" when the config's architectures name a language-model head class."""
    for name in architectures or ():
        if name.endswith(_MASKED_SUFFIXES):
            return "masked"
        if name.endswith(_CAUSAL_SUFFIXES):
            return "causal"
    return "none"


def is_mean_pooling_folder(source: str) -> bool:
    """A local sentence-transformers folder whose pooling is the mean over tokens."""
    import json

    pooling = Path(source) / "1_Pooling" / "config.json"
    try:
        return bool(json.loads(pooling.read_text(encoding="utf-8")).get("pooling_mode_mean_tokens"))
    except (OSError, ValueError, AttributeError):
        return False



def pick_device(override: str | None = None) -> str:
    """CUDA, then Apple MPS, then CPU; `override` or ATTENTION_DASHBOARD_DEVICE wins."""
    import torch

    choice = (override or os.environ.get(ENV_DEVICE, "")).strip().lower()
    if choice:
        if choice.startswith("cuda") and not torch.cuda.is_available():
            return "cpu"
        if choice == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            return "cpu"
        return choice
    if torch.cuda.is_available():
        return "cuda"
    if hasattr(torch.backends, "mps") and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def quiet_transformers() -> None:
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import transformers

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()


def load_from_source(source: str, *, model_id: str | None = None, display_name: str | None = None,
                     device: str | None = None, local_only: bool = False) -> LoadedModel:
    """Load tokenizer + model with eager attention (sdpa returns no weights), eval mode."""
    quiet_transformers()
    import torch
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer

    start = time.perf_counter()
    kwargs: dict[str, Any] = {"trust_remote_code": False}
    if local_only or offline_mode():
        kwargs["local_files_only"] = True
    tokenizer = AutoTokenizer.from_pretrained(source, use_fast=True, **kwargs)
    if not getattr(tokenizer, "is_fast", False):
        raise ModelUnavailableError(model_id or source, "it has no fast tokenizer (word ids need one)", [])
    config = AutoConfig.from_pretrained(source, **kwargs)
    kind = head_kind(getattr(config, "architectures", None))
    lm = None
    if kind != "none":
        # the head model holds the encoder: no second copy of the weights
        head_class = AutoModelForMaskedLM if kind == "masked" else AutoModelForCausalLM
        lm = head_class.from_pretrained(source, attn_implementation="eager", **kwargs)
        model = lm.base_model
    else:
        model = AutoModel.from_pretrained(source, attn_implementation="eager", **kwargs)
        if is_mean_pooling_folder(source):
            kind = "embedding"
    dev = pick_device(device)
    top = lm if lm is not None else model
    top.to(dev)
    top.eval()
    for p in top.parameters():
        p.requires_grad_(False)
    cfg = model.config
    model_type = str(getattr(cfg, "model_type", "unknown"))
    causal = bool(getattr(cfg, "is_decoder", False)) or model_type in CAUSAL_MODEL_TYPES
    max_pos = int(getattr(cfg, "max_position_embeddings", 0) or getattr(cfg, "n_positions", 0) or 512)
    if model_type in {"roberta", "xlm-roberta", "camembert"}:
        max_pos -= 2  # RoBERTa-style position ids start at padding_idx + 1
    info = ModelInfo(
        model_id=model_id or source,
        display_name=display_name or (model_id or source),
        model_type=model_type,
        num_layers=int(getattr(cfg, "num_hidden_layers", 0) or getattr(cfg, "n_layers", 0) or getattr(cfg, "n_layer", 0)),
        num_heads=int(getattr(cfg, "num_attention_heads", 0) or getattr(cfg, "n_heads", 0) or getattr(cfg, "n_head", 0)),
        hidden_size=int(getattr(cfg, "hidden_size", 0) or getattr(cfg, "dim", 0) or getattr(cfg, "n_embd", 0)),
        vocab_size=int(getattr(cfg, "vocab_size", 0)),
        max_positions=max_pos,
        num_parameters=int(sum(p.numel() for p in model.parameters())),
        causal=causal,
        device=str(dev),
        source=source,
    )
    del torch
    return LoadedModel(info=info, tokenizer=tokenizer, model=model, load_seconds=time.perf_counter() - start,
                       lm=lm, kind=kind)


def load_model(model_id: str, *, device: str | None = None) -> LoadedModel:
    """Load a registered model. Raises UnknownModelError or ModelUnavailableError (fast)."""
    status = check_availability(model_id)
    if not status.usable:
        available = [s.spec.model_id for s in all_statuses() if s.usable]
        raise ModelUnavailableError(model_id, status.reason, available)
    spec = status.spec
    try:
        return load_from_source(spec.source, model_id=spec.model_id, display_name=spec.display_name,
                                device=device, local_only=status.availability is Availability.READY)
    except ModelUnavailableError:
        raise
    except Exception as exc:  # noqa: BLE001 - any loader failure becomes one clear message
        available = [s.spec.model_id for s in all_statuses() if s.usable and s.spec.model_id != model_id]
        raise ModelUnavailableError(model_id, f"loading failed ({type(exc).__name__}: {str(exc)[:200]})",
                                    available) from exc

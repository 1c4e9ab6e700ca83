"""A model's layer x head grid from its config.json alone (no torch import, no download).

The sidebar bounds its layer and head pickers before the model has loaded, so a shared link's
layer/head can be validated while the model still loads in the background.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from core.models.registry import resolve_spec

# Published shapes of the registry's Hub models, used when no config.json is on this machine.
KNOWN_GRIDS: dict[str, tuple[int, int]] = {
    "distilbert-base-uncased": (6, 12),
    "distilbert-base-uncased-finetuned-sst-2-english": (6, 12),
    "bert-base-uncased": (12, 12),
    "roberta-base": (12, 12),
    "gpt2": (12, 12),
    "distilgpt2": (6, 12),
    "bert-base-multilingual-cased": (12, 12),
    "xlm-roberta-base": (12, 12),
}


def _grid_from_config(cfg: dict) -> tuple[int, int] | None:
    layers = cfg.get("num_hidden_layers") or cfg.get("n_layers") or cfg.get("n_layer")
    heads = cfg.get("num_attention_heads") or cfg.get("n_heads") or cfg.get("n_head")
    if isinstance(layers, int) and isinstance(heads, int) and layers > 0 and heads > 0:
        return layers, heads
    return None


def config_path(model_id: str) -> Path | None:
    """The model's config.json on this machine (local folder or Hugging Face cache), or None."""
    spec = resolve_spec(model_id)
    if spec.is_local:
        path = Path(spec.source) / "config.json"
        return path if path.is_file() else None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    found = try_to_load_from_cache(spec.source, "config.json")
    return Path(found) if isinstance(found, str) else None


@functools.lru_cache(maxsize=64)
def _grid_of_file(path: str, mtime_ns: int, size: int) -> tuple[int, int] | None:
    """The grid of one version of a config file (its path, mtime and size are the key): the
    sidebar asks on every run."""
    try:
        return _grid_from_config(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def grid_shape(model_id: str) -> tuple[int, int] | None:
    """(layers, heads) for a registered model, or None when it cannot be known yet."""
    path = config_path(model_id)
    if path is not None:
        try:
            info = path.stat()
            grid = _grid_of_file(str(path), info.st_mtime_ns, info.st_size)
        except OSError:
            grid = None
        if grid is not None:
            return grid
    return KNOWN_GRIDS.get(model_id)

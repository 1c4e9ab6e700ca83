"""The one private forward pass: the shared model run with per-head edits for one call only.

transformers 5 has no `head_mask`, so heads are edited where their outputs are still apart: the
INPUT of each layer's attention output projection is the concatenation of the heads' context
vectors z = [z_0 | z_1 | ... | z_{H-1}] (head h owns columns h*d_h..(h+1)*d_h). A forward
pre-hook on that projection rewrites z per head:

    z_h <- gate[l, h] * z_h                                 (Michel et al. 2019's gate xi)
    z_h <- keep[b, l, h] * z_h + (1 - keep[b, l, h]) * fill[l, h]   (ablation, per batch row b)

with fill = 0 (zero ablation) or the head's mean context (mean ablation). The hooks are
registered inside `private_forward`, which holds `loaded.lock` (so no other session's forward
pass runs through them) and removes them in `finally`; each hook also acts only for the thread
that installed it. The shared model is therefore never left changed.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from core.attention.extract import cpu_threads_for
from core.explain.errors import UnsupportedArchitectureError
from core.models.loading import LoadedModel

SUPPORTED_MODEL_TYPES = ("bert", "roberta", "xlm-roberta", "camembert", "distilbert", "gpt2")


def supports(loaded: LoadedModel) -> bool:
    """Whether heads of this architecture can be edited (its output projection is known)."""
    return loaded.info.model_type in SUPPORTED_MODEL_TYPES


def output_projections(loaded: LoadedModel) -> list[Any]:
    """Per layer, the module whose input is the concatenated per-head context (transformers 5.24):
    BERT/RoBERTa/XLM-R: encoder.layer[l].attention.output.dense; DistilBERT:
    transformer.layer[l].attention.out_lin; GPT-2: h[l].attn.c_proj."""
    base, kind = loaded.model, loaded.info.model_type
    if kind in {"bert", "roberta", "xlm-roberta", "camembert"}:
        return [layer.attention.output.dense for layer in base.encoder.layer]
    if kind == "distilbert":
        return [layer.attention.out_lin for layer in base.transformer.layer]
    if kind == "gpt2":
        return [block.attn.c_proj for block in base.h]
    raise UnsupportedArchitectureError(loaded.info.model_id, kind, SUPPORTED_MODEL_TYPES)


@dataclass
class HeadEdit:
    """What one private forward does to the heads (torch tensors owned by that call)."""

    keep: Any = None  # float [B or 1, layers, heads]: 1 keeps head h of layer l in batch row b, 0 ablates it
    fill: Any = None  # float [layers, heads, d_head]: an ablated head's context (None: zeros)
    gate: Any = None  # float [layers, heads]: multiplied into every head's context (may require grad)
    record: list[Any] | None = None  # when a list: each layer's context [B, n, heads, d_head] is appended


def _hook(layer: int, heads: int, edit: HeadEdit, owner: int):
    def pre_hook(module: Any, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
        if threading.get_ident() != owner:
            return None
        x = args[0]
        shape = x.shape
        z = x.reshape(*shape[:-1], heads, shape[-1] // heads)  # [B, n, H, d_h]
        if edit.record is not None:
            edit.record.append(z.detach())
        if edit.gate is not None:
            z = z * edit.gate[layer].to(z.dtype)[:, None]
        if edit.keep is not None:
            keep = edit.keep[:, layer].to(z.dtype)[:, None, :, None]  # [B, 1, H, 1]
            z = z * keep
            if edit.fill is not None:
                z = z + (1 - keep) * edit.fill[layer].to(z.dtype)[None, None]
        if edit.gate is None and edit.keep is None:
            return None
        return (z.reshape(shape), *args[1:])

    return pre_hook


@contextlib.contextmanager
def private_forward(loaded: LoadedModel, edit: HeadEdit | None = None, *, grad: bool = False,
                    work_tokens: int = 1) -> Iterator[None]:
    """Hold the model's lock, install `edit`'s hooks, set torch's threads and grad mode; undo all.

    `work_tokens`: the tokens of one forward pass, every copy of a batch counted; torch threads as
    the app sets them for that many (core.attention.extract.cpu_threads_for: one thread up to 64
    tokens), so a batch of copies large enough to keep two cores busy gets them.
    `grad`: gradients on (even inside inference mode elsewhere), threads chosen the same way; the
    model stays in eval mode and its parameters never require grad.
    """
    import torch

    handles = []
    with loaded.lock, cpu_threads_for(work_tokens):
        try:
            if edit is not None:
                owner = threading.get_ident()
                heads = loaded.info.num_heads
                for layer, module in enumerate(output_projections(loaded)):
                    handles.append(module.register_forward_pre_hook(_hook(layer, heads, edit, owner)))
            if grad:
                with torch.inference_mode(False), torch.enable_grad():
                    yield
            else:
                with torch.inference_mode():
                    yield
        finally:
            for handle in handles:
                handle.remove()


def model_inputs(loaded: LoadedModel, input_ids: Any, token_type_ids: Any = None) -> dict[str, Any]:
    """The keyword inputs of a forward pass for a batch of equal-length rows (no padding)."""
    import torch

    ids = input_ids.to(loaded.model.device)
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    if token_type_ids is not None:
        inputs["token_type_ids"] = token_type_ids.to(loaded.model.device).expand_as(ids)
    return inputs


def run(loaded: LoadedModel, inputs: dict[str, Any], *, attentions: bool = False, hidden: bool = False) -> Any:
    """One forward through the head model when there is one (logits), else the encoder.

    Call inside `private_forward`. Returns the transformers output (logits or last_hidden_state,
    attentions / hidden_states when asked)."""
    module = loaded.lm if loaded.lm is not None else loaded.model
    return module(**inputs, output_attentions=attentions, output_hidden_states=hidden, return_dict=True)

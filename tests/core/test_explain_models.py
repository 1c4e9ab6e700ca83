"""core.models.loading with output heads: the head model shares the encoder's weights, the kind is
read from the checkpoint, and the encoder (`LoadedModel.model`) is what extraction used before."""

from __future__ import annotations

import numpy as np
import pytest

from core.attention.extract import extract
from core.models.loading import head_kind
from tests.tiny_models import with_heads_once


@pytest.fixture(scope="module")
def lm_models():
    return with_heads_once()


@pytest.mark.parametrize("family,kind", [("distilbert", "masked"), ("bert", "masked"), ("roberta", "masked"),
                                         ("gpt2", "causal")])
def test_head_model_shares_the_encoder_parameters(lm_models, family, kind):
    loaded = lm_models[family]
    assert loaded.kind == kind
    assert loaded.model is loaded.lm.base_model
    head_params = {p.data_ptr() for p in loaded.lm.parameters()}
    assert all(p.data_ptr() in head_params for p in loaded.model.parameters())
    # the output embedding is the input embedding (tied): no second copy of the vocabulary matrix
    assert loaded.lm.get_output_embeddings().weight.data_ptr() == loaded.model.get_input_embeddings().weight.data_ptr()
    assert not loaded.lm.training and not any(p.requires_grad for p in loaded.lm.parameters())


def test_models_without_a_head_keep_the_old_path(tiny_models, bundled_model):
    for loaded in tiny_models.values():
        assert loaded.lm is None and loaded.kind == "none"
    assert bundled_model.lm is None and bundled_model.kind == "embedding"


def test_extraction_through_the_head_model_equals_the_bare_encoder(lm_models, tiny_models_dir):
    """Same weights loaded as AutoModel (no head) and via the head model: identical attention."""
    from transformers import AutoModel

    loaded = lm_models["bert"]
    bare = AutoModel.from_pretrained(loaded.info.source, attn_implementation="eager").eval()
    text = "The cat sat on the mat."
    result = extract(loaded, text)
    enc = loaded.tokenizer(text, return_tensors="pt")
    import torch

    with torch.inference_mode():
        atts = bare(**enc, output_attentions=True).attentions
    np.testing.assert_allclose(result.attention, torch.stack([a[0] for a in atts]).numpy(), atol=1e-6)


def test_head_kind_from_architectures():
    assert head_kind(["BertForMaskedLM"]) == "masked"
    assert head_kind(["XLMRobertaForMaskedLM"]) == "masked"
    assert head_kind(["GPT2LMHeadModel"]) == "causal"
    assert head_kind(["LlamaForCausalLM"]) == "causal"
    assert head_kind(["DistilBertForSequenceClassification"]) == "none"
    assert head_kind(None) == "none"

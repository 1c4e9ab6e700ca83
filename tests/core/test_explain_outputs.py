"""core.explain.outputs: masked fills, next-token probabilities, the sentence embedding, and the
sentences bad input gets. Formulas: docs/methods.md, section "Outputs, interventions and attribution"."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import EmptyTextError
from core.explain.errors import NoOutputHeadError, OutOfRangeError, SpecialTokenError
from core.explain.outputs import Target, next_token_distribution, predict, resolve
from tests.tiny_models import with_heads_once

TEXT = "The cat that I love sat on the mat."


@pytest.fixture(scope="module")
def lm_models():
    return with_heads_once()


def test_masked_fills_are_the_lm_s_own_softmax_with_the_original_rank(lm_models):
    import torch

    loaded = lm_models["bert"]
    out = predict(loaded, TEXT, Target(word=2), top_k=5)  # "cat"
    p = out.problem
    assert p.sentence.words[2] == "cat" and p.masked_positions == p.sentence.word_tokens[2]
    assert p.input_ids[p.focus] == loaded.tokenizer.mask_token_id
    with torch.inference_mode():
        logits = loaded.lm(input_ids=torch.tensor(p.input_ids)[None]).logits[0, p.focus]
    probs = torch.softmax(logits.double(), -1).numpy()
    pred = out.predictions[0]
    np.testing.assert_allclose(pred.probabilities, np.sort(probs)[::-1][:5], rtol=1e-4)
    target = loaded.tokenizer.convert_tokens_to_ids("cat")
    assert pred.target_id == target
    assert pred.target_rank == int((probs > probs[target]).sum()) + 1
    assert pred.target_probability == pytest.approx(probs[target], rel=1e-4)


def test_next_token_probabilities_equal_the_lm_s_own_logits(lm_models):
    import torch

    loaded = lm_models["gpt2"]
    ids = loaded.tokenizer(TEXT, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        logits = loaded.lm(input_ids=ids).logits[0]
    for position in (0, 3, ids.shape[1] - 1):
        got = next_token_distribution(loaded, TEXT, position)
        np.testing.assert_allclose(got, torch.softmax(logits[position].double(), -1).numpy(), atol=1e-6)
    out = predict(loaded, TEXT, Target(position=3))
    assert out.predictions[0].target_id == int(ids[0, 4])


def test_masked_language_models_of_every_family_predict(lm_models):
    for family in ("distilbert", "roberta"):
        out = predict(lm_models[family], TEXT)
        assert out.kind == "masked"
        assert out.problem.sentence.words[out.problem.target_word] == "mat"  # last word, not "."
        assert out.predictions[0].target_rank >= 1
        assert np.all(np.diff(out.predictions[0].probabilities) <= 0)


def test_embedding_is_mean_pooling_then_l2_as_sentence_transformers_computes_it(bundled_model):
    import torch
    from transformers import AutoModel, AutoTokenizer

    out = predict(bundled_model, TEXT, Target(compare_to="A dog slept on the rug."))
    assert out.kind == "embedding" and out.predictions == ()
    # the reference formula, on a fresh copy of the model
    path = bundled_model.info.source
    tok, model = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()
    enc = tok([TEXT, "A dog slept on the rug."], padding=True, return_tensors="pt")
    with torch.inference_mode():
        h = model(**enc).last_hidden_state
    m = enc["attention_mask"][..., None].float()
    ref = torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=-1).numpy()
    np.testing.assert_allclose(out.embedding, ref[0], atol=1e-5)
    assert out.cosine == pytest.approx(float(ref[0] @ ref[1]), abs=1e-5)
    st = pytest.importorskip("sentence_transformers")
    encoded = st.SentenceTransformer(path, device="cpu").encode([TEXT, "A dog slept on the rug."])
    np.testing.assert_allclose(out.embedding, encoded[0], atol=1e-5)


def test_every_kind_says_what_its_output_is(lm_models, bundled_model, tiny_bert):
    from core.explain.outputs import what_it_is_for

    assert "cosine" in what_it_is_for(bundled_model) and "no word-prediction head" in what_it_is_for(bundled_model)
    assert "[MASK]" in what_it_is_for(lm_models["bert"]) and "next one" in what_it_is_for(lm_models["gpt2"])
    assert "only the encoder" in what_it_is_for(tiny_bert)


def test_results_are_read_only(lm_models):
    out = predict(lm_models["bert"], TEXT)
    for arr in (out.problem.input_ids, out.problem.attention, out.problem.log_probs, out.predictions[0].probabilities):
        with pytest.raises(ValueError):
            arr[0] = 0


def test_bad_input_gets_a_sentence(lm_models, tiny_bert):
    with pytest.raises(NoOutputHeadError) as err:
        predict(tiny_bert, TEXT)
    assert "has no output head" in str(err.value) and "tiny-bert" in str(err.value)
    with pytest.raises(NoOutputHeadError):
        next_token_distribution(lm_models["bert"], TEXT, 1)
    with pytest.raises(OutOfRangeError) as err:
        resolve(lm_models["bert"], TEXT, Target(word=99))
    assert "There is no word 99" in str(err.value)
    with pytest.raises(OutOfRangeError):
        resolve(lm_models["gpt2"], TEXT, Target(position=-1))
    with pytest.raises(SpecialTokenError):
        resolve(lm_models["bert"], TEXT, Target(word=0))  # [CLS]
    with pytest.raises(EmptyTextError):
        resolve(lm_models["bert"], "   ")
    assert resolve(lm_models["bert"], "!").sentence.words[1] == "!"  # only punctuation: it is the target

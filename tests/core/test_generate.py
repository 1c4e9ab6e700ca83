"""core.generate: settings, sampling, KV-cached steps (against generate() and a full forward), replay."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import AttentionDashboardError, EmptyTextError
from core.generate import lenses, sampling
from core.generate.errors import CannotGenerateError, PromptTooLongError, TooManyStepsError
from core.generate.settings import MAX_STEPS, GenerationLink, Settings
from core.generate.steps import extend, generate, replay, start
from tests.tiny_models import with_heads_once

PROMPT = "The cat sat on the"


@pytest.fixture(scope="module")
def lm():
    return with_heads_once()["gpt2"]


# --- settings --------------------------------------------------------------------------------

def test_settings_clamp_to_transformer_explainer_ranges():
    s = Settings.make("top_k", temperature=50, k=500, seed=-3)
    assert (s.temperature, s.k, s.seed) == (10.0, 50, 0)
    s = Settings.make("top_p", temperature=0.01, p=7)
    assert (s.temperature, s.p) == (0.2, 1.0)
    assert Settings() == Settings.make() and Settings().temperature == 0.8 and Settings().k == 5
    assert Settings.make("nonsense").strategy == "greedy"
    assert Settings.make("greedy", temperature=3, k=9, seed=4) == Settings.make("greedy")
    assert Settings.make("top_k", float("nan"), float("inf")).temperature == 0.8


def test_link_round_trip_and_caps():
    s = Settings.make("top_p", temperature=1.25, p=0.85, seed=42)
    link = GenerationLink.make("Once upon a time", s, 12)
    assert GenerationLink.from_params(link.to_params()) == link
    assert "k" not in link.to_params() and "p" in link.to_params()
    hostile = {"prompt": ["x" * 10_000], "strategy": "top_k", "k": "1e9", "temperature": "nan",
               "seed": "abc", "steps": "99999999"}
    got = GenerationLink.from_params(hostile)
    assert got.steps == MAX_STEPS and len(got.prompt) == 2000 and got.settings.k == 50
    assert got.settings.temperature == 0.8 and got.settings.seed == 0
    assert GenerationLink.from_params({}).steps == 0


# --- sampling --------------------------------------------------------------------------------

def test_distributions_closed_form():
    logits = np.log(np.array([0.1, 0.4, 0.2, 0.3]))
    top2 = sampling.distribution(logits, Settings.make("top_k", temperature=1, k=2))
    assert np.allclose(top2, [0, 4 / 7, 0, 3 / 7])
    top_p = sampling.distribution(logits, Settings.make("top_p", temperature=1, p=0.7))
    assert np.allclose(top_p, [0, 0.4 / 0.7, 0, 0.3 / 0.7])  # 0.4 + 0.3 reaches 0.7
    assert np.count_nonzero(sampling.distribution(logits, Settings.make("top_p", temperature=1, p=0.01))) == 1
    hot = sampling.distribution(logits, Settings.make("top_k", temperature=2, k=4))
    expect = np.sqrt([0.1, 0.4, 0.2, 0.3])
    assert np.allclose(hot, expect / expect.sum())
    assert sampling.distribution(logits, Settings.make("greedy")).tolist() == [0, 1, 0, 0]


def test_draw_is_seeded_by_seed_and_step():
    logits = np.zeros(50)
    s = Settings.make("top_k", temperature=1, k=50, seed=7)
    a = [sampling.choose(logits, s, i)[0] for i in range(20)]
    assert a == [sampling.choose(logits, s, i)[0] for i in range(20)]
    assert len(set(a)) > 5  # different steps draw differently
    other = Settings.make("top_k", temperature=1, k=50, seed=8)
    assert a != [sampling.choose(logits, other, i)[0] for i in range(20)]
    # the draw never leaves the kept set
    k3 = Settings.make("top_k", temperature=1, k=3, seed=1)
    ramp = np.arange(50, dtype=float)
    assert {sampling.choose(ramp, k3, i)[0] for i in range(200)} == {47, 48, 49}


# --- steps -----------------------------------------------------------------------------------

def test_greedy_equals_the_models_own_generate(lm):
    import torch

    for prompt in (PROMPT, "Attention heads look at", "Tokyo 東京"):
        gen = generate(lm, prompt, Settings.make("greedy"), 12)
        with torch.inference_mode():
            ref = lm.lm.generate(torch.tensor([list(gen.prompt_ids)]), max_new_tokens=12, do_sample=False,
                                 num_beams=1)[0].tolist()
        assert list(gen.ids) == ref[: len(gen.ids)]
        assert len(gen.ids) == len(ref) or gen.stopped


def test_cached_steps_equal_one_full_forward(lm):
    import torch

    gen = generate(lm, PROMPT, Settings.make("top_k", temperature=1.5, k=10, seed=3), 10)
    ids = list(gen.ids)
    with torch.inference_mode():
        out = lm.lm(torch.tensor([ids]), output_attentions=True)
    full = torch.stack([a[0] for a in out.attentions]).numpy()
    n = gen.steps[-1].query_position + 1
    np.testing.assert_allclose(gen.attention_matrix(), full[:, :, :n, :n], atol=1e-5)
    for step in gen.steps:  # each step's choice came from the full forward's logits at its query
        q = step.query_position
        probs = sampling.softmax(out.logits[0, q].numpy(), 1.5)
        best = [c.token_id for c in step.candidates]
        assert best[:3] == list(np.argsort(-probs, kind="stable")[:3])
        np.testing.assert_allclose([c.prob for c in step.candidates[:3]], np.sort(probs)[::-1][:3], atol=1e-5)
        np.testing.assert_allclose(step.attention.sum(-1), 1.0, atol=1e-5)
        assert step.attention.shape == (gen.num_layers, gen.num_heads, q + 1)


def test_replay_rewind_and_extend_agree(lm):
    s = Settings.make("top_p", temperature=2.0, p=0.95, seed=11)
    a = replay(lm, PROMPT, s, 9)
    assert a.ids == replay(lm, PROMPT, s, 9).ids
    assert extend(lm, a.rewind(4), 5).ids == a.ids
    assert extend(lm, a.rewind(0), 9).ids == a.ids
    one_by_one = start(lm, PROMPT, s)
    for _ in range(9):
        one_by_one = extend(lm, one_by_one, 1)
    assert one_by_one.ids == a.ids and one_by_one.texts == a.texts
    r = a.rewind(3)
    assert r.n_steps == 3 and r.ids == a.ids[: len(a.prompt_ids) + 3] and r.text == a.texts[3]
    assert extend(lm, r, 1).ids == a.ids[: len(r.ids) + 1]
    assert extend(lm, r, 1).ids == extend(lm, r, 1).ids  # the shared cache was not written to
    assert a.text.startswith(PROMPT) and a.generated_text == a.text[len(PROMPT):]
    assert replay(lm, PROMPT, Settings.make("top_p", 2.0, p=0.95, seed=12), 9).ids != a.ids


def test_step_views(lm):
    gen = generate(lm, PROMPT, Settings.make("greedy"), 4)
    step = 3
    q = gen.steps[step].query_position
    assert len(lenses.context_labels(gen, step)) == q + 1
    np.testing.assert_allclose(lenses.head_row(gen, step, 1, 0), gen.steps[step].attention[1, 0])
    np.testing.assert_allclose(lenses.layer_average_row(gen, step, 0).sum(), 1, atol=1e-5)
    roll = lenses.rollout_row(gen, step)
    assert roll.shape == (q + 1,) and abs(roll.sum() - 1) < 1e-5 and (roll >= 0).all()
    assert gen.steps[0].chosen_prob == 1.0 and len(gen.steps[0].candidates) == 10


def test_refusals_are_typed_sentences(lm):
    with pytest.raises(EmptyTextError):
        generate(lm, "   ", Settings(), 1)
    with pytest.raises(PromptTooLongError) as err:
        generate(lm, "word " * 200, Settings(), 1)
    assert "64" in str(err.value) and isinstance(err.value, AttentionDashboardError)
    with pytest.raises(TooManyStepsError) as err:
        generate(lm, PROMPT, Settings(), MAX_STEPS + 1)
    assert str(MAX_STEPS) in str(err.value)
    masked = with_heads_once()["bert"]
    with pytest.raises(CannotGenerateError) as err:
        generate(masked, PROMPT, Settings(), 1)
    assert "cannot generate" in str(err.value) and "GPT-2" in str(err.value)


def test_generation_stops_at_the_models_length(lm):
    prompt = "word " * 25
    gen = start(lm, prompt, Settings.make("greedy"))
    room = gen.max_positions - len(gen.prompt_ids)
    gen = extend(lm, gen, min(MAX_STEPS, room + 5))
    assert len(gen.ids) <= gen.max_positions and gen.stopped
    assert extend(lm, gen, 1) is gen or extend(lm, gen, 1).ids == gen.ids


def test_sessions_stepping_on_from_one_shared_generation_agree(lm):
    from concurrent.futures import ThreadPoolExecutor

    shared = generate(lm, PROMPT, Settings.make("top_k", temperature=1.2, k=8, seed=5), 3)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: extend(lm, shared, 4).ids, range(8)))
    assert len(set(results)) == 1
    assert results[0] == replay(lm, PROMPT, shared.settings, 7).ids


def test_causal_notices_state_the_steps_own_numbers(lm):
    from core.generate.notices import causal_notices

    gen = generate(lm, PROMPT, Settings.make("greedy"), 3)
    notes = {n.key: n for n in causal_notices(gen, 2, 1, 1)}
    q = gen.steps[2].query_position
    assert notes["keys_seen"].value == q + 1 and f"position {q}" in notes["keys_seen"].text
    assert notes["first_token"].value == pytest.approx(float(gen.steps[2].attention[1, 1, 0]))
    assert notes["previous_token"].value == pytest.approx(float(gen.steps[2].attention[1, 1, q - 1]))
    assert "greedy" in notes["choice"].text and notes["choice"].value == 1.0


def test_only_the_newest_generation_of_a_chain_holds_a_cache(lm):
    gen = start(lm, PROMPT, Settings.make("greedy"))
    chain = [gen]
    for _ in range(4):
        chain.append(extend(lm, chain[-1], 1))
    assert [bool(g._kv) for g in chain] == [False] * 4 + [True]
    # a generation whose cache was taken recomputes it exactly when stepped on again
    assert extend(lm, chain[2], 2).ids == chain[4].ids
    assert chain[4].rewind(2)._kv and extend(lm, chain[4].rewind(2), 2).ids == chain[4].ids

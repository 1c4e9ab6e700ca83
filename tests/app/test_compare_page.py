"""The Compare page (AppTest): A and B chosen independently and kept in the link, word level with
one colour scale, the she/he minimal pair with its difference, texts that do not line up, head
matching; and the sidebar's download box against a local fake Hub (size first, progress, ready)."""

from __future__ import annotations

import json
import time

import pytest

from core.compare.align import MINIMAL_PAIRS
from core.models import availability
from tests.app.apptest_util import charts_of, errors_of, exceptions_of, make_app, texts_of

PAGE = "pages/compare.py"
SHE, HE = MINIMAL_PAIRS[0]


def _notes(at) -> list[str]:
    """What the page says about this comparison: its texts without the "How it is computed"
    expander (the method notes explain, in general, what happens when words do not line up)."""
    method = {str(m.value) for e in at.expander if e.label == "How it is computed" for m in e.markdown}
    return [t for t in texts_of(at) if t not in method]


def _titles(at) -> list[str]:
    out = []
    for chart in charts_of(at):
        spec = json.loads(chart.proto.spec)
        title = spec.get("title")
        out.append(json.dumps(title, ensure_ascii=False) if title is not None else "")
    return out


def _clean(at) -> None:
    assert not exceptions_of(at), exceptions_of(at)
    assert not errors_of(at), errors_of(at)


def test_first_visit_shows_a_b_and_their_difference_and_the_head_matching():
    at = make_app(PAGE)
    _clean(at)
    titles = _titles(at)
    assert any("A · " in t for t in titles) and any("B · " in t for t in titles) and any("B − A" in t for t in titles)
    # only the bundled model is ready here: B is "auto", the next layer of the same model on the same text
    assert at.session_state["cmodel"] == at.session_state["model"]
    assert at.session_state["cl"] == -2 and at.session_state["ch"] == -2
    layer, head = at.session_state["layer"], at.session_state["head"]
    assert any("B · " in t and f"layer {layer + 1} · head {head}" in t for t in titles), titles
    # the same model on the same text: every head matches itself, so no all-zero grid, a sentence instead
    assert not any("closest head in B" in t for t in titles)
    assert any("every head of A is closest to itself" in t for t in texts_of(at))
    params = dict(at.query_params)
    for key in ("cmodel", "cl", "ch", "cavg", "cspec", "cwords", "cmatch", "model", "text", "layer", "head"):
        assert key in params, key
    assert any("Special tokens: hidden" in t for t in texts_of(at))
    assert any("One colour scale" in t for t in texts_of(at))


def test_every_choice_comes_back_from_the_link():
    at = make_app(PAGE, layer=2, head=3, cavg=1, cl=4, ch=-1, cspec="own", cwords="tokenizer", cmatch="six",
                  ctext="The cat sat on the red mat.")
    _clean(at)
    ss = at.session_state
    assert (ss["cavg"], ss["cl"], ss["ch"], ss["cspec"], ss["cwords"], ss["cmatch"]) == (True, 4, -1, "own",
                                                                                          "tokenizer", "six")
    titles = " ".join(_titles(at))
    assert "layer 2 · average of heads" in titles and "layer 4 · average of heads" in titles
    assert any("Special tokens: their own rows" in t for t in texts_of(at))
    assert dict(at.query_params)["ctext"] == "The cat sat on the red mat."


def test_the_she_he_minimal_pair_is_compared_word_by_word():
    at = make_app(PAGE, text=SHE, ctext=HE, layer=2, head=3)
    _clean(at)
    titles = _titles(at)
    # B follows A's layer and head (the same head on the two texts), and the heads are matched
    assert any("B · " in t and "layer 2 · head 3" in t for t in titles), titles
    assert any("closest head in B" in t for t in titles) and any("Layer by layer" in t for t in titles)
    assert any("A minimal pair: 10 words each, 1 differs (she / he)" in t for t in texts_of(at))
    diff = [c for c, t in zip(charts_of(at), _titles(at)) if "B − A" in t]
    assert diff, "no difference chart"
    assert "she / he" in str(diff[0].proto)  # the differing word's row and column
    a_chart = next(c for c, t in zip(charts_of(at), _titles(at)) if "A · " in t)
    assert "she ✱".encode() in a_chart.proto.SerializeToString()  # marked on A's side too
    assert not any("do not line up" in t for t in _notes(at))


def test_texts_that_do_not_line_up_are_shown_side_by_side_without_a_difference():
    at = make_app(PAGE, ctext="A completely different and much longer sentence about dogs.")
    _clean(at)
    assert any("do not line up" in t and "side by side without a difference" in t for t in texts_of(at))
    titles = _titles(at)
    assert any("A · " in t for t in titles) and any("B · " in t for t in titles)
    assert not any("B − A" in t for t in titles)


def test_changing_b_keeps_a_and_a_head_change_keeps_b():
    at = make_app(PAGE)
    at.selectbox(key="ch").set_value(5).run()
    at.selectbox(key="head").set_value(7).run()
    _clean(at)
    assert at.session_state["ch"] == 5 and at.session_state["head"] == 7
    titles = " ".join(_titles(at))
    assert "head 7" in titles and "head 5" in titles


@pytest.fixture
def tiny_ready(monkeypatch, tiny_models, tiny_models_dir):
    """The tiny RoBERTa allowed by configuration: a second ready model of another tokenizer family."""
    from tests.tiny_models import model_folder

    monkeypatch.setenv("ATTENTION_DASHBOARD_MODELS", str(model_folder(tiny_models_dir, "roberta")))
    return str(model_folder(tiny_models_dir, "roberta"))


def test_b_is_another_ready_model_where_one_exists(tiny_ready):
    at = make_app(PAGE)
    _clean(at)
    assert at.session_state["cmodel"] == tiny_ready  # another tokenizer family, same words
    assert any("B − A" in t for t in _titles(at))  # specials hidden: WordPiece and BPE line up
    at.selectbox(key="cspec").set_value("own").run()
    _clean(at)
    assert not any("do not line up" in t for t in _notes(at))  # [CLS]/[SEP] and <s>/</s> line up too


# --- the sidebar's download box, against a local fake Hub --------------------------------------------

def test_a_downloadable_model_shows_its_size_first_then_downloads(tiny_distilbert, tiny_models_dir, monkeypatch,
                                                                  tmp_path):
    import huggingface_hub.constants as hf_constants

    from tests.core.test_download import REPO, FakeHub
    from tests.tiny_models import model_folder

    cache_dir = tmp_path / "hf"
    cache_dir.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache_dir))
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(cache_dir))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    for name in ("HF_HUB_OFFLINE", "ATTENTION_DASHBOARD_OFFLINE"):
        monkeypatch.setenv(name, "0")
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    with FakeHub(model_folder(tiny_models_dir, "distilbert")) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        # whatever reads the library's import-time endpoint talks to the fake Hub too, never a real host
        monkeypatch.setattr(hf_constants, "ENDPOINT", hub.endpoint)
        monkeypatch.setattr(hf_constants, "HUGGINGFACE_CO_URL_TEMPLATE",
                            hub.endpoint + "/{repo_id}/resolve/{revision}/{filename}")
        availability.reset_probe_cache()
        try:
            at = make_app(None, model="all-MiniLM-L6-v2")  # the bundled model: nothing loads from the Hub
            before = at.session_state["model"]
            at.selectbox(key="model").set_value(REPO).run()
            _clean(at)
            assert at.session_state["model"] == before  # not loaded behind the user's back
            shown = " ".join(texts_of(at))
            assert f"{REPO}** is not on this machine" in shown and "MB in 4 files" in shown
            assert not any("/resolve/" in r for r in hub.requests)  # size first: nothing fetched yet
            at.button(key="_start_download").click().run()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not any(b.key == "_use_downloaded" for b in at.button):
                time.sleep(0.3)
                at.run()
            _clean(at)
            from ui import cache as ui_cache

            job = ui_cache.download_job(REPO)
            assert job is not None and job.done, (job and (job.error, job.progress, job.running),
                                                  [t for t in texts_of(at) if "ownload" in t], hub.requests[-5:])
            assert availability._in_hf_cache(REPO)
            at.button(key="_use_downloaded").click().run()
            assert at.session_state["model"] == REPO
        finally:
            availability.reset_probe_cache()
            from ui import cache

            cache.refresh_models()
            cache.forget_download(REPO)

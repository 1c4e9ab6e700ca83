"""Through AppTest: where a student types, the words a class reads (plain words first, formulas
behind "How it is computed", readable table columns), and the title block of downloaded images."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from core.attention.store import ENV_SEED
from core.examples import DEFAULT_TEXT
from core.models.registry import BUNDLED_MODEL_ID
from tests.app.apptest_util import charts_of, errors_of, exceptions_of, make_app, texts_of
from tests.app.test_state import chart_frames
from ui import cache, page_table

TEXT = "The lawyer questioned the witness because she was lying."
FORMULA = re.compile(r"H_i|ln\s*\(|ln m|Σ|∑|\(n²|\bA_ij\b|\bA_i,|·P\)|\bnats\b")


def _chart_titles(at) -> list[str]:
    titles = []
    for chart in charts_of(at):
        spec, _ = chart_frames(chart)
        title = spec.get("title")
        titles.append(title.get("text") if isinstance(title, dict) else str(title))
    return [str(t) for t in titles]


def _main_captions(at) -> list[str]:
    """Captions of the page itself, not those inside its expanders."""
    inside = {id(c.proto) for e in at.main.expander for c in e.caption}
    return [c.value for c in at.main.caption if id(c.proto) not in inside]


# --- item 4: where do I type? -------------------------------------------------------------------

def test_sidebar_puts_the_controls_first_and_lists_every_page_below_them() -> None:
    at = make_app(None)
    kinds = [type(e).__name__ for e in at.sidebar]
    first_link = kinds.index("PageLink")  # ValueError before: Streamlit's own menu sat above the controls
    assert kinds.index("TextArea") < first_link
    assert max(i for i, k in enumerate(kinds) if k == "Selectbox") < first_link  # Layer and Head too
    links = [link.label for link in at.get("page_link")]
    assert links == [row.title for row in page_table.PAGES]


# --- item 5: words ------------------------------------------------------------------------------

@pytest.fixture()
def seeded(monkeypatch):
    """The engine with the shipped seed on: the default text's result is read, "cpu (precomputed)"."""
    monkeypatch.setenv(ENV_SEED, "on")
    cache.get_engine.clear()
    yield
    cache.get_engine.clear()


def test_device_metric_is_short_and_the_caption_says_precomputed(seeded) -> None:
    at = make_app("pages/model_tokens.py", model=BUNDLED_MODEL_ID, text=DEFAULT_TEXT)
    assert not exceptions_of(at)
    device = next(m for m in at.metric if m.label == "Device")
    assert device.value == "cpu", device.value  # was "cpu (precomputed)", cut off at 1400 px
    assert any("computed earlier" in c for c in _main_captions(at)), _main_captions(at)


@pytest.mark.parametrize("lens,expected", [("rollout", "layers 0–4, heads averaged"),
                                           ("average", "layer 4, all heads")])
def test_lenses_over_every_head_do_not_name_one_head(lens: str, expected: str) -> None:
    at = make_app(None, text=TEXT, lens=lens, layer=4, head=7)
    assert not exceptions_of(at)
    (title,) = _chart_titles(at)
    assert expected in title and "head 7" not in title, title


def test_rollout_page_first_shows_the_whole_stack() -> None:
    at = make_app("pages/rollout_flow.py", text=TEXT, layer=0)
    assert not exceptions_of(at) and not errors_of(at)
    assert at.session_state["rf_layer"] == 5  # all-MiniLM-L6-v2: layers 0-5
    assert any("layers 0–5" in t for t in _chart_titles(at)), _chart_titles(at)
    at.selectbox(key="rf_layer").set_value(2).run()
    assert any("layers 0–2" in t for t in _chart_titles(at))
    assert at.session_state["layer"] == 0  # the sidebar's layer is untouched


@pytest.mark.parametrize("lens", ["raw", "average", "rollout", "norm"])
def test_single_head_intro_follows_the_lens(lens: str) -> None:
    at = make_app(None, text=TEXT, lens=lens)
    assert not exceptions_of(at)
    intro = _main_captions(at)[0]
    if lens == "norm":
        assert "sums to 1" not in intro and "not sum to 1" in intro, intro
    else:
        assert "every row sums to 1" in intro, intro


def test_norm_lens_with_hidden_specials_and_renormalising_is_labelled_as_shares() -> None:
    at = make_app(None, text=TEXT, lens="norm", sh_hide=1)
    assert not exceptions_of(at) and not errors_of(at)
    spec, frames = chart_frames(charts_of(at)[0])
    assert "Share of the row (norm-based)" in json.dumps(spec)
    weights = max(frames, key=len).pivot_table(index="query_pos", columns="key_pos", values="weight")
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-3)  # they are shares
    at.session_state["sh_renorm"] = False
    at.run()
    assert "Share of the row" not in json.dumps(chart_frames(charts_of(at)[0])[0])


def test_bertviz_keeps_technical_details_out_of_the_students_view() -> None:
    at = make_app("pages/bertviz_views.py", text=TEXT)
    assert not exceptions_of(at)
    assert not any("MB of HTML" in c for c in _main_captions(at) if c)  # only inside the expander
    (details,) = [e for e in at.expander if e.label == "Technical details"]
    assert any("MB of HTML" in c.value for c in details.caption)


@pytest.mark.parametrize("kind", ["model", "head"])
def test_bertviz_never_says_you_chose_what_the_app_chose(kind: str) -> None:
    # 120 tokens: the model view is over its budget, so the app picks the layers it shows.
    at = make_app("pages/bertviz_views.py", text=" ".join(["word"] * 118), bv_view=kind)
    assert not exceptions_of(at)
    notes = [i.value for i in at.info]
    assert not any("you chose" in n for n in notes), notes
    if kind == "model":
        assert any("could freeze the browser" in n for n in notes), notes


@pytest.mark.parametrize("stat", ["entropy_norm", "distance_ratio", "cls_share", "sep_share", "punct_share",
                                  "prev_score", "next_score", "self_score", "confidence", "sink_ratio"])
def test_head_atlas_explains_in_words_and_keeps_the_formula_behind_a_click(stat: str) -> None:
    at = make_app("pages/head_atlas.py", text=TEXT, stat=stat)
    assert not exceptions_of(at)
    shown = " ".join(_main_captions(at)[:2])
    assert not FORMULA.search(shown), shown
    (how,) = [e for e in at.expander if e.label == "How it is computed"]
    assert any("docs/methods.md#" in c.value for c in how.caption)
    assert how.markdown, "the method note itself is in the expander"


def test_head_atlas_colours_the_sink_by_its_ratio_to_uniform() -> None:
    at = make_app("pages/head_atlas.py", text=TEXT, stat="sink_ratio")
    assert not exceptions_of(at) and at.session_state["stat"] == "sink_ratio"
    assert "first_token_share" not in at.selectbox(key="stat").options
    stats = at.dataframe[0].value
    _, frames = chart_frames(charts_of(at)[0])
    values = max(frames, key=len)
    drawn = sorted(np.round(values[[c for c in values.columns if c not in ("layer", "head")][0]].astype(float), 6))
    assert np.allclose(sorted(np.round(stats["sink_ratio"], 6)), drawn)


def test_pattern_classes_template_score_in_words() -> None:
    at = make_app("pages/pattern_classes.py", text=TEXT)
    assert not exceptions_of(at)
    for caption in _main_captions(at):
        assert "Σ(A·P)" not in caption and "d_max_for_vertical" not in caption, caption
    assert sum(e.label == "How it is computed" for e in at.expander) == 2


def test_tables_show_readable_column_names_and_keep_machine_names_in_the_data() -> None:
    at = make_app("pages/head_atlas.py", text=TEXT)
    table = at.dataframe[0]
    labels = {name: cfg.get("label") for name, cfg in json.loads(table.proto.columns).items() if name != "_index"}
    assert labels["entropy_norm"] == "Normalised entropy" and labels["sink_ratio"].startswith("Attention sink")
    assert all(label and "_" not in label for label in labels.values()), labels
    assert "entropy_norm" in table.value.columns  # the data and its CSV keep the names


def test_token_table_leaves_the_word_of_special_tokens_empty() -> None:
    at = make_app("pages/model_tokens.py", text=TEXT)
    table = at.dataframe[0].value
    special = table["special"].astype(bool)
    assert (table.loc[special, "word"] == "").all()  # was -1 (and a nullable number shows "None")
    assert table.loc[~special, "word"].str.fullmatch(r"\d+").all()


def test_pattern_breakdown_uses_each_tokens_own_uniform_for_causal_models(monkeypatch, tiny_models,
                                                                         tiny_models_dir) -> None:
    from core.analysis import lenses, patterns
    from tests.tiny_models import model_folder

    folder = str(model_folder(tiny_models_dir, "gpt2"))
    monkeypatch.setenv("ATTENTION_DASHBOARD_MODELS", folder)
    # Random tiny weights are close to uniform, 1/(i+1) for token i: at 1.5 × uniform almost nothing
    # passes when uniform is 1/(i+1), while 1/n (the encoder's) would let every early row through.
    at = make_app("pages/pattern_breakdown.py", model=folder, text="the cat sat on the mat because it was warm",
                  pb_t_relative=1.5)
    assert not exceptions_of(at) and not errors_of(at)
    assert any("1/(i+1)" in t for t in texts_of(at) + [at.number_input[0].label]), texts_of(at)
    conns = at.dataframe[0].value
    assert (conns["weight"] > 1.5 / (conns["from"] + 1)).all()
    result = cache.result(folder, "the cat sat on the mat because it was warm")
    average = lenses.head_average(result.attention)
    causal, encoder = (patterns.categorise_connections(average, list(result.display_tokens), result.special_mask,
                                                       1.5, "relative", causal=flag) for flag in (True, False))
    assert len(conns) == len(causal) < len(encoder)


# --- item 7: downloaded images say what they show --------------------------------------------------

def test_download_title_names_model_view_lens_and_text(monkeypatch) -> None:
    from ui import page

    seen: list[list[str]] = []
    original = page.title_lines

    def recording(*args, **kwargs):
        seen.append(original(*args, **kwargs))
        return seen[-1]

    monkeypatch.setattr(page, "title_lines", recording)
    make_app(None, text=TEXT, layer=2, head=5)
    lines = seen[0]
    assert BUNDLED_MODEL_ID in lines[0] and "layer 2, head 5" in lines[0] and "lens: raw attention" in lines[0]
    assert "The lawyer questioned the witness" in lines[1]
    seen.clear()
    make_app(None, text=TEXT, layer=2, head=5, lens="rollout")
    assert "layers 0–2, heads averaged" in seen[0][0] and "lens: attention rollout" in seen[0][0]


def test_titled_chart_renders_its_title_block() -> None:
    from core.render import export, heatmaps
    from core.render.matrix import DrawMatrix
    from core.render.vega import chart_spec

    dm = DrawMatrix.of(np.full((3, 3), 1 / 3, dtype=np.float32), ("the", "cat", "<sat>"))
    chart = heatmaps.heatmap(dm, title="Raw attention · layer 2, head 5")
    lines = [f"{BUNDLED_MODEL_ID} · layer 2, head 5 · lens: raw attention", "“The lawyer & <the> witness…”"]
    svg = export.chart_to_svg(export.titled(chart, lines))
    for text in ("Raw attention · layer 2, head 5", "lens: raw attention", "The lawyer &amp; &lt;the&gt; witness"):
        assert text in svg, text
    assert export.chart_to_png(export.titled(chart, lines)).startswith(b"\x89PNG")
    # no title of its own: the first line becomes the title; lines already in the title are not repeated
    spec = export.titled(chart_spec(chart) | {"title": None}, lines)
    assert spec["title"]["text"] == lines[0] and spec["title"]["subtitle"] == lines[1:]
    assert export.titled(chart, ["Raw attention · layer 2, head 5"])["title"].get("subtitle") is None

"""Shared state: URL round trips, garbage links, caching across reruns, model choice, causal pages."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

import core.attention.engine
from tests.app.apptest_util import charts_of, errors_of, exceptions_of, make_app, texts_of


def chart_frames(element) -> tuple[dict, list]:
    """A vega_lite_chart element's spec and its Arrow datasets as pandas frames."""
    proto = element.proto
    spec = json.loads(proto.spec)
    frames = [pa.ipc.open_stream(ds.data.data).read_all().to_pandas() for ds in proto.datasets]
    if proto.HasField("data") and proto.data.data:
        frames.append(pa.ipc.open_stream(proto.data.data).read_all().to_pandas())
    return spec, frames


def test_url_round_trip_reproduces_the_view() -> None:
    at = make_app(None, text="Dogs chase cats.", layer="3", head="7", lens="average", sh_hide="1", q="2")
    assert not exceptions_of(at)
    ss = at.session_state
    assert (ss["text"], ss["layer"], ss["head"], ss["lens"], ss["sh_hide"], ss["q"]) == \
        ("Dogs chase cats.", 3, 7, "average", True, 2)
    params = dict(at.query_params)
    assert params["text"] == "Dogs chase cats." and params["layer"] == "3" and params["head"] == "7"
    assert params["lens"] == "average" and params["sh_hide"] == "1"
    # The URL the app wrote opens the same view again.
    again = make_app(None, **params)
    assert dict(again.query_params) == params
    assert [t.value for t in again.title] == [t.value for t in at.title]


@pytest.mark.parametrize("params", [
    {"layer": "-1", "head": "999"},
    {"layer": "abc", "head": "1e9", "lens": "<script>"},
    {"model": "../../etc/passwd"},
    {"model": "/etc"},
    {"model": "no-such/model"},
    {"model": "distilbert-base-uncased"},  # known but unavailable offline
    {"text": "x" * 200_000},
    {"q": "-5", "sh_k": "0", "sh_share": "nan", "sh_prune": "everything"},
])
def test_garbage_links_open_with_a_note_and_defaults(params: dict) -> None:
    at = make_app(None, **params)
    assert not exceptions_of(at), exceptions_of(at)
    assert not errors_of(at), errors_of(at)
    ss = at.session_state
    assert 0 <= ss["layer"] < 6 and 0 <= ss["head"] < 12
    assert ss["model"] == "all-MiniLM-L6-v2"
    shown = " ".join(texts_of(at))
    assert "not valid here" in shown or "unavailable" in shown or "characters" in shown, shown


def test_a_megabyte_link_is_ignored_safely() -> None:
    # Streamlit drops query strings over 512 KiB before the app sees them: defaults, no error.
    at = make_app(None, text="x" * 1_000_000, layer="2")
    assert not exceptions_of(at) and not errors_of(at)
    assert at.session_state["text"] == "The cat sat on the mat."


def test_changing_layer_or_head_never_reruns_the_model(monkeypatch) -> None:
    calls: list[str] = []
    real = core.attention.engine.extract

    def counting(loaded, text, text_pair=None, max_tokens=None):
        calls.append(text)
        return real(loaded, text, text_pair, max_tokens)

    monkeypatch.setattr(core.attention.engine, "extract", counting)
    at = make_app(None, text="A sentence nobody else in the tests uses, about otters.")
    first = len(calls)
    assert first <= 1
    for layer, head in [(1, 2), (4, 11), (5, 0)]:
        at.sidebar.selectbox(key="layer").set_value(layer)
        at.sidebar.selectbox(key="head").set_value(head).run()
        assert not exceptions_of(at)
        assert f"layer {layer}, head {head}" in " ".join(texts_of(at)).lower()
    assert len(calls) == first


def test_single_head_chart_has_every_cell_in_sentence_order() -> None:
    text = "the cat saw the dog and the bird."
    at = make_app(None, text=text)
    assert not exceptions_of(at)
    charts = charts_of(at)
    assert charts, "no chart drawn"
    spec, frames = chart_frames(charts[0])
    frame = max(frames, key=len)
    n = 11  # [CLS] the cat saw the dog and the bird . [SEP]
    assert len(frame) == n * n
    assert frame["query"].nunique() == n and frame["key"].nunique() == n
    order = frame.sort_values(["query_pos", "key_pos"])
    queries = list(dict.fromkeys(order["query"]))
    assert [q.split(" · ", 1)[1] for q in queries] == ["[CLS]", "the", "cat", "saw", "the", "dog", "and", "the",
                                                        "bird", ".", "[SEP]"]
    assert order.groupby("query_pos")["weight"].sum().round(3).eq(1.0).all()


def test_head_selected_in_one_place_is_selected_everywhere() -> None:
    at = make_app(None)
    at.session_state["layer"] = 4
    at.session_state["head"] = 9
    at.run()
    at.switch_page("pages/across_layers.py").run()
    assert "Selected: layer 4, head 9." in " ".join(texts_of(at))
    at.switch_page("pages/layer_average.py").run()
    assert any("layer 4" in t.lower() for t in texts_of(at))


def test_choosing_an_unavailable_model_explains_and_keeps_the_current_one() -> None:
    at = make_app(None)
    at.sidebar.selectbox(key="model").set_value("gpt2").run()
    assert not exceptions_of(at)
    assert at.session_state["model"] == "all-MiniLM-L6-v2"
    assert any("unavailable" in w.value for w in at.sidebar.warning)


def test_causal_model_pages_draw_masked_cells(monkeypatch, tiny_models, tiny_models_dir) -> None:
    from tests.tiny_models import model_folder

    folder = str(model_folder(tiny_models_dir, "gpt2"))
    monkeypatch.setenv("ATTENTION_DASHBOARD_MODELS", folder)
    at = make_app(None, model=folder, text="the cat sat on the mat")
    assert not exceptions_of(at), exceptions_of(at)
    assert at.session_state["model"] == folder
    spec, frames = chart_frames(charts_of(at)[0])
    frame = max(frames, key=len)
    assert (~frame["allowed"]).sum() > 0
    assert frame.loc[~frame["allowed"], "weight"].abs().max() == 0
    assert "masked" in " ".join(texts_of(at))
    for page in ["pages/head_atlas.py", "pages/layer_average.py", "pages/rollout_flow.py", "pages/pattern_classes.py"]:
        at.switch_page(page).run()
        assert not exceptions_of(at), (page, exceptions_of(at))
        assert not errors_of(at), (page, errors_of(at))


_HOSTILE = json.loads((Path(__file__).resolve().parents[1] / "hostile_inputs.json").read_text(encoding="utf-8"))
_URL_NOTES = [c for c in _HOSTILE["url_cases"] if c["expect"] == "note"]


@pytest.mark.parametrize("case", _URL_NOTES, ids=[c["name"] for c in _URL_NOTES])
def test_every_bad_link_value_of_the_hostile_corpus_opens_with_a_note(case: dict) -> None:
    """Every URL case of tests/hostile_inputs.json whose value is bad (the browser suite opens
    the ones a browser must see): the page opens on valid defaults and says what it ignored."""
    page = None if case["page"] == "single_head" else f"pages/{case['page']}.py"
    at = make_app(page, **{k: str(v) for k, v in case["params"].items()})
    assert not exceptions_of(at), exceptions_of(at)
    assert not errors_of(at), errors_of(at)
    ss = at.session_state
    assert 0 <= ss["layer"] < 6 and 0 <= ss["head"] < 12
    assert ss["model"] == "all-MiniLM-L6-v2"
    shown = " ".join(texts_of(at)).lower()
    assert "link" in shown or "not valid here" in shown or "unavailable" in shown, (case["name"], shown[:400])


def test_only_ui_state_writes_session_state_and_replaces_the_text() -> None:
    """Every write to st.session_state (assignment, pop, setdefault, update, del) is in ui/state.py,
    and so is every change of the text control: other modules call state.replace_text & co."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    files = [*sorted((root / "ui").glob("*.py")), *sorted((root / "pages").glob("*.py")), root / "streamlit_app.py"]
    writes: list[str] = []
    for path in files:
        if path.name == "state.py" and path.parent.name == "ui":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            targets: list[ast.AST] = []
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
                targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for target in targets:
                if isinstance(target, (ast.Subscript, ast.Attribute)) and "session_state" in ast.unparse(target):
                    writes.append(f"{path.name}:{node.lineno}")
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in {"pop", "setdefault", "update", "clear", "__setitem__"}
                    and "session_state" in ast.unparse(node.func.value)):
                writes.append(f"{path.name}:{node.lineno}")
            if (isinstance(node, ast.Call) and ast.unparse(node.func).endswith("set_control") and node.args
                    and isinstance(node.args[0], ast.Constant) and node.args[0].value in {"text", "pair"}):
                writes.append(f"{path.name}:{node.lineno} (the text)")
    assert writes == []

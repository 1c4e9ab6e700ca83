"""The Corpus atlas page through AppTest: the six sentences at once, a typical sentence opened in
Single head (the text replaced on purpose), head clicks, a larger corpus on a background job with
progress and a cancel that keeps what is done, every bad input with the last run kept, a saved
run opened without the model."""

from __future__ import annotations

import time

import numpy as np
import pytest

from core.corpus import sources
from core.corpus.run import run_corpus
from core.examples import EXAMPLES
from tests.app.apptest_util import charts_of, errors_of, exceptions_of, make_app, texts_of
from tests.app.test_selection import click

PAGE = "pages/corpus.py"


def titles(at) -> list[str]:
    return [t.value for t in at.title]


def summary(at) -> str:
    return next((m.value for m in at.markdown if "sentences ·" in m.value), "")


def clean(at) -> None:
    assert not exceptions_of(at), exceptions_of(at)


def wait_for(at, predicate, timeout: float = 300.0):
    """Rerun the page (as the progress fragment's timer would) until `predicate(at)` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        at.run()
        clean(at)
        if predicate(at):
            return at
        time.sleep(0.3)
    raise AssertionError(f"timed out; the page says: {texts_of(at)[-8:]}")


def test_first_visit_runs_the_six_sentences() -> None:
    at = make_app(PAGE)
    clean(at)
    assert not errors_of(at), errors_of(at)
    assert titles(at) == ["Corpus atlas"]
    assert summary(at).startswith("**6** of 6 sentences")
    assert len(charts_of(at)) == 3  # the statistic, the pattern classes, your sentence against the corpus
    assert any("95% interval of the mean" in m.value for m in at.markdown)
    assert any("20 MB" in c.value and "10,000 sentences" in c.value for c in at.caption)  # the limits, stated
    texts = {m.value for m in at.markdown}
    assert sum(s in texts for s in EXAMPLES.values()) == 6  # 3 most + 3 least typical


def _marked_and_data(at) -> list[tuple[tuple[int, int] | None, bytes]]:
    """(the marked head, the chart's other data) of every chart."""
    import pyarrow as pa

    from core.render import vega

    out = []
    for element in charts_of(at):
        mark, data = None, b""
        for dataset in element.proto.datasets:
            if dataset.name == vega.MARKED_DATA:
                rows = pa.ipc.open_stream(dataset.data.data).read_all().to_pylist()
                mark = (rows[0]["layer"], rows[0]["head"]) if rows else None
            else:
                data += dataset.data.data
        out.append((mark, data))
    return out


def test_every_grid_marks_the_selected_head_and_follows_the_sentence() -> None:
    """The three grids are memos moved to the selected head; the one of your sentence is that sentence's."""
    at = make_app(PAGE, layer=2, head=5)
    clean(at)
    before = _marked_and_data(at)
    assert [m for m, _ in before] == [(2, 5)] * 3
    at.selectbox(key="head").set_value(7).run()
    clean(at)
    after = _marked_and_data(at)
    assert [m for m, _ in after] == [(2, 7)] * 3
    assert [d for _, d in after] == [d for _, d in before]  # same grids, moved
    at.text_area(key="text").set_value("A quite different sentence, about rivers and rain.").run()
    clean(at)
    changed = _marked_and_data(at)
    assert [m for m, _ in changed] == [(2, 7)] * 3
    assert [d for _, d in changed][:2] == [d for _, d in before][:2]  # the corpus's own grids stay
    assert changed[2][1] != before[2][1]  # your sentence against the corpus: the new sentence


def test_a_typical_sentence_opens_in_single_head_with_its_head() -> None:
    at = make_app(PAGE, layer=2, head=5, pair="A second sentence.")
    buttons = [b for b in at.button if b.key.startswith("corpus_open_")]
    assert len(buttons) == 6
    first = next(m.value for m in at.markdown if m.value in EXAMPLES.values())
    buttons[0].click().run()
    clean(at)
    assert titles(at) == ["Single head"]
    ss = at.session_state
    assert (ss["text"], ss["pair"], ss["layer"], ss["head"]) == (first, "", 2, 5)
    assert at.query_params["text"] == first


def test_a_cell_click_selects_the_head_and_stays_on_the_page() -> None:
    at = make_app(PAGE)
    click(at, "vega_lite_chart", "corpus_chart", {"head": [{"layer": 4, "head": 9}]})
    clean(at)
    assert titles(at) == ["Corpus atlas"]
    assert (at.session_state["layer"], at.session_state["head"]) == (4, 9)
    assert any(s.value.startswith("Layer 4, head 9: its most and least typical") for s in at.subheader)


def test_paste_counts_empty_lines_and_a_larger_corpus_runs_in_the_background() -> None:
    lines = sources.builtin("sample_en").sentences[:24]
    at = make_app(PAGE, corpus_source="paste")
    at.text_area(key="corpus_lines").set_value("\n\n".join(lines)).run()
    clean(at)
    assert any("23 empty lines skipped" in c.value for c in at.caption)
    assert at.button(key="corpus_run")  # 24 sentences: past the in-page limit, so a Run button
    at.button(key="corpus_run").click().run()
    wait_for(at, lambda a: summary(a).startswith("**24** of 24 sentences"))
    assert len(charts_of(at)) == 3 and not errors_of(at)


def test_cancel_keeps_what_is_done() -> None:
    at = make_app(PAGE, corpus_builtin="sample_en", corpus_batch=8)
    at.button(key="corpus_run").click().run()
    clean(at)
    wait_for(at, lambda a: bool(a.button(key="corpus_cancel")) if any(
        b.key == "corpus_cancel" for b in a.button) else False, timeout=120)
    at.button(key="corpus_cancel").click().run()
    wait_for(at, lambda a: any("Cancelled after" in i.value for i in a.info))
    done = int(summary(at).split("**")[1].replace(",", ""))
    assert 0 < done < 320
    assert len(charts_of(at)) >= 2


@pytest.mark.parametrize("name,data,column,message", [
    ("latin1.txt", "Caf\u00e9 au lait.\n".encode("latin-1"), None, "not UTF-8"),
    ("numbers.csv", b"id,text\n1,Hello there.\n2,Bye now.\n", "id", "holds numbers"),
    ("broken.jsonl", b'{"text": "fine"}\n{oops}\n', None, "not valid JSON"),
    ("empty.txt", b"\n \n\n", None, "no sentences"),
])
def test_bad_uploads_say_why_and_keep_the_last_run(name, data, column, message) -> None:
    at = make_app(PAGE)
    at.radio(key="corpus_source").set_value("upload").run()
    at.file_uploader(key="corpus_file").set_value((name, data, "application/octet-stream")).run()
    before = summary(at)  # a CSV's first choice of column ("text") is fine: it runs
    assert before.startswith("**6** of 6") or column is not None
    if column is not None:
        at.selectbox(key="corpus_column").set_value(column).run()
    clean(at)
    assert any(message in e for e in errors_of(at)), errors_of(at)
    assert summary(at) == before and before  # nothing already computed is lost
    assert any("Showing the last run" in c.value for c in at.caption)


def test_csv_upload_with_a_text_column() -> None:
    at = make_app(PAGE, corpus_source="upload")
    data = b"id,text\n1,The dog slept.\n2,\n3,Birds sing at dawn.\n"
    at.file_uploader(key="corpus_file").set_value(("small.csv", data, "text/csv")).run()
    clean(at)
    assert at.selectbox(key="corpus_column").value == "text"
    assert summary(at).startswith("**2** of 2 sentences")
    assert any("1 empty lines skipped" in c.value for c in at.caption)


def test_a_saved_run_opens_without_the_model(tiny_gpt2) -> None:
    run = run_corpus(tiny_gpt2, sources.builtin("tutorial"), 4, store=False, reuse=False)
    at = make_app(PAGE, corpus_source="saved")
    at.file_uploader(key="corpus_saved").set_value(("run.parquet", run.to_bytes(), "application/octet-stream")).run()
    clean(at)
    assert summary(at).startswith("**6** of 6 sentences · tiny-gpt2")
    assert any("This run is of tiny-gpt2" in i.value for i in at.info)
    grid = np.asarray(run.grid("entropy_norm"))
    assert grid.shape == (2, 2)
    at.file_uploader(key="corpus_saved").set_value(("bad.parquet", b"nope", "application/octet-stream")).run()
    assert any("not a corpus run" in e for e in errors_of(at))


def test_hub_datasets_say_why_they_are_unavailable() -> None:
    at = make_app(PAGE, corpus_source="hub")
    clean(at)
    assert any("Hugging Face datasets are not available here" in i.value for i in at.info)

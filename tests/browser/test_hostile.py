"""Hostile input in a real browser: the corpus in tests/hostile_inputs.json, and URL garbage.

Each text case is typed into the sidebar (text or second sentence) of a live session on the
Single head page, and every other case again on one other page (the pages take turns, so each
page meets 2-3 cases), like a user would. Each
URL case a browser must see (in_browser) opens a fresh session on a crafted link; AppTest opens
every URL case (tests/app/test_state.py). Every case must give a clear message or a
normal result: never a traceback, never a script that runs (no dialog, no injected element),
and other sessions keep working while it happens.

    .venv/bin/python -m pytest tests/browser/test_hostile.py -m browser
"""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from tests.browser.chromium import requires_chromium
from tests.browser.harness import (  # noqa: F401 - fixtures are used by name
    DEFAULT_PAGE,
    PAIR_LABEL,
    ROOT,
    SEL_ALERT,
    SEL_ERROR,
    SEL_WARNING,
    TEXT_LABEL,
    Offline,
    alert_texts,
    body_text,
    browser,
    chart_marks,
    choose,
    count_charts,
    exceptions,
    goto,
    new_context,
    open_page,
    page_not_found,
    painted,
    playwright_instance,
    rerun_and_wait,
    server,
    set_text,
    tabs_context,
    wait_for_app_idle,
)
from tests.browser.server import NO_VEGA, PAGES

CORPUS_FILE = ROOT / "tests" / "hostile_inputs.json"
CORPUS = json.loads(Path(CORPUS_FILE).read_text(encoding="utf-8"))
TEXT_CASES: list[dict[str, Any]] = CORPUS["text_cases"]
URL_CASES: list[dict[str, Any]] = CORPUS["url_cases"]
OTHER_PAGES = [p for p in PAGES if p != DEFAULT_PAGE]  # from the page table
BYSTANDER_TEXT = "The old man the boat."
# Pages that draw nothing from the text; the generation pages need models that are not on this
# machine and say so for every text (their hostile-text cases run in tests/app on tiny models).
NO_RESULT = ("about", "glossary", "generate", "translation")


def build(value: Any) -> str:
    """A case's text: a literal string, or {"repeat": [unit, times]} / a case with "repeat"."""
    if isinstance(value, dict):
        unit, times = value["repeat"]
        return str(unit) * int(times)
    return str(value)


def case_text(case: dict[str, Any]) -> str:
    return build({"repeat": case["repeat"]}) if "repeat" in case else str(case["text"])


# --- the corpus itself (no browser needed) ---------------------------------------------------------

def test_corpus_covers_the_required_kinds():
    names = " ".join(c["name"] for c in TEXT_CASES).lower()
    assert len(TEXT_CASES) >= 30, len(TEXT_CASES)
    for kind in ("empty", "whitespace", "5000 words", "100 kb", "emoji", "flags", "combining", "right-to-left",
                 "zero-width", "control", "html", "script", "template"):
        assert kind in names, f"corpus lacks a {kind!r} case"
    texts = {c["name"]: case_text(c) for c in TEXT_CASES}
    assert len(texts["5000 words"].split()) == 5000
    assert len(texts["100 KB of one character"]) == 100_000
    url_names = " ".join(c["name"] for c in URL_CASES).lower()
    for kind in ("layer -1", "head 999", "1 mb text", "unknown model", "path-like model id"):
        assert kind in url_names, f"corpus lacks a {kind!r} URL case"
    big = next(c for c in URL_CASES if c["name"] == "1 MB text")
    assert len(build(big["params"]["text"])) >= 1_000_000


# --- sessions shared by the module ------------------------------------------------------------------

class Session:
    """A live browser session that records JavaScript dialogs (a payload that ran would open one)."""

    def __init__(self, browser: Any, url: str, min_charts: int = 1) -> None:
        self.offline = Offline()
        self.context, _ = new_context(browser, self.offline)
        self.page = self.context.new_page()
        self.dialogs: list[str] = []
        self.page.on("dialog", self._on_dialog)
        goto(self.page, url, min_charts=min_charts, timeout=120)

    def _on_dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="module")
def main_session(server, browser):
    s = Session(browser, server.page_url("single_head"))
    yield s
    s.close()


@pytest.fixture(scope="module")
def touring_session(server, browser):
    s = Session(browser, server.page_url("model_tokens"), min_charts=0)
    s.current = "model_tokens"  # type: ignore[attr-defined]
    yield s
    s.close()


@pytest.fixture(scope="module")
def bystander(server, browser):
    """Another user, on another page, with an ordinary sentence."""
    s = Session(browser, server.page_url("head_atlas", text=BYSTANDER_TEXT), min_charts=1)
    s.flip = 0  # type: ignore[attr-defined]
    yield s
    s.close()


def _bystander_still_works(bystander: Session) -> None:
    page = bystander.page
    bystander.flip = 1 - bystander.flip  # type: ignore[attr-defined]
    stat_label = ["Normalised entropy", "Confidence"][bystander.flip]  # type: ignore[attr-defined]
    before = chart_marks(page)
    rerun_and_wait(page, lambda: choose(page, "Colour by", stat_label), min_charts=1, timeout=60)
    assert not exceptions(page)
    assert chart_marks(page) != before, "the other session's chart did not change"
    assert "old" in page.locator('[data-testid="stSidebar"] textarea[aria-label="Text"]').input_value()


def _injected(page: Any) -> list[str]:
    """Elements a payload would have created in the app's own DOM (outside code/text widgets)."""
    return page.evaluate("""() => {
        const bad = [];
        for (const el of document.querySelectorAll('[data-testid="stMain"] img[src="x"], '
                 + '[data-testid="stMain"] svg[onload], [data-testid="stMain"] iframe[src^="javascript"], '
                 + '[data-testid="stMain"] div[style*="position:fixed"], [data-testid="stMain"] script:not([src])')) {
            bad.push(el.outerHTML.slice(0, 120));
        }
        if (window.__pwned) bad.push('window.__pwned');
        return bad;
    }""")


def _check(session: Session, case: dict[str, Any], *, page_name: str) -> None:
    page = session.page
    where = f"{case['name']!r} on {page_name}"
    found = exceptions(page)
    assert not found, f"{where}: exception on screen: {found[0][:600]}"
    assert "Traceback (most recent call last)" not in body_text(page), f"{where}: traceback text"
    assert not session.dialogs, f"{where}: a script ran: {session.dialogs}"
    assert not _injected(page), f"{where}: injected markup: {_injected(page)}"
    alerts = alert_texts(page)
    charts = count_charts(page)
    iframes = page.locator("iframe").count()
    # Model and tokens and the tutorial's first step show the result as text and tables
    drawn = charts > 0 or iframes > 0 or page_name in ("model_tokens", "tutorial")
    expect = case["expect"]
    if page_name in NO_RESULT:
        return  # these pages show no result for any text (what is checked above still holds)
    if expect == "message":
        assert any(a.strip() for a in alerts), f"{where}: no message shown (charts={charts})"
    elif expect == "truncated":
        assert any("truncat" in a.lower() for a in alerts), f"{where}: no truncation notice: {alerts}"
        assert drawn, f"{where}: nothing drawn"
    elif expect == "result":
        errors = alert_texts(page, SEL_ERROR)
        assert not errors, f"{where}: error instead of a result: {errors}"
        assert drawn, f"{where}: nothing drawn; alerts={alerts}"
    else:  # any
        assert drawn or alerts, f"{where}: neither a result nor a message"


def _submit(page: Any, case: dict[str, Any], text: str, page_name: str) -> None:
    label = PAIR_LABEL if case["field"] == "pair" else TEXT_LABEL
    rerun_and_wait(page, lambda: set_text(page, text, label), timeout=120)


def _reset(page: Any, case: dict[str, Any]) -> None:
    if case["field"] == "pair":
        rerun_and_wait(page, lambda: set_text(page, "", PAIR_LABEL), timeout=60)


@pytest.mark.browser
@requires_chromium
@pytest.mark.parametrize("index", range(len(TEXT_CASES)), ids=[c["name"] for c in TEXT_CASES])
def test_hostile_text(index, server, main_session, touring_session, bystander):
    case = TEXT_CASES[index]
    text = case_text(case)

    # 1. Single head, in a long-lived session
    _submit(main_session.page, case, text, "single_head")
    _check(main_session, case, page_name="single_head")
    _reset(main_session.page, case)

    # 2. every other case also on one other page (the pages take turns, each gets 2-3 cases),
    #    in another long-lived session
    if index % 2 == 0:
        name = OTHER_PAGES[(index // 2) % len(OTHER_PAGES)]
        page = touring_session.page
        if touring_session.current != name:  # type: ignore[attr-defined]
            rerun_and_wait(page, lambda: open_page(page, name), timeout=120)
            touring_session.current = name  # type: ignore[attr-defined]
        _submit(page, case, text, name)
        _check(touring_session, case, page_name=name)
        _reset(page, case)

    # 3. the server answers and, now and then, another user's session still works
    assert server.alive() and server.healthy(), f"server down after {case['name']!r}"
    if index % 10 == 9:
        _bystander_still_works(bystander)


def _url_for(server, case: dict[str, Any]) -> str:
    params = {k: build(v) for k, v in case["params"].items()}
    path = case["page"]
    if path in PAGES:
        return server.page_url(path, **params)
    query = urllib.parse.urlencode(params)
    return f"{server.url}/{path}" + (f"?{query}" if query else "")


def _status_of(url: str) -> int | None:
    """The HTTP status the server answers for `url` (urllib: no browser in between)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return int(r.status)
    except urllib.error.HTTPError as err:
        return int(err.code)
    except OSError:
        return None


def in_browser(case: dict[str, Any]) -> bool:
    """URL cases a browser must see: what reaches the screen (markup in a value), what the HTTP
    server decides (huge links, page paths), and one of each kind of bad value. The rest only test
    how the app reads a link's values; tests/app/test_state.py opens every URL case of the corpus
    through AppTest, in a fraction of the time."""
    values = " ".join(str(build(v)) for v in case["params"].values())
    return (case["expect"] != "note" or "<" in values or "text" in case["params"]
            or case["name"] in BROWSER_NOTE_CASES)


BROWSER_NOTE_CASES = ("head 999", "layer and head garbage on the atlas", "path-like model id (traversal)",
                      "unknown lens")
BROWSER_URL_CASES = [c for c in URL_CASES if in_browser(c)]


@pytest.mark.browser
@requires_chromium
@pytest.mark.parametrize("index", range(len(BROWSER_URL_CASES)), ids=[c["name"] for c in BROWSER_URL_CASES])
def test_url_garbage(index, server, tabs_context, bystander):
    case = BROWSER_URL_CASES[index]
    url = _url_for(server, case)
    offline = Offline()
    page = tabs_context.new_page()  # a new tab: a fresh session on the crafted link
    page.on("request", offline.record)
    try:
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        try:
            response = page.goto(url, wait_until="commit", timeout=60_000)
            status = response.status if response is not None else None
        except Exception as err:  # noqa: BLE001 - Chromium reports an empty 4xx as a navigation error
            if case["expect"] != "refused_or_any" or "ERR_HTTP_RESPONSE_CODE_FAILURE" not in str(err):
                raise
            status = _status_of(url)
        if case["expect"] == "refused_or_any" and status is not None and status >= 400:
            assert 400 <= status < 500, f"{case['name']}: HTTP {status}"
            assert server.alive() and server.healthy()
            _bystander_still_works(bystander)
            return
        assert status is not None and status < 400, (
            f"{case['name']}: the server refused the link with HTTP {status} (a browser error page, "
            f"not a message from the app); link length {len(url):,} characters")
        min_charts = 0 if case["page"] in NO_VEGA or case["expect"] == "any" else 1
        wait_for_app_idle(page, min_charts=min_charts, timeout=90)
        painted(page)  # a payload in what was drawn has had its turn to run
        where = f"{case['name']!r}"
        found = exceptions(page)
        assert not found, f"{where}: exception on screen: {found[0][:600]}"
        assert not dialogs, f"{where}: a script ran: {dialogs}"
        assert not _injected(page), f"{where}: injected markup"
        if case["expect"] == "note":
            text = body_text(page)
            assert "The link" in text or "link" in " ".join(alert_texts(page)).lower(), (
                f"{where}: no note about the bad link value; alerts={alert_texts(page)}")
            assert not page_not_found(page)
            if case["page"] not in NO_VEGA:
                assert count_charts(page) >= 1, f"{where}: no chart drawn with the default instead"
        elif case["expect"] == "result":
            assert count_charts(page) >= 1 or case["page"] in NO_VEGA
        else:  # any: a clear message or a normal result
            drawn = count_charts(page) > 0 or page.locator("iframe").count() > 0
            assert drawn or alert_texts(page) or page_not_found(page), f"{where}: blank page"
        assert offline.needed() == []
    finally:
        page.close()
    assert server.alive() and server.healthy(), f"server down after {case['name']!r}"
    if index % 8 == 7 or index == len(BROWSER_URL_CASES) - 1:
        _bystander_still_works(bystander)


@pytest.mark.browser
@requires_chromium
def test_other_sessions_kept_working(server, bystander):
    """After the whole corpus, another user's session still changes view and the server still answers."""
    _bystander_still_works(bystander)
    _bystander_still_works(bystander)
    assert server.healthy()

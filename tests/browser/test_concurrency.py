"""Eight browser sessions on eight different sentences at once, for a bounded period.

1. Serial reference: one session at a time, each sentence at two heads; the heatmap's marks
   (token labels + weights as the browser drew them) are recorded.
2. Concurrent: 8 sessions (own browser contexts = own Streamlit sessions) open their sentence at
   the same moment, then keep switching head for DURATION seconds. Each session's sentence is
   an upper-case variant of its reference sentence: the model is uncased, so the attention is the
   same, but the server's cache misses, and 8 extractions really do run at once.
   Every view must equal the serial reference; no exception may appear; the server must keep
   answering /_stcore/health quickly throughout.

    .venv/bin/python -m pytest tests/browser/test_concurrency.py -m browser
"""

from __future__ import annotations

import asyncio
import statistics
import time
import urllib.request

import pytest

from tests.browser.async_pages import achart_marks, achoose, aexceptions, agoto, anew_page, arerun_and_wait
from tests.browser.chromium import alaunch_browser, requires_chromium
from tests.browser.harness import CHROMIUM, Offline, server  # noqa: F401 - fixtures are used by name

pytestmark = [pytest.mark.browser, requires_chromium]

DURATION = 10.0  # seconds of concurrent head switching (plus the concurrent first load)
SESSIONS = 8
MIN_VIEWS = 3  # each session: its first view and at least two head switches, however slow the machine
LAYER = 2
HEADS = ("3", "8")
SENTENCES = [
    "The cat sat on the mat.",
    "A quick brown fox jumps over the lazy dog.",
    "She said that the report was finished yesterday.",
    "When the rain stopped, the children ran outside to play.",
    "Colorless green ideas sleep furiously.",
    "The bank raised its interest rates again this year.",
    "My grandmother bakes bread every sunday morning.",
    "Students who study regularly usually pass their exams.",
]


async def _serial_reference(browser, server) -> dict[tuple[int, str], list[str]]:
    ref: dict[tuple[int, str], list[str]] = {}
    context, page = await anew_page(browser, Offline())
    try:
        for i, text in enumerate(SENTENCES):
            await agoto(page, server.page_url("single_head", text=text, layer=LAYER, head=HEADS[0]),
                        min_charts=1, timeout=120)
            ref[(i, HEADS[0])] = await achart_marks(page)
            await arerun_and_wait(page, lambda: achoose(page, "Head", HEADS[1]), min_charts=1)
            ref[(i, HEADS[1])] = await achart_marks(page)
            assert ref[(i, HEADS[0])] and ref[(i, HEADS[0])] != ref[(i, HEADS[1])]
    finally:
        await context.close()
    return ref


async def _health_monitor(server, stop: asyncio.Event, latencies: list[float], failures: list[str]) -> None:
    def probe() -> float:
        t0 = time.perf_counter()
        with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=10) as r:
            assert r.status == 200
        return time.perf_counter() - t0

    while not stop.is_set():
        try:
            latencies.append(await asyncio.to_thread(probe))
        except Exception as err:  # noqa: BLE001
            failures.append(repr(err))
        await asyncio.sleep(0.5)


async def _session(browser, server, i: int, ref, start: asyncio.Event, deadline_box: list[float],
                   report: dict) -> None:
    offline = Offline()
    context, page = await anew_page(browser, offline)
    text = SENTENCES[i].upper()  # same tokens for the uncased model, but a cache miss on the server
    views = mismatches = 0
    errors: list[str] = []
    try:
        await start.wait()
        await agoto(page, server.page_url("single_head", text=text, layer=LAYER, head=HEADS[0]),
                    min_charts=1, timeout=180)
        k = 0
        while True:
            head = HEADS[k % 2]
            marks = await achart_marks(page)
            if marks != ref[(i, head)]:
                mismatches += 1
                errors.append(f"view {views}: head {head} differs from the serial run "
                              f"(first: {marks[:1]} vs {ref[(i, head)][:1]})")
            found = await aexceptions(page)
            if found:
                errors.append(f"exception: {found[0][:300]}")
            views += 1
            if time.perf_counter() > deadline_box[0] and views >= MIN_VIEWS:
                break
            k += 1
            await arerun_and_wait(page, lambda h=HEADS[k % 2]: achoose(page, "Head", h), min_charts=1, timeout=120)
    except Exception as err:  # noqa: BLE001 - reported below with the session number
        errors.append(f"{type(err).__name__}: {str(err)[:300]}")
    finally:
        report[i] = {"views": views, "mismatches": mismatches, "errors": errors, "blocked": offline.needed()}
        await context.close()


async def _run(server) -> dict:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await alaunch_browser(pw)
        try:
            t0 = time.perf_counter()
            ref = await _serial_reference(browser, server)
            serial_s = time.perf_counter() - t0

            start, stop = asyncio.Event(), asyncio.Event()
            latencies: list[float] = []
            health_failures: list[str] = []
            report: dict[int, dict] = {}
            deadline_box = [float("inf")]
            monitor = asyncio.create_task(_health_monitor(server, stop, latencies, health_failures))
            tasks = [asyncio.create_task(_session(browser, server, i, ref, start, deadline_box, report))
                     for i in range(SESSIONS)]
            t1 = time.perf_counter()
            deadline_box[0] = t1 + DURATION
            start.set()
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=DURATION + 240)
            concurrent_s = time.perf_counter() - t1
            stop.set()
            await monitor
        finally:
            await browser.close()
    return {"serial_s": serial_s, "concurrent_s": concurrent_s, "report": report, "latencies": latencies,
            "health_failures": health_failures}


def test_eight_sessions_at_once_match_the_serial_run(server):
    out = asyncio.run(_run(server))
    report = out["report"]
    lat = out["latencies"]
    total_views = sum(r["views"] for r in report.values())
    summary = (f"{SESSIONS} sessions, {out['concurrent_s']:.0f} s, {total_views} views checked "
               f"(serial reference {out['serial_s']:.0f} s); health p50 "
               f"{statistics.median(lat) * 1000 if lat else float('nan'):.0f} ms, max "
               f"{max(lat) * 1000 if lat else float('nan'):.0f} ms")
    print(summary)
    problems = {i: r for i, r in report.items() if r["errors"] or r["mismatches"] or r["blocked"]}
    assert not problems, f"{summary}\n" + "\n".join(f"session {i}: {r}" for i, r in sorted(problems.items()))
    assert all(r["views"] >= MIN_VIEWS for r in report.values()), report
    assert not out["health_failures"], out["health_failures"][:3]
    assert lat and max(lat) < 5.0, f"the server stopped answering promptly: max health latency {max(lat):.1f} s"
    assert server.alive() and server.healthy()

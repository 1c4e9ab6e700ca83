"""Background work: one `Job` per piece of work that outlives a script run (a model's warm-up, a
model download, a corpus run, a probing run), and `Jobs`, a registry that shares one job per key between callers.

A job runs `work(job)` on a daemon thread. While it runs, `work` reports progress with
`job.report(value)` (any value: the caller that polls knows its type) and checks
`job.cancelled` (set by `job.cancel()`) to stop early. When it returns, `job.result` holds its
value; when it raises, `job.error` holds one sentence for the user (the `str()` of an
AttentionDashboardError, else the job's `failure` sentence; the log has the traceback).

A job may wait before it starts (`delay_s`); `job.start_now()` ends that wait. At interpreter
exit every job is cancelled, waiting ones are released, and running ones get a few seconds to
finish: a daemon thread still inside torch while the interpreter finalises aborts the process.
No Streamlit.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

from core.errors import AttentionDashboardError

log = logging.getLogger("attention_dashboard")

EXIT_GRACE_S = 5.0  # how long running jobs get to finish at interpreter exit, all together

_LIVE: set[Job] = set()
_LIVE_LOCK = threading.Lock()


class Job:
    """One piece of background work: progress, cancel, error sentence, result."""

    def __init__(self, work: Callable[[Job], Any], *, name: str = "job", delay_s: float = 0.0,
                 failure: str = "The work in the background failed; the log has the details.",
                 subject: Any = None) -> None:
        self.name = name
        self.failure = failure
        self.subject = subject  # what the job works on, for whoever shows it (e.g. a download's plan)
        self.progress: Any = None  # the last value `report` was given
        self.result: Any = None
        self.error: str | None = None  # one sentence when `work` raised
        self.started = time.time()
        self._work = work
        self._delay_s = float(delay_s)
        self._go = threading.Event()
        self._cancel = threading.Event()
        self._finished = threading.Event()
        if self._delay_s <= 0:
            self._go.set()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        with _LIVE_LOCK:
            _LIVE.add(self)
        self._thread.start()

    # -- inside the work ----------------------------------------------------------------------------
    def report(self, value: Any) -> None:
        """Record progress (read by whoever polls `progress`)."""
        self.progress = value

    @property
    def cancelled(self) -> bool:
        """True once `cancel()` was called (or the interpreter is exiting): stop at the next chance."""
        return self._cancel.is_set()

    @property
    def cancel_event(self) -> threading.Event:
        """The event `cancel()` sets, for code that takes a threading.Event."""
        return self._cancel

    # -- from outside -------------------------------------------------------------------------------
    def cancel(self) -> None:
        self._cancel.set()
        self._go.set()  # a job still waiting to start returns at once

    def start_now(self) -> None:
        """End the initial wait (`delay_s`) of a job that has not started yet."""
        self._go.set()

    @property
    def running(self) -> bool:
        return not self._finished.is_set()

    @property
    def done(self) -> bool:
        """Finished without an error (a cancelled job that returned is done, with what it did)."""
        return self._finished.is_set() and self.error is None

    @property
    def failed(self) -> bool:
        return self._finished.is_set() and self.error is not None

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the job to finish; True when it has."""
        return self._finished.wait(timeout)

    def _run(self) -> None:
        try:
            self._go.wait(self._delay_s if self._delay_s > 0 else None)
            if self.cancelled:
                return
            self.result = self._work(self)
        except AttentionDashboardError as err:
            self.error = str(err)
        except Exception:  # noqa: BLE001 - never a traceback on screen; the log has it
            log.exception("%s failed", self.name)
            self.error = self.failure
        finally:
            self._finished.set()
            with _LIVE_LOCK:
                _LIVE.discard(self)


class Jobs:
    """One job per key, shared by every caller (every session of the app)."""

    def __init__(self) -> None:
        self._jobs: dict[Hashable, Job] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Job | None:
        with self._lock:
            return self._jobs.get(key)

    def start(self, key: Hashable, work: Callable[[Job], Any], *, once: bool = False, **options: Any) -> Job:
        """The job for `key` if it is running or finished its work in full (neither cancelled nor
        failed), or with `once` whatever job was ever started for the key; else a new
        `Job(work, **options)`. A delay of zero asked of a waiting job starts it now."""
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and (once or (not job.cancelled and (job.running or job.done))):
                if float(options.get("delay_s", 0.0)) <= 0:
                    job.start_now()
                return job
            job = self._jobs[key] = Job(work, **options)
            return job

    def forget(self, key: Hashable) -> None:
        """Drop a finished job, so the next `start` makes a new one (a running job stays)."""
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and not job.running:
                del self._jobs[key]

    def keys(self) -> list[Hashable]:
        with self._lock:
            return list(self._jobs)


@atexit.register
def _finish_at_exit() -> None:
    with _LIVE_LOCK:
        live = list(_LIVE)
    for job in live:
        job.cancel()
    deadline = time.monotonic() + EXIT_GRACE_S
    for job in live:
        job.join(max(0.0, deadline - time.monotonic()))

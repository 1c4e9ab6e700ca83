"""core.jobs: background work with progress, cancel, an error sentence and a result; one job per key."""

from __future__ import annotations

import threading
import time

from core.errors import AttentionDashboardError
from core.jobs import Job, Jobs


class _Refused(AttentionDashboardError):
    pass


def test_a_job_reports_progress_and_returns_its_result() -> None:
    step = threading.Event()

    def work(job: Job) -> int:
        job.report(0.5)
        step.wait(5)
        return 42

    job = Job(work, name="test")
    assert job.running and not job.done
    step.set()
    assert job.join(5)
    assert job.done and not job.failed and job.result == 42 and job.progress == 0.5 and job.error is None


def test_cancel_is_seen_by_the_work_and_a_cancelled_job_keeps_what_it_did() -> None:
    started = threading.Event()

    def work(job: Job) -> int:
        started.set()
        count = 0
        while not job.cancelled:
            count += 1
            job.cancel_event.wait(0.01)
        return count

    job = Job(work)
    assert started.wait(5)
    job.cancel()
    assert job.join(5) and job.done and job.cancelled and job.result >= 1


def test_errors_become_one_sentence() -> None:
    def refused(job: Job) -> None:
        raise _Refused("That model is not on this machine.")

    def broken(job: Job) -> None:
        raise RuntimeError("a traceback the user never sees")

    one = Job(refused)
    two = Job(broken, failure="The run failed.")
    assert one.join(5) and two.join(5)
    assert one.failed and one.error == "That model is not on this machine." and one.result is None
    assert two.failed and two.error == "The run failed."


def test_a_delayed_job_waits_until_started_or_cancelled() -> None:
    ran = threading.Event()
    job = Job(lambda j: ran.set(), delay_s=60)
    assert not ran.wait(0.2) and job.running
    job.start_now()
    assert ran.wait(5) and job.join(5)
    never = threading.Event()
    waiting = Job(lambda j: never.set(), delay_s=60)
    waiting.cancel()
    assert waiting.join(5) and not never.is_set()


def test_the_registry_shares_one_job_per_key() -> None:
    jobs = Jobs()
    gate = threading.Event()
    calls: list[int] = []

    def work(job: Job) -> int:
        calls.append(1)
        gate.wait(5)
        return len(calls)

    first = jobs.start("k", work)
    assert jobs.start("k", work) is first  # running: joined
    gate.set()
    first.join(5)
    assert jobs.start("k", work) is first  # finished in full: kept
    assert jobs.get("k") is first and calls == [1]
    jobs.forget("k")
    assert jobs.get("k") is None
    again = jobs.start("k", work)
    assert again is not first and again.join(5) and calls == [1, 1]


def test_a_failed_or_cancelled_job_is_started_again_unless_once() -> None:
    jobs = Jobs()

    def fail(job: Job) -> None:
        raise RuntimeError("no")

    failed = jobs.start("f", fail)
    failed.join(5)
    assert jobs.start("f", lambda j: 1) is not failed
    once = jobs.start("o", fail, once=True)
    once.join(5)
    assert jobs.start("o", lambda j: 1, once=True) is once
    stopping = jobs.start("s", lambda j: j.cancel_event.wait(5) and time.sleep(0.3))
    stopping.cancel()  # still finishing: a new start does not join it
    assert jobs.start("s", lambda j: 1) is not stopping
    cancelled = jobs.start("c", lambda j: j.cancel_event.wait(5))
    cancelled.cancel()
    cancelled.join(5)
    assert jobs.start("c", lambda j: 1) is not cancelled


def test_a_call_without_delay_starts_a_waiting_job_of_the_key() -> None:
    jobs = Jobs()
    ran = threading.Event()
    job = jobs.start("w", lambda j: ran.set(), once=True, delay_s=60)
    assert not ran.wait(0.2)
    assert jobs.start("w", lambda j: None, once=True) is job
    assert ran.wait(5)

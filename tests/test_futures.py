"""Futures followed with callbacks (kiosk/futures.py): steps in order, deadlines on a clock.

Pure: no devices. The deadline tests run the timer thread on a clock the test moves
forward, so a 20 s deadline passes at once and nothing sleeps.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

import pytest

from kiosk.futures import Timers, done_with, failed_with, gather, run_steps, then, within
from sim.clock import SkipAheadClock

WAIT_S = 10.0  # how long a test may wait for the timer thread to act on a skip


@pytest.fixture
def clock() -> SkipAheadClock:
    return SkipAheadClock(time.monotonic)


@pytest.fixture
def timers(clock: SkipAheadClock) -> Iterator[Timers]:
    timers = Timers(clock)
    clock.on_skip(timers.poke)
    yield timers
    timers.stop()


def test_steps_run_in_order_with_each_result_and_return_the_answer() -> None:
    card, queue = Future(), Future()
    seen: list[object] = []

    def steps():
        seen.append((yield card))
        seen.append((yield queue))
        return "answer"

    answer = run_steps(steps())
    assert not answer.done() and seen == []  # nothing waits: the steps wait for the card
    card.set_result("certificate")
    assert seen == ["certificate"] and not answer.done()
    queue.set_result("not enrolled here")
    assert answer.result(timeout=0) == "answer"
    assert seen == ["certificate", "not enrolled here"]


def test_a_failed_step_raises_at_its_yield_where_the_steps_may_catch_it() -> None:
    def steps():
        try:
            yield failed_with(LookupError("card blocked"))
        except LookupError:
            return 0
        return 3

    assert run_steps(steps()).result(timeout=0) == 0


def test_an_uncaught_failure_fails_the_answer_and_skips_later_steps() -> None:
    later: list[str] = []

    def steps():
        yield failed_with(ValueError("no card"))
        later.append("ran")

    answer = run_steps(steps())
    assert isinstance(answer.exception(timeout=0), ValueError) and later == []


def test_then_follows_a_future_a_step_returns_without_waiting_on_it() -> None:
    inner: Future[int] = Future()
    chained = then(done_with(1), lambda _one: inner)
    assert not chained.done()
    inner.set_result(2)
    assert chained.result(timeout=0) == 2


def test_gather_is_done_when_every_future_is_whatever_each_outcome() -> None:
    ok, bad = Future(), Future()
    together = gather(ok, bad)
    ok.set_result("queue")
    assert not together.done()
    bad.set_exception(OSError("printer"))
    first, second = together.result(timeout=0)
    assert first.result(timeout=0) == "queue" and isinstance(second.exception(), OSError)


def test_a_deadline_passes_when_the_clock_does_not_before(
    clock: SkipAheadClock, timers: Timers
) -> None:
    bounded = within(Future(), 20.0, timers)
    clock.skip(19.0)
    assert not gather(bounded).done()  # 1 s short
    clock.skip(1.5)
    (done,) = gather(bounded).result(timeout=WAIT_S)
    assert isinstance(done.exception(timeout=0), FutureTimeout)


def test_a_deadline_gives_the_error_asked_for(clock: SkipAheadClock, timers: Timers) -> None:
    bounded = within(Future(), 5.0, timers, lambda: LookupError("queue did not answer"))
    clock.skip(5.0)
    (done,) = gather(bounded).result(timeout=WAIT_S)
    assert isinstance(done.exception(timeout=0), LookupError)


def test_an_answer_in_time_is_kept_and_the_late_deadline_changes_nothing(
    clock: SkipAheadClock, timers: Timers
) -> None:
    job: Future[str] = Future()
    bounded = within(job, 5.0, timers)
    job.set_result("signature")
    clock.skip(10.0)
    fired = threading.Event()
    timers.call_later(0.0, fired.set)  # the timer thread has looked at the clock since
    assert fired.wait(WAIT_S)
    assert bounded.result(timeout=0) == "signature"


def test_calls_not_made_when_the_timers_stop_are_dropped(clock: SkipAheadClock) -> None:
    timers = Timers(clock)
    made: list[str] = []
    timers.call_later(1.0, lambda: made.append("late"))
    timers.stop()
    clock.skip(5.0)
    timers.poke()
    assert made == []
    assert timers.call_later(0.0, lambda: made.append("after stop")).cancelled

"""Futures followed with callbacks, so that no thread of the kiosk waits on ``.result()``.

Each device runs its own worker and hands back a ``concurrent.futures.Future``. The
controller goes on from there without parking a thread on it:

* :func:`run_steps` drives a generator that ``yield``\\ s futures: each step runs when
  the future before it is done (with its result sent in, or its error raised at the
  ``yield``), so a chain of device and queue calls reads top to bottom like plain code;
* :func:`then` runs one step after a future, :func:`follow` turns whatever a step
  returns (a value, a future, steps) into a future;
* :func:`within` gives a future a deadline, kept by :class:`Timers` (one thread for
  every deadline and every periodic job, on an injectable clock);
* :func:`gather` is done when several futures are, whatever each one's outcome.

A step runs on the thread that completed the future before it (a device's worker, the
queue worker, the timer thread), so steps are short and never block.

    >>> def steps():
    ...     half = yield done_with(21)
    ...     return half * 2
    >>> run_steps(steps()).result(timeout=0)   # already done: .result() does not wait
    42
    >>> timers = Timers()
    >>> late = within(Future(), 0.01, timers)
    >>> (done,) = gather(late).result(timeout=5)   # a doctest may wait; the kiosk never does
    >>> type(done.exception(timeout=0)).__name__
    'TimeoutError'
    >>> timers.stop()
"""

from __future__ import annotations

import heapq
import inspect
import itertools
import logging
import threading
import time
from collections.abc import Callable, Generator
from concurrent.futures import CancelledError, Future, InvalidStateError
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any, TypeVar

log = logging.getLogger("kiosk.futures")

T = TypeVar("T")
Steps = Generator[Future[Any], Any, T]


def done_with(value: T) -> Future[T]:
    future: Future[T] = Future()
    future.set_result(value)
    return future


def failed_with(error: BaseException) -> Future[Any]:
    future: Future[Any] = Future()
    future.set_exception(error)
    return future


def settle(future: Future[T], done: Future[T]) -> None:
    """Give ``future`` the outcome of ``done`` (a done future); a settled one stays as it is."""
    try:
        error = _error_of(done)
        if error is None:
            future.set_result(done.result(timeout=0))
        else:
            future.set_exception(error)
    except InvalidStateError:  # a deadline came first, or the other way round
        pass


def _error_of(done: Future[Any]) -> BaseException | None:
    if done.cancelled():
        return CancelledError()
    return done.exception(timeout=0)


def follow(start: Callable[[], Any]) -> Future[Any]:
    """``start()`` as a future: its value, the future it returns, or its steps (a generator
    of futures, see :func:`run_steps`); what it raises fails the future."""
    try:
        outcome = start()
    except Exception as error:
        return failed_with(error)
    if inspect.isgenerator(outcome):
        return run_steps(outcome)
    return outcome if isinstance(outcome, Future) else done_with(outcome)


def then(future: Future[Any], step: Callable[[Any], Any]) -> Future[Any]:
    """A future of ``step(result)`` once ``future`` is done; a failure skips the step. A step
    that returns a future (or steps) is followed, not waited on."""

    def steps() -> Steps[Any]:
        value = yield future
        return (yield follow(lambda: step(value)))

    return run_steps(steps())


def run_steps(steps: Steps[T]) -> Future[T]:
    """The outcome of ``steps``, a generator that yields futures and returns the answer.

    Each yielded future is followed with a callback: the generator resumes when it is
    done, on the thread that completed it, with its result (or its error raised at the
    ``yield``). A future already done resumes it at once, in a loop (no recursion).
    """
    answer: Future[T] = Future()

    def resume(done: Future[Any] | None) -> None:
        while True:
            try:
                if done is None:
                    waiting = next(steps)
                elif (error := _error_of(done)) is not None:
                    waiting = steps.throw(error)
                else:
                    waiting = steps.send(done.result(timeout=0))
            except StopIteration as finished:
                answer.set_result(finished.value)
                return
            except Exception as error:
                answer.set_exception(error)
                return
            if not waiting.done():
                waiting.add_done_callback(resume)
                return
            done = waiting

    resume(None)
    return answer


def gather(*futures: Future[Any]) -> Future[tuple[Future[Any], ...]]:
    """Done when every one of ``futures`` is; its result is those futures, each done."""
    together: Future[tuple[Future[Any], ...]] = Future()
    left = [len(futures)]
    lock = threading.Lock()

    def one_done(_done: Future[Any]) -> None:
        with lock:
            left[0] -= 1
            if left[0]:
                return
        together.set_result(futures)

    if not futures:
        together.set_result(())
    for future in futures:
        future.add_done_callback(one_done)
    return together


def within(
    future: Future[T],
    seconds: float,
    timers: Timers,
    error: Callable[[], BaseException] = FutureTimeout,
) -> Future[T]:
    """``future``'s outcome, or ``error()`` when it is not done ``seconds`` from now.

    The work behind ``future`` goes on (a card job cannot be pulled back); its late
    outcome is dropped.
    """
    bounded: Future[T] = Future()
    deadline = timers.call_later(seconds, lambda: settle(bounded, failed_with(error())))

    def finished(done: Future[T]) -> None:
        deadline.cancel()
        settle(bounded, done)

    future.add_done_callback(finished)
    return bounded


# --- the timer thread ---------------------------------------------------------------------
@dataclass(order=True)
class Timer:
    """One call to make at ``when`` on the :class:`Timers` clock; :meth:`cancel` drops it."""

    when: float
    order: int
    action: Callable[[], Any] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


class Timers:
    """One thread that makes short calls when their time comes: deadlines, periodic jobs.

    The thread starts with the first call asked for. ``clock`` is ``time.monotonic``
    unless a test passes one it moves forward (then it calls :meth:`poke`, as
    ``sim.clock.SkipAheadClock.on_skip`` does, so the thread reads the clock again).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, name: str = "kiosk-timers"):
        self.clock = clock
        self.name = name
        self._due: list[Timer] = []
        self._order = itertools.count()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def call_later(self, seconds: float, action: Callable[[], Any]) -> Timer:
        """Call ``action()`` on the timer thread ``seconds`` from now (never, once stopped)."""
        with self._changed:
            timer = Timer(self.clock() + seconds, next(self._order), action)
            if self._stopped:
                timer.cancel()
                return timer
            heapq.heappush(self._due, timer)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
            self._changed.notify()
        return timer

    def poke(self) -> None:
        """Read the clock again now (it was moved)."""
        with self._changed:
            self._changed.notify()

    def stop(self, timeout: float = 5.0) -> None:
        """Drop every call not made yet; a call being made finishes."""
        with self._changed:
            self._stopped = True
            self._due.clear()
            self._changed.notify()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._changed:
                timer = self._next_due()
                if timer is None:
                    return
            if timer.cancelled:
                continue
            try:
                timer.action()
            except Exception as error:  # a bug in one call must not stop the others
                log.error("timer_call_failed error=%s", type(error).__name__)

    def _next_due(self) -> Timer | None:
        """The next timer once its time has come (lock held); None once stopped."""
        while not self._stopped:
            while self._due and self._due[0].cancelled:
                heapq.heappop(self._due)
            if self._due:
                left = self._due[0].when - self.clock()
                if left <= 0:
                    return heapq.heappop(self._due)
                self._changed.wait(left)
            else:
                self._changed.wait()
        return None

"""How the kiosk's parts are: the online badge, the catalog refresh, the fleet heartbeat,
and the staff screen's figures.

Every ``interval`` seconds, on the controller's timer thread, one round asks the
central service for its health (posting ``flow.NetworkChanged`` when reachability
changes), refreshes the catalog when it is due and the service is there, and sends
the heartbeat when it is due. The next round is planned once this one is over, so
rounds never pile up behind a slow central service. The queue and the printer are
asked through futures with a deadline: a printer busy with a receipt answers after
it, and nothing here waits for it.

Nothing of any person: counts, ages and status codes only.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from kiosk import flow
from kiosk.futures import Steps, Timer, Timers, gather, run_steps, then
from kiosk.heartbeat import Health, collect_health, send_collected, storage_problem

log = logging.getLogger("mynapoint.controller")


class HealthMonitor:
    """Reachability, catalog refresh and heartbeat rounds; the staff screen's figures."""

    def __init__(
        self,
        *,
        central: Any,
        heartbeat: Any,
        catalog: Any,
        card: Any,
        queue_status: Callable[[], Future[Any]],
        printer_status: Callable[[], Future[Any]],
        on_central: Callable[[Callable[[], Any]], Future[Any]],
        post: Callable[[Any], None],
        timers: Timers,
        interval: float,
        catalog_refresh_interval: float,
        heartbeat_interval: float,
        staff_gate: Any = None,
        clock_problem: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.central = central  # kiosk.central_link.CentralLink, or None
        self.heartbeat = heartbeat  # kiosk.heartbeat.Heartbeat, or None
        self.catalog = catalog
        self.card = card
        self.queue_status = queue_status
        self.printer_status = printer_status
        self.on_central = on_central
        self.post = post
        self.timers = timers
        self.interval = interval
        self.catalog_refresh_interval = catalog_refresh_interval
        self.heartbeat_interval = heartbeat_interval
        self.staff_gate = staff_gate  # kiosk.staff.StaffGate: its lockout goes in the heartbeat
        self.clock_problem = clock_problem  # the controller's: why the clock is known wrong
        #: Whether the central service answered the last probe (None before the first).
        self.online: bool | None = None
        self._catalog_refreshed_at: float | None = None
        self._heartbeat_sent_at: float | None = None
        self._out_of_service = False  # as last told to the flow
        self._queue_full = False  # as last told to the flow (flow.QueueRoom)
        self._queue_full_lock = threading.Lock()
        self._next: Timer | None = None
        self._running = False
        #: Whether the kiosk can speak (kiosk.voice.VoiceCache.status); None: no speech part.
        self.speech_status: Callable[[], Any] = lambda: None

    # --- rounds ---------------------------------------------------------------------------
    def start(self) -> None:
        """The first round now, then one every ``interval`` (nothing to do: no rounds)."""
        if (self.central is None and self.heartbeat is None) or self._running:
            return
        self._running = True
        self._next = self.timers.call_later(0.0, self._round)

    def stop(self) -> None:
        self._running = False
        if self._next is not None:
            self._next.cancel()

    def _round(self) -> None:
        run_steps(self._round_steps()).add_done_callback(self._round_over)

    def _round_over(self, done: Future[Any]) -> None:
        error = done.exception(timeout=0)
        if not self._running or isinstance(error, RuntimeError):  # stopped, or stopping
            return
        if error is not None:  # a bug: say so, keep probing
            log.error("health_round_failed error=%s", type(error).__name__)
        self._next = self.timers.call_later(self.interval, self._round)

    def _round_steps(self) -> Steps[None]:
        (queue,) = yield gather(self.queue_status())
        if queue.exception(timeout=0) is None:  # a queue that did not open: maintenance
            self.note_queue_full(queue.result(timeout=0).full)
        if self.central is not None:
            online = yield self.on_central(self.central.healthy)
            if online != self.online:
                self.online = online
                log.info("central_reachable %s", online)
                self.post(flow.NetworkChanged(online))
            if online and self._due(self._catalog_refreshed_at, self.catalog_refresh_interval):
                self.on_central(self.refresh_catalog)
        heartbeat_due = self._due(self._heartbeat_sent_at, self.heartbeat_interval)
        # not before the card service has looked for its reader: the first report of a
        # loaded kiosk said no_reader, and the console alerted for a minute after a start
        looked = getattr(self.card, "reader_known", True)
        if self.heartbeat is not None and heartbeat_due and looked:
            self._heartbeat_sent_at = self.timers.clock()
            (collected,) = yield gather(self._collect_health())
            sent = send_collected(self.heartbeat, lambda: collected.result(timeout=0))
            if sent is not None:  # its answer may take the kiosk out of service (or back)
                sent.add_done_callback(lambda _: self._service_state())

    def note_queue_full(self, full: bool) -> None:
        """Tell the flow when the queue's room ran out, or came back (any thread)."""
        with self._queue_full_lock:
            changed, self._queue_full = full != self._queue_full, full
        if changed:
            log.warning("queue_room full=%s", full)
            self.post(flow.QueueRoom(full))

    def _service_state(self) -> None:
        """Tell the flow when the heartbeat's answer changed ``out_of_service``."""
        out = bool(getattr(self.heartbeat, "out_of_service", False))
        if out != self._out_of_service:
            self._out_of_service = out
            self.post(flow.OutOfService(out))

    def refresh_catalog(self) -> bool:
        """Take services and campaigns from the central service; keep ours on any error."""
        self._catalog_refreshed_at = self.timers.clock()
        refreshed = self.central is not None and self.catalog.refresh(self.central.get_json)
        log.info("catalog_refreshed %s", refreshed)
        return refreshed

    # --- the parts' status ----------------------------------------------------------------
    def _collect_health(self) -> Future[Health]:
        """The heartbeat's report: queue depth and age, device status codes; nobody's data."""

        def report(done: tuple[Future[Any], ...]) -> Health:
            queue_answer, printer_answer = done
            printer = printer_answer.result(timeout=0)
            reader = "ok" if self.card.reader_available else "no_reader"
            speech = self.speech_status()
            queue, problem = None, None
            try:
                queue = queue_answer.result(timeout=0)
            except Exception as error:  # still reported: the operator sees why
                problem = storage_problem(error)
            return collect_health(
                queue,
                printer=printer.problem or "ok",
                reader=reader,
                staff_gate=self.staff_gate,
                speech=speech.code if speech is not None else "off",
                queue_problem=problem,
                clock=self.clock_problem() or "ok",
            )

        return then(gather(self.queue_status(), self.printer_status()), report)

    def staff_status(self) -> Future[dict[str, Any]]:
        """Queue counts and age, reader and printer state: nothing of any person.

        Done when the queue and the printer have answered, or their deadline passed (the
        staff screen shows what it can).
        """
        return then(gather(self.queue_status(), self.printer_status()), self._staff_info)

    def _staff_info(self, done: tuple[Future[Any], ...]) -> dict[str, Any]:
        queue, printer = done
        info: dict[str, Any] = {
            "reader_available": bool(self.card.reader_available),
            "card_present": bool(self.card.card_present),
            "online": self.online,
            "clock_problem": self.clock_problem(),
        }
        speech = self.speech_status()
        if speech is not None:  # engines and voices only: nothing of any person
            info["speech"] = speech.code
            info["speech_missing"] = ", ".join((*speech.missing, *speech.silent_languages))
        try:
            status = queue.result(timeout=0)
            info.update(
                queue_counts=dict(status.counts),
                queue_counts_by_procedure=dict(getattr(status, "counts_by_procedure", {})),
                oldest_pending_age_s=status.oldest_pending_age_s,
                last_sync_error=status.last_error_kind,
                queue_room_bytes=status.room_bytes,
                queue_full=status.full,
            )
        except Exception as error:  # the staff screen shows what it can
            info["queue_error"] = storage_problem(error)
        try:
            problem = printer.result(timeout=0).problem
            info["printer_problem"] = problem.kind if problem else None
        except Exception as error:
            info["printer_problem"] = getattr(error, "kind", type(error).__name__)
        return info

    def _due(self, last: float | None, interval: float) -> bool:
        return last is None or self.timers.clock() - last >= interval

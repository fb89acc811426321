"""`peerstats worker`: refreshes the materialized statistics within seconds of every change.

Statement-level triggers on activities and activity_types notify the channel
peerstats_stats_dirty at commit. The worker LISTENs on a session connection of its own and
refreshes through public.refresh_stats_views(), whose advisory lock keeps it from ever
refreshing at the same time as the pg_cron job, `peerstats refresh` or another worker.

Bursts are coalesced: after a notification the worker waits until the channel has been
quiet for `debounce` seconds, but never longer than `max_delay` after the first pending
notification, so a steady stream of writes still gets a refresh at least every `max_delay`.
A notification that arrives during a refresh may announce a change that refresh did not
see, so it counts as pending since that refresh began.

Notifications sent while no worker listens are lost, so the worker refreshes once at start
and once after every reconnect. A lost connection (the database restarting, a network
failure) is retried with exponential backoff, and every refresh is logged with its duration.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from peerstats import database, migrations
from peerstats.errors import PeerstatsError
from peerstats.refresh import ViewRefresh, describe_refresh, refresh_stats_views

CHANNEL = "peerstats_stats_dirty"
# Recorded by refresh_stats_views() in private.refresh_runs.requested_by.
APPLICATION_NAME = "peerstats-worker"
# How often a waiting worker looks whether it was asked to stop.
STOP_CHECK_SECONDS = 0.25
# An idle connection is checked this often, so a connection that died silently (a pooler
# or a firewall dropping it) is noticed and replaced instead of waiting forever.
IDLE_CHECK_SECONDS = 30.0

log = logging.getLogger("peerstats.worker")


@dataclass(frozen=True)
class Timing:
    """When to refresh after a notification, and how to back off after a lost connection (seconds)."""

    debounce: float = 0.15
    max_delay: float = 1.0
    backoff_first: float = 0.5
    backoff_max: float = 30.0


@dataclass(frozen=True)
class RefreshRecord:
    """One refresh by the worker; times are time.monotonic() readings."""

    reason: str
    notifications: int
    dirty_since: float | None
    called_at: float
    finished_at: float
    views: list[ViewRefresh]

    @property
    def total_ms(self) -> float:
        return (self.finished_at - self.called_at) * 1000

    @property
    def outside_views_ms(self) -> float:
        """Time not spent refreshing a view: waiting for another refresh's lock, round trip, commit."""
        return self.total_ms - sum(float(v.refresh_ms or 0) for v in self.views)


class Worker:
    """Listens for the dirty signal and refreshes; run() returns once `stopping` is set."""

    def __init__(
        self,
        url: str,
        timing: Timing = Timing(),
        *,
        stopping: threading.Event | None = None,
        on_refresh: Callable[[RefreshRecord], None] | None = None,
    ):
        self.url = url
        self.timing = timing
        self.stopping = stopping or threading.Event()
        self.on_refresh = on_refresh

    def run(self) -> None:
        """Refresh and listen until stopped. A database that cannot be reached at the very
        start is an error (PeerstatsError); once connected, every failure is retried."""
        reconnecting = False
        failures = 0
        while not self.stopping.is_set():
            try:
                conn = database.connect(self.url, application_name=APPLICATION_NAME)
            except PeerstatsError as failure:
                if not reconnecting:
                    raise
                failures += 1
                self._back_off(str(failure), failures)
                continue
            try:
                with conn:
                    conn.execute(f"listen {CHANNEL}")
                    log.info("%s; listening on %s", "reconnected" if reconnecting else "connected", CHANNEL)
                    # Changes made while nobody listened sent no notification that will arrive.
                    first_reason = "after reconnecting" if reconnecting else "at start"
                    reconnecting = True
                    failures = 0
                    self._serve(conn, first_reason)
            except psycopg.OperationalError as failure:
                if self.stopping.is_set():
                    break
                failures += 1
                self._back_off(f"database connection lost: {migrations.describe(failure)}", failures)
            except psycopg.errors.UndefinedFunction as failure:
                raise PeerstatsError(
                    "public.refresh_stats_views() is missing: apply the migrations first (peerstats db up)"
                ) from failure
        log.info("stopped")

    def _back_off(self, reason: str, failures: int) -> None:
        delay = min(self.timing.backoff_max, self.timing.backoff_first * 2 ** (failures - 1))
        log.warning("%s; reconnecting in %.1f s (attempt %d)", reason, delay, failures)
        deadline = time.monotonic() + delay
        while not self.stopping.is_set() and time.monotonic() < deadline:
            time.sleep(min(STOP_CHECK_SECONDS, max(0.0, deadline - time.monotonic())))

    def _serve(self, conn: psycopg.Connection, first_reason: str) -> None:
        dirty_since, pending = self._refresh(conn, first_reason, 0, None)
        # Notifications drained after a refresh were noticed just now, whenever they were sent.
        last_notified = last_contact = time.monotonic()
        while not self.stopping.is_set():
            now = time.monotonic()
            if dirty_since is not None:
                due = min(last_notified + self.timing.debounce, dirty_since + self.timing.max_delay)
                if now >= due:
                    reason = f"after {pending} notification{'' if pending == 1 else 's'}"
                    dirty_since, pending = self._refresh(conn, reason, pending, dirty_since)
                    last_notified = last_contact = time.monotonic()
                    continue
                timeout = min(due - now, STOP_CHECK_SECONDS)
            else:
                if now - last_contact >= IDLE_CHECK_SECONDS:
                    conn.execute("select 1")
                    last_contact = now
                timeout = STOP_CHECK_SECONDS
            arrived = sum(1 for _ in conn.notifies(timeout=timeout, stop_after=1))
            if arrived:
                last_notified = last_contact = time.monotonic()
                dirty_since = dirty_since if dirty_since is not None else last_notified
                pending += arrived

    def _refresh(
        self, conn: psycopg.Connection, reason: str, notifications: int, dirty_since: float | None
    ) -> tuple[float | None, int]:
        """Refresh once; return (pending since, count) of the notifications that came meanwhile."""
        called_at = time.monotonic()
        views = refresh_stats_views(conn, wait=True)
        finished_at = time.monotonic()
        record = RefreshRecord(reason, notifications, dirty_since, called_at, finished_at, views)
        log.info("refreshed %s in %.0f ms (%s; %.0f ms waiting for another refresh and committing)",
                 reason, record.total_ms, describe_refresh(views), record.outside_views_ms)
        for view in views:
            if view.status.startswith("failed"):
                log.warning("%s %s", view.view_name, view.status)
        if self.on_refresh:
            self.on_refresh(record)
        arrived = sum(1 for _ in conn.notifies(timeout=0))
        return (called_at if arrived else None), arrived


def run_until_signalled(url: str, timing: Timing) -> None:
    """The command: log to stderr, run the worker, stop cleanly on SIGTERM or SIGINT."""
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s peerstats-worker %(levelname)s %(message)s")
    worker = Worker(url, timing)

    def stop(signum: int, _frame) -> None:
        log.info("%s received; stopping after the current step", signal.Signals(signum).name)
        worker.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    worker.run()

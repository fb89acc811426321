"""`peerstats bench freshness`: how long a committed write takes to show through the API.

On a database of its own (a throwaway cluster unless a URL is given): migrate, seed, refresh,
then insert activities at a steady rate, each as its mentor through the API the way PostgREST
writes. Each insert is a probe: as soon as its commit returns, the chapter's coordinator reads
the probe day through public.activity_time_series, and the probe's staleness is the time
from that commit to the first read that shows it (0 when the first read after the commit
does). Meanwhile refreshes run back to back (so probes commit before, during and after
refreshes), and a coordinator's 12-month dashboard is read again and again through the API and
through the plain views, to compare their latency under the same load. Then the broadcasts'
figures (bench.broadcasts).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

import psycopg
from rich.console import Console

from peerstats import database, migrations, postgrest, verify
from peerstats.bench.broadcasts import (DELIVERY_P95_TARGET_MS, THROUGHPUT_RATIO_TARGET, BroadcastReport,
                                        measure as measure_broadcasts)
from peerstats.bench.latency import summary
from peerstats.cluster import throwaway_cluster
from peerstats.errors import PeerstatsError
from peerstats.output import print_table
from peerstats.periods import months_window
from peerstats.refresh import refresh_stats_views
from peerstats.seed import seed, vacuum_after_load

DASHBOARD_PAUSE_SECONDS = 0.1
# A probe not visible after this long counts as never seen.
CATCH_UP_SECONDS = 10.0

# One minute each: all probes of a chapter fall on one mentor's day, whose counted minutes may
# not pass the daily bound (private.daily_bound_minutes(): a day at 30 minutes a probe).
INSERT_PROBE = ("insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, "
                "duration_minutes) values (%s, %s, %s, %s, 1)")
PROBE_QUERY = "select activity_count from public.activity_time_series where chapter_id = %s and bucket_date = %s"
# A coordinator's dashboard: the last 12 months of each view, for all their chapters, through
# the API and through the plain views.
DASHBOARD_QUERIES = {view.api: verify.date_range_query(view.api_id, view.date_column, by_chapter=False)
                     for view in verify.VIEWS}
PLAIN_DASHBOARD_QUERIES = {view.plain: verify.date_range_query(view.plain_id, view.date_column, by_chapter=False)
                           for view in verify.VIEWS}


@dataclass(frozen=True)
class Setting:
    coordinator: str
    chapters: list[str]
    # chapter -> (mentor id, the mentor's user id): a mentor who writes through the API.
    writer_of: dict[str, tuple[str, str]]
    activity_type: str


@dataclass
class Report:
    activities: int
    rate: float
    duration_s: float
    probes: int
    probes_seen: int
    probes_seen_at_first_read: int
    staleness_ms: dict[str, float]
    first_read_ms: dict[str, float]
    insert_ms: dict[str, float]
    refreshes_during_load: int
    dirty_keys_after_load: int
    dashboard_requests: int
    dashboard_api_ms: dict[str, float]
    dashboard_plain_ms: dict[str, float]
    broadcasts: BroadcastReport | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def target_met(self) -> bool:
        return self.probes > 0 and self.probes_seen == self.probes and self.staleness_ms["max"] == 0

    def as_json(self) -> dict:
        document = {**asdict(self), "target_met": self.target_met}
        if self.broadcasts is not None:
            document["broadcasts"] = self.broadcasts.as_json()
        return document


@contextmanager
def bench_database(database_url: str | None):
    """The given database, else a throwaway cluster removed afterwards."""
    if database_url:
        yield database_url
        return
    with throwaway_cluster() as cluster:
        yield cluster.url


def prepare(conn: psycopg.Connection, activities: int, progress: Callable[[str], None]) -> Setting:
    """Migrate, seed, and choose the coordinator, its chapters, a writing mentor in each, and a counting type."""
    progress("applying migrations")
    migrations.apply_all(conn)
    progress(f"seeding {activities:,} activities")
    seed(conn, activities=activities)
    found = conn.execute(
        "select user_id::text, array_agg(chapter_id::text order by chapter_id) from public.coordinator_chapters "
        "group by user_id order by count(*) desc, user_id limit 1").fetchone()
    if found is None:
        raise PeerstatsError("the seeded database has no coordinator")
    coordinator, chapters = found
    writer_of = {chapter: (mentor, user) for chapter, mentor, user in conn.execute(
        "select distinct on (chapter_id) chapter_id::text, id::text, user_id::text from public.peer_mentors "
        "where chapter_id = any(%s::uuid[]) and user_id is not null order by chapter_id, id", (chapters,))}
    activity_type = conn.execute(
        "select code from public.activity_types where counts_in_stats order by code limit 1").fetchone()
    if not writer_of or activity_type is None:
        raise PeerstatsError("the seeded database has no signed-in mentor in the coordinator's chapters "
                             "or no counting type")
    return Setting(coordinator, [c for c in chapters if c in writer_of], writer_of, activity_type[0])


class Refresher(threading.Thread):
    """Refreshes back to back, so probes commit before, during and after refreshes."""

    def __init__(self, url: str, stop: threading.Event):
        super().__init__(daemon=True)
        self.url, self.stop = url, stop
        self.refreshes = 0
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            with database.connect(self.url, application_name="peerstats-bench-refresher") as conn:
                while not self.stop.is_set():
                    refresh_stats_views(conn)
                    self.refreshes += 1
        except BaseException as failure:  # reported by the main thread
            self.failure = failure


class DashboardReader(threading.Thread):
    """Reads the coordinator's 12-month dashboard again and again, through the API and the plain views."""

    def __init__(self, url: str, setting: Setting, stop: threading.Event):
        super().__init__(daemon=True)
        self.url, self.setting, self.stop = url, setting, stop
        self.api_ms: list[float] = []
        self.plain_ms: list[float] = []
        self.failure: BaseException | None = None

    def read(self, conn: psycopg.Connection, queries, params) -> float:
        began = time.perf_counter()
        for query in queries.values():
            postgrest.request(conn, "authenticated", query, params, user_id=self.setting.coordinator)
        return (time.perf_counter() - began) * 1000

    def run(self) -> None:
        today = datetime.now(timezone.utc).date()
        params = months_window(today)
        try:
            with database.connect(self.url, application_name="peerstats-bench-dashboard") as conn:
                while not self.stop.is_set():
                    self.api_ms.append(self.read(conn, DASHBOARD_QUERIES, params))
                    self.plain_ms.append(self.read(conn, PLAIN_DASHBOARD_QUERIES, params))
                    time.sleep(DASHBOARD_PAUSE_SECONDS)
        except BaseException as failure:  # reported by the main thread
            self.failure = failure


def run(database_url: str | None, *, activities: int, rate: float, duration: float,
        progress: Callable[[str], None]) -> Report:
    if activities < 1 or rate <= 0 or duration <= 0:
        raise PeerstatsError("--activities, --rate and --duration must be positive")
    with bench_database(database_url) as url, database.connect(url, application_name="peerstats-bench") as conn:
        setting = prepare(conn, activities, progress)
        progress("refreshing the materialized views")
        refresh_stats_views(conn)
        vacuum_after_load(conn)
        report = load(conn, url, setting, activities=activities, rate=rate, duration=duration, progress=progress)
        report.broadcasts = measure_broadcasts(url, setting.chapters, setting.writer_of, setting.activity_type,
                                               rate=rate, duration=duration, progress=progress)
        return report


def load(conn: psycopg.Connection, url: str, setting: Setting, *, activities: int, rate: float, duration: float,
         progress: Callable[[str], None]) -> Report:
    recorded_at = datetime.now(timezone.utc)
    day = recorded_at.date()
    stop = threading.Event()
    refresher, dashboard = Refresher(url, stop), DashboardReader(url, setting, stop)
    staleness: list[float] = []
    first_reads: list[float] = []
    inserts: list[float] = []
    at_first_read = 0
    total = max(1, round(rate * duration))
    progress(f"inserting {total} activities at {rate:g} a second for {duration:g} s through the API, "
             f"reading each back as the coordinator, while refreshes run back to back")
    refresher.start()
    dashboard.start()
    try:
        with database.connect(url, application_name="peerstats-bench-writer") as writer, \
                database.connect(url, application_name="peerstats-bench-reader") as reader:
            def count(chapter: str) -> int:
                rows = postgrest.request(reader, "authenticated", PROBE_QUERY, (chapter, day),
                                         user_id=setting.coordinator)
                return rows[0][0] if rows else 0

            expected = {chapter: count(chapter) for chapter in setting.chapters}
            started = time.monotonic()
            for i in range(total):
                time.sleep(max(0.0, started + i / rate - time.monotonic()))
                chapter = setting.chapters[i % len(setting.chapters)]
                mentor, user = setting.writer_of[chapter]
                began = time.perf_counter()
                postgrest.request(writer, "authenticated", INSERT_PROBE,
                                  (mentor, chapter, setting.activity_type, recorded_at), user_id=user, read_only=False)
                committed = time.perf_counter()
                inserts.append((committed - began) * 1000)
                expected[chapter] += 1
                seen = count(chapter) >= expected[chapter]
                first_reads.append((time.perf_counter() - committed) * 1000)
                if seen:
                    at_first_read += 1
                    staleness.append(0.0)
                    continue
                while time.perf_counter() - committed < CATCH_UP_SECONDS:
                    read_began = time.perf_counter()
                    if count(chapter) >= expected[chapter]:
                        staleness.append((read_began - committed) * 1000)
                        break
    finally:
        stop.set()
        refresher.join()
        dashboard.join()
    for failure in (refresher.failure, dashboard.failure):
        if failure:
            raise PeerstatsError(f"the benchmark failed: {failure}") from failure
    notes = []
    if len(staleness) < total:
        notes.append(f"{total - len(staleness)} probes were not visible {CATCH_UP_SECONDS:g} s after their commit")
    dirty = conn.execute("select count(*) from private.stats_dirty_keys").fetchone()[0]
    return Report(
        activities=activities, rate=rate, duration_s=duration, probes=total, probes_seen=len(staleness),
        probes_seen_at_first_read=at_first_read, staleness_ms=summary(staleness), first_read_ms=summary(first_reads),
        insert_ms=summary(inserts), refreshes_during_load=refresher.refreshes, dirty_keys_after_load=dirty,
        dashboard_requests=len(dashboard.api_ms), dashboard_api_ms=summary(dashboard.api_ms),
        dashboard_plain_ms=summary(dashboard.plain_ms), notes=notes)


def print_report(console: Console, result: Report) -> None:
    stale = result.staleness_ms
    first, insert = result.first_read_ms, result.insert_ms
    api, plain = result.dashboard_api_ms, result.dashboard_plain_ms
    rows = [
        ("probes seen by their coordinator", f"{result.probes_seen} of {result.probes}"),
        ("seen by the first read after the commit", f"{result.probes_seen_at_first_read} of {result.probes}"),
        ("staleness p50 / p95 / max", f"{stale['p50']:.0f} / {stale['p95']:.0f} / {stale['max']:.0f} ms"),
        ("target: maximum staleness 0 ms", "met" if result.target_met else "MISSED"),
        ("insert (API) p50 / max", f"{insert['p50']:.1f} / {insert['max']:.1f} ms"),
        ("read-back (API) p50 / max", f"{first['p50']:.1f} / {first['max']:.1f} ms"),
        ("refreshes during the load", str(result.refreshes_during_load)),
        ("dirty keys in the log after the load", f"{result.dirty_keys_after_load:,}"),
        ("12-month dashboard (3 views) requests", str(result.dashboard_requests)),
        ("  through the API p50 / p95 / max", f"{api['p50']:.1f} / {api['p95']:.1f} / {api['max']:.1f} ms"),
        ("  through the plain views p50 / p95 / max", f"{plain['p50']:.1f} / {plain['p95']:.1f} / {plain['max']:.1f} ms"),
        ("  API / plain (p50)", f"{api['p50'] / plain['p50']:.2f}" if plain["p50"] else "-"),
    ]
    print_table(console, ["freshness under load", "measured"], rows, title=(
        f"{result.activities:,} activities, {result.rate:g} inserts/s through the API for {result.duration_s:g} s, "
        f"refreshes back to back"))
    if result.broadcasts is not None:
        print_broadcasts(console, result.broadcasts)
    for note in result.notes:
        console.print(f"note: {note}")


def print_broadcasts(console: Console, result: BroadcastReport) -> None:
    spread, burst = result.spread_ms, result.burst_ms
    rows = [
        (f"{result.rate:g} inserts/s over the chapters: delivered", f"{result.spread_delivered} of {result.spread_writes}"),
        ("  commit to message p50 / p95 / max", f"{spread['p50']:.0f} / {spread['p95']:.0f} / {spread['max']:.0f} ms"),
        (f"  target: p95 under {DELIVERY_P95_TARGET_MS:,} ms",
         "met" if result.delivery_target_met else "MISSED"),
        (f"a burst of {result.burst_writes} into one chapter: delivered",
         f"{result.burst_delivered} of {result.burst_writes}"),
        ("  commit to message p50 / p95 / max", f"{burst['p50']:.0f} / {burst['p95']:.0f} / {burst['max']:.0f} ms"),
        *((f"messages for {transaction}", str(count)) for transaction, count in result.messages_per_transaction.items()),
        ("single-row inserts/s with / without broadcasts",
         f"{result.inserts_per_s_with_broadcasts:.0f} / {result.inserts_per_s_without_broadcasts:.0f}"),
        ("  with / without", f"{result.throughput_ratio:.2f}"),
        (f"  target: with / without at least {THROUGHPUT_RATIO_TARGET:g}",
         "met" if result.throughput_target_met else "MISSED"),
    ]
    print_table(console, ["broadcasts (model of Realtime)", "measured"], rows, title=(
        "from a commit to the stats_changed message at a subscriber (the official Python client)"))

"""`peerstats bench freshness`: how stale the dashboard is while activities are being written.

On a database of its own (a throwaway cluster unless a URL is given): migrate, seed, refresh,
start `peerstats worker` (in a thread), then insert activities at a steady rate from a second
connection. Each inserted activity is a probe: the time from its commit until a coordinator of
its chapter sees it in public.activity_time_series, requested the way PostgREST requests it, is
its staleness. Meanwhile a coordinator's dashboard (12 months of the three API views) is read
over and over, and the slowest of those reads is reported. Where the time went is taken from
the worker's refreshes: waiting for a refresh to start (a refresh already running, then the
debounce), waiting for another refresh's lock, refreshing each view, and seeing it.

Before the load, the cost of the dirty signal on writes is measured: single-row insert
statements per second, by one writer and by several at once, with the triggers enabled and
disabled. NOTIFY serialises the commits of notifying transactions on one cluster-wide lock,
so the concurrent figure is the one to watch.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone

import psycopg
from rich.console import Console
from rich.table import Table

from peerstats import database, migrations, postgrest, verify
from peerstats.bench import percentile
from peerstats.cluster import throwaway_cluster
from peerstats.errors import PeerstatsError
from peerstats.refresh import refresh_stats_views
from peerstats.seed import seed
from peerstats.worker import APPLICATION_NAME as WORKER_APPLICATION_NAME
from peerstats.worker import RefreshRecord, Timing, Worker

# How often the probe reader asks whether the probes are visible; staleness is overstated by
# at most this plus one request.
PROBE_POLL_SECONDS = 0.05
DASHBOARD_PAUSE_SECONDS = 0.2
# After the load, how long the last probes may take to become visible before they count as never.
CATCH_UP_SECONDS = 60.0
TRIGGER_COST_STATEMENTS = 1000
TRIGGER_COST_ROUNDS = 2
CONCURRENT_WRITERS = 4
TRIGGER_COST_TYPE = "bench_trigger_cost"
SIGNAL_TRIGGER = "activities_stats_dirty"

INSERT_PROBE = ("insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, "
                "duration_minutes) values (%s, %s, %s, %s, 30)")
PROBE_QUERY = "select chapter_id, activity_count from public.activity_time_series where bucket_date = %s"
# A coordinator's dashboard: the last 12 months of each API view, for all their chapters.
DASHBOARD_QUERIES = {view.api: verify.date_range_query(view.api_id, view.date_column, by_chapter=False)
                     for view in verify.VIEWS}


def target_ms(activities: int) -> int:
    """The issue's targets: p95 at most 2 s at 100k activities, at most 5 s at 1M."""
    return 2000 if activities <= 100_000 else 5000


@dataclass
class Probe:
    chapter_id: str
    committed_at: float | None = None
    visible_at: float | None = None

    @property
    def staleness_ms(self) -> float | None:
        if self.committed_at is None or self.visible_at is None:
            return None
        # A refresh can publish a probe before its commit's round trip has returned.
        return max(0.0, self.visible_at - self.committed_at) * 1000


@dataclass(frozen=True)
class Setting:
    coordinator: str
    chapters: list[str]
    mentor_of: dict[str, str]
    activity_type: str


@dataclass
class TriggerCost:
    writers: int
    statements: int
    with_signal_per_s: float
    without_signal_per_s: float

    @property
    def overhead_pct(self) -> float:
        return (self.without_signal_per_s / self.with_signal_per_s - 1) * 100


@dataclass
class Report:
    activities: int
    rate: float
    duration_s: float
    debounce_ms: float
    max_delay_ms: float
    probes: int
    probes_seen: int
    staleness_ms: dict[str, float]
    target_p95_ms: int
    target_met: bool
    worker_refreshes: int
    other_refreshes: int
    refresh_ms: dict[str, float]
    view_refresh_ms: dict[str, float]
    staleness_breakdown_ms: dict[str, dict[str, float]]
    dashboard_requests: int
    dashboard_ms: dict[str, float]
    slowest_dashboard_query: str
    trigger_cost: list[TriggerCost]
    poll_interval_ms: float = PROBE_POLL_SECONDS * 1000
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        document = asdict(self)
        document["trigger_cost"] = [{**asdict(cost), "overhead_pct": cost.overhead_pct} for cost in self.trigger_cost]
        return document


def summary(values: list[float]) -> dict[str, float]:
    return {"p50": percentile(values, 0.5), "p95": percentile(values, 0.95), "max": max(values, default=float("nan")),
            "mean": statistics.fmean(values) if values else float("nan")}


@contextmanager
def bench_database(database_url: str | None):
    """The given database, else a throwaway cluster removed afterwards."""
    if database_url:
        yield database_url
        return
    with throwaway_cluster() as cluster:
        yield cluster.url


def prepare(conn: psycopg.Connection, activities: int, progress: Callable[[str], None]) -> Setting:
    """Migrate, seed, and choose the coordinator, chapters, mentors and type the probes use."""
    progress("applying migrations")
    migrations.apply_all(conn)
    progress(f"seeding {activities:,} activities")
    seed(conn, activities=activities)
    found = conn.execute(
        "select user_id, array_agg(chapter_id::text order by chapter_id) from public.coordinator_chapters "
        "group by user_id order by count(*) desc, user_id limit 1").fetchone()
    if found is None:
        coordinator = conn.execute(
            "insert into auth.users (id, email) values (gen_random_uuid(), 'bench-coordinator@example.org') "
            "returning id::text").fetchone()[0]
        conn.execute("insert into public.coordinator_chapters (user_id, chapter_id) "
                     "select %s, id from public.chapters order by id limit 5", (coordinator,))
        found = conn.execute("select %s::text, array_agg(chapter_id::text order by chapter_id) "
                             "from public.coordinator_chapters where user_id = %s", (coordinator, coordinator)).fetchone()
    coordinator, chapters = found
    mentor_of = dict(conn.execute(
        "select distinct on (chapter_id) chapter_id::text, id::text from public.peer_mentors "
        "where chapter_id = any(%s::uuid[]) order by chapter_id, id", (chapters,)).fetchall())
    activity_type = conn.execute(
        "select code from public.activity_types where counts_in_stats order by code limit 1").fetchone()
    if not mentor_of or activity_type is None:
        raise PeerstatsError("the seeded database has no mentor in the coordinator's chapters or no counting type")
    return Setting(str(coordinator), [c for c in chapters if c in mentor_of], mentor_of, activity_type[0])


def insert_rate(url: str, setting: Setting, writers: int, statements: int) -> float:
    """Single-row insert statements per second (each its own transaction) by `writers` connections at once."""
    chapter = setting.chapters[0]
    start = threading.Barrier(writers + 1)
    failures: list[BaseException] = []

    def write() -> None:
        try:
            with database.connect(url, application_name="peerstats-bench-writer") as conn:
                start.wait()
                for _ in range(statements):
                    conn.execute(INSERT_PROBE, (setting.mentor_of[chapter], chapter, TRIGGER_COST_TYPE,
                                                datetime.now(timezone.utc)))
        except BaseException as failure:  # reported by the caller's thread
            failures.append(failure)
            start.abort()

    threads = [threading.Thread(target=write) for _ in range(writers)]
    for thread in threads:
        thread.start()
    try:
        start.wait()
    except threading.BrokenBarrierError:
        pass  # a writer failed to start; its failure is raised below
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if failures:
        raise failures[0]
    return writers * statements / elapsed


def measure_trigger_cost(conn: psycopg.Connection, url: str, setting: Setting) -> list[TriggerCost]:
    """Insert throughput with the dirty signal and without it, alternating to even out warm-up."""
    conn.execute("insert into public.activity_types (code, label, counts_in_stats) "
                 "values (%s, 'Benchmark writes (not counted)', false)", (TRIGGER_COST_TYPE,))
    costs = []
    try:
        for writers in (1, CONCURRENT_WRITERS):
            statements = TRIGGER_COST_STATEMENTS // writers
            timed = {True: [], False: []}
            for _ in range(TRIGGER_COST_ROUNDS):
                for enabled in (True, False):
                    conn.execute(f"alter table public.activities {'enable' if enabled else 'disable'} "
                                 f"trigger {SIGNAL_TRIGGER}")
                    timed[enabled].append(insert_rate(url, setting, writers, statements))
            costs.append(TriggerCost(writers, statements * writers * TRIGGER_COST_ROUNDS,
                                     statistics.fmean(timed[True]), statistics.fmean(timed[False])))
    finally:
        conn.execute(f"alter table public.activities enable trigger {SIGNAL_TRIGGER}")
        conn.execute("delete from public.activities where activity_type = %s", (TRIGGER_COST_TYPE,))
        conn.execute("delete from public.activity_types where code = %s", (TRIGGER_COST_TYPE,))
        conn.execute("vacuum analyze public.activities")
    return costs


class ProbeReader(threading.Thread):
    """Polls, as the coordinator, the probe day's counts and marks the probes that became visible."""

    def __init__(self, url: str, setting: Setting, day: date, base: dict[str, int],
                 probes: dict[str, list[Probe]], stop: threading.Event):
        super().__init__(daemon=True)
        self.url, self.setting, self.day, self.base, self.probes, self.stop = url, setting, day, base, probes, stop
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            with database.connect(self.url, application_name="peerstats-bench-reader") as conn:
                while not self.stop.is_set():
                    rows = postgrest.request(conn, "authenticated", PROBE_QUERY, (self.day,),
                                             user_id=self.setting.coordinator)
                    seen_at = time.monotonic()
                    for chapter_id, count in rows:
                        chapter = str(chapter_id)
                        for probe in self.probes.get(chapter, [])[: count - self.base.get(chapter, 0)]:
                            if probe.visible_at is None:
                                probe.visible_at = seen_at
                    time.sleep(PROBE_POLL_SECONDS)
        except BaseException as failure:  # reported by the main thread
            self.failure = failure


class DashboardReader(threading.Thread):
    """Reads the coordinator's 12-month dashboard again and again, timing every request."""

    def __init__(self, url: str, setting: Setting, stop: threading.Event):
        super().__init__(daemon=True)
        self.url, self.setting, self.stop = url, setting, stop
        self.latencies: list[tuple[str, float]] = []
        self.failure: BaseException | None = None

    def run(self) -> None:
        today = datetime.now(timezone.utc).date()
        params = (verify.month_start(today, 11), today + timedelta(days=1))
        try:
            with database.connect(self.url, application_name="peerstats-bench-dashboard") as conn:
                while not self.stop.is_set():
                    for name, query in DASHBOARD_QUERIES.items():
                        began = time.perf_counter()
                        postgrest.request(conn, "authenticated", query, params, user_id=self.setting.coordinator)
                        self.latencies.append((name, (time.perf_counter() - began) * 1000))
                    time.sleep(DASHBOARD_PAUSE_SECONDS)
        except BaseException as failure:  # reported by the main thread
            self.failure = failure


def visible_counts(conn: psycopg.Connection, setting: Setting, day: date) -> dict[str, int]:
    rows = postgrest.request(conn, "authenticated", PROBE_QUERY, (day,), user_id=setting.coordinator)
    return {str(chapter_id): count for chapter_id, count in rows}


def breakdown(probes: list[Probe], records: list[RefreshRecord]) -> dict[str, float]:
    """Mean time per stage for `probes`, attributing each probe to the refresh that published it:
    the last refresh the worker finished before the probe was seen."""
    stages: dict[str, list[float]] = {}

    def add(stage: str, seconds: float) -> None:
        stages.setdefault(stage, []).append(max(0.0, seconds) * 1000)

    finished = sorted(records, key=lambda r: r.finished_at)
    for probe in probes:
        publishing = [i for i, r in enumerate(finished) if r.finished_at <= probe.visible_at]
        if not publishing:
            continue
        index = publishing[-1]
        refresh = finished[index]
        previous_end = finished[index - 1].finished_at if index > 0 else float("-inf")
        add("a refresh already running", min(previous_end, refresh.called_at) - probe.committed_at)
        add("debounce / max-delay wait", refresh.called_at - max(probe.committed_at, previous_end))
        add("lock wait and commit", refresh.outside_views_ms / 1000)
        for view in refresh.views:
            add(f"refreshing {view.view_name}", float(view.refresh_ms or 0) / 1000)
        add("until the poll saw it", probe.visible_at - refresh.finished_at)
    return {stage: statistics.fmean(values) for stage, values in stages.items()}


def run(
    database_url: str | None,
    *,
    activities: int,
    rate: float,
    duration: float,
    timing: Timing,
    progress: Callable[[str], None],
) -> Report:
    if activities < 1 or rate <= 0 or duration <= 0:
        raise PeerstatsError("--activities, --rate and --duration must be positive")
    with bench_database(database_url) as url, database.connect(url, application_name="peerstats-bench") as conn:
        setting = prepare(conn, activities, progress)
        progress("refreshing the materialized views")
        refresh_stats_views(conn)
        progress("measuring insert throughput with and without the dirty signal")
        trigger_cost = measure_trigger_cost(conn, url, setting)
        return load(conn, url, setting, activities=activities, rate=rate, duration=duration, timing=timing,
                    trigger_cost=trigger_cost, progress=progress)


def load(conn: psycopg.Connection, url: str, setting: Setting, *, activities: int, rate: float, duration: float,
         timing: Timing, trigger_cost: list[TriggerCost], progress: Callable[[str], None]) -> Report:
    records: list[RefreshRecord] = []
    worker_ready = threading.Event()

    def on_refresh(record: RefreshRecord) -> None:
        records.append(record)
        worker_ready.set()

    stop_worker, stop_readers = threading.Event(), threading.Event()
    worker = Worker(url, timing, stopping=stop_worker, on_refresh=on_refresh)
    worker_failure: list[BaseException] = []

    def run_worker() -> None:
        try:
            worker.run()
        except BaseException as failure:  # reported by the main thread
            worker_failure.append(failure)
            worker_ready.set()

    worker_thread = threading.Thread(target=run_worker, daemon=True)
    progress("starting the worker")
    worker_thread.start()
    worker_ready.wait(60)
    if worker_failure or not records:
        raise PeerstatsError(f"the worker did not start: {worker_failure[0] if worker_failure else 'no refresh'}")

    recorded_at = datetime.now(timezone.utc)
    day = recorded_at.date()
    base = visible_counts(conn, setting, day)
    probes: dict[str, list[Probe]] = {chapter: [] for chapter in setting.chapters}
    all_probes: list[Probe] = []
    probe_reader = ProbeReader(url, setting, day, base, probes, stop_readers)
    dashboard = DashboardReader(url, setting, stop_readers)
    probe_reader.start()
    dashboard.start()
    load_started_db = conn.execute("select clock_timestamp()").fetchone()[0]
    load_started = time.monotonic()
    total = max(1, round(rate * duration))
    progress(f"inserting {total} activities at {rate:g} a second for {duration:g} s, while the worker refreshes")
    try:
        with database.connect(url, application_name="peerstats-bench-writer") as writer:
            for i in range(total):
                time.sleep(max(0.0, load_started + i / rate - time.monotonic()))
                chapter = setting.chapters[i % len(setting.chapters)]
                probe = Probe(chapter)
                probes[chapter].append(probe)
                all_probes.append(probe)
                writer.execute(INSERT_PROBE, (setting.mentor_of[chapter], chapter, setting.activity_type, recorded_at))
                probe.committed_at = time.monotonic()
        deadline = time.monotonic() + CATCH_UP_SECONDS
        while any(p.visible_at is None for p in all_probes) and time.monotonic() < deadline:
            if probe_reader.failure or not probe_reader.is_alive():
                break
            time.sleep(PROBE_POLL_SECONDS)
    finally:
        stop_readers.set()
        probe_reader.join()
        dashboard.join()
        stop_worker.set()
        worker_thread.join()
    for failure in (probe_reader.failure, dashboard.failure, *worker_failure):
        if failure:
            raise PeerstatsError(f"the benchmark failed: {failure}") from failure

    return report(conn, activities=activities, rate=rate, duration=duration, timing=timing, probes=all_probes,
                  records=[r for r in records if r.called_at >= load_started], dashboard=dashboard.latencies,
                  load_started_db=load_started_db, trigger_cost=trigger_cost)


def report(conn: psycopg.Connection, *, activities: int, rate: float, duration: float, timing: Timing,
           probes: list[Probe], records: list[RefreshRecord], dashboard: list[tuple[str, float]],
           load_started_db: datetime, trigger_cost: list[TriggerCost]) -> Report:
    seen = [p for p in probes if p.staleness_ms is not None]
    staleness = [p.staleness_ms for p in seen]
    stale = summary(staleness)
    target = target_ms(activities)
    runs = conn.execute(
        "select requested_by = %s, extract(epoch from finished_at - started_at) * 1000, waited_ms "
        "from private.refresh_runs where started_at >= %s and status <> 'skipped'",
        (WORKER_APPLICATION_NAME, load_started_db)).fetchall()
    worker_runs = [(float(ms), float(waited)) for by_worker, ms, waited in runs if by_worker]
    view_names = sorted({v.view_name for r in records for v in r.views})
    slowest_tail = [p for p in seen if p.staleness_ms >= stale["p95"]]
    notes = []
    if len(seen) < len(probes):
        notes.append(f"{len(probes) - len(seen)} probes were not visible {CATCH_UP_SECONDS:g} s after the load")
    met = bool(staleness) and stale["p95"] <= target and len(seen) == len(probes)
    tail_stages = breakdown(slowest_tail, records)
    if staleness and not met:
        stage, ms = max(tail_stages.items(), key=lambda item: item[1], default=("nothing measured", 0.0))
        notes.append(f"target missed: the slowest 5% of probes spent most of their time in '{stage}' "
                     f"(mean {ms:.0f} ms); see the breakdown")
    slowest = max(dashboard, key=lambda entry: entry[1], default=("none", float("nan")))
    return Report(
        activities=activities, rate=rate, duration_s=duration,
        debounce_ms=timing.debounce * 1000, max_delay_ms=timing.max_delay * 1000,
        probes=len(probes), probes_seen=len(seen), staleness_ms=stale,
        target_p95_ms=target, target_met=met,
        worker_refreshes=len(worker_runs), other_refreshes=len(runs) - len(worker_runs),
        refresh_ms={**summary([ms for ms, _ in worker_runs]),
                    "waited_for_lock_max": max((w for _, w in worker_runs), default=float("nan"))},
        view_refresh_ms={name: summary([float(v.refresh_ms) for r in records for v in r.views
                                        if v.view_name == name and v.refresh_ms is not None])["mean"]
                         for name in view_names},
        staleness_breakdown_ms={"all probes": breakdown(seen, records),
                                "slowest 5% (at or above p95)": tail_stages},
        dashboard_requests=len(dashboard), dashboard_ms=summary([ms for _, ms in dashboard]),
        slowest_dashboard_query=slowest[0], trigger_cost=trigger_cost, notes=notes,
    )


def print_report(console: Console, result: Report) -> None:
    verdict = "met" if result.target_met else "MISSED"
    table = Table("freshness under load", "measured", title=(
        f"{result.activities:,} activities, {result.rate:g} inserts/s for {result.duration_s:g} s; worker debounce "
        f"{result.debounce_ms:g} ms, max delay {result.max_delay_ms:g} ms"))
    stale = result.staleness_ms
    table.add_row("probes seen by their coordinator", f"{result.probes_seen} of {result.probes}")
    table.add_row("staleness p50 / p95 / max",
                  f"{stale['p50']:.0f} / {stale['p95']:.0f} / {stale['max']:.0f} ms "
                  f"(polled every {result.poll_interval_ms:g} ms)")
    table.add_row("target: p95 at most", f"{result.target_p95_ms} ms: {verdict}")
    table.add_row("refreshes by the worker (others)", f"{result.worker_refreshes} ({result.other_refreshes})")
    table.add_row("refresh duration p50 / max", f"{result.refresh_ms['p50']:.0f} / {result.refresh_ms['max']:.0f} ms "
                  f"(longest lock wait {result.refresh_ms['waited_for_lock_max']:.0f} ms)")
    for name, ms in result.view_refresh_ms.items():
        table.add_row(f"  mean refresh of {name}", f"{ms:.0f} ms")
    dash = result.dashboard_ms
    table.add_row("dashboard requests during the load", str(result.dashboard_requests))
    table.add_row("dashboard latency p50 / p95 / max",
                  f"{dash['p50']:.1f} / {dash['p95']:.1f} / {dash['max']:.1f} ms (slowest: {result.slowest_dashboard_query})")
    console.print(table)

    stages = Table("where a probe's staleness went (mean ms)", *result.staleness_breakdown_ms)
    names = list(dict.fromkeys(name for parts in result.staleness_breakdown_ms.values() for name in parts))
    for name in names:
        stages.add_row(name, *(f"{parts.get(name, 0):.0f}" for parts in result.staleness_breakdown_ms.values()))
    console.print(stages)

    costs = Table("writers", "single-row inserts/s with the signal", "without", "cost of the signal",
                  title="the dirty signal's cost on writes")
    for cost in result.trigger_cost:
        costs.add_row(str(cost.writers), f"{cost.with_signal_per_s:,.0f}", f"{cost.without_signal_per_s:,.0f}",
                      f"{cost.overhead_pct:+.1f}% time per insert")
    console.print(costs)
    for note in result.notes:
        console.print(f"note: {note}")

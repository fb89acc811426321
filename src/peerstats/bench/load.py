"""`peerstats bench load`: what a coordinator waits for when many dashboards are open at once.

On a throwaway cluster of its own: migrate, seed, refresh, vacuum (as autovacuum would after a
load). Then, for the given duration, all at once:
- dashboard sessions, each a coordinator of one to five chapters (the seeded coordinators, in
  turn) on a connection of its own, loading its three 12-month endpoints through the API as
  PostgREST would, then pausing a few seconds (THINK_SECONDS), like a dashboard reloaded;
- mentors writing activities through the API at a steady rate, each as themselves in their
  home chapter, dated over the last 30 days;
- the pg_cron jobs the migrations schedule, untouched (the hourly refresh and the every-minute
  threshold refresh), as in production;
- a monitor that samples the dirty-key log's size and exactness: every endpoint against its
  plain view for four kinds of caller, each compared in one statement (one snapshot).

Every request's latency is measured at the client. A request cancelled by a statement timeout
counts as a timeout, any other failure as an error; the targets for both, and for exactness,
are 0. The figures go to a JSON file and the latencies over time to a PNG.
"""

from __future__ import annotations

import os
import platform
import random
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import matplotlib
import psycopg
from rich.console import Console

from peerstats import database, migrations, postgrest
from peerstats.bench.freshness import DASHBOARD_QUERIES
from peerstats.bench.latency import percentile
from peerstats.bench.sizes import check_writable
from peerstats.cluster import throwaway_cluster
from peerstats.errors import PeerstatsError
from peerstats.output import Column, json_text, print_table
from peerstats.periods import months_window
from peerstats.refresh import refresh_stats_views
from peerstats.seed import seed_with_progress, vacuum_after_load
from peerstats.verify.exactness import callers, differences

matplotlib.use("Agg")  # files only, no display

from matplotlib.figure import Figure  # noqa: E402 (after choosing the backend)
from matplotlib.ticker import ScalarFormatter  # noqa: E402

# A dashboard session pauses this long (uniformly drawn) between two loads of its three endpoints.
THINK_SECONDS = (2.0, 4.0)
WRITE_DAYS_BACK = 30
INSERT_MINUTES = 30
INSERT_AS_MENTOR = ("insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, "
                    f"duration_minutes) values (%s, %s, %s, %s, {INSERT_MINUTES})")
# The counted minutes a mentor's UTC day still holds, for the day of a moment.
ROOM_ON_DAY = ("select private.daily_bound_minutes() - coalesce(sum(c.duration_minutes), 0)"
               " from private.counted_activities c"
               " where c.peer_mentor_id = %s and c.recorded_at >= date_trunc('day', %s::timestamptz, 'UTC')"
               " and c.recorded_at < date_trunc('day', %s::timestamptz, 'UTC') + interval '1 day'")
# Draws of a moment before a writer gives up on a mentor whose days are all full.
MOMENT_DRAWS = 1000
LOG_ROWS_PRINTED = 8
# The JSON's latency over time: percentiles per window of this many seconds.
WINDOW_SECONDS = 30


@dataclass
class Outcome:
    """What one thread saw: (seconds since the start, milliseconds) per request, and its failures."""

    timeline: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    timeouts: int = 0

    def record(self, name: str, at: float, ms: float) -> None:
        self.timeline.setdefault(name, []).append((at, ms))


def timed_request(outcome: Outcome, name: str, started: float, conn: psycopg.Connection, *args, **kwargs) -> None:
    """One request through the API, its latency recorded under `name`, or its failure counted."""
    began = time.perf_counter()
    try:
        postgrest.request(conn, *args, **kwargs)
    except psycopg.errors.QueryCanceled:
        outcome.timeouts += 1
    except psycopg.Error as failure:
        outcome.errors.append(f"{name}: {' '.join(str(failure).split())}")
    else:
        outcome.record(name, began - started, (time.perf_counter() - began) * 1000)


class LoadThread(threading.Thread):
    """A thread on a connection of its own until `stop`; a failure outside a request ends the run."""

    def __init__(self, url: str, stop: threading.Event, started: float, name: str):
        super().__init__(daemon=True, name=name)
        self.url, self.stop, self.started = url, stop, started
        self.outcome = Outcome()
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            with database.connect(self.url, application_name=f"peerstats-bench-load {self.name}") as conn:
                self.work(conn)
        except BaseException as failure:  # reported by the main thread
            self.failure = failure

    def work(self, conn: psycopg.Connection) -> None:
        raise NotImplementedError


class Dashboard(LoadThread):
    """A coordinator's dashboard: the three 12-month endpoints, then a pause, again and again."""

    def __init__(self, url: str, stop: threading.Event, started: float, number: int, coordinator: tuple[str, int]):
        super().__init__(url, stop, started, f"dashboard {number}")
        self.coordinator, self.chapters = coordinator
        self.random = random.Random(number)

    def work(self, conn: psycopg.Connection) -> None:
        # Sessions open at different moments, not all in the same second.
        self.stop.wait(self.random.uniform(0, THINK_SECONDS[1]))
        while not self.stop.is_set():
            window = months_window(datetime.now(timezone.utc).date())
            for endpoint, query in DASHBOARD_QUERIES.items():
                timed_request(self.outcome, endpoint, self.started, conn, "authenticated", query, window,
                              user_id=self.coordinator)
            self.stop.wait(self.random.uniform(*THINK_SECONDS))


class Writer(LoadThread):
    """Mentors registering activities at `rate` a second, each insert by its own mentor."""

    def __init__(self, url: str, stop: threading.Event, started: float, rate: float,
                 mentors: list[tuple[str, str, str]], activity_type: str):
        super().__init__(url, stop, started, "writer")
        self.rate, self.mentors, self.activity_type = rate, mentors, activity_type
        self.random = random.Random(0)

    def work(self, conn: psycopg.Connection) -> None:
        began = time.monotonic()
        written = 0
        while not self.stop.is_set():
            # On schedule: a late insert is not skipped, the next ones catch up.
            if self.stop.wait(max(0.0, began + written / self.rate - time.monotonic())):
                break
            mentor, chapter, user = self.mentors[written % len(self.mentors)]
            timed_request(self.outcome, "insert", self.started, conn, "authenticated", INSERT_AS_MENTOR,
                          (mentor, chapter, self.activity_type, self.moment_with_room(conn, mentor)),
                          user_id=user, read_only=False)
            written += 1

    def moment_with_room(self, conn: psycopg.Connection, mentor: str) -> datetime:
        """A minute of the last WRITE_DAYS_BACK days whose UTC day holds another insert of the
        mentor's: the seeder may have filled a busy mentor's day up to the daily bound.
        Checked before the timed request, so the latency is the insert's alone."""
        for _ in range(MOMENT_DRAWS):
            moment = datetime.now(timezone.utc) - timedelta(minutes=self.random.randrange(WRITE_DAYS_BACK * 24 * 60))
            if conn.execute(ROOM_ON_DAY, (mentor, moment, moment)).fetchone()[0] >= INSERT_MINUTES:
                return moment
        raise PeerstatsError(f"mentor {mentor} has no day of the last {WRITE_DAYS_BACK} with "
                             f"{INSERT_MINUTES} minutes left")


@dataclass(frozen=True)
class Sample:
    at_s: float
    log_entries: int
    differing_rows: int
    exactness_ms: float


class Monitor(LoadThread):
    """Every `every` seconds: the dirty-key log's size, and each endpoint against its plain view
    for service_role, the coordinators of the most and of the fewest chapters and a mentor."""

    def __init__(self, url: str, stop: threading.Event, started: float, every: float):
        super().__init__(url, stop, started, "monitor")
        self.every = every
        self.samples: list[Sample] = []
        self.differences: dict[str, int] = {}
        self.who: dict[str, tuple[str, str | None]] = {}

    def sample(self, conn: psycopg.Connection, who: dict[str, tuple[str, str | None]]) -> None:
        at = time.perf_counter() - self.started
        entries = conn.execute("select count(*) from private.stats_dirty_keys").fetchone()[0]
        began = time.perf_counter()
        found = differences(conn, who)
        exactness_ms = (time.perf_counter() - began) * 1000
        differing = 0
        for endpoint, by_caller in found.items():
            for caller, rows in by_caller.items():
                if rows:
                    key = f"{endpoint}, {caller}"
                    self.differences[key] = self.differences.get(key, 0) + rows
                    differing += rows
        self.samples.append(Sample(round(at, 1), entries, differing, round(exactness_ms, 1)))

    def work(self, conn: psycopg.Connection) -> None:
        self.who = callers(conn)
        while not self.stop.wait(self.every):
            self.sample(conn, self.who)


def latency(values: list[float]) -> dict[str, float]:
    return {"requests": len(values), "p50_ms": round(percentile(values, 0.5), 2),
            "p95_ms": round(percentile(values, 0.95), 2), "p99_ms": round(percentile(values, 0.99), 2),
            "max_ms": round(max(values, default=float("nan")), 2)}


def prepare(conn: psycopg.Connection, activities: int, console: Console) -> None:
    migrations.apply_all(conn)
    seed_with_progress(conn, console, activities=activities)
    with console.status("refreshing the views and vacuuming after the load"):
        refresh_stats_views(conn)
        vacuum_after_load(conn)


def participants(conn: psycopg.Connection) -> tuple[list[tuple[str, int]], list[tuple[str, str, str]], str]:
    """The coordinators (user id, chapters) in turn from one to five chapters (one of each
    size, then again), the signed-in mentors (id, home chapter, user id), and a type that counts."""
    coordinators = [(str(user), n) for user, n, _ in conn.execute(
        "select user_id, count(*), row_number() over (partition by count(*) order by user_id)"
        " from public.coordinator_chapters group by user_id order by 3, 2")]
    mentors = [tuple(map(str, row)) for row in conn.execute(
        "select id, chapter_id, user_id from public.peer_mentors where user_id is not null order by id")]
    activity_type = conn.execute("select code from public.activity_types where counts_in_stats order by code limit 1"
                                 ).fetchone()
    if not coordinators or not mentors or activity_type is None:
        raise PeerstatsError("the seeded database has no coordinator, no signed-in mentor or no counting type")
    return coordinators, mentors, activity_type[0]


def cron_runs(conn: psycopg.Connection, since: datetime) -> list[dict[str, Any]]:
    return [{"job": job, "status": status, "runs": runs} for job, status, runs in conn.execute(
        "select j.jobname, d.status, count(*) from cron.job_run_details d join cron.job j using (jobid)"
        " where d.start_time >= %s group by 1, 2 order by 1, 2", (since,))]


def refresh_runs(conn: psycopg.Connection, since: datetime) -> list[dict[str, Any]]:
    rows = conn.execute("select requested_by, status, extract(epoch from started_at - %s) from private.refresh_runs"
                        " where started_at >= %s order by started_at", (since, since)).fetchall()
    return [{"requested_by": who, "status": status, "started_s": round(float(at), 1)} for who, status, at in rows]


def run(*, activities: int, duration: float, sessions: int, write_rate: float, sample_every: float,
        output: Path, plot: Path, console: Console) -> dict[str, Any]:
    for path in (output, plot):
        check_writable(path)
    console.print("[dim]creating a throwaway PostgreSQL cluster[/dim]")
    with throwaway_cluster() as cluster, database.connect(cluster.url, application_name="peerstats-bench-load") as conn:
        prepare(conn, activities, console)
        coordinators, mentors, activity_type = participants(conn)
        since = conn.execute("select clock_timestamp()").fetchone()[0]
        stop = threading.Event()
        started = time.perf_counter()
        dashboards = [Dashboard(cluster.url, stop, started, i, coordinators[i % len(coordinators)])
                      for i in range(sessions)]
        writer = Writer(cluster.url, stop, started, write_rate, mentors, activity_type)
        monitor = Monitor(cluster.url, stop, started, sample_every)
        threads: list[LoadThread] = [*dashboards, writer, monitor]
        console.print(f"[dim]{sessions} dashboards, {write_rate:g} inserts/s through the API and pg_cron's jobs "
                      f"for {duration:g} s[/dim]")
        for thread in threads:
            thread.start()
        try:
            stop.wait(duration)
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        elapsed = time.perf_counter() - started
        for thread in threads:
            if thread.failure:
                raise PeerstatsError(f"the load's {thread.name} failed: {thread.failure}") from thread.failure
        monitor.sample(conn, monitor.who)  # once more, when every write has ended
        document = report(conn, since, elapsed, dashboards, writer, monitor, activities=activities,
                          duration=duration, sessions=sessions, write_rate=write_rate)
    output.write_text(json_text(document))
    draw(document, threads, monitor).savefig(plot, dpi=100)
    console.print(f"results written to {output}, latency over time drawn in {plot}")
    return document


def report(conn: psycopg.Connection, since: datetime, elapsed: float, dashboards: list[Dashboard], writer: Writer,
           monitor: Monitor, **parameters: Any) -> dict[str, Any]:
    threads: list[LoadThread] = [*dashboards, writer, monitor]
    timelines: dict[str, list[float]] = {}
    for thread in threads:
        for name, points in thread.outcome.timeline.items():
            timelines.setdefault(name, []).extend(ms for _, ms in points)
    errors = [error for thread in threads for error in thread.outcome.errors]
    chapters_per_session: dict[int, int] = {}
    for dashboard in dashboards:
        chapters_per_session[dashboard.chapters] = chapters_per_session.get(dashboard.chapters, 0) + 1
    writes = timelines.get("insert", [])
    windows: dict[int, dict[str, list[float]]] = {}
    for thread in threads:
        for name, points in thread.outcome.timeline.items():
            for at, ms in points:
                windows.setdefault(int(at // WINDOW_SECONDS), {}).setdefault(name, []).append(ms)
    return {
        "measured_at": since.isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "parameters": parameters,
        "elapsed_s": round(elapsed, 1),
        "sessions_by_chapters": {str(k): v for k, v in sorted(chapters_per_session.items())},
        "endpoints": {name: latency(timelines.get(name, [])) for name in DASHBOARD_QUERIES},
        "errors": len(errors),
        "error_examples": errors[:5],
        "timeouts": sum(thread.outcome.timeouts for thread in threads),
        "writes": {"done": len(writes), "per_second": round(len(writes) / elapsed, 2), **latency(writes)},
        "over_time": [{"from_s": index * WINDOW_SECONDS, **{name: latency(values) for name, values in by_name.items()}}
                      for index, by_name in sorted(windows.items())],
        "refreshes": refresh_runs(conn, since),
        "cron_runs": cron_runs(conn, since),
        "log": [asdict(sample) for sample in monitor.samples],
        "exactness": {"samples": len(monitor.samples),
                      "differing_rows": sum(sample.differing_rows for sample in monitor.samples),
                      "where": monitor.differences},
    }


def draw(document: dict[str, Any], threads: list[LoadThread], monitor: Monitor) -> Figure:
    """Above: every request's latency at the moment it started, per endpoint (log scale), with the
    refreshes marked. Below: the dirty-key log's size."""
    figure = Figure(figsize=(12, 7), layout="constrained")
    latency_axes, log_axes = figure.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    for name in (*DASHBOARD_QUERIES, "insert"):
        points = [point for thread in threads for point in thread.outcome.timeline.get(name, [])]
        if points:
            latency_axes.scatter([at for at, _ in points], [ms for _, ms in points], s=4, alpha=0.5,
                                 label=f"{name} ({len(points):,})")
    latency_axes.set_yscale("log")
    latency_axes.yaxis.set_major_formatter(ScalarFormatter())
    latency_axes.set_ylabel("latency at the client (ms)")
    latency_axes.legend(loc="upper left", fontsize="small", markerscale=3)
    for refresh in document["refreshes"]:
        for axes in (latency_axes, log_axes):
            axes.axvline(refresh["started_s"], color="grey", linestyle="--", linewidth=1)
    # The exactness checks read the plain views, a load of their own: shaded while they ran.
    for sample in monitor.samples:
        latency_axes.axvspan(sample.at_s, sample.at_s + sample.exactness_ms / 1000, color="grey", alpha=0.12,
                             linewidth=0)
    log_axes.plot([s.at_s for s in monitor.samples], [s.log_entries for s in monitor.samples], marker="o")
    log_axes.set_ylabel("dirty-key log entries")
    log_axes.set_xlabel("seconds into the load (dashed: a refresh started; shaded: an exactness check ran)")
    parameters = document["parameters"]
    figure.suptitle(f"{parameters['activities']:,} activities, {parameters['sessions']} dashboards, "
                    f"{parameters['write_rate']:g} inserts/s", fontweight="bold")
    return figure


def print_report(console: Console, document: dict[str, Any]) -> None:
    parameters = document["parameters"]
    print_table(console, ["endpoint", Column("requests", "right"), Column("p50", "right"), Column("p95", "right"),
                          Column("p99", "right"), Column("max", "right")],
                [(name, f"{figures['requests']:,}", *(f"{figures[key]:.1f}" for key in
                                                      ("p50_ms", "p95_ms", "p99_ms", "max_ms")))
                 for name, figures in [*document["endpoints"].items(), ("insert", document["writes"])]],
                title=f"{parameters['sessions']} dashboards for {document['elapsed_s']:g} s on "
                      f"{parameters['activities']:,} activities: latency (ms)")
    exactness = document["exactness"]
    refreshes = document["refreshes"]
    rows = [
        ("errors (target 0)", str(document["errors"])),
        ("timeouts (target 0)", str(document["timeouts"])),
        ("writes done", f"{document['writes']['done']:,} ({document['writes']['per_second']:g}/s)"),
        ("refreshes run", f"{len(refreshes)}" + (": " + ", ".join(
            f"{r['requested_by']} at {r['started_s']:g} s ({r['status']})" for r in refreshes) if refreshes else "")),
        ("cron job runs", ", ".join(f"{r['job']} {r['runs']} {r['status']}" for r in document["cron_runs"]) or "none"),
        ("exactness samples", f"{exactness['samples']}, {exactness['differing_rows']} rows differ (target 0)"),
        ("dashboards' coordinators", ", ".join(f"{n} of {k} chapter{'s' if k != '1' else ''}"
                                              for k, n in document["sessions_by_chapters"].items())),
    ]
    print_table(console, ["under load", "measured"], rows)
    samples = document["log"]
    step = max(1, -(-len(samples) // LOG_ROWS_PRINTED))
    shown = samples[::step] + ([samples[-1]] if samples and (len(samples) - 1) % step else [])
    print_table(console, [Column("second", "right"), Column("log entries", "right"),
                          Column("rows differing", "right"), Column("exactness check (ms)", "right")],
                [(f"{s['at_s']:g}", f"{s['log_entries']:,}", str(s["differing_rows"]), f"{s['exactness_ms']:,.0f}")
                 for s in shown], title="the dirty-key log and exactness during the load")
    for example in document["error_examples"]:
        console.print(f"error: {example}", highlight=False)


def failures(document: dict[str, Any]) -> list[str]:
    """The targets missed: errors, timeouts and differing rows must all be 0."""
    missed = [f"{document[key]} {key}" for key in ("errors", "timeouts") if document[key]]
    if document["exactness"]["differing_rows"]:
        missed.append(f"{document['exactness']['differing_rows']} rows differed from the plain views")
    return missed

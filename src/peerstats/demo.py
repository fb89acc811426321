"""`peerstats demo`: the main job, end to end on one database (the embedded cluster by default).

Migrations, 100k synthetic activities (kept for the next run, or rebuilt when asked), a refresh,
every acceptance criterion measured, then, read through the API as a coordinator: the chart
their dashboard draws (activities and hours per week of their largest chapter over verify's 12
months) and their HTML report (`peerstats report`); last, one write by a mentor reaching that
coordinator's live view (`peerstats watch`) through a Realtime broadcast.
"""

from __future__ import annotations

import io
import threading
import time
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
from rich.console import Console
from rich.markup import escape

from peerstats import chart, database, migrations, postgrest, seed as seeding, verify, watch
from peerstats import report as coordinator_report
from peerstats.cluster import Cluster
from peerstats.confirm import confirm_loss
from peerstats.errors import PeerstatsError
from peerstats.refresh import describe_refresh, refresh_stats_views

@dataclass(frozen=True)
class ChartSource:
    chapter_id: str
    chapter_name: str
    coordinator_id: str
    coordinator_chapters: int


@dataclass(frozen=True)
class DemoResult:
    report: verify.Report
    summary: dict[str, Any]
    """What the closing summary says, as one JSON document (`peerstats demo --json`)."""


def migrate(conn: psycopg.Connection, console: Console, *, rebuild: bool, yes: bool) -> None:
    rolled_back, applied = migrations.apply_all(
        conn, afresh=rebuild, confirm_loss=lambda losses: confirm_loss("demo --rebuild", losses, yes=yes))
    for migration in rolled_back:
        console.print(f"rolled back {migration.filename}")
    console.print(f"applied {', '.join(m.filename for m in applied)}" if applied else "migrations: up to date",
                  soft_wrap=True)


def chart_source(conn: psycopg.Connection) -> ChartSource:
    """The chapter with the most counted activities, and a coordinator of it (one with the fewest chapters)."""
    row = conn.execute(
        "select c.id, c.name, cc.user_id,"
        " (select count(*) from public.coordinator_chapters o where o.user_id = cc.user_id) as chapters"
        " from public.chapters c join public.coordinator_chapters cc on cc.chapter_id = c.id"
        " order by (select sum(activity_count) from private.mv_chapter_stats m where m.chapter_id = c.id)"
        " desc nulls last, chapters, cc.user_id limit 1").fetchone()
    if row is None:
        raise PeerstatsError("no chapter has a coordinator in public.coordinator_chapters: nothing to chart as one")
    return ChartSource(*row)


def human_date(day: date) -> str:
    return f"{day.day} {day:%b %Y}"


def draw_chart(conn: psycopg.Connection, source: ChartSource, window: tuple[date, date], output: Path) -> tuple[Path, int]:
    """Read the window's days through public.activity_time_series as the coordinator, and draw
    them by week; returns the path and the number of weeks drawn."""
    start, end = window
    days = postgrest.request(
        conn, "authenticated",
        "select bucket_date, activity_count, total_minutes from public.activity_time_series"
        " where chapter_id = %s and bucket_date >= %s and bucket_date < %s order by bucket_date",
        (source.chapter_id, start, end), user_id=source.coordinator_id)
    coordinators_view = postgrest.request(
        conn, "authenticated", "select name, (now() at time zone 'UTC')::date from public.chapters where id = %s",
        (source.chapter_id,), user_id=source.coordinator_id)
    if not days or not coordinators_view:
        raise PeerstatsError(f"the coordinator of {source.chapter_name} sees no activity of it in the last 12 months")
    chapter_name, today = coordinators_view[0]
    weeks = chart.weekly(days, start=start, end=end, today=today)
    figure = chart.draw_weekly(
        weeks, caption=chart.KEY_TEXT,
        title=f"{chapter_name}: activities and hours per week, {human_date(start)} to {human_date(end - timedelta(days=1))}")
    return chart.save_png(figure, output), len(weeks)


# How long the demo waits for its write to reach the live view before saying it did not.
LIVE_VIEW_WAIT_S = 10


def a_write_reaches_the_live_view(url: str, source: ChartSource) -> tuple[float, Any]:
    """`peerstats watch` of the chart's coordinator (in the background, on the model of
    Realtime), one activity a mentor of the chapter registers through the API, and the time
    from its commit to the view showing it; the activity is deleted again afterwards. Returns
    (milliseconds, the view as it showed the write)."""
    with database.connect(url, application_name="peerstats demo") as conn:
        writer = conn.execute("select id, user_id from public.peer_mentors where chapter_id = %s and user_id is not null"
                              " order by id limit 1", (source.chapter_id,)).fetchone()
        activity_type = conn.execute("select code from public.activity_types where counts_in_stats"
                                     " order by code limit 1").fetchone()
    if writer is None or activity_type is None:
        raise PeerstatsError(f"{source.chapter_name} has no signed-in mentor or there is no counting type: "
                             "nothing to write as a mentor")
    snapshots: list[tuple[float, watch.Snapshot]] = []
    rendered = threading.Condition()

    def on_render(snapshot: watch.Snapshot) -> None:
        with rendered:
            snapshots.append((time.monotonic(), snapshot))
            rendered.notify_all()

    def today_of_chapter(snapshot: watch.Snapshot) -> int:
        return next(c.today.activities for c in snapshot.chapters if str(c.chapter_id) == str(source.chapter_id))

    quiet = Console(file=io.StringIO(), width=80)
    with watch.watching_in_thread(url, str(source.coordinator_id), quiet, on_render) as live, \
            database.connect(url, application_name="peerstats demo") as conn:
        with rendered:
            if not rendered.wait_for(lambda: snapshots, LIVE_VIEW_WAIT_S):
                raise PeerstatsError("the live view did not start")
            before = today_of_chapter(snapshots[-1][1])
        (activity_id,), = postgrest.request(
            conn, "authenticated", "insert into public.activities (peer_mentor_id, chapter_id, activity_type,"
            " recorded_at, duration_minutes) values (%s, %s, %s, now(), 1) returning id",
            (writer[0], source.chapter_id, activity_type[0]), user_id=str(writer[1]), read_only=False)
        committed = time.monotonic()
        try:
            with rendered:
                if not rendered.wait_for(lambda: today_of_chapter(snapshots[-1][1]) > before, LIVE_VIEW_WAIT_S):
                    raise PeerstatsError(f"the write did not reach the live view within {LIVE_VIEW_WAIT_S} s")
                shown_at, snapshot = snapshots[-1]
            view = watch.render(snapshot, live.last_changed, "after one write by a mentor")
        finally:
            conn.execute("delete from public.activities where id = %s", (activity_id,))
    return (shown_at - committed) * 1000, view


def run(url: str, *, activities: int, rebuild: bool, output: Path, console: Console, yes: bool = False) -> DemoResult:
    """The demo; returns verify's report (the caller fails the command when a criterion fails) and
    the summary. `rebuild` drops the data only when confirmed (`yes`, or at a terminal)."""
    seeding.check_parameters(activities=activities, chapters=20, mentors=100, years=2, seed=0)
    if output.is_dir() or not output.resolve().parent.is_dir():
        raise PeerstatsError(f"cannot write the chart to {output}: no such folder")
    if output.suffix.lower() == ".html":
        raise PeerstatsError(f"--output is the chart, a PNG; the report is written beside it as .html: not {output}")
    with database.connect(url, application_name="peerstats demo") as conn:
        migrate(conn, console, rebuild=rebuild, yes=yes)
        # One demo seeds while another started at the same moment waits, then reuses its data.
        with seeding.seeding_lock(conn):
            existing = seeding.existing_activities(conn)
            if existing:
                console.print(f"reusing the {existing:,} activities already in the database (--rebuild starts over)")
            else:
                seeding.seed_with_progress(conn, console, activities=activities)
        refreshed = refresh_stats_views(conn)
        console.print("refreshed: " + describe_refresh(refreshed), soft_wrap=True)
    status_console = Console(stderr=True)
    with status_console.status("verify") as status:
        report = verify.verify(url, step=lambda title: status.update(f"verify: {title}"))
    verify.print_report(console, report)
    window = tuple(report.database["twelve_months"])
    with database.connect(url, application_name="peerstats demo") as conn:
        source = chart_source(conn)
        path, week_count = draw_chart(conn, source, window, output)
        coordinators_report = coordinator_report.write(conn, source.coordinator_id, 12, output.with_suffix(".html"))
    db = report.database
    report_chapters = len(coordinators_report.chapters)
    # One view a line, so the summary fits 80 columns (only the paths may be wider).
    refresh_lines = "\n           ".join(describe_refresh([view]) for view in refreshed)
    console.print(
        f"\n[bold]summary[/bold]\n"
        f"  data:    {db['activities']:,} activities ({db['counted_activities']:,} counted)\n"
        f"           {db['chapters']} chapters, {db['mentors']} mentors, {db['coordinators']} coordinators\n"
        f"  refresh: {refresh_lines}\n"
        f"  verify:  {report.summary()}\n"
        f"  chart:   {path.resolve()}\n"
        f"           {source.chapter_name}, {week_count} weeks, {human_date(window[0])} to "
        f"{human_date(window[1] - timedelta(days=1))}\n"
        f"           (verify's 12 months), read through the API as its coordinator\n"
        f"  report:  {output.with_suffix('.html').resolve()}\n"
        f"           that coordinator's {report_chapters} chapter{'s' if report_chapters != 1 else ''}, read through the API;\n"
        f"           open it in a web browser",
        soft_wrap=True)
    live_ms, live_view = a_write_reaches_the_live_view(url, source)
    console.print(f"\n[bold]live view[/bold] (peerstats watch --coordinator {source.coordinator_id})\n"
                  f"  a mentor's write in {escape(source.chapter_name)} reached it {live_ms:.0f} ms after its commit\n"
                  f"  (a Realtime broadcast, then a read through the API as the coordinator):")
    console.print(live_view)
    summary = {
        "data": {key: db[key] for key in ("activities", "counted_activities", "chapters", "mentors", "coordinators")},
        "refresh": [asdict(r) for r in refreshed],
        "verify": {"passed": len(report.criteria) - len(report.failures), "failed": len(report.failures),
                   "summary": report.summary()},
        "chart": {"path": str(path.resolve()), "chapter": source.chapter_name, "weeks": week_count,
                  "from": window[0].isoformat(), "until": (window[1] - timedelta(days=1)).isoformat()},
        "report": {"path": str(output.with_suffix(".html").resolve()), "chapters": report_chapters},
        "live_view": {"coordinator": str(source.coordinator_id), "chapter": source.chapter_name,
                      "commit_to_view_ms": round(live_ms, 1)},
    }
    return DemoResult(report, summary)


def where_the_cluster_lives(cluster: Cluster, program: str) -> str:
    """The demo's closing words when it ran on the embedded cluster: where, that it keeps running, how to stop it."""
    home = escape(str(cluster.home))
    return (f"\n[bold]the PostgreSQL cluster[/bold]\n"
            f"  lives in {home} (data/, its socket in run/, its log postgresql.log)\n"
            f"  and keeps running after the demo: peerstats commands given no --database-url\n"
            f"  and no DATABASE_URL use it.\n"
            f"  stop it:   {escape(program)} local stop\n"
            f"             (the data stays; the next peerstats command starts it again)\n"
            f"  remove it: {escape(program)} local stop && rm -rf {home}")

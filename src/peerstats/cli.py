"""The `peerstats` command line: thin commands over the library modules."""

from __future__ import annotations

import dataclasses
import getpass
import pathlib
import sys
import uuid
from typing import Optional

import click
from rich.console import Console

from peerstats import __version__, exits
from peerstats import bufdir, database, health, migrations
from peerstats import demo as demonstration
from peerstats import report as coordinator_report
from peerstats import seed as seeding
from peerstats import verify as verification
from peerstats import watch as live_view
from peerstats import xlsx_export
from peerstats.bench import exact as exact_bench, freshness as freshness_bench, load as load_bench, sizes as size_bench
from peerstats.cluster import Cluster, default_home, server_version
from peerstats.confirm import confirm_loss
from peerstats.errors import PeerstatsError, UsageProblem
from peerstats.output import Column, emit_json, json_text, print_table
from peerstats.refresh import describe_refresh, refresh_stats_views

console = Console()
# Progress and notes of a command whose standard output is one JSON document.
stderr_console = Console(stderr=True)


class CommandGroup(click.Group):
    """A group whose --help lists each command's whole first line, wrapped, never cut short."""

    group_class = type  # subgroups are CommandGroups too

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=10_000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON document.")
YES_OPTION = click.option("--yes", is_flag=True,
                          help="Delete without asking. Without it, a terminal asks first; anything else is refused.")


def console_for(as_json: bool) -> Console:
    """Where a command's human-readable lines go: standard error when standard output carries JSON."""
    return stderr_console if as_json else console


@click.group(cls=CommandGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--database-url", metavar="URL", help="PostgreSQL URL; else DATABASE_URL; else the embedded local cluster.")
@click.version_option(__version__, "--version", prog_name="peerstats", message="%(prog)s %(version)s")
@click.pass_context
def app(ctx: click.Context, database_url: Optional[str]) -> None:
    """Statistics layer for a Supabase peer-mentor app: migrations, synthetic data, refresh,
    acceptance checks, benchmarks and the Bufdir export."""
    ctx.obj = database_url


@app.group("db")
def db_app() -> None:
    """Apply, roll back and list the migrations."""


@app.group("local")
def local_app() -> None:
    """The embedded local PostgreSQL cluster with pg_cron (the major Debian installed with it)."""


def url_of(ctx: click.Context) -> str:
    return database.resolve_url(ctx.find_root().obj)


@db_app.command("up")
@JSON_OPTION
@click.pass_context
def db_up(ctx: click.Context, as_json: bool) -> None:
    """Apply every pending migration (and the Supabase pieces a plain PostgreSQL lacks)."""
    out = console_for(as_json)
    applied = []
    with database.connect(url_of(ctx)) as conn, migrations.Runner(conn) as runner:
        for migration in runner.up():
            out.print(f"applied {migration.filename}")
            applied.append(migration.filename)
    if as_json:
        emit_json({"applied": applied})
    else:
        console.print("database is up to date" if applied else "nothing to apply: database is up to date")


@db_app.command("down")
@click.option("--steps", type=click.IntRange(min=1), help="How many migrations to roll back, newest first  [default: 1].")
@click.option("--all", "all_", is_flag=True, help="Roll back every applied migration.")
@YES_OPTION
@JSON_OPTION
@click.pass_context
def db_down(ctx: click.Context, steps: Optional[int], all_: bool, yes: bool, as_json: bool) -> None:
    """Run down scripts, newest first (default: one).

    Rolling back 20261125000100_base_schema drops the tables and every row in them: activities,
    chapters, mentors, activity types and coordinators' chapters. When a rollback would drop
    tables holding rows, it first says which and how many rows, then needs --yes or a "y" typed
    at a terminal; without a terminal and without --yes it changes nothing and exits 2.
    To start over with new synthetic data but keep the schema, use `peerstats seed --replace`.
    """
    if steps is not None and all_:
        raise click.UsageError("--steps and --all exclude each other")
    out = console_for(as_json)
    rolled_back = []
    with database.connect(url_of(ctx)) as conn, migrations.Runner(conn) as runner:
        how_many = None if all_ else (steps or 1)
        # Asked for explicitly, more steps than applied migrations is a usage problem (raised by
        # the runner); the default single step on an empty history is simply nothing to do.
        if all_ or steps is not None or runner.applied_versions():
            confirm_loss("rolling back " + ("every migration" if how_many is None else
                                            f"{how_many} migration{'s' if how_many != 1 else ''}"),
                         runner.losses_of_down(how_many), yes=yes)
            for migration in runner.down(how_many):
                out.print(f"rolled back {migration.filename}")
                rolled_back.append(migration.filename)
    if as_json:
        emit_json({"rolled_back": rolled_back})
    elif not rolled_back:
        console.print("nothing to roll back: no migration is applied")


@db_app.command("status")
@JSON_OPTION
@click.pass_context
def db_status(ctx: click.Context, as_json: bool) -> None:
    """List applied and pending migrations."""
    # Reading the history needs no runner lock: status works while another runner is busy.
    with database.connect(url_of(ctx)) as conn:
        states = migrations.Runner(conn).status()
    rows = [(s.migration.version, s.migration.name, "applied" if s.applied else "pending") for s in states]
    if as_json:
        emit_json([{"version": v, "name": n, "state": state} for v, n, state in rows])
    else:
        print_table(console, ["version", "name", "state"], rows)


@local_app.command("start")
@JSON_OPTION
def local_start(as_json: bool) -> None:
    """Create (on first use) and start the embedded cluster; print its URL."""
    cluster = Cluster(default_home())
    url = cluster.ensure_running()
    if as_json:
        emit_json({"home": str(cluster.home), "state": "running", "url": url})
    else:
        console.print(url, soft_wrap=True)


@local_app.command("stop")
@JSON_OPTION
def local_stop(as_json: bool) -> None:
    """Stop the embedded cluster (its data stays)."""
    cluster = Cluster(default_home())
    was_running = cluster.stop()
    if as_json:
        emit_json({"home": str(cluster.home), "was_running": was_running,
                   "state": "stopped" if cluster.is_initialized() else "not created yet"})
    else:
        console.print(f"stopped the cluster in {cluster.home}" if was_running
                      else f"the cluster in {cluster.home} was not running")


@local_app.command("status")
@JSON_OPTION
def local_status(as_json: bool) -> None:
    """Where the embedded cluster lives, whether it runs, its PostgreSQL and its URL."""
    cluster = Cluster(default_home())
    state = "running" if cluster.is_running() else ("stopped" if cluster.is_initialized() else "not created yet")
    version = server_version(cluster.bindir)
    if as_json:
        emit_json({"home": str(cluster.home), "state": state, "postgresql": version,
                   "server_programs": str(cluster.bindir), "url": cluster.url})
    else:
        # Not soft-wrapped: a path longer than the terminal folds onto the next line, whole.
        console.print(f"home: {cluster.home}\nstate: {state}\npostgresql: {version} ({cluster.bindir})\n"
                      f"url: {cluster.url}", markup=False, highlight=False)


@app.command("refresh")
@click.option("--no-wait", is_flag=True, help="Skip, instead of waiting, when another refresh is running.")
@JSON_OPTION
@click.pass_context
def refresh(ctx: click.Context, no_wait: bool, as_json: bool) -> None:
    """Refresh the materialized views concurrently (public.refresh_stats_views())."""
    with database.connect(url_of(ctx)) as conn:
        results = refresh_stats_views(conn, wait=not no_wait)
    if as_json:
        emit_json([dataclasses.asdict(result) for result in results])
    else:
        print_table(console, ["view", "status", Column("refresh ms", "right"), "data as of"], [
            (r.view_name, r.status, "" if r.refresh_ms is None else f"{r.refresh_ms:.1f}",
             "" if r.refreshed_at is None else r.refreshed_at.isoformat(timespec="seconds")) for r in results])
    if any(result.status.startswith("failed") for result in results):
        raise PeerstatsError("a view failed to refresh (see the table above)")


@app.command("status")
@JSON_OPTION
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Health of the statistics layer; exit 1 when unhealthy (public.stats_health()).

    Per view its last successful refresh and the last failure, the change log's size and oldest
    entry, and this project's pg_cron jobs with their last finished runs. Unhealthy when a view
    has had no successful refresh for over two hours, a cron job is missing, inactive or
    failing, or the log has stayed past its threshold for over 15 minutes.
    """
    with database.connect(url_of(ctx)) as conn:
        verdict = health.stats_health(conn)
    if as_json:
        emit_json(verdict)
    else:
        health.print_health(console, verdict)
    if not verdict["healthy"]:
        count = len(verdict["problems"])
        raise PeerstatsError(f"unhealthy: {count} problem{'s' if count != 1 else ''}"
                             + ("" if as_json else " (see above)"))


@app.command("seed")
@click.option("--activities", type=int, required=True, help="Activity rows to write, duplicates and soft-deleted ones included.")
@click.option("--profile", type=click.Choice(seeding.PROFILES), default="default", show_default=True,
              help="realistic: chapters, mentors and years grow with --activities (10M: 400 chapters, 5,000 "
                   "mentors, 5 years); default: 20 chapters, 100 mentors, 2 years, or what the options below say.")
@click.option("--chapters", type=int, help=f"Default profile only  [default: {seeding.DEFAULT_SHAPE.chapters}]")
@click.option("--mentors", type=int,
              help=f"At least --chapters. Default profile only  [default: {seeding.DEFAULT_SHAPE.mentors}]")
@click.option("--years", type=int,
              help=f"The last N years, up to today (UTC); 1 to 5. Default profile only  [default: {seeding.DEFAULT_SHAPE.years}]")
@click.option("--seed", "seed_value", type=int, default=0, show_default=True, help="The same seed gives the same data (all day: the data ends at the last midnight UTC).")
@click.option("--append", is_flag=True, help="Add to a database that already holds activities.")
@click.option("--replace", is_flag=True,
              help="Delete the activities already there first, in the same transaction; chapters, mentors, "
                   "activity types, user accounts and coordinators' chapters stay. Asks first (see --yes).")
@YES_OPTION
@click.option("--no-refresh", is_flag=True, help="Leave the materialized views as they are (default: refresh them).")
@JSON_OPTION
@click.pass_context
def seed(ctx: click.Context, activities: int, profile: str, chapters: Optional[int], mentors: Optional[int],
         years: Optional[int], seed_value: int, append: bool, replace: bool, yes: bool, no_refresh: bool,
         as_json: bool) -> None:
    """Write realistic synthetic activities, chapters, mentors and coordinators, generated inside PostgreSQL."""
    given = {"--chapters": chapters, "--mentors": mentors, "--years": years}
    if profile != "default" and any(value is not None for value in given.values()):
        raise UsageProblem(f"--profile {profile} sets --chapters, --mentors and --years from --activities: "
                           f"drop {', '.join(name for name, value in given.items() if value is not None)}")
    shape = seeding.shape_of(profile, activities)
    chapters, mentors, years = (shape.chapters if chapters is None else chapters,
                                shape.mentors if mentors is None else mentors, shape.years if years is None else years)
    seeding.check_parameters(activities=activities, chapters=chapters, mentors=mentors, years=years, seed=seed_value,
                             append=append, replace=replace)
    out = console_for(as_json)
    with database.connect(url_of(ctx)) as conn:
        if replace:
            confirm_loss("seed --replace", seeding.losses_of_replace(conn), yes=yes)
        result = seeding.seed_with_progress(conn, out, activities=activities, chapters=chapters, mentors=mentors,
                                            years=years, seed=seed_value, append=append, replace=replace)
        refreshed = [] if no_refresh else refresh_stats_views(conn)
        if refreshed:
            out.print("refreshed: " + describe_refresh(refreshed))
    if as_json:
        emit_json({**dataclasses.asdict(result), "rows_per_second": result.rows_per_second,
                   "refresh": [dataclasses.asdict(r) for r in refreshed]})


@app.command("verify")
@JSON_OPTION
@click.pass_context
def verify(ctx: click.Context, as_json: bool) -> None:
    """Measure every acceptance criterion on the current database; exit 1 if one fails.

    One row per criterion: materialized views and their unique indexes, concurrent refresh,
    index use (EXPLAIN ANALYZE), 12-month query times directly and through the API, the
    index-scan ratio of a dashboard workload, locks while a refresh runs, materialized equal
    to plain, the pg_cron job, and who may read and refresh.

    It commits nothing: its probe activities and refreshes are made in transactions that it
    rolls back, so no other session sees them and the data is after it what it was before. It
    needs a role that may write (the owner), and views refreshed at least once.
    """
    with Console(stderr=True).status("verify") as status:
        report = verification.verify(url_of(ctx), step=lambda title: status.update(f"verify: {title}"))
    if as_json:
        click.echo(report.to_json(), nl=False)
    else:
        verification.print_report(console, report)
    if report.failures:
        raise PeerstatsError(report.summary())


@app.command("demo")
@click.option("--activities", type=int, default=100_000, show_default=True, help="Activities to seed into an empty database.")
@click.option("--rebuild", is_flag=True,
              help="Roll every migration back (dropping the data: asks first, see --yes), apply them again and reseed.")
@YES_OPTION
@click.option("--output", type=click.Path(dir_okay=False, path_type=pathlib.Path), default="peerstats-demo.png",
              show_default=True, help="Where to draw the chart (PNG); the coordinator's report goes beside it (.html).")
@JSON_OPTION
@click.pass_context
def demo(ctx: click.Context, activities: int, rebuild: bool, yes: bool, output: pathlib.Path, as_json: bool) -> None:
    """The main job: the embedded cluster, migrations, 100k activities, refresh, verify, a chart and a report."""
    out = console_for(as_json)
    result = demonstration.run(url_of(ctx), activities=activities, rebuild=rebuild, yes=yes, output=output,
                               console=out)
    cluster = database.embedded_cluster(ctx.find_root().obj)
    if cluster is not None:
        # Soft-wrapped: the commands it shows must stay whole on their lines, to be copied.
        out.print(demonstration.where_the_cluster_lives(cluster, program_name()), soft_wrap=True)
    if as_json:
        emit_json({**result.summary, "cluster": str(cluster.home) if cluster else None})
    if result.report.failures:
        raise PeerstatsError(f"verify: {result.report.summary()}")


def program_name() -> str:
    """How the user called peerstats (e.g. .venv/bin/peerstats), for commands the output suggests."""
    called = pathlib.Path(sys.argv[0])
    return called.name if called.name == str(called) or called.parent == pathlib.Path(".") else str(called)


@app.command("report")
@click.option("--coordinator", "coordinator_id", type=click.UUID, required=True, metavar="USER_ID",
              help="The coordinator's user id (auth.users): the report shows what they may see.")
@click.option("--months", type=click.IntRange(1, coordinator_report.MAX_MONTHS), default=12, show_default=True,
              help="How many months: this month so far and the ones before it (12: the window verify measures).")
@click.option("--output", type=click.Path(dir_okay=False, writable=True, path_type=pathlib.Path), required=True,
              metavar="FILE.html", help="The HTML file to write (whole or not at all).")
@JSON_OPTION
@click.pass_context
def report(ctx: click.Context, coordinator_id: uuid.UUID, months: int, output: pathlib.Path, as_json: bool) -> None:
    """A coordinator's chapters as one self-contained HTML page: weekly charts, months, top mentors.

    Reads through the API as that coordinator (as PostgREST would), so the page shows exactly
    what they may see. It loads nothing from elsewhere: open it in any browser, or mail it.
    """
    with database.connect(url_of(ctx), application_name="peerstats report") as conn:
        written = coordinator_report.write(conn, coordinator_id, months, output)
    if as_json:
        emit_json(coordinator_report.summary(written, output))
        return
    console.print(f"wrote {output.resolve()}", soft_wrap=True)
    console.print(coordinator_report.describe(written), highlight=False)


@app.command("watch")
@click.option("--coordinator", "coordinator_id", type=click.UUID, required=True, metavar="USER_ID",
              help="The coordinator's user id (auth.users): the view shows their chapters.")
@click.option("--realtime-url", metavar="URL",
              help="Hosted Supabase: the project's Realtime URL (https://<ref>.supabase.co/realtime/v1). "
                   "Without it, a model of the Realtime server runs here on the database.")
@click.option("--jwt", metavar="TOKEN", help="With --realtime-url: the coordinator's access token.")
@click.option("--apikey", metavar="KEY", help="With --realtime-url: the project's anon key  [default: --jwt].")
@click.pass_context
def watch(ctx: click.Context, coordinator_id: uuid.UUID, realtime_url: Optional[str], jwt: Optional[str],
          apikey: Optional[str]) -> None:
    """A live view of a coordinator's chapters, read again through the API on each broadcast.

    Per chapter: activities and hours of the last 12 months, this week and today (UTC), and when
    a broadcast last said it changed. It subscribes to the private Realtime channel
    stats:chapter:<id> of each chapter and reads again, as the coordinator, once per burst of
    broadcasts; nothing is read while nothing changes. Ctrl-C ends it.
    """
    if realtime_url is None and (jwt or apikey):
        raise click.UsageError("--jwt and --apikey go with --realtime-url")
    if realtime_url is not None and jwt is None:
        raise click.UsageError("--realtime-url needs --jwt, the coordinator's access token")
    live_view.run(url_of(ctx), coordinator_id, console, realtime_url=realtime_url, jwt=jwt, apikey=apikey)


@app.group("bench", invoke_without_command=True)
@click.option("--sizes", default=",".join(str(size) for size in size_bench.DEFAULT_SIZES), show_default=True,
              help="Activity counts to measure, separated by commas.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=pathlib.Path), default="bench-results.json",
              show_default=True, help="Where to write the figures (JSON); two PNG plots go beside it.")
@click.option("--hour-of-writes", type=click.IntRange(min=1), default=exact_bench.HOUR_OF_WRITES, show_default=True,
              help="Single-row inserts pending for the 'one hour at 20/s' read (dated over the last 3 days).")
@click.option("--write-statements", type=click.IntRange(min=1), default=exact_bench.WRITE_STATEMENTS, show_default=True,
              help="Single-row inserts per round of the write-cost measure (split among the writers).")
@click.option("--profile", type=click.Choice(seeding.PROFILES), default="default", show_default=True,
              help="The seeded organisation, as `peerstats seed --profile`: realistic grows chapters, mentors and "
                   "years with each size.")
@JSON_OPTION
@click.pass_context
def bench(ctx: click.Context, sizes: str, output: pathlib.Path, hour_of_writes: int, write_statements: int,
          profile: str, as_json: bool) -> None:
    """Benchmarks that print measured figures, the materialized views against the plain ones.

    Without a subcommand: seeding, refresh (plain and concurrent), dashboard query latency
    (materialized, plain, and through the API), the API's reads with changes pending and after
    the threshold refresh, and insert throughput with and without the statistics triggers and
    the write guards, at each size, on a throwaway cluster of its own; it never touches the
    database of --database-url. Beside the JSON it writes PNG plots of read latency against
    size and of write throughput.
    """
    if ctx.invoked_subcommand is None:
        document = size_bench.run(size_bench.parse_sizes(sizes), output=output, console=console_for(as_json),
                                 hour_of_writes=hour_of_writes, write_statements=write_statements, profile=profile)
        if as_json:
            emit_json(document)


@bench.command("freshness")
@click.option("--activities", type=click.IntRange(min=1), default=100_000, show_default=True,
              help="Activities seeded before the load.")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), default=20, show_default=True,
              help="Activities inserted a second during the load.")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), default=30, show_default=True,
              help="Seconds of load.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=pathlib.Path), help="Also write the figures as JSON here.")
@JSON_OPTION
@click.pass_context
def bench_freshness(ctx: click.Context, activities: int, rate: float, duration: float,
                    output: Optional[pathlib.Path], as_json: bool) -> None:
    """Time from a write's commit until the API shows it, and until its Realtime broadcast arrives.

    First the API: inserts at --rate while refreshes run back to back, each read back as the
    coordinator. Then the broadcasts, through the model of the Realtime server: commit to
    message at a subscriber at --rate over the chapters and in a burst into one chapter,
    messages per transaction, and single-row insert throughput with the broadcast trigger on
    and off in the same run. Runs on a throwaway cluster of its own, or on the database of
    --database-url, which it migrates, seeds and writes to: give only a database you can
    throw away.
    """
    result = freshness_bench.run(ctx.find_root().obj, activities=activities, rate=rate, duration=duration,
                           progress=lambda step: console_for(as_json).print(f"[dim]{step}[/dim]"))
    if as_json:
        emit_json(result.as_json())
    else:
        freshness_bench.print_report(console, result)
    if output:
        output.write_text(json_text(result.as_json()))
        console_for(as_json).print(f"wrote {output}")
    if not result.target_met:
        raise PeerstatsError("a probe was not visible to the first read after its commit")


@bench.command("load")
@click.option("--activities", type=click.IntRange(1, seeding.MAX_ACTIVITIES), default=1_000_000, show_default=True,
              help="Activities seeded before the load.")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), default=300, show_default=True,
              help="Seconds of load.")
@click.option("--sessions", type=click.IntRange(1, 80), default=50, show_default=True,
              help="Dashboards open at once, each a coordinator of one to five chapters.")
@click.option("--write-rate", type=click.FloatRange(min=0, min_open=True), default=20, show_default=True,
              help="Activities mentors insert a second through the API.")
@click.option("--sample-every", type=click.FloatRange(min=1), default=15, show_default=True,
              help="Seconds between two samples of the log's size and of exactness.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=pathlib.Path), default="bench-load.json",
              show_default=True, help="Where to write the figures (JSON).")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=pathlib.Path), default="bench-load.png",
              show_default=True, help="Where to draw the latency over time (PNG).")
@JSON_OPTION
def bench_load_command(activities: int, duration: float, sessions: int, write_rate: float, sample_every: float,
                       output: pathlib.Path, plot: pathlib.Path, as_json: bool) -> None:
    """Dashboards under load: many coordinators reading while mentors write and pg_cron runs.

    On a throwaway cluster of its own: seeds, then for --duration seconds runs --sessions
    dashboards (each loads its three 12-month endpoints through the API every 2 to 4 s),
    mentors inserting --write-rate activities a second through the API, and the pg_cron jobs.
    Prints p50, p95, p99 and max per endpoint, errors, timeouts, writes, refreshes, the log's
    size and exactness (API against plain views) over time; exit 1 on an error, a timeout or
    a difference.
    """
    out = console_for(as_json)
    document = load_bench.run(activities=activities, duration=duration, sessions=sessions, write_rate=write_rate,
                              sample_every=sample_every, output=output, plot=plot, console=out)
    if as_json:
        emit_json(document)
    else:
        load_bench.print_report(console, document)
    missed = load_bench.failures(document)
    if missed:
        raise PeerstatsError("under load: " + ", ".join(missed))


@app.group("bufdir")
def bufdir_app() -> None:
    """The annual Bufdir export and its reconciliation with the dashboard."""


# The years an export may ask for, checked before any database work.
BUFDIR_YEAR = click.IntRange(bufdir.FIRST_YEAR, bufdir.last_plausible_year())


@bufdir_app.command("export")
@click.option("--year", type=BUFDIR_YEAR, required=True, help="UTC calendar year.")
@click.option("--format", "output_format", type=click.Choice(bufdir.FORMATS + (xlsx_export.FORMAT,)), default="json",
              show_default=True, help="xlsx: a spreadsheet, written only to --output.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=pathlib.Path),
              help="File to write (whole or not at all); default: standard output.")
@click.pass_context
def bufdir_export(ctx: click.Context, year: int, output_format: str, output: Optional[pathlib.Path]) -> None:
    """Per chapter: activities, hours and active mentors of one UTC year, and per activity type."""
    if output_format == xlsx_export.FORMAT and output is None:
        raise click.UsageError("--format xlsx needs --output FILE.xlsx: a spreadsheet is not written to the terminal")
    with database.connect(url_of(ctx)) as conn:
        if output_format == xlsx_export.FORMAT:
            content: str | bytes = xlsx_export.workbook_bytes(year, bufdir.export_year(conn, year))
        else:
            content = bufdir.export_text(conn, year, output_format)
    bufdir.write_output(content, output)


@bufdir_app.command("validate")
@click.option("--year", type=BUFDIR_YEAR,
              help="UTC calendar year; default: every year with data, and every closed or reopened year.")
@click.option("--reference", is_flag=True,
              help="First load the shipped reference dataset into this empty database, refresh, and check "
                   "the export against its hand-written expected files.")
@JSON_OPTION
@click.pass_context
def bufdir_validate(ctx: click.Context, year: Optional[int], reference: bool, as_json: bool) -> None:
    """Reconcile the export with the dashboard (the exact API) and the plain views; exit 1 on a difference."""
    with database.connect(url_of(ctx)) as conn:
        validation = bufdir.validate(conn, year=year, with_reference=reference)
    if as_json:
        click.echo(bufdir.validation_json(validation), nl=False)
    else:
        bufdir.print_validation(console, validation)
    if validation.failures:
        raise PeerstatsError(validation.summary())


def operator_name() -> str | None:
    """Who runs the command, as this machine knows them, stored beside the database role."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


def non_blank(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not value.strip():
        raise click.BadParameter("must not be blank")
    return value.strip()


@bufdir_app.command("close")
@click.option("--year", type=BUFDIR_YEAR, required=True, help="UTC calendar year.")
@JSON_OPTION
@click.pass_context
def bufdir_close(ctx: click.Context, year: int, as_json: bool) -> None:
    """Close a reported year: store its export as submitted; its activities then refuse every write."""
    with database.connect(url_of(ctx)) as conn:
        submission = bufdir.close_year(conn, year, operator_name())
    if as_json:
        emit_json({"year": year, "status": submission.status, "submitted_at": submission.submitted_at.isoformat(),
                   "submitted_by": submission.submitted_by, "operator": submission.operator,
                   "chapters": len(submission.chapters),
                   "activity_count": sum(chapter.activity_count for chapter in submission.chapters)})
        return
    counted = sum(chapter.activity_count for chapter in submission.chapters)
    console.print(f"closed {year}: stored the submission ({len(submission.chapters)} chapters, {counted} activities); "
                  f"{submission.describe()}", soft_wrap=True)


@bufdir_app.command("reopen")
@click.option("--year", type=BUFDIR_YEAR, required=True, help="UTC calendar year.")
@click.option("--reason", required=True, callback=non_blank, help="Why the year is reopened (logged).")
@JSON_OPTION
@click.pass_context
def bufdir_reopen(ctx: click.Context, year: int, reason: str, as_json: bool) -> None:
    """Reopen a closed year for corrections by the service role; logged with the reason."""
    with database.connect(url_of(ctx)) as conn:
        bufdir.reopen_year(conn, year, reason, operator_name())
    if as_json:
        emit_json({"reopened": year, "reason": reason})
        return
    console.print(f"reopened {year} for corrections by the service role; close it again with "
                  f"`peerstats bufdir close --year {year}`", soft_wrap=True)


def main() -> None:
    """Entry point: every way a command ends becomes an exit code, and a failure one line on
    stderr, never a traceback (the mapping is exits.outcome)."""
    try:
        exit_code = app.main(prog_name="peerstats", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as asked_nothing:
        # `peerstats` or `peerstats db` alone: the help, as click shows it, and a usage exit.
        click.echo(asked_nothing.format_message(), err=True)
        sys.exit(exits.USAGE)
    except BaseException as ended:  # noqa: BLE001 - the one place every failure is turned into a line and a code
        if isinstance(ended, SystemExit):
            raise
        code, line = exits.outcome(ended)
        click.echo(f"peerstats: {line}", err=True)
        sys.exit(code)
    sys.exit(exit_code if isinstance(exit_code, int) else exits.OK)

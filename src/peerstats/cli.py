"""The `peerstats` command line: thin commands over the library modules."""

from __future__ import annotations

import json
import pathlib
import sys
from typing import Optional

import click
import psycopg
from rich.console import Console
from rich.table import Table

from peerstats import bench as benchmark
from peerstats import bench_exact
from peerstats import bufdir, database, freshness, migrations
from peerstats import demo as demonstration
from peerstats import seed as seeding
from peerstats import verify as verification
from peerstats.cluster import Cluster, default_home
from peerstats.errors import PeerstatsError
from peerstats.refresh import describe_refresh, refresh_stats_views

console = Console()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--database-url", metavar="URL", help="PostgreSQL URL; else DATABASE_URL; else the embedded local cluster.")
@click.pass_context
def app(ctx: click.Context, database_url: Optional[str]) -> None:
    """Statistics layer for a Supabase peer-mentor app: migrations, seed, verify, bench, Bufdir export."""
    ctx.obj = database_url


@app.group("db")
def db_app() -> None:
    """Apply, roll back and list the migrations."""


@app.group("local")
def local_app() -> None:
    """The embedded local PostgreSQL 15 cluster with pg_cron."""


def url_of(ctx: click.Context) -> str:
    return database.resolve_url(ctx.find_root().obj)


@db_app.command("up")
@click.pass_context
def db_up(ctx: click.Context) -> None:
    """Apply every pending migration (and the Supabase pieces a plain PostgreSQL lacks)."""
    with database.connect(url_of(ctx)) as conn, migrations.Runner(conn) as runner:
        applied = 0
        for migration in runner.up():
            console.print(f"applied {migration.filename}")
            applied += 1
    console.print("database is up to date" if applied else "nothing to apply: database is up to date")


@db_app.command("down")
@click.option("--steps", type=click.IntRange(min=1), default=1, show_default=True, help="How many migrations to roll back, newest first.")
@click.option("--all", "all_", is_flag=True, help="Roll back every applied migration.")
@click.pass_context
def db_down(ctx: click.Context, steps: int, all_: bool) -> None:
    """Run down scripts, newest first (default: one)."""
    with database.connect(url_of(ctx)) as conn, migrations.Runner(conn) as runner:
        rolled_back = 0
        for migration in runner.down(None if all_ else steps):
            console.print(f"rolled back {migration.filename}")
            rolled_back += 1
    if not rolled_back:
        console.print("nothing to roll back: no migration is applied")


@db_app.command("status")
@click.pass_context
def db_status(ctx: click.Context) -> None:
    """List applied and pending migrations."""
    # Reading the history needs no runner lock: status works while another runner is busy.
    with database.connect(url_of(ctx)) as conn:
        states = migrations.Runner(conn).status()
    table = Table("version", "name", "state")
    for state in states:
        table.add_row(state.migration.version, state.migration.name, "applied" if state.applied else "pending")
    console.print(table)


@local_app.command("start")
def local_start() -> None:
    """Create (on first use) and start the embedded cluster; print its URL."""
    cluster = Cluster(default_home())
    console.print(cluster.ensure_running(), soft_wrap=True)


@local_app.command("stop")
def local_stop() -> None:
    """Stop the embedded cluster (its data stays)."""
    cluster = Cluster(default_home())
    was_running = cluster.is_running()
    cluster.stop()
    console.print(f"stopped the cluster in {cluster.home}" if was_running else f"the cluster in {cluster.home} was not running")


@local_app.command("status")
def local_status() -> None:
    """Where the embedded cluster lives, whether it runs, and its URL."""
    cluster = Cluster(default_home())
    state = "running" if cluster.is_running() else ("stopped" if cluster.is_initialized() else "not created yet")
    console.print(f"home: {cluster.home}\nstate: {state}\nurl: {cluster.url}", soft_wrap=True)


@app.command("refresh")
@click.option("--no-wait", is_flag=True, help="Skip, instead of waiting, when another refresh is running.")
@click.pass_context
def refresh(ctx: click.Context, no_wait: bool) -> None:
    """Refresh the three materialized views concurrently (public.refresh_stats_views())."""
    with database.connect(url_of(ctx)) as conn:
        results = refresh_stats_views(conn, wait=not no_wait)
    table = Table("view", "status", "refresh ms", "data as of")
    for result in results:
        table.add_row(result.view_name, result.status,
                      "" if result.refresh_ms is None else f"{result.refresh_ms:.1f}",
                      "" if result.refreshed_at is None else result.refreshed_at.isoformat(timespec="seconds"))
    console.print(table)
    if any(result.status.startswith("failed") for result in results):
        raise PeerstatsError("a view failed to refresh (see the table above)")


@app.command("seed")
@click.option("--activities", type=int, required=True, help="Activity rows to write, duplicates and soft-deleted ones included.")
@click.option("--chapters", type=int, default=20, show_default=True)
@click.option("--mentors", type=int, default=100, show_default=True, help="At least --chapters.")
@click.option("--years", type=int, default=2, show_default=True, help="The last N years, up to today (UTC); 1 to 5.")
@click.option("--seed", "seed_value", type=int, default=0, show_default=True, help="The same seed gives the same data (all day: the data ends at the last midnight UTC).")
@click.option("--append", is_flag=True, help="Add to a database that already holds activities.")
@click.option("--no-refresh", is_flag=True, help="Leave the materialized views as they are (default: refresh them).")
@click.pass_context
def seed(ctx: click.Context, activities: int, chapters: int, mentors: int, years: int, seed_value: int,
         append: bool, no_refresh: bool) -> None:
    """Write realistic synthetic activities, chapters, mentors and coordinators, generated inside PostgreSQL."""
    seeding.check_parameters(activities=activities, chapters=chapters, mentors=mentors, years=years, seed=seed_value)
    with database.connect(url_of(ctx)) as conn:
        seeding.seed_with_progress(conn, console, activities=activities, chapters=chapters, mentors=mentors,
                                   years=years, seed=seed_value, append=append)
        if not no_refresh:
            console.print("refreshed: " + describe_refresh(refresh_stats_views(conn)), soft_wrap=True)


@app.command("verify")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON document.")
@click.pass_context
def verify(ctx: click.Context, as_json: bool) -> None:
    """Measure every acceptance criterion of the spec on the current database; exit 1 if one fails."""
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
@click.option("--rebuild", is_flag=True, help="Roll every migration back (dropping the data), apply them again and reseed.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=pathlib.Path), default="peerstats-demo.png",
              show_default=True, help="Where to draw the chart (PNG).")
@click.pass_context
def demo(ctx: click.Context, activities: int, rebuild: bool, output: pathlib.Path) -> None:
    """The main job: the embedded cluster, migrations, 100k activities, refresh, verify, and a coordinator's chart."""
    report = demonstration.run(url_of(ctx), activities=activities, rebuild=rebuild, output=output, console=console)
    if report.failures:
        raise PeerstatsError(f"verify: {report.summary()}")


@app.group("bench", invoke_without_command=True)
@click.option("--sizes", default=",".join(str(size) for size in benchmark.DEFAULT_SIZES), show_default=True,
              help="Activity counts to measure, separated by commas.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=pathlib.Path), default="bench-results.json",
              show_default=True, help="Where to write the figures (JSON).")
@click.option("--hour-of-writes", type=click.IntRange(min=1), default=bench_exact.HOUR_OF_WRITES, show_default=True,
              help="Single-row inserts pending for the 'one hour at 20/s' read (dated over the last 3 days).")
@click.option("--write-statements", type=click.IntRange(min=1), default=bench_exact.WRITE_STATEMENTS, show_default=True,
              help="Single-row inserts per round of the write-cost measure (split among the writers).")
@click.pass_context
def bench(ctx: click.Context, sizes: str, output: pathlib.Path, hour_of_writes: int, write_statements: int) -> None:
    """Benchmarks that print measured figures, the materialized views against the plain ones.

    Without a subcommand: seeding, refresh (plain and concurrent), dashboard query latency
    (materialized, plain, and through the API), the API's reads with changes pending and after
    the threshold refresh, and insert throughput with and without the statistics triggers, at
    each size, on a throwaway cluster of its own; it never touches the database of --database-url.
    """
    if ctx.invoked_subcommand is None:
        benchmark.run(benchmark.parse_sizes(sizes), output=output, console=console, hour_of_writes=hour_of_writes,
                      write_statements=write_statements)


@bench.command("freshness")
@click.option("--activities", type=click.IntRange(min=1), default=100_000, show_default=True,
              help="Activities seeded before the load.")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), default=20, show_default=True,
              help="Activities inserted a second during the load.")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), default=30, show_default=True,
              help="Seconds of load.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=pathlib.Path), help="Also write the figures as JSON here.")
@click.pass_context
def bench_freshness(ctx: click.Context, activities: int, rate: float, duration: float,
                    output: Optional[pathlib.Path]) -> None:
    """Time from a write's commit until the API shows it, while refreshes run back to back.

    Runs on a throwaway cluster of its own, or on the database of --database-url, which it
    migrates, seeds and writes to: give only a database you can throw away.
    """
    result = freshness.run(ctx.find_root().obj, activities=activities, rate=rate, duration=duration,
                           progress=lambda step: console.print(f"[dim]{step}[/dim]"))
    freshness.print_report(console, result)
    if output:
        output.write_text(json.dumps(result.as_json(), indent=2, default=str) + "\n")
        console.print(f"wrote {output}")
    if not result.target_met:
        raise PeerstatsError("a probe was not visible to the first read after its commit")


@app.group("bufdir")
def bufdir_app() -> None:
    """The annual Bufdir export and its reconciliation with the dashboard."""


# The years an export may ask for, checked before any database work.
BUFDIR_YEAR = click.IntRange(bufdir.FIRST_YEAR, bufdir.last_plausible_year())


@bufdir_app.command("export")
@click.option("--year", type=BUFDIR_YEAR, required=True, help="UTC calendar year.")
@click.option("--format", "output_format", type=click.Choice(bufdir.FORMATS), default="json", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=pathlib.Path),
              help="File to write (whole or not at all); default: standard output.")
@click.pass_context
def bufdir_export(ctx: click.Context, year: int, output_format: str, output: Optional[pathlib.Path]) -> None:
    """Per chapter: activities, hours and active mentors of one UTC year, and per activity type."""
    with database.connect(url_of(ctx)) as conn:
        text = bufdir.export_text(conn, year, output_format)
    bufdir.write_output(text, output)


@bufdir_app.command("validate")
@click.option("--year", type=BUFDIR_YEAR, help="UTC calendar year; default: every year with data.")
@click.option("--reference", is_flag=True,
              help="First load the shipped reference dataset into this empty database, refresh, and check "
                   "the export against its hand-written expected files.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON document.")
@click.pass_context
def bufdir_validate(ctx: click.Context, year: Optional[int], reference: bool, as_json: bool) -> None:
    """Reconcile the export with the dashboard's materialized views and the plain views; exit 1 on a difference."""
    with database.connect(url_of(ctx)) as conn:
        validation = bufdir.validate(conn, year=year, with_reference=reference)
    if as_json:
        click.echo(bufdir.validation_json(validation), nl=False)
    else:
        bufdir.print_validation(console, validation)
    if validation.failures:
        raise PeerstatsError(validation.summary())


def main() -> None:
    """Entry point: every failure becomes one line on stderr and a non-zero exit, never a traceback."""
    try:
        exit_code = app.main(prog_name="peerstats", standalone_mode=False)
    except click.exceptions.Abort:
        print("peerstats: aborted", file=sys.stderr)
        sys.exit(130)
    except click.UsageError as failure:
        print(f"peerstats: {failure.format_message()}", file=sys.stderr)
        sys.exit(2)
    except PeerstatsError as failure:
        print(f"peerstats: {failure}", file=sys.stderr)
        sys.exit(1)
    except psycopg.Error as failure:
        print(f"peerstats: database error: {migrations.describe(failure)}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("peerstats: interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(exit_code if isinstance(exit_code, int) else 0)

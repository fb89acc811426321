"""The `peerstats` command line: thin commands over the library modules."""

from __future__ import annotations

import sys
from typing import Optional

import click
import psycopg
from rich.console import Console
from rich.table import Table

from peerstats import database, migrations
from peerstats.refresh import refresh_stats_views
from peerstats.cluster import Cluster, default_home
from peerstats.errors import PeerstatsError

console = Console()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--database-url", metavar="URL", help="PostgreSQL URL; else DATABASE_URL; else the embedded local cluster.")
@click.pass_context
def app(ctx: click.Context, database_url: Optional[str]) -> None:
    """Statistics layer for a Supabase peer-mentor app: migrations, seed, verify, bench, worker, Bufdir export."""
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
    with database.connect(url_of(ctx)) as conn, migrations.Runner(conn) as runner:
        states = runner.status()
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


@app.group("bench", invoke_without_command=True)
@click.pass_context
def bench(ctx: click.Context) -> None:
    """Benchmarks that print measured figures, the materialized views against the plain ones."""


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

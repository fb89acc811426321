"""Applies and rolls back the migrations in supabase/migrations, keeping the Supabase CLI's history.

No published runner both respects the Supabase CLI's folder and history table and runs down
scripts, so this is a small one of our own. Up scripts are `supabase/migrations/<version>_<name>.sql`,
exactly what `supabase db push` applies; each down script has the same file name under
`supabase/rollback/`, where the CLI never looks. Every file runs in one transaction, and a
session advisory lock keeps two runners from interleaving.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import psycopg
from psycopg import sql

from peerstats.confirm import Loss
from peerstats.errors import PeerstatsError, UsageProblem

MIGRATION_FILE = re.compile(r"^(?P<version>\d{14})_(?P<name>[a-z0-9_]+)\.sql$")
# An arbitrary constant, the same for every peerstats runner: pg_advisory_lock's key.
RUNNER_LOCK_KEY = 7_351_046_001
# How long a runner waits for another to finish before it gives up: applying every migration
# to an empty database takes a second or two.
RUNNER_WAIT = "60s"

# A table whose comment begins with this holds rows that are no data of their own (a log of
# refresh calls, the exact API's dirty keys): never counted as a loss to confirm. The mark is
# in the database, set by the migration that makes or adopts the table.
OPERATIONAL_LOG_MARK = "Operational log:"


def supabase_dir() -> Path:
    """The project's supabase/ folder: beside src/ in a checkout, inside the package in a wheel."""
    packaged = Path(__file__).parent / "supabase"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "supabase"


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    up_path: Path
    down_path: Path

    @property
    def filename(self) -> str:
        return self.up_path.name


@dataclass(frozen=True)
class MigrationState:
    migration: Migration
    applied: bool


def discover(folder: Path | None = None) -> list[Migration]:
    folder = folder or supabase_dir()
    found = []
    for path in sorted((folder / "migrations").glob("*.sql")):
        match = MIGRATION_FILE.match(path.name)
        if not match:
            raise PeerstatsError(f"{path.name}: not a migration file name (<14 digits>_<name>.sql)")
        down = folder / "rollback" / path.name
        if not down.exists():
            raise PeerstatsError(f"{path.name}: its down script supabase/rollback/{path.name} is missing")
        found.append(Migration(match["version"], match["name"], path, down))
    return found


HISTORY_DDL = """
create schema if not exists supabase_migrations;
create table if not exists supabase_migrations.schema_migrations (
  version text not null primary key,
  statements text[],
  name text
);
"""


class Runner:
    """One connection that holds the runner lock while it applies or rolls back migrations.

    A second runner waits for the first to finish (up to `wait`, a PostgreSQL interval), then
    works on what the first left: two `db up` started together both succeed, the second
    finding nothing to apply.
    """

    def __init__(self, conn: psycopg.Connection, folder: Path | None = None, *, wait: str = RUNNER_WAIT):
        if not conn.autocommit:
            raise ValueError("the migration runner manages its own transactions: pass an autocommit connection")
        self.conn = conn
        self.migrations = discover(folder)
        self.wait = wait

    def __enter__(self) -> Runner:
        # lock_timeout bounds the wait for an advisory lock too; set for this one statement.
        try:
            with self.conn.transaction():
                self.conn.execute("select set_config('lock_timeout', %s, true)", (self.wait,))
                self.conn.execute("select pg_advisory_lock(%s)", (RUNNER_LOCK_KEY,))
        except psycopg.errors.LockNotAvailable as busy:
            raise PeerstatsError(
                f"another migration runner has been working on this database for {self.wait}; "
                "try again when it has finished"
            ) from busy
        return self

    def __exit__(self, *exc) -> None:
        if not self.conn.closed:
            self.conn.execute("select pg_advisory_unlock(%s)", (RUNNER_LOCK_KEY,))

    def applied_versions(self) -> list[str]:
        exists = self.conn.execute(
            "select to_regclass('supabase_migrations.schema_migrations') is not null"
        ).fetchone()[0]
        if not exists:
            return []
        return [row[0] for row in self.conn.execute(
            "select version from supabase_migrations.schema_migrations order by version"
        )]

    def status(self) -> list[MigrationState]:
        applied = set(self.applied_versions())
        return [MigrationState(m, m.version in applied) for m in self.migrations]

    def ensure_supabase_pieces(self) -> None:
        sql_files = resources.files("peerstats").joinpath("sql")
        with self.conn.transaction():
            self.conn.execute(sql_files.joinpath("supabase_shim.sql").read_text())
            # Supabase's Realtime server made the schema realtime; elsewhere we make it as it does.
            if self.conn.execute("select to_regnamespace('realtime') is null").fetchone()[0]:
                self.conn.execute(sql_files.joinpath("realtime_schema.sql").read_text())
            self.conn.execute(HISTORY_DDL)

    def _run_file(self, path: Path, record) -> None:
        sql = path.read_text()
        try:
            with self.conn.transaction():
                self.conn.execute(sql)
                record(sql)
        except psycopg.Error as failure:
            raise PeerstatsError(f"{path.relative_to(path.parents[1])} failed, nothing of it was applied: "
                                 f"{describe(failure)}") from failure

    def up(self) -> Iterator[Migration]:
        """Apply every pending migration in version order, yielding each once it is committed."""
        self.ensure_supabase_pieces()
        applied = set(self.applied_versions())
        for migration in self.migrations:
            if migration.version in applied:
                continue
            self._run_file(migration.up_path, lambda sql, m=migration: self.conn.execute(
                "insert into supabase_migrations.schema_migrations (version, name, statements) "
                "values (%s, %s, array[%s])", (m.version, m.name, sql)))
            yield migration

    def _down_targets(self, steps: int | None) -> list[Migration]:
        """The migrations `steps` down scripts roll back, newest first (all when None)."""
        by_version = {m.version: m for m in self.migrations}
        applied = self.applied_versions()
        if steps is not None and steps > len(applied):
            raise UsageProblem(f"--steps {steps} is more than the {len(applied)} applied migration"
                               f"{'s' if len(applied) != 1 else ''}; see `peerstats db status`")
        targets = list(reversed(applied))[: steps if steps is not None else len(applied)]
        unknown = [v for v in targets if v not in by_version]
        if unknown:
            raise PeerstatsError(
                f"applied version(s) {', '.join(unknown)} have no migration "
                "file here, so they cannot be rolled back; check out the matching peerstats version"
            )
        return [by_version[version] for version in targets]

    def losses_of_down(self, steps: int | None = 1) -> list[Loss]:
        """The tables the down scripts would drop while they hold rows the migrations did not
        write themselves (stats_freshness's row per view, say), with the rows each holds now.

        Found by experiment in a transaction that is rolled back: run those down scripts and see
        which tables are gone (CASCADE included), then run the up scripts again and count what
        the migrations alone put in them. Nothing is read from the SQL.
        """
        tables = ("select c.oid, n.nspname, c.relname, coalesce(obj_description(c.oid, 'pg_class'), '')"
                  " from pg_class c join pg_namespace n on n.oid = c.relnamespace"
                  " where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema')"
                  " and n.nspname not like 'pg\\_%'")

        def rows(schema: str, name: str) -> int:
            return self.conn.execute(
                sql.SQL("select count(*) from {}").format(sql.Identifier(schema, name))).fetchone()[0]

        present = self.conn.execute(tables).fetchall()
        before = {oid: (schema, name) for oid, schema, name, _ in present}
        logs = {(schema, name) for _, schema, name, comment in present if comment.startswith(OPERATIONAL_LOG_MARK)}
        targets = self._down_targets(steps)
        with self.conn.transaction(force_rollback=True):
            for migration in targets:
                self._try(migration.down_path)
            remaining = {oid for oid, *_ in self.conn.execute(tables)}
            dropped = sorted(name for oid, name in before.items() if oid not in remaining)
            for migration in reversed(targets):
                self._try(migration.up_path)
            recreated = {(schema, name) for _, schema, name, _ in self.conn.execute(tables)}
            written_by_migrations = {table: rows(*table) if table in recreated else 0 for table in dropped}
        held = {table: rows(*table) for table in dropped}
        return [Loss(f"{schema}.{name}", held[schema, name]) for schema, name in dropped
                if held[schema, name] > written_by_migrations[schema, name]
                and (schema, name) not in logs]

    def _try(self, path: Path) -> None:
        """Run a migration file inside the caller's transaction, for an experiment."""
        try:
            with self.conn.transaction():
                self.conn.execute(path.read_text())
        except psycopg.Error as failure:
            raise PeerstatsError(f"{path.relative_to(path.parents[1])} would fail, nothing was changed: "
                                 f"{describe(failure)}") from failure

    def down(self, steps: int | None = 1) -> Iterator[Migration]:
        """Run down scripts newest first (`steps` of them, all when None), yielding each once committed."""
        for migration in self._down_targets(steps):
            self._run_file(migration.down_path, lambda sql, v=migration.version: self.conn.execute(
                "delete from supabase_migrations.schema_migrations where version = %s", (v,)))
            yield migration


def apply_all(conn: psycopg.Connection, *, afresh: bool = False,
              confirm_loss: Callable[[list[Loss]], None] | None = None) -> tuple[list[Migration], list[Migration]]:
    """Apply every pending migration, after rolling every applied one back when `afresh`
    (dropping the data, once `confirm_loss` has seen what would be lost); return (rolled back, applied)."""
    with Runner(conn) as runner:
        if afresh and confirm_loss:
            confirm_loss(runner.losses_of_down(None))
        rolled_back = list(runner.down(None)) if afresh else []
        return rolled_back, list(runner.up())


def describe(failure: psycopg.Error) -> str:
    """PostgreSQL's message with its detail and hint, on one line."""
    diag = failure.diag
    parts = [diag.message_primary or str(failure).strip()]
    if diag.message_detail:
        parts.append(diag.message_detail)
    if diag.message_hint:
        parts.append(f"hint: {diag.message_hint}")
    if diag.context:
        parts.append(f"at {diag.context.strip().splitlines()[-1]}")
    return " ".join(" ".join(parts).split())

"""The migration runner, the `peerstats db` commands, the Supabase pieces and the down scripts."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import cluster_on
from peerstats import database
from peerstats.errors import PeerstatsError
from peerstats.migrations import RUNNER_LOCK_KEY, Runner, discover

pytestmark = pytest.mark.every_postgresql

PEERSTATS = Path(sys.executable).parent / "peerstats"
BASE_TABLES = ("chapters", "peer_mentors", "activity_types", "activities", "coordinator_chapters")
PLAIN_VIEWS_VERSION = "20261125000200"
MATERIALIZED_VIEWS_VERSION = "20261125000300"
# What the materialized-view migration creates, and its down script must remove.
MATERIALIZED_VIEW_OBJECTS = (
    "private.mv_activity_time_series", "private.mv_chapter_stats", "private.mv_peer_mentor_stats",
    "public.activity_time_series", "public.chapter_stats", "public.peer_mentor_stats",
    "public.stats_freshness", "private.refresh_runs",
)
MATERIALIZED_VIEW_FUNCTIONS = (
    "public.refresh_stats_views(boolean)", "private.activity_time_series_for_caller()",
    "private.chapter_stats_for_caller()", "private.peer_mentor_stats_for_caller()",
)


def peerstats(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return subprocess.run([str(PEERSTATS), *args], capture_output=True, text=True, timeout=120,
                          env={**env, "COLUMNS": "200"})


def assert_one_line_failure(result: subprocess.CompletedProcess, exit_code: int, *fragments: str) -> None:
    assert result.returncode == exit_code, (result.stdout, result.stderr)
    assert result.stderr.startswith("peerstats: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr


def shown_states(url: str) -> dict[str, str]:
    """`db status` as {version: state}, read from the rows of its table."""
    status = peerstats("--database-url", url, "db", "status")
    assert status.returncode == 0, status.stderr
    rows = [line.replace("│", " ").split() for line in status.stdout.splitlines()]
    return {row[0]: row[-1] for row in rows if row and row[0].isdigit()}


def all_versions() -> list[str]:
    return [m.version for m in discover()]


def exists(conn, regclass: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null", (regclass,)).fetchone()[0]


def function_exists(conn, signature: str) -> bool:
    return conn.execute("select to_regprocedure(%s) is not null", (signature,)).fetchone()[0]


def cron_job_exists(conn) -> bool:
    return conn.execute("select exists (select from cron.job where jobname = 'refresh-stats-views')").fetchone()[0]


# The one column of a base table a down script drops (20261202000100's, which keeps what of it
# a new application could not rebuild): left out where a rolled-back database's rows are
# compared with those before.
DROPPED_BY_DOWN_SCRIPTS = ["moderated_in_chapter"]


def base_table_fingerprints(conn, without: list[str] | None = None) -> dict[str, tuple[int, str]]:
    """Row count and a digest of every row of each base table (and auth.users), `without` those columns."""
    fingerprints = {}
    for table in (*(f"public.{t}" for t in BASE_TABLES), "auth.users"):
        fingerprints[table] = conn.execute(
            "select count(*), md5(coalesce(string_agg(r::text, '|' order by r::text), ''))"
            f" from (select to_jsonb(t) - %s::text[] as r from {table} t) rows", (without or [],)
        ).fetchone()
    return fingerprints


def statistics_totals(conn) -> dict[str, tuple]:
    """Rows, activities and hours of every statistics view, as the owner sees them."""
    views = ("private.mv_activity_time_series", "private.mv_chapter_stats", "private.mv_peer_mentor_stats",
             "public.v_activity_time_series", "public.v_chapter_stats", "public.v_peer_mentor_stats")
    return {view: conn.execute(f"select count(*), sum(activity_count), sum(total_minutes) from {view}").fetchone()
            for view in views}


# --- up, down, status on an empty database, through the command line ---------------------------


@pytest.fixture(scope="module")
def empty_cluster_url(postgresql):
    """A new cluster that has never seen peerstats: no Supabase roles, no auth schema."""
    with cluster_on(postgresql) as cluster:
        yield cluster.url


def test_up_down_up_on_an_empty_database_through_the_command_line(empty_cluster_url):
    versions = all_versions()
    with database.connect(empty_cluster_url) as conn:
        assert not conn.execute("select exists (select from pg_roles where rolname = 'authenticated')").fetchone()[0]

    assert shown_states(empty_cluster_url) == {v: "pending" for v in versions}

    up = peerstats("--database-url", empty_cluster_url, "db", "up")
    assert up.returncode == 0, up.stderr
    assert [line.split()[1] for line in up.stdout.splitlines() if line.startswith("applied ")] == \
        [m.filename for m in discover()]

    again = peerstats("--database-url", empty_cluster_url, "db", "up")
    assert again.returncode == 0 and "nothing to apply" in again.stdout

    one_down = peerstats("--database-url", empty_cluster_url, "db", "down")
    assert one_down.returncode == 0, one_down.stderr
    assert one_down.stdout.split() == ["rolled", "back", discover()[-1].filename]
    assert shown_states(empty_cluster_url) == {**{v: "applied" for v in versions[:-1]}, versions[-1]: "pending"}

    all_down = peerstats("--database-url", empty_cluster_url, "db", "down", "--all")
    assert all_down.returncode == 0, all_down.stderr
    with database.connect(empty_cluster_url) as conn:
        assert not any(exists(conn, f"public.{t}") for t in BASE_TABLES)
        assert not conn.execute("select exists (select from pg_namespace where nspname = 'private')").fetchone()[0]
        assert not cron_job_exists(conn)
        assert Runner(conn).applied_versions() == []

    up = peerstats("--database-url", empty_cluster_url, "db", "up")
    assert up.returncode == 0, up.stderr
    with database.connect(empty_cluster_url) as conn:
        assert Runner(conn).applied_versions() == versions
        assert all(exists(conn, name) for name in MATERIALIZED_VIEW_OBJECTS)
        assert cron_job_exists(conn)
        # The Supabase CLI's own history table, with each file's text as the CLI records it.
        recorded = conn.execute(
            "select version, name, statements[1] from supabase_migrations.schema_migrations order by version"
        ).fetchall()
    assert [(v, n) for v, n, _ in recorded] == [(m.version, m.name) for m in discover()]
    assert [s for _, _, s in recorded] == [m.up_path.read_text() for m in discover()]


def test_bad_input_gives_one_line_and_a_non_zero_exit(db_url):
    assert_one_line_failure(peerstats("--database-url", db_url, "db", "down", "--steps", "0"), 2, "--steps")
    assert_one_line_failure(peerstats("--database-url", db_url, "db", "sideways"), 2, "sideways")
    assert_one_line_failure(peerstats("--database-url", db_url, "db", "down", "--steps", "many"), 2, "many")
    assert_one_line_failure(
        peerstats("--database-url", "postgresql://postgres@/postgres?host=/nonexistent-socket-dir", "db", "status"),
        1, "cannot connect to the database")
    assert_one_line_failure(peerstats("--database-url", "not a url", "db", "up"), 1, "cannot connect to the database")


# --- the runner -------------------------------------------------------------------------------


def test_a_second_up_is_a_no_op(migrated, conn):
    def catalog_snapshot():
        return (
            conn.execute("select version, name from supabase_migrations.schema_migrations order by 1").fetchall(),
            conn.execute("select c.oid, c.relname, c.relacl::text from pg_class c join pg_namespace n "
                         "on n.oid = c.relnamespace where n.nspname in ('public', 'private', 'auth') "
                         "order by 1").fetchall(),
            conn.execute("select p.oid, p.prosrc, p.proacl::text from pg_proc p join pg_namespace n "
                         "on n.oid = p.pronamespace where n.nspname in ('public', 'private', 'auth') "
                         "order by 1").fetchall(),
            conn.execute("select oid, rolname, rolcanlogin, rolinherit, rolbypassrls from pg_roles "
                         "order by 1").fetchall(),
            conn.execute("select jobid, jobname, schedule, command from cron.job order by 1").fetchall(),
        )

    before = catalog_snapshot()
    with Runner(conn) as runner:
        assert list(runner.up()) == []
    assert catalog_snapshot() == before


def test_a_second_runner_waits_for_the_first_then_finds_its_work_done(migrated, db_url):
    with database.connect(db_url) as first, database.connect(db_url) as second:
        with Runner(first):
            with pytest.raises(PeerstatsError, match="another migration runner has been working on this database"):
                with Runner(second, wait="300ms"):
                    pass
        # Once the first has finished, the second may run.
        with Runner(second) as runner:
            assert list(runner.up()) == []

        # The command line waits for a session holding the runner's lock, then runs.
        first.execute("select pg_advisory_lock(%s)", (RUNNER_LOCK_KEY,))
        releaser = threading.Timer(1.5, lambda: first.execute("select pg_advisory_unlock(%s)", (RUNNER_LOCK_KEY,)))
        releaser.start()
        started = time.monotonic()
        up = peerstats("--database-url", db_url, "db", "up")
        releaser.join()
        assert up.returncode == 0 and "nothing to apply" in up.stdout, up.stderr
        assert time.monotonic() - started >= 1.5
        assert Runner(second).applied_versions() == all_versions()


def write_migrations(folder: Path, scripts: dict[str, tuple[str, str]]) -> None:
    (folder / "migrations").mkdir()
    (folder / "rollback").mkdir()
    for filename, (up, down) in scripts.items():
        (folder / "migrations" / filename).write_text(up)
        (folder / "rollback" / filename).write_text(down)


def test_a_failing_migration_leaves_the_database_as_it_was_and_names_the_file(migrated, conn, tmp_path):
    # Versions after every real one, so the real history stays below them.
    write_migrations(tmp_path, {
        "20991231000001_add_probe.sql": (
            "create table public.migration_probe (id integer primary key);",
            "drop table public.migration_probe;"),
        "20991231000002_broken.sql": (
            "alter table public.migration_probe add column note text;\n"
            "create table public.half_done (x integer);\n"
            "insert into public.migration_probe (id) values (1);\n"
            "create index on public.no_such_table (x);\n",
            "drop table public.half_done;"),
        "20991231000003_never_reached.sql": (
            "create table public.never_reached (x integer);",
            "drop table public.never_reached;"),
    })
    runner = Runner(conn, tmp_path)
    try:
        with runner:
            applied = []
            with pytest.raises(PeerstatsError) as failure:
                for migration in runner.up():
                    applied.append(migration.filename)
        assert applied == ["20991231000001_add_probe.sql"]
        message = str(failure.value)
        assert "migrations/20991231000002_broken.sql failed, nothing of it was applied" in message
        assert 'relation "public.no_such_table" does not exist' in message

        assert exists(conn, "public.migration_probe")
        assert conn.execute("select count(*) from public.migration_probe").fetchone()[0] == 0
        assert not conn.execute(
            "select exists (select from information_schema.columns "
            "where table_name = 'migration_probe' and column_name = 'note')").fetchone()[0]
        assert not exists(conn, "public.half_done") and not exists(conn, "public.never_reached")
        assert runner.applied_versions() == [*all_versions(), "20991231000001"]
        # The failure released the runner's lock.
        assert conn.execute("select pg_try_advisory_lock(%s)", (RUNNER_LOCK_KEY,)).fetchone()[0]
        conn.execute("select pg_advisory_unlock(%s)", (RUNNER_LOCK_KEY,))
    finally:
        with runner:
            if "20991231000001" in runner.applied_versions():
                list(runner.down(1))
    assert not exists(conn, "public.migration_probe")
    assert Runner(conn).applied_versions() == all_versions()


def test_a_misnamed_file_or_a_missing_down_script_is_refused(tmp_path):
    write_migrations(tmp_path, {"20991231000001_fine.sql": ("select 1;", "select 1;")})
    (tmp_path / "migrations" / "20991231000002_no_down.sql").write_text("select 1;")
    with pytest.raises(PeerstatsError, match="20991231000002_no_down.sql: its down script .* is missing"):
        discover(tmp_path)
    (tmp_path / "migrations" / "20991231000002_no_down.sql").unlink()
    (tmp_path / "migrations" / "2099_short.sql").write_text("select 1;")
    with pytest.raises(PeerstatsError, match="2099_short.sql: not a migration file name"):
        discover(tmp_path)


def test_status_lists_applied_and_pending(migrated, conn, db_url):
    versions = all_versions()
    with Runner(conn) as runner:
        list(runner.down(2))
        assert [(s.migration.version, s.applied) for s in runner.status()] == \
            [(v, v not in versions[-2:]) for v in versions]
    assert shown_states(db_url) == {v: "pending" if v in versions[-2:] else "applied" for v in versions}
    with Runner(conn) as runner:
        assert [m.version for m in runner.up()] == versions[-2:]
    assert shown_states(db_url) == {v: "applied" for v in versions}


# --- the Supabase pieces ------------------------------------------------------------------------


def test_the_supabase_pieces_have_supabase_attributes(migrated, conn):
    roles = {name: attrs for name, *attrs in conn.execute(
        "select rolname, rolcanlogin, rolinherit, rolbypassrls from pg_roles "
        "where rolname in ('anon', 'authenticated', 'service_role')")}
    # INHERIT, as Supabase has made them since its migration 20230529180330.
    assert roles == {"anon": [False, True, False], "authenticated": [False, True, False],
                     "service_role": [False, True, True]}
    assert conn.execute("select format_type(atttypid, atttypmod) from pg_attribute "
                        "where attrelid = 'auth.users'::regclass and attname = 'id'").fetchone()[0] == "uuid"
    user_id = "00000000-0000-4000-8000-0000000000f1"
    with conn.transaction():
        assert conn.execute("select auth.uid()").fetchone()[0] is None
        conn.execute("select set_config('request.jwt.claims', %s, true)", (f'{{"sub": "{user_id}"}}',))
        assert str(conn.execute("select auth.uid()").fetchone()[0]) == user_id
    # Transaction-local, as PostgREST sets it: gone after the request.
    assert conn.execute("select auth.uid()").fetchone()[0] is None


def test_a_second_up_leaves_an_existing_auth_uid_alone(migrated, conn):
    original = conn.execute("select pg_get_functiondef('auth.uid()'::regprocedure)").fetchone()[0]
    # Same meaning, different text: what a real Supabase database might have.
    conn.execute("""create or replace function auth.uid() returns uuid language sql stable as
                    $$ select (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')::uuid $$""")
    try:
        customised = conn.execute("select oid, prosrc from pg_proc where oid = 'auth.uid()'::regprocedure").fetchone()
        with Runner(conn) as runner:
            assert list(runner.up()) == []
        assert conn.execute("select oid, prosrc from pg_proc "
                            "where oid = 'auth.uid()'::regprocedure").fetchone() == customised
    finally:
        conn.execute(original)


@pytest.fixture
def scratch_database(db_url, conn):
    """A new database in the session cluster, dropped afterwards."""
    conn.execute("drop database if exists peerstats_scratch")
    conn.execute("create database peerstats_scratch")
    yield db_url.replace("/postgres?", "/peerstats_scratch?")
    conn.execute("drop database peerstats_scratch with (force)")


def test_the_supabase_pieces_are_created_only_where_missing(scratch_database):
    with database.connect(scratch_database) as conn:
        # Part of what Supabase provides is already there: auth with a uid() of its own.
        conn.execute("create schema auth")
        conn.execute("create function auth.uid() returns uuid language sql stable "
                     "as $$ select '00000000-0000-4000-8000-00000000abcd'::uuid $$")
        existing = conn.execute("select oid, prosrc from pg_proc where oid = 'auth.uid()'::regprocedure").fetchone()

        Runner(conn).ensure_supabase_pieces()

        assert conn.execute("select oid, prosrc from pg_proc "
                            "where oid = 'auth.uid()'::regprocedure").fetchone() == existing
        assert exists(conn, "auth.users") and function_exists(conn, "auth.role()")

        def everything():
            return conn.execute(
                "select c.oid, c.relname, c.relacl::text from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                "where n.nspname in ('auth', 'supabase_migrations') union all "
                "select p.oid, p.prosrc, p.proacl::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace "
                "where n.nspname = 'auth' order by 1").fetchall()

        created = everything()
        Runner(conn).ensure_supabase_pieces()
        assert everything() == created



def test_every_database_gets_supabases_default_privileges_though_the_roles_exist(conn, scratch_database):
    """The API roles are the cluster's, default privileges and grants on public each database's:
    a database whose cluster already has the roles (made for another database) gets them too."""
    Runner(conn).ensure_supabase_pieces()
    with database.connect(scratch_database) as scratch:
        Runner(scratch).ensure_supabase_pieces()
        scratch.execute("create table public.made_by_postgres (id bigint generated always as identity)")
        scratch.execute("create function public.made_by_postgres() returns integer language sql as 'select 1'")
        for role in ("anon", "authenticated", "service_role"):
            assert scratch.execute(
                "select has_table_privilege(%(r)s, 'public.made_by_postgres', 'select, insert, update, delete'),"
                " has_sequence_privilege(%(r)s, 'public.made_by_postgres_id_seq', 'usage'),"
                " has_function_privilege(%(r)s, 'public.made_by_postgres()', 'execute'),"
                " exists (select from pg_namespace, aclexplode(nspacl) as a where nspname = 'public'"
                "         and a.grantee = %(r)s::regrole and a.privilege_type = 'USAGE')",
                {"r": role}).fetchone() == (True, True, True, True), role

# --- down scripts of the statistics migrations --------------------------------------------------


def steps_down_through(version: str) -> int:
    """How many down scripts run, newest first, to roll back `version` and everything after it."""
    versions = all_versions()
    return len(versions) - versions.index(version)


@pytest.mark.parametrize("version", [MATERIALIZED_VIEWS_VERSION, PLAIN_VIEWS_VERSION])
def test_down_and_up_again_on_a_seeded_database_keep_every_row_and_total(hand_checked, conn, version):
    conn.execute("select public.refresh_stats_views()")
    rows_before = base_table_fingerprints(conn)
    rows_before_but_dropped_columns = base_table_fingerprints(conn, without=DROPPED_BY_DOWN_SCRIPTS)
    totals_before = statistics_totals(conn)
    assert totals_before["private.mv_chapter_stats"][1] == 11  # the hand-checked dataset counts 11 activities

    with Runner(conn) as runner:
        list(runner.down(steps_down_through(version)))
        assert base_table_fingerprints(conn, without=DROPPED_BY_DOWN_SCRIPTS) == rows_before_but_dropped_columns
        assert not any(exists(conn, name) for name in MATERIALIZED_VIEW_OBJECTS)
        assert not any(function_exists(conn, signature) for signature in MATERIALIZED_VIEW_FUNCTIONS)
        assert not conn.execute("select exists (select from pg_matviews)").fetchone()[0]
        assert not cron_job_exists(conn)
        if version == PLAIN_VIEWS_VERSION:
            assert not any(exists(conn, f"public.{v}")
                           for v in ("v_activity_time_series", "v_chapter_stats", "v_peer_mentor_stats"))
            assert not exists(conn, "private.counted_activities")

        assert [m.version for m in runner.up()] == all_versions()[-steps_down_through(version):]

    assert base_table_fingerprints(conn) == rows_before
    assert statistics_totals(conn) == totals_before
    assert cron_job_exists(conn)


def test_the_materialized_views_down_script_drops_what_the_up_script_made(migrated, conn):
    down_script = next(m.down_path for m in discover() if m.version == MATERIALIZED_VIEWS_VERSION).read_text()
    assert "drop materialized view if exists private.mv_activity_time_series cascade" in down_script.lower()
    with Runner(conn) as runner:
        list(runner.down(steps_down_through(MATERIALIZED_VIEWS_VERSION)))
    # The extension stays (other jobs may use it); only the job goes.
    assert conn.execute("select exists (select from pg_extension where extname = 'pg_cron')").fetchone()[0]
    leftovers = conn.execute(
        "select n.nspname || '.' || c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname in ('public', 'private') and c.relkind in ('v', 'm', 'r', 'f', 'p') order by 1"
    ).fetchall()
    # The moderation states the down script of 20261202000100 keeps stay with the base tables.
    assert [r[0] for r in leftovers] == sorted(
        [*(f"public.{t}" for t in BASE_TABLES), "private.counted_activities", "private.moderations_kept_by_down",
         "private.activity_time_series_live", "private.chapter_stats_live", "private.peer_mentor_stats_live",
         "public.v_activity_time_series", "public.v_chapter_stats", "public.v_peer_mentor_stats"])

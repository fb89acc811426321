"""The real Supabase CLI against a throwaway cluster shaped like hosted Supabase.

The cluster's superuser is supabase_admin; migrations run as `postgres`, which is not a
superuser and holds what Supabase's image grants it (tests/sql/hosted_supabase.sql); pg_cron is
enabled the way Supabase's dashboard does it (tests/sql/hosted_supabase_enable_pg_cron.sql).
The schema realtime is made as the Realtime server makes it, and postgres may manage the policies
of realtime.messages as supautils' policy_grants let it (tests/sql/hosted_supabase_policy_grants.sql).
The CLI connects over TCP with a password, as it would to a hosted project. scripts/install
puts the pinned CLI in .tools; without it these tests fail, they never skip.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pytest
from psycopg import errors, sql

from conftest import SQL_DIR
from peerstats import database
from peerstats.cluster import Cluster, throwaway_cluster
from peerstats.migrations import Runner, discover
from peerstats.postgrest import request
from peerstats.realtime.authorization import Context, may_join
from peerstats.realtime.partitions import create_partitions

REPO = Path(__file__).resolve().parents[1]
SUPABASE_CLI = REPO / ".tools" / "node_modules" / ".bin" / "supabase"
SUPABASE_CLI_VERSION = "2.117.0"
PEERSTATS = Path(sys.executable).parent / "peerstats"
ALL_VERSIONS = [m.version for m in discover()]
PG_CRON_MESSAGE = ("pg_cron is not enabled and role postgres may not create it: enable it on Supabase under "
                   "Dashboard > Database > Extensions > pg_cron")


@dataclass(frozen=True)
class HostedSupabase:
    cluster: Cluster
    password: str

    @property
    def admin_url(self) -> str:
        return self.cluster.url

    @property
    def url(self) -> str:
        """What the Supabase CLI is given: postgres over TCP with its password."""
        return self.cluster.tcp_url("postgres", self.password)

    @property
    def postgres_url(self) -> str:
        """postgres over the cluster's private socket, for peerstats and the tests' own queries."""
        return self.cluster.socket_url("postgres")

    def run_as_admin(self, statement: str) -> None:
        with database.connect(self.admin_url) as conn:
            conn.execute(statement)

    def enable_pg_cron(self) -> None:
        self.run_as_admin((SQL_DIR / "hosted_supabase_enable_pg_cron.sql").read_text())

    def pg_cron_schema(self) -> str | None:
        with database.connect(self.postgres_url) as conn:
            row = conn.execute("select extnamespace::regnamespace::text from pg_extension "
                               "where extname = 'pg_cron'").fetchone()
        return row[0] if row else None

    def recorded_versions(self) -> list[str]:
        with database.connect(self.postgres_url) as conn, Runner(conn) as runner:
            return runner.applied_versions()

    def roll_back_everything(self) -> None:
        with database.connect(self.postgres_url) as conn, Runner(conn) as runner:
            list(runner.down(None))


@pytest.fixture(scope="module")
def hosted() -> Iterator[HostedSupabase]:
    """An empty cluster shaped like a new hosted Supabase project, pg_cron not yet enabled."""
    supabase_cli_path()
    password = secrets.token_urlsafe(18)
    with throwaway_cluster(superuser="supabase_admin", tcp=True) as cluster:
        hosted = HostedSupabase(cluster, password)
        hosted.run_as_admin((SQL_DIR / "hosted_supabase.sql").read_text())
        hosted.run_as_admin(resources.files("peerstats").joinpath("sql/realtime_schema.sql").read_text())
        hosted.run_as_admin((SQL_DIR / "hosted_supabase_policy_grants.sql").read_text())
        hosted.run_as_admin(sql.SQL("alter role postgres password {}").format(sql.Literal(password)).as_string())
        yield hosted


@pytest.fixture
def hosted_with_pg_cron(hosted) -> HostedSupabase:
    """The hosted-shaped cluster with pg_cron enabled in the dashboard and no migration applied."""
    hosted.roll_back_everything()
    if hosted.pg_cron_schema() is None:
        hosted.enable_pg_cron()
    return hosted


@pytest.fixture
def deployed(hosted) -> HostedSupabase:
    """The hosted-shaped cluster with pg_cron enabled and every migration applied (by the CLI if
    an earlier test has not left them so)."""
    if hosted.pg_cron_schema() is None:
        hosted.enable_pg_cron()
    if hosted.recorded_versions() != ALL_VERSIONS:
        succeeded(supabase("db", "push", url=hosted.url))
    return hosted


def supabase_cli_path() -> Path:
    if not SUPABASE_CLI.exists():
        pytest.fail(f"the Supabase CLI is not installed in {SUPABASE_CLI.parent.parent.parent}: "
                    "run scripts/install, which installs it there with npm", pytrace=False)
    return SUPABASE_CLI


def supabase(*args: str, url: str) -> subprocess.CompletedProcess:
    """The Supabase CLI on this project's supabase/ folder; --yes answers its push prompt."""
    return subprocess.run([str(supabase_cli_path()), *args, "--db-url", url, "--workdir", str(REPO), "--yes"],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def peerstats(*args: str, url: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(PEERSTATS_HOME=tempfile.mkdtemp(prefix="peerstats-home-"), COLUMNS="200")
    return subprocess.run([str(PEERSTATS), "--database-url", url, *args], capture_output=True, text=True,
                          env=env, timeout=120, stdin=subprocess.DEVNULL)


def succeeded(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def cli_migration_list(hosted: HostedSupabase) -> dict[str, bool]:
    """`supabase migration list`: each local version and whether the remote history has it.

    Its table has the cells Local | Remote | Time (UTC); a pending migration's Remote is empty."""
    listing = succeeded(supabase("migration", "list", url=hosted.url)).stdout
    rows = [[cell.strip().strip("`") for cell in line.split("|")] for line in listing.splitlines() if "|" in line]
    return {local: remote == local for local, remote, _ in rows if re.fullmatch(r"\d{14}", local)}


def peerstats_status(hosted: HostedSupabase) -> dict[str, bool]:
    """`peerstats db status`: each version and whether it is applied."""
    output = succeeded(peerstats("db", "status", url=hosted.postgres_url)).stdout
    states = [re.search(r"\b(\d{14})\b.*\b(applied|pending)\b", line) for line in output.splitlines()]
    return {found[1]: found[2] == "applied" for found in states if found}


def assert_both_report(hosted: HostedSupabase, applied: list[str]) -> None:
    expected = {version: version in applied for version in ALL_VERSIONS}
    assert cli_migration_list(hosted) == expected
    assert peerstats_status(hosted) == expected
    assert hosted.recorded_versions() == applied


def test_the_pinned_cli_is_installed():
    version = subprocess.run([str(supabase_cli_path()), "--version"], capture_output=True, text=True, timeout=60)
    assert version.stdout.strip() == SUPABASE_CLI_VERSION


def test_cli_push_applies_every_migration_as_postgres_and_both_tools_agree(hosted_with_pg_cron):
    hosted = hosted_with_pg_cron
    with database.connect(hosted.admin_url) as conn:
        assert conn.execute("select rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolreplication "
                            "from pg_roles where rolname = 'postgres'").fetchone() == (False, True, True, True, True)

    pushed = succeeded(supabase("db", "push", url=hosted.url))
    assert [f"Applying migration {m.filename}..." for m in discover()] == [
        line for line in pushed.stderr.splitlines() if line.startswith("Applying migration")]
    assert_both_report(hosted, ALL_VERSIONS)

    # peerstats rolls back three; the CLI pushes them again.
    rolled_back = succeeded(peerstats("db", "down", "--steps", "3", url=hosted.postgres_url)).stdout
    assert rolled_back.count("rolled back") == 3
    assert hosted.recorded_versions() == ALL_VERSIONS[:-3]
    pushed = succeeded(supabase("db", "push", url=hosted.url))
    assert [line for line in pushed.stderr.splitlines() if line.startswith("Applying migration")] == [
        f"Applying migration {m.filename}..." for m in discover()[-3:]]
    assert_both_report(hosted, ALL_VERSIONS)

    # The other way round: what peerstats applies, the CLI counts as pushed.
    succeeded(peerstats("db", "down", "--steps", "3", url=hosted.postgres_url))
    succeeded(peerstats("db", "up", url=hosted.postgres_url))
    assert_both_report(hosted, ALL_VERSIONS)


def test_the_cron_job_refreshes_the_views_as_postgres(deployed):
    hosted = deployed
    with database.connect(hosted.postgres_url) as conn:
        username, database_name, command, active = conn.execute(
            "select username, database, command, active from cron.job where jobname = 'refresh-stats-views'").fetchone()
        before = dict(conn.execute("select view_name, refreshed_at from public.stats_freshness").fetchall())
    assert (username, database_name, active) == ("postgres", "postgres", True)
    assert hosted.pg_cron_schema() == "pg_catalog"

    # pg_cron runs a job's command as the job's user in the job's database (postgres, the
    # cluster's URLs' database) without an application_name, as this does.
    with database.connect(hosted.cluster.socket_url(username), application_name="") as job:
        job.execute(command)
    with database.connect(hosted.postgres_url) as conn:
        after = dict(conn.execute("select view_name, refreshed_at from public.stats_freshness").fetchall())
        last_run = conn.execute("select status from private.refresh_runs order by id desc limit 1").fetchone()
    assert sorted(after) == ["mv_activity_time_series", "mv_chapter_stats", "mv_peer_mentor_stats"]
    assert all(after[view] > before[view] for view in after)
    assert last_run == ("refreshed",)


def test_without_pg_cron_a_push_stops_with_one_message_and_applies_nothing_of_the_migration(hosted):
    hosted.roll_back_everything()
    hosted.run_as_admin("drop extension if exists pg_cron")

    pushed = supabase("db", "push", url=hosted.url)

    assert pushed.returncode != 0
    assert pushed.stderr.count(PG_CRON_MESSAGE) == 1, pushed.stderr
    # The two migrations before it are applied; of the pg_cron migration nothing is.
    assert hosted.recorded_versions() == ALL_VERSIONS[:2]
    with database.connect(hosted.postgres_url) as conn:
        assert conn.execute("select to_regclass('public.stats_freshness'), to_regnamespace('cron'), "
                            "to_regclass('private.mv_chapter_stats')").fetchone() == (None, None, None)

    # peerstats, as postgres, stops the same way: one line, exit 1.
    upped = peerstats("db", "up", url=hosted.postgres_url)
    assert upped.returncode == 1
    assert len(upped.stderr.strip().splitlines()) == 1 and PG_CRON_MESSAGE in upped.stderr, upped.stderr
    assert hosted.recorded_versions() == ALL_VERSIONS[:2]

    # Once pg_cron is enabled in the dashboard, the same push completes.
    hosted.enable_pg_cron()
    succeeded(supabase("db", "push", url=hosted.url))
    assert hosted.recorded_versions() == ALL_VERSIONS


def test_db_lint_finds_nothing_at_warning_level(deployed):
    hosted = deployed
    # `db lint` creates plpgsql_check in a transaction it rolls back. On hosted Supabase postgres
    # may (supautils lets it create the extensions Supabase ships); here supabase_admin makes
    # it available first, outside public.
    hosted.run_as_admin("create extension if not exists plpgsql_check with schema extensions")
    try:
        linted = succeeded(supabase("db", "lint", "--level", "warning", url=hosted.url))
    finally:
        hosted.run_as_admin("drop extension plpgsql_check")
    # Findings go to stdout as JSON; below --level they are left out.
    assert linted.stdout.strip() == ""
    assert {"Linting schema: public", "Linting schema: private"} <= set(linted.stderr.splitlines()), linted.stderr


def test_the_runners_supabase_pieces_touch_nothing_supabase_made(hosted):
    """On hosted Supabase every piece the shim makes where missing exists: run as postgres, it
    changes no role, membership, grant on a schema or default privilege (not even by granting
    again what is granted: the rows keep their xmin)."""
    def supabases_pieces():
        with database.connect(hosted.admin_url) as conn:
            return conn.execute(
                "select 'role', rolname::text, xmin::text, row(rolinherit, rolbypassrls)::text"
                " from pg_authid where rolname in ('anon', 'authenticated', 'service_role', 'authenticator',"
                " 'postgres', 'supabase_realtime_admin') union all"
                " select 'setting', setrole::regrole::text || setdatabase::text, xmin::text, setconfig::text from pg_db_role_setting"
                " union all select 'member', roleid::regrole::text || ' to ' || member::regrole::text, xmin::text, null"
                " from pg_auth_members union all"
                " select 'schema', nspname::text, xmin::text, nspacl::text from pg_namespace"
                " where nspname in ('public', 'auth', 'realtime') union all"
                " select 'default', defaclrole::regrole::text || defaclnamespace::regnamespace::text"
                " || defaclobjtype::text, xmin::text, defaclacl::text from pg_default_acl union all"
                " select 'function', p.oid::regprocedure::text, p.xmin::text, p.proacl::text from pg_proc p"
                " where p.pronamespace in ('auth'::regnamespace, 'realtime'::regnamespace) union all"
                " select 'relation', c.oid::regclass::text, c.xmin::text, c.relacl::text from pg_class c"
                " where c.relnamespace in ('auth'::regnamespace, 'realtime'::regnamespace) order by 1, 2").fetchall()

    before = supabases_pieces()
    assert ("default", "postgrespublicr") in {row[:2] for row in before}
    with database.connect(hosted.postgres_url) as conn:
        Runner(conn).ensure_supabase_pieces()
    assert supabases_pieces() == before

def test_db_up_on_a_plain_postgresql_creates_pg_cron_in_pg_catalog(migrated, conn):
    assert conn.execute("select extnamespace::regnamespace::text from pg_extension "
                        "where extname = 'pg_cron'").fetchone() == ("pg_catalog",)


def test_status_health_and_the_history_pruning_work_as_postgres(deployed):
    """As hosted Supabase's postgres (no superuser, pg_cron's row security on its history):
    `peerstats status` judges, a monitor asks through the API as service_role, and the prune
    job's command deletes exactly this project's week-old runs."""
    hosted = deployed
    healthy = peerstats("status", "--json", url=hosted.postgres_url)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert json.loads(healthy.stdout)["problems"] == []

    with database.connect(hosted.postgres_url) as conn:
        assert request(conn, "service_role", "select public.stats_health()")[0][0]["healthy"] is True
        for role in ("anon", "authenticated"):
            with pytest.raises(errors.InsufficientPrivilege):
                request(conn, role, "select public.stats_health()")
        # Supabase's role timeout applies to an API read as authenticated.
        assert request(conn, "authenticated", "show statement_timeout") == [("8s",)]

        schedule, command = conn.execute(
            "select schedule, command from cron.job where jobname = 'prune-stats-cron-history'").fetchone()
        conn.execute("select cron.unschedule('prune-stats-cron-history')")
        try:
            missing = peerstats("status", url=hosted.postgres_url)
            assert missing.returncode == 1
            assert "problem: cron job prune-stats-cron-history is missing" in missing.stdout
        finally:
            conn.execute("select cron.schedule('prune-stats-cron-history', %s, %s)", (schedule, command))

        conn.execute((SQL_DIR / "cron_history_of_eight_and_six_days.sql").read_text())
        ours = "(select jobid from cron.job where jobname = any (private.stats_cron_jobs()))"
        assert conn.execute(f"select count(*) from cron.job_run_details where jobid in {ours} "
                            "and return_message = '8 days'").fetchone()[0] == 3
    # pg_cron runs the command as the job's user, postgres, without an application_name.
    with database.connect(hosted.postgres_url, application_name="") as job:
        assert job.execute(command).fetchone()[0] == 3
    with database.connect(hosted.postgres_url) as conn:
        assert conn.execute(f"select return_message, count(*) from cron.job_run_details where jobid in {ours} "
                            "and return_message like '%% days' group by 1").fetchall() == [("6 days", 3)]


def test_postgres_manages_the_policies_of_realtime_messages_and_nothing_else_of_it(deployed):
    """The push made peerstats's policies on realtime.messages, a table of supabase_realtime_admin,
    as postgres: supautils' policy grants let it do that and no more."""
    hosted = deployed
    with database.connect(hosted.postgres_url) as conn:
        assert {name for (name,) in conn.execute(
            "select policyname from pg_policies where schemaname = 'realtime' and tablename = 'messages'")} == {
            "coordinators receive their chapters' stats broadcasts",
            "stats topics are for their chapters' coordinators only",
            "anon receives no stats topic", "no API role sends on a stats topic"}
        assert conn.execute("select pg_get_userbyid(relowner), pg_has_role('postgres', relowner, 'MEMBER')"
                            " from pg_class where oid = 'realtime.messages'::regclass").fetchone() == (
            "supabase_realtime_admin", False)
        with pytest.raises(errors.InsufficientPrivilege), conn.transaction():
            conn.execute("alter table realtime.messages add column smuggled integer")
        with pytest.raises(errors.InsufficientPrivilege), conn.transaction():
            conn.execute("alter table realtime.messages disable row level security")


def test_realtime_authorizes_joins_there_as_the_server_does(deployed):
    """Realtime connects as supabase_admin and runs its probe: on the Supabase-shaped database
    a coordinator joins their chapter's topic, a mentor of it does not, and a write by the
    mentor through the API sends its broadcast."""
    hosted = deployed
    coordinator, mentor, chapter, peer_mentor = (str(uuid.uuid4()) for _ in range(4))
    with database.connect(hosted.admin_url) as admin:
        create_partitions(admin)
        admin.execute("insert into auth.users (id, email) values (%s, 'rt.coordinator@hosted.test'),"
                      " (%s, 'rt.mentor@hosted.test')", (coordinator, mentor))
        admin.execute("insert into public.chapters (id, name) values (%s, 'Hosted realtime chapter')", (chapter,))
        admin.execute("insert into public.activity_types (code, label, counts_in_stats)"
                      " values ('hosted_rt_visit', 'Hosted realtime visit', true)")
        admin.execute("insert into public.coordinator_chapters (user_id, chapter_id) values (%s, %s)",
                      (coordinator, chapter))
        admin.execute("insert into public.peer_mentors (id, user_id, chapter_id, full_name)"
                      " values (%s, %s, %s, 'Hosted Mentor')", (peer_mentor, mentor, chapter))
        topic = f"stats:chapter:{chapter}"
        assert may_join(admin, Context(topic, {"role": "authenticated", "sub": coordinator}))
        assert not may_join(admin, Context(topic, {"role": "authenticated", "sub": mentor}))
        assert not may_join(admin, Context(topic, {"role": "anon"}))
    with database.connect(hosted.postgres_url) as conn:
        request(conn, "authenticated", "insert into public.activities (peer_mentor_id, chapter_id, activity_type,"
                " recorded_at, duration_minutes) values (%s, %s, 'hosted_rt_visit', now(), 30)", (peer_mentor, chapter),
                user_id=mentor, read_only=False)
        assert conn.execute("select event, private from realtime.messages where topic = %s",
                            (topic,)).fetchall() == [("stats_changed", True)]

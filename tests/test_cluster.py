"""The embedded cluster: created on first use, reused by the next call, stopped on request.

Each test gets a new temporary home, never the user's. The suite runs as root, so these tests
take the path where the server belongs to the `postgres` system user (runuser).
"""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest

from conftest import every_postgresql
from peerstats.cluster import Cluster, debian_majors_with_pg_cron

PEERSTATS = Path(sys.executable).parent / "peerstats"


@pytest.fixture
def fresh_home():
    """An empty temporary folder for a cluster; the cluster in it is destroyed afterwards."""
    home = Path(tempfile.mkdtemp(prefix="peerstats-"))
    yield home
    Cluster(home).destroy()


def expected_owner_uid() -> int:
    # initdb refuses root, so root's cluster belongs to the postgres system user.
    return pwd.getpwnam("postgres").pw_uid if os.geteuid() == 0 else os.geteuid()


def postmaster_uid(cluster: Cluster) -> int:
    pid = int((cluster.data_dir / "postmaster.pid").read_text().splitlines()[0])
    uid_line = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("Uid:"))
    return int(uid_line.split()[1])


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([str(PEERSTATS), *args], capture_output=True, text=True, env=env, timeout=120)


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(PEERSTATS_HOME=str(home), COLUMNS="200", **extra)
    return env


def test_ensure_running_creates_then_reuses_and_stop_stops(fresh_home):
    cluster = Cluster(fresh_home)
    assert not cluster.is_initialized()

    url = cluster.ensure_running()

    assert cluster.is_initialized() and cluster.is_running()
    assert postmaster_uid(cluster) == expected_owner_uid()
    assert cluster.data_dir.stat().st_uid == expected_owner_uid()
    assert (cluster.home.stat().st_mode & 0o777, cluster.socket_dir.stat().st_mode & 0o777) == (0o700, 0o700)
    with psycopg.connect(url, autocommit=True) as conn:
        started_at = conn.execute("select pg_postmaster_start_time()").fetchone()[0]
        settings = dict(conn.execute(
            "select name, setting from pg_settings "
            "where name in ('shared_preload_libraries', 'cron.database_name', 'listen_addresses', 'server_version_num',"
            " 'wal_level')"
        ).fetchall())
        conn.execute("create table kept_across_restarts (x int)")
        conn.execute("create extension pg_cron")
        cron_version = conn.execute("select extversion from pg_extension where extname = 'pg_cron'").fetchone()[0]
    assert settings["shared_preload_libraries"] == "pg_cron"
    assert settings["cron.database_name"] == "postgres"
    assert settings["listen_addresses"] == ""  # a Unix socket only, no TCP port
    # The major Debian installed with pg_cron (the highest where several are).
    assert settings["server_version_num"][:2] == str(debian_majors_with_pg_cron()[-1])
    assert settings["wal_level"] == "logical"  # Realtime's model decodes the WAL
    assert cron_version

    # A second call, even from another Cluster object, reuses the running server.
    assert Cluster(fresh_home).ensure_running() == url
    with psycopg.connect(url) as conn:
        assert conn.execute("select pg_postmaster_start_time()").fetchone()[0] == started_at

    cluster.stop()
    assert cluster.is_initialized() and not cluster.is_running()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=5)

    # Started again, it is the same cluster: its data is still there.
    cluster.ensure_running()
    with psycopg.connect(url) as conn:
        assert conn.execute("select to_regclass('public.kept_across_restarts') is not null").fetchone()[0]
        assert conn.execute("select pg_postmaster_start_time()").fetchone()[0] > started_at


def test_a_cluster_made_before_logical_wal_gets_it_on_its_next_use(fresh_home):
    cluster = Cluster(fresh_home)
    cluster.ensure_running()
    # As an earlier peerstats left it: its settings without the logical WAL line.
    conf = cluster.data_dir / "postgresql.conf"
    conf.write_text(conf.read_text().replace("wal_level = logical\n", ""))
    cluster.restart()
    with psycopg.connect(cluster.url) as conn:
        assert conn.execute("show wal_level").fetchone()[0] == "replica"

    cluster.ensure_running()

    with psycopg.connect(cluster.url) as conn:
        assert conn.execute("show wal_level").fetchone()[0] == "logical"


def test_local_commands_and_the_embedded_default(fresh_home):
    env = cli_env(fresh_home)
    cluster = Cluster(fresh_home)

    status = run_cli("local", "status", env=env)
    assert status.returncode == 0, status.stderr
    assert "not created yet" in status.stdout and not cluster.is_initialized()

    # With no --database-url and no DATABASE_URL a command creates and starts the embedded cluster.
    db_status = run_cli("db", "status", env=env)
    assert db_status.returncode == 0, db_status.stderr
    assert "pending" in db_status.stdout and "applied" not in db_status.stdout
    assert cluster.is_running()

    status = run_cli("local", "status", env=env)
    assert "state: running" in status.stdout and cluster.url in status.stdout
    # Which PostgreSQL: the version of the server programs, and where they are.
    major = debian_majors_with_pg_cron()[-1]
    assert f"postgresql: {major}." in status.stdout and f"/usr/lib/postgresql/{major}/bin" in status.stdout

    stop = run_cli("local", "stop", env=env)
    assert stop.returncode == 0, stop.stderr
    assert "stopped" in stop.stdout and not cluster.is_running()
    assert "state: stopped" in run_cli("local", "status", env=env).stdout

    start = run_cli("local", "start", env=env)
    assert start.returncode == 0, start.stderr
    assert cluster.url in start.stdout and cluster.is_running()


def test_database_url_wins_over_the_embedded_default(fresh_home, db_url):
    # DATABASE_URL is used, so the embedded cluster in the home is never created.
    by_env = run_cli("db", "status", env=cli_env(fresh_home, DATABASE_URL=db_url))
    assert by_env.returncode == 0, by_env.stderr
    # --database-url wins over DATABASE_URL.
    by_option = run_cli("--database-url", db_url, "db", "status",
                        env=cli_env(fresh_home, DATABASE_URL="postgresql://nobody@/nowhere?host=/nonexistent"))
    assert by_option.returncode == 0, by_option.stderr
    assert not Cluster(fresh_home).is_initialized()


def test_missing_server_programs_give_one_line_and_a_non_zero_exit(fresh_home):
    result = run_cli("local", "start", env=cli_env(fresh_home, PEERSTATS_PG_BINDIR=str(fresh_home / "no-such-bin")))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("peerstats: ")
    assert f"PostgreSQL server programs not found in {fresh_home / 'no-such-bin'}" in result.stderr
    assert "Traceback" not in result.stderr


def start_at_once(commands: list[list[str]], env: dict[str, str]) -> list[subprocess.CompletedProcess]:
    started = [subprocess.Popen([str(PEERSTATS), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env) for args in commands]
    return [subprocess.CompletedProcess(p.args, p.wait(timeout=120), *p.communicate()) for p in started]


def test_commands_started_at_once_on_a_new_and_on_a_stopped_cluster_all_succeed(fresh_home):
    """One creates and starts the cluster under its lock; the others wait, then find it accepting connections."""
    env = cli_env(fresh_home)
    commands = [["db", "up"], ["local", "start"], ["db", "up", "--json"], ["db", "status"]]
    for round_ in ("new", "stopped"):
        results = start_at_once(commands, env)
        assert [r.returncode for r in results] == [0] * len(commands), (round_, [r.stderr for r in results])
        assert Cluster(fresh_home).is_running()
        assert run_cli("local", "stop", env=env).returncode == 0


def test_pg_bindir_chooses_the_server_programs(fresh_home):
    """PEERSTATS_PG_BINDIR wins over Debian's major, and `local status` names what it chose."""
    other = every_postgresql()[-1]  # PostgreSQL 17: the tests' second tree, or Debian's own
    status = run_cli("local", "status", env=cli_env(fresh_home, PEERSTATS_PG_BINDIR=str(other.bindir)))
    assert status.returncode == 0, status.stderr
    assert f"postgresql: {other.major}." in status.stdout and str(other.bindir) in status.stdout.replace("\n", "")


def test_a_server_that_will_not_start_gives_its_reason_in_one_line(fresh_home):
    """pg_ctl says only "Examine the log output"; the line says what the server logged, as it does
    for a tree of server programs without pg_cron (PEERSTATS_PG_BINDIR at one)."""
    cluster = Cluster(fresh_home)
    cluster.ensure_running()
    cluster.stop()
    with open(cluster.data_dir / "postgresql.conf", "a") as settings:
        settings.write("shared_preload_libraries = 'pg_cron, no_such_library'\n")
    result = run_cli("local", "start", env=cli_env(fresh_home))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("peerstats: pg_ctl failed")
    assert 'could not access file "no_such_library"' in result.stderr and str(cluster.log_file) in result.stderr

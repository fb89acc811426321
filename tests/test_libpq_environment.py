"""The embedded default ignores the user's libpq environment.

A PG variable exported for the user's own servers (PGPORT=5439 is common) must change neither
which server the embedded cluster's commands reach nor how. All the variables below at once,
each set to a value that would break or redirect a connection that obeyed it, leave
`peerstats demo` working on a new home. Each one alone leaves `peerstats db status` working on a
stopped cluster, which it starts (the cluster is created by the first: an initdb per variable
would cost ten seconds each on a shared machine). An explicit DATABASE_URL still follows libpq,
as the user asked.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from peerstats.cluster import Cluster

PEERSTATS = Path(sys.executable).parent / "peerstats"

# Each value is wrong for the embedded cluster: another port, host, user or database, a service
# or file that does not exist, session settings the server refuses or that would break every
# statement, or connection requirements that a trust-authenticated Unix socket cannot meet.
WRONG_LIBPQ_ENVIRONMENT = {
    "PGHOST": "/nonexistent-socket-dir",
    "PGHOSTADDR": "127.0.0.1",
    "PGPORT": "5439",
    "PGUSER": "no_such_user",
    "PGDATABASE": "no_such_database",
    "PGPASSWORD": "not-the-password",
    "PGPASSFILE": "/nonexistent/pgpass",
    "PGSERVICE": "no_such_service",
    "PGSERVICEFILE": "/nonexistent/pg_service.conf",
    "PGSYSCONFDIR": "/nonexistent",
    "PGOPTIONS": "-c default_transaction_read_only=on -c no_such_setting=on",
    "PGAPPNAME": "not-peerstats",
    "PGSSLMODE": "verify-full",
    "PGSSLROOTCERT": "/nonexistent/root.crt",
    "PGREQUIRESSL": "1",
    "PGGSSENCMODE": "require",
    "PGCHANNELBINDING": "require",
    "PGREQUIREAUTH": "scram-sha-256",
    "PGREQUIREPEER": "no_such_user",
    "PGTARGETSESSIONATTRS": "read-only",
    "PGCONNECT_TIMEOUT": "not-a-number",
    "PGCLIENTENCODING": "NO_SUCH_ENCODING",
    "PGDATESTYLE": "no such style",
    "PGTZ": "No/Such_Zone",
    "PGGEQO": "not-a-boolean",
    "PGLOADBALANCEHOSTS": "not-a-mode",
    "PGDATA": "/nonexistent/data",
}


def run_cli(*args: str, home: Path, **variables: str) -> subprocess.CompletedProcess:
    env = {name: value for name, value in os.environ.items() if name != "DATABASE_URL"}
    env.update(PEERSTATS_HOME=str(home), COLUMNS="200", **variables)
    return subprocess.run([str(PEERSTATS), *args], capture_output=True, text=True, env=env,
                          timeout=600, cwd=home)


def new_home_folder():
    """A new temporary home; the cluster in it is destroyed afterwards."""
    home = Path(tempfile.mkdtemp(prefix="peerstats-"))
    yield home
    Cluster(home).destroy()


new_home = pytest.fixture(new_home_folder)
# One home for the per-variable tests: created by the first, stopped before each.
home_of_this_module = pytest.fixture(new_home_folder, scope="module")


@pytest.mark.parametrize("name", sorted(WRONG_LIBPQ_ENVIRONMENT))
def test_db_status_starting_the_cluster_ignores_a_wrong_libpq_variable(home_of_this_module, name):
    cluster = Cluster(home_of_this_module)
    cluster.stop()
    result = run_cli("db", "status", home=home_of_this_module, **{name: WRONG_LIBPQ_ENVIRONMENT[name]})
    assert result.returncode == 0, f"{name}: {result.stderr}"
    assert "pending" in result.stdout
    assert cluster.is_running()


def test_the_demo_on_a_new_home_ignores_every_wrong_libpq_variable_at_once(new_home):
    result = run_cli("demo", "--activities", "2000", "--output", str(new_home / "chart.png"),
                     home=new_home, **WRONG_LIBPQ_ENVIRONMENT)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    assert "wrote 2,000 activities" in result.stdout and "criteria pass" in result.stdout
    assert "failed" not in result.stdout
    # Nothing the variables say reached the server: the session is the cluster's own.
    db_status = run_cli("db", "status", home=new_home, **WRONG_LIBPQ_ENVIRONMENT)
    assert db_status.returncode == 0, db_status.stderr
    assert "pending" not in db_status.stdout and "applied" in db_status.stdout


def test_an_explicit_database_url_still_follows_libpq(new_home, db_url):
    # The user named the database; PGOPTIONS, like every libpq variable, applies to it.
    refused = run_cli("db", "status", home=new_home, DATABASE_URL=db_url, PGOPTIONS="-c statement_timeout=nonsense")
    assert refused.returncode == 1 and "statement_timeout" in refused.stderr
    assert not Cluster(new_home).is_initialized()

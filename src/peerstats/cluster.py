"""The embedded local PostgreSQL cluster with pg_cron that peerstats uses when no URL is given.

Its server programs are those of the PostgreSQL major that the machine's Debian packages
installed with pg_cron (15 on Debian 12, 17 on Debian 13; the highest where several are), or
PEERSTATS_PG_BINDIR's. A cluster already created keeps the major of its data directory.

The cluster listens on a Unix socket in a directory only its owner can enter and on no TCP
port, so `trust` authentication admits nobody but that owner (and root). initdb refuses to
run as root, so as root the cluster belongs to the `postgres` system user, whose rights are
taken with runuser for every server command.

A test cluster may also listen on 127.0.0.1 (clients such as the Supabase CLI cannot use a
Unix socket); connections over TCP must give a password (scram-sha-256).

Any number of peerstats commands may start at once on a stopped or brand-new cluster: an
exclusive file lock (fcntl) on home/lock is held while one of them creates or starts it and
waits until it accepts connections; the others wait for the lock and find it running.

The user's libpq environment (PGPORT, PGHOST, PGUSER, PGOPTIONS, PGTZ, PGSERVICE, ...) is meant
for the user's own servers, not for this one: the server programs run without any PG variable,
the URL names socket, port, user and database, and ensure_running removes the PG variables from
this process's environment, because libpq reads some of them (PGTZ, PGDATESTYLE, PGHOSTADDR,
PGTARGETSESSIONATTRS, ...) over anything a URL can say.
"""

from __future__ import annotations

import fcntl
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from peerstats.errors import PeerstatsError

SERVER_SETTINGS = """
# Written by peerstats: what Supabase's PostgreSQL has and the statistics layer needs.
listen_addresses = '{listen_addresses}'
port = {port}
unix_socket_directories = '{socket_dir}'
max_worker_processes = 16
logging_collector = off
"""
PG_CRON_SETTINGS = """shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
# Jobs run in background workers, so pg_cron needs no TCP connection back to the server.
cron.use_background_workers = on
"""
# Supabase Realtime reads realtime.messages from the write-ahead log by logical decoding; the
# model of it (peerstats.realtime) does the same, which needs logical WAL. Kept apart from the
# settings above so that a cluster made before it gets this line too (see ensure_running).
LOGICAL_WAL_SETTING = "wal_level = logical\n"
# How long a command waits for the server to accept connections after it was started.
READY_TIMEOUT_S = 60


def default_home() -> Path:
    """Where the embedded cluster keeps its data: PEERSTATS_HOME, else a per-user data folder.

    As root the data must belong to the postgres system user, who cannot enter /root, so
    root's cluster lives under /var/lib.
    """
    if os.environ.get("PEERSTATS_HOME"):
        return Path(os.environ["PEERSTATS_HOME"]).expanduser().resolve()
    if os.geteuid() == 0:
        return Path("/var/lib/peerstats")
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "peerstats"


def is_libpq_variable(name: str) -> bool:
    # libpq's variables, and those of PostgreSQL's programs (PGDATA, PGCTLTIMEOUT), all start so.
    return name.startswith("PG")


def without_libpq_variables(environment: Mapping[str, str]) -> dict[str, str]:
    return {name: value for name, value in environment.items() if not is_libpq_variable(name)}


def forget_libpq_environment() -> None:
    """Remove the PG variables from this process's environment, where libpq reads them on every
    connection: from here on the process talks to its own cluster only."""
    for name in [name for name in os.environ if is_libpq_variable(name)]:
        del os.environ[name]


# Where Debian's postgresql-N packages put each major's programs (bin/) and modules (lib/).
DEBIAN_POSTGRESQL = Path("/usr/lib/postgresql")


def debian_majors_with_pg_cron() -> list[int]:
    """The PostgreSQL majors installed from Debian's packages with their pg_cron, lowest first."""
    return sorted(int(tree.name) for tree in DEBIAN_POSTGRESQL.glob("*")
                  if tree.name.isdigit() and (tree / "bin" / "initdb").exists()
                  and (tree / "lib" / "pg_cron.so").exists())


def postgres_bindir(major: int | None = None) -> Path:
    """PEERSTATS_PG_BINDIR, else the server programs of Debian's PostgreSQL `major`, else of the
    highest major installed with pg_cron."""
    if os.environ.get("PEERSTATS_PG_BINDIR"):
        bindir = Path(os.environ["PEERSTATS_PG_BINDIR"])
        if not (bindir / "initdb").exists():
            raise PeerstatsError(f"PostgreSQL server programs not found in {bindir} (PEERSTATS_PG_BINDIR)")
        return bindir
    if major is None:
        majors = debian_majors_with_pg_cron()
        if not majors:
            raise PeerstatsError(
                f"no PostgreSQL with pg_cron found in {DEBIAN_POSTGRESQL}: run scripts/install (it "
                "installs postgresql-N and postgresql-N-cron of the major Debian offers, see README), "
                "or set PEERSTATS_PG_BINDIR")
        major = majors[-1]
    bindir = DEBIAN_POSTGRESQL / str(major) / "bin"
    if not (bindir / "initdb").exists():
        raise PeerstatsError(
            f"PostgreSQL {major} server programs not found in {bindir}: install postgresql-{major} and "
            f"postgresql-{major}-cron, or set PEERSTATS_PG_BINDIR")
    return bindir


def server_version(bindir: Path) -> str:
    """The version of the server programs in `bindir`, such as 17.10 (`postgres --version`)."""
    result = subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True, text=True,
                            env=without_libpq_variables(os.environ))
    if result.returncode != 0:
        raise PeerstatsError(f"{bindir / 'postgres'} --version failed: {result.stderr.strip() or result.returncode}")
    # "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)", "postgres (PostgreSQL) 17.10"
    return result.stdout.split()[2]


def free_tcp_port() -> int:
    """A port on 127.0.0.1 that nothing listens on at this moment."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class Cluster:
    """A PostgreSQL cluster in `home`: data in home/data, socket in home/run, log in home/postgresql.log."""

    home: Path
    # initdb's superuser. Hosted Supabase's is supabase_admin, and postgres is not a superuser
    # there; a test cluster shaped like it passes superuser="supabase_admin".
    superuser: str = "postgres"
    # Also listen on 127.0.0.1 at this port, with password authentication; None: Unix socket only.
    tcp_port: int | None = None
    # The server programs; None: postgres_bindir() for the major of the data directory, if any.
    server_bindir: Path | None = None
    # Whether the server loads pg_cron. A tree without it (the tests' second major) says False.
    pg_cron: bool = True

    @property
    def bindir(self) -> Path:
        if self.server_bindir is not None:
            return self.server_bindir
        return postgres_bindir(self.data_major())

    def data_major(self) -> int | None:
        """The major of the data directory (PG_VERSION), None before initdb."""
        return int((self.data_dir / "PG_VERSION").read_text()) if self.is_initialized() else None

    def program(self, name: str) -> Path:
        """A program of the server's tree, else from the PATH: a tree of server programs only
        (the tests' PostgreSQL 17) lacks pg_isready, and Debian's pings a server of any major."""
        path = self.bindir / name
        if path.exists():
            return path
        found = shutil.which(name)
        if found is None:
            raise PeerstatsError(f"{name} is neither in {self.bindir} nor on the PATH")
        return Path(found)

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def socket_dir(self) -> Path:
        return self.home / "run"

    @property
    def log_file(self) -> Path:
        return self.home / "postgresql.log"

    @property
    def port(self) -> int:
        # Also names the socket file (.s.PGSQL.<port>); 5432, libpq's default, when no TCP port is set.
        return self.tcp_port or 5432

    @property
    def url(self) -> str:
        return self.socket_url(self.superuser)

    def socket_url(self, user: str) -> str:
        """The URL of database postgres as `user` over the Unix socket (trust: only the owner can
        reach it). It names the port too, which names the socket file, so PGPORT cannot."""
        return (f"postgresql://{quote(user)}@/postgres?host={quote(str(self.socket_dir), safe='/')}"
                f"&port={self.port}")

    def tcp_url(self, user: str, password: str) -> str:
        if self.tcp_port is None:
            raise ValueError("this cluster listens on no TCP port")
        # The cluster has no certificate; without sslmode=disable the Supabase CLI insists on TLS.
        return (f"postgresql://{quote(user)}:{quote(password, safe='')}@127.0.0.1:{self.tcp_port}/postgres"
                "?sslmode=disable")

    def _owner_prefix(self) -> list[str]:
        # initdb and the server refuse root; the postgres system user runs them instead.
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--"]
        return []

    def _run(self, program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [*self._owner_prefix(), str(self.program(program)), *args]
        log_size_before = self.log_file.stat().st_size if self.log_file.exists() else 0
        result = subprocess.run(command, capture_output=True, text=True,
                                env=without_libpq_variables(os.environ))
        if check and result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            # pg_ctl ends with "Examine the log output."; the server's reason is in the log.
            reason = (self._last_fatal_of_log(since=log_size_before) if program == "pg_ctl" else None) or \
                (detail[-1] if detail else f"exit {result.returncode}")
            raise PeerstatsError(
                f"{program} failed for the cluster in {self.home}: {reason}"
                + (f" (server log: {self.log_file})" if program == "pg_ctl" else "")
            )
        return result

    def _last_fatal_of_log(self, *, since: int) -> str | None:
        """The last FATAL message the server logged after byte `since` of its log, such as that of
        a tree of server programs without pg_cron: 'could not access file "pg_cron": ...'."""
        if not self.log_file.exists():
            return None
        with open(self.log_file, "rb") as log:
            log.seek(since)
            written = log.read().decode(errors="replace")
        fatal = [line.split("FATAL:", 1)[1].strip() for line in written.splitlines() if "FATAL:" in line]
        return fatal[-1] if fatal else None

    def is_initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def is_running(self) -> bool:
        if not self.is_initialized():
            return False
        return self._run("pg_ctl", "status", "-D", str(self.data_dir), check=False).returncode == 0

    def _make_home(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError as missing:
                raise PeerstatsError(
                    "running as root needs the 'postgres' system user, which Debian's postgresql "
                    "packages create; install them first (scripts/install)"
                ) from missing
            for path in (self.home, self.socket_dir):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        for path in (self.home, self.socket_dir):
            os.chmod(path, 0o700)

    def _append_settings(self) -> None:
        settings = SERVER_SETTINGS.format(
            socket_dir=self.socket_dir, port=self.port,
            listen_addresses="127.0.0.1" if self.tcp_port else "") + (PG_CRON_SETTINGS if self.pg_cron else "") \
            + LOGICAL_WAL_SETTING
        # The data directory belongs to the server's user; append as that user too.
        self._append_as_owner(self.data_dir / "postgresql.conf", settings)

    def initialize(self) -> None:
        self._make_home()
        self._run(
            "initdb", "-D", str(self.data_dir), "-U", self.superuser, "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8", "--locale=C.UTF-8",
        )
        self._append_settings()

    def initialize_standby_of(self, primary: Cluster) -> None:
        """Make this a hot standby of the running `primary`, as a Supabase read replica is one:
        a base backup taken over a replication connection, then streaming replication
        (pg_basebackup -R writes primary_conninfo and standby.signal).

        initdb's defaults are all the primary needs (max_wal_senders 10 and a `local
        replication` line in pg_hba.conf; its wal_level, logical, is more than the replica level
        a standby needs). The copied postgresql.conf names the
        primary's socket and port; this cluster's own, appended after them, take precedence.
        """
        self._make_home()
        self._run("pg_basebackup", "-D", str(self.data_dir), "-h", str(primary.socket_dir),
                  "-p", str(primary.port), "-U", primary.superuser,
                  "--write-recovery-conf", "--wal-method=stream", "--checkpoint=fast")
        self._append_settings()

    def has_logical_wal_setting(self) -> bool:
        # Readable by its owner, who runs peerstats, or by root.
        return LOGICAL_WAL_SETTING.strip() in (self.data_dir / "postgresql.conf").read_text()

    def _append_as_owner(self, path: Path, text: str) -> None:
        command = [*self._owner_prefix(), "tee", "-a", str(path)]
        subprocess.run(command, input=text, capture_output=True, text=True, check=True)

    def start(self) -> None:
        self._run(
            "pg_ctl", "start", "-D", str(self.data_dir), "-l", str(self.log_file), "-w", "-t", "60",
        )

    def stop(self) -> bool:
        """Stop the server if it runs; return whether it did."""
        if not self.is_initialized():
            return False  # nothing to stop, and no folder to create for the lock
        with self.lock():
            if not self.is_running():
                return False
            self._run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60")
            return True

    def crash(self) -> None:
        """End the server as a crash would: every process at once, no checkpoint, no clean
        shutdown record; the next start recovers from the write-ahead log."""
        self._run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "immediate", "-w", "-t", "60")

    def restart(self) -> None:
        self._run(
            "pg_ctl", "restart", "-D", str(self.data_dir), "-l", str(self.log_file),
            "-m", "fast", "-w", "-t", "60",
        )

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the cluster's lock: one command at a time creates, starts or stops it."""
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.home / "lock", "a") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)

    def accepts_connections(self) -> bool:
        """pg_isready's answer: 0 accepting; 1 rejecting (starting up or shutting down); 2 no answer."""
        return self._run("pg_isready", "-q", "-h", str(self.socket_dir), "-p", str(self.port), "-U", "postgres", "-d", "postgres",
                         check=False).returncode == 0

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not self.accepts_connections():
            if time.monotonic() > deadline:
                raise PeerstatsError(f"the cluster in {self.home} does not accept connections after "
                                     f"{READY_TIMEOUT_S} s (server log: {self.log_file})")
            time.sleep(0.1)

    def ensure_running(self) -> str:
        """Create the cluster on first use and start it if it is down, under the lock, and wait
        until it accepts connections; return its URL. The process forgets its libpq environment
        first (see the module's docstring)."""
        forget_libpq_environment()
        with self.lock():
            if not self.is_initialized():
                self.initialize()
            elif not self.has_logical_wal_setting():
                # Made by an earlier peerstats: the last setting in the file wins, and the
                # server reads wal_level only when it starts.
                self._append_as_owner(self.data_dir / "postgresql.conf", LOGICAL_WAL_SETTING)
                if self.is_running():
                    self.restart()
            if not self.is_running():
                self.start()
            self.wait_until_ready()
        return self.url

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.home, ignore_errors=True)


@contextmanager
def throwaway_cluster(*, superuser: str = "postgres", tcp: bool = False,
                      standby_of: Cluster | None = None, server_bindir: Path | None = None,
                      pg_cron: bool = True) -> Iterator[Cluster]:
    """A running cluster in a new temporary folder, removed on exit: for tests and benchmarks
    that must not touch the user's. With `tcp` it also listens on a free port of 127.0.0.1;
    with `standby_of` it is a hot standby streaming from that running cluster; `server_bindir`
    and `pg_cron` as in Cluster."""
    cluster = Cluster(Path(tempfile.mkdtemp(prefix="peerstats-")),
                      superuser=standby_of.superuser if standby_of else superuser,
                      tcp_port=free_tcp_port() if tcp else None,
                      server_bindir=standby_of.server_bindir if standby_of else server_bindir,
                      pg_cron=standby_of.pg_cron if standby_of else pg_cron)
    try:
        if standby_of is not None:
            cluster.initialize_standby_of(standby_of)
        cluster.ensure_running()
        yield cluster
    finally:
        cluster.destroy()

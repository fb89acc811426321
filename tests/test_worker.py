"""The dirty signal and `peerstats worker`: coalescing, catching up, surviving, stopping, never overlapping."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import psycopg
import pytest

from conftest import SQL_DIR, except_all_both_ways, migrate_afresh
from peerstats import database, postgrest
from peerstats.cluster import throwaway_cluster
from peerstats.seed import seed
from peerstats.worker import APPLICATION_NAME, CHANNEL

ANNA = "00000000-0000-4000-8000-000000000b01"
ANNA_USER = "00000000-0000-4000-8000-0000000000a3"
CHAPTER_A = "00000000-0000-4000-8000-00000000000a"
VIEWS = (("private.mv_activity_time_series", "public.v_activity_time_series"),
         ("private.mv_chapter_stats", "public.v_chapter_stats"),
         ("private.mv_peer_mentor_stats", "public.v_peer_mentor_stats"))
INSERT_ACTIVITY = ("insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, "
                   "duration_minutes) values (%s, %s, %s, now(), 30)")
ANNAS_VISIT = (ANNA, CHAPTER_A, "visit")


class WorkerProcess:
    """`peerstats worker` in a subprocess, its log in a file."""

    def __init__(self, url: str, log_path: Path):
        self.log_path = log_path
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from peerstats.cli import main; main()", "--database-url", url, "worker"],
            stdout=subprocess.DEVNULL, stderr=log_path.open("a"),
        )

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self, signum: int = signal.SIGTERM) -> int:
        self.process.send_signal(signum)
        return self.process.wait(timeout=15)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def start_worker(tmp_path):
    started: list[WorkerProcess] = []

    def start(url: str) -> WorkerProcess:
        worker = WorkerProcess(url, tmp_path / f"worker-{len(started)}.log")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.kill()


def db_now(conn: psycopg.Connection) -> datetime:
    return conn.execute("select clock_timestamp()").fetchone()[0]


def wait_until(condition, *, timeout: float, what: str, worker: WorkerProcess | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}"
                                 + (f"; worker exit code {worker.process.poll()}, log:\n{worker.log()}" if worker else ""))
        time.sleep(0.05)


def wait_until_ready(worker: WorkerProcess) -> None:
    wait_until(lambda: "refreshed at start" in worker.log(), timeout=60, what="the worker's first refresh",
               worker=worker)


def wait_until_caught_up(conn: psycopg.Connection, worker: WorkerProcess) -> None:
    wait_until(lambda: differing_rows(conn) == NO_DIFFERENCES, timeout=60,
               what="the materialized views to equal the plain views", worker=worker)


def worker_refreshes_since(conn: psycopg.Connection, moment: datetime) -> int:
    return conn.execute(
        "select count(*) from private.refresh_runs where requested_by = %s and started_at >= %s",
        (APPLICATION_NAME, moment)).fetchone()[0]


def differing_rows(conn: psycopg.Connection) -> dict[str, list[tuple]]:
    """Per materialized view, the rows it has and its plain view lacks, and the other way round."""
    return {mv: conn.execute(except_all_both_ways(mv, plain)).fetchall() for mv, plain in VIEWS}


NO_DIFFERENCES = {mv: [] for mv, _ in VIEWS}


def insert_one_by_one(url: str, count: int) -> None:
    """`count` single-row inserts, each its own statement and transaction."""
    with database.connect(url) as writer:
        for _ in range(count):
            writer.execute(INSERT_ACTIVITY, ANNAS_VISIT)


END_OF_STEP = "end of step"


def received(listener: psycopg.Connection, writer: psycopg.Connection) -> list[str]:
    """The payloads received since the last call. PostgreSQL delivers notifications in commit
    order, so once the writer's end-of-step marker arrives, every earlier one has."""
    writer.execute("select pg_notify(%s, %s)", (CHANNEL, END_OF_STEP))
    payloads = []
    for notification in listener.notifies(timeout=10):
        if notification.payload == END_OF_STEP:
            return payloads
        payloads.append(notification.payload)
    raise AssertionError("the end-of-step notification never arrived")


def test_dirty_signal_is_one_notification_per_statement(hand_checked, db_url, conn):
    with database.connect(db_url) as listener:
        listener.execute(f"listen {CHANNEL}")

        conn.execute("insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, "
                     "duration_minutes) select %s, %s, 'visit', now(), g from generate_series(1, 100) g",
                     (ANNA, CHAPTER_A))
        assert received(listener, conn) == ["activities"], "100 rows in one statement: one notification"

        with conn.transaction():
            for _ in range(3):
                conn.execute(INSERT_ACTIVITY, ANNAS_VISIT)
        assert received(listener, conn) == ["activities"], "identical notifications of one transaction fold into one"

        for _ in range(3):
            conn.execute(INSERT_ACTIVITY, ANNAS_VISIT)
        assert received(listener, conn) == ["activities"] * 3, "three autocommit statements: three notifications"

        conn.execute("update public.activities set duration_minutes = duration_minutes + 1 where duration_minutes < 100")
        assert received(listener, conn) == ["activities"]
        conn.execute("update public.activities set deleted_at = now() where duration_minutes = 2")
        assert received(listener, conn) == ["activities"]
        conn.execute("delete from public.activities where deleted_at is not null and activity_type = 'visit'"
                     " and recorded_at > now() - interval '1 hour'")
        assert received(listener, conn) == ["activities"]
        conn.execute("update public.activity_types set counts_in_stats = not counts_in_stats where code = 'admin'")
        assert received(listener, conn) == ["activity_types"]

        with pytest.raises(psycopg.errors.CheckViolation), conn.transaction():
            conn.execute(INSERT_ACTIVITY, ANNAS_VISIT)
            conn.execute("insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, "
                         "duration_minutes) values (%s, %s, 'visit', now(), 0)", (ANNA, CHAPTER_A))
        assert received(listener, conn) == [], "a rolled-back change signals nothing"

        # A mentor registering through PostgREST (authenticated, no EXECUTE on the trigger function).
        postgrest.request(conn, "authenticated", INSERT_ACTIVITY, ANNAS_VISIT, user_id=ANNA_USER, read_only=False)
        assert received(listener, conn) == ["activities"]

        conn.execute("truncate public.activities")
        assert received(listener, conn) == ["activities"]


def test_burst_of_single_row_inserts_is_coalesced_and_ends_equal_to_the_plain_views(
        hand_checked, db_url, conn, start_worker):
    worker = start_worker(db_url)
    wait_until_ready(worker)

    burst_started = db_now(conn)
    insert_one_by_one(db_url, 1000)
    wait_until_caught_up(conn, worker)

    refreshes = worker_refreshes_since(conn, burst_started)
    assert 1 <= refreshes < 50, f"1000 inserts led to {refreshes} refreshes"
    assert "refreshed after" in worker.log()
    assert worker.stop(signal.SIGINT) == 0


def test_worker_killed_and_restarted_catches_up(hand_checked, db_url, conn, start_worker):
    first = start_worker(db_url)
    wait_until_ready(first)
    first.process.kill()
    first.process.wait()

    # Notifications sent while no worker listens are lost; the next worker's first refresh covers them.
    insert_one_by_one(db_url, 50)
    assert differing_rows(conn)["private.mv_activity_time_series"] != []
    second = start_worker(db_url)
    wait_until_caught_up(conn, second)
    assert "refreshed at start" in second.log()
    assert second.stop() == 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_worker_stops_cleanly_on_signal(migrated, conn, start_worker, signum):
    worker = start_worker(migrated)
    wait_until_ready(worker)
    assert worker.stop(signum) == 0
    log = worker.log()
    assert f"{signal.Signals(signum).name} received" in log and log.rstrip().endswith("stopped")
    assert "Traceback" not in log


@pytest.fixture
def restartable_cluster():
    """A cluster of its own, so restarting it disturbs no other test."""
    with throwaway_cluster() as cluster:
        migrate_afresh(cluster.url)
        with database.connect(cluster.url) as conn:
            conn.execute((SQL_DIR / "hand_checked_dataset.sql").read_text())
        yield cluster


def test_worker_survives_a_database_restart_and_catches_up(restartable_cluster, start_worker):
    url = restartable_cluster.url
    worker = start_worker(url)
    wait_until_ready(worker)

    restartable_cluster.restart()
    insert_one_by_one(url, 20)

    with database.connect(url) as conn:
        wait_until_caught_up(conn, worker)
    log = worker.log()
    assert "database connection lost" in log and "reconnected; listening" in log
    assert "refreshed after reconnecting" in log
    assert worker.stop() == 0


def test_worker_refresh_command_and_cron_job_never_refresh_at_once(migrated, conn, start_worker):
    # Enough activities that a refresh takes a noticeable time, so the three contend.
    seed(conn, activities=60_000)
    mentor, chapter = conn.execute("select id, chapter_id from public.peer_mentors order by id limit 1").fetchone()
    db_url = migrated
    schedule, command = conn.execute(
        "select schedule, command from cron.job where jobname = 'refresh-stats-views'").fetchone()
    # pg_cron 1.4 schedules by the minute: run the job every minute and meet it at the next one.
    conn.execute("select cron.schedule('refresh-stats-views', '* * * * *', %s)", (command,))
    try:
        worker = start_worker(db_url)
        wait_until_ready(worker)
        seconds_left = conn.execute(
            "select extract(epoch from date_trunc('minute', now()) + interval '1 minute' - clock_timestamp())"
        ).fetchone()[0]
        time.sleep((float(seconds_left) - 1.0) % 60)
        window_start = db_now(conn)
        refreshers = [subprocess.Popen(
            [sys.executable, "-c", "from peerstats.cli import main; main()", "--database-url", db_url, "refresh"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(3)]
        # Writes during the minute boundary keep the worker refreshing too.
        for _ in range(30):
            conn.execute(INSERT_ACTIVITY, (mentor, chapter, "home_visit"))
            time.sleep(0.1)
        for refresher in refreshers:
            assert refresher.wait(timeout=60) == 0, refresher.stderr.read()
        wait_until(lambda: conn.execute(
            "select exists (select from cron.job_run_details d join cron.job j using (jobid) "
            "where j.jobname = 'refresh-stats-views' and d.start_time >= %s and d.status in ('succeeded', 'failed'))",
            (window_start,)).fetchone()[0], timeout=30, what="the cron job's run")
        # SIGTERM lets a refresh in progress finish, so every run is in refresh_runs afterwards.
        assert worker.stop() == 0
    finally:
        conn.execute("select cron.schedule('refresh-stats-views', %s, %s)", (schedule, command))

    cron_run = conn.execute(
        "select d.status, d.start_time, d.end_time from cron.job_run_details d join cron.job j using (jobid) "
        "where j.jobname = 'refresh-stats-views' and d.start_time >= %s order by d.start_time limit 1",
        (window_start,)).fetchone()
    assert cron_run[0] == "succeeded"
    runs = conn.execute(
        "select requested_by, started_at, finished_at, waited_ms, status from private.refresh_runs "
        "where started_at >= %s order by started_at", (window_start,)).fetchall()
    for earlier, later in zip(runs, runs[1:]):
        assert later[1] >= earlier[2], f"two refreshes overlapped: {earlier} and {later}"
    requesters = {requested_by for requested_by, *_ in runs}
    assert {APPLICATION_NAME, "peerstats"} <= requesters
    # pg_cron's background worker sets no application_name; its run is the one inside the job's run.
    assert any(started >= cron_run[1] and finished <= cron_run[2] for _, started, finished, *_ in runs), json.dumps(
        [str(run) for run in runs])
    assert all(status == "refreshed" for *_, status in runs)
    assert max(waited for *_, waited, _ in runs) > 1, "the refreshes did not contend: the test proved nothing"

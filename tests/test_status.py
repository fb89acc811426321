"""`peerstats status` and public.stats_health(): the statistics layer's health, and pg_cron's
history kept bounded (on a plain PostgreSQL; tests/test_supabase_cli.py runs them as hosted
Supabase's postgres).

Each unhealthy condition is made real where a test can afford it: a view whose refresh really
fails (its unique index dropped), a job that is really gone, inactive or really failing under
pg_cron. Only time is simulated, by moving a timestamp back past the health check's named
thresholds: a view's last success more than private.stats_stale_after() ago, log entries
written more than private.dirty_log_overdue_after() ago.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from psycopg import errors

from conftest import migrate_afresh
from peerstats.migrations import Runner
from peerstats.postgrest import request

PEERSTATS = Path(sys.executable).parent / "peerstats"
PROJECT_JOBS = ["prune-stats-cron-history", "refresh-stats-views", "refresh-stats-views-if-dirty"]


def status(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {name: value for name, value in os.environ.items() if name != "DATABASE_URL"}
    env.update(COLUMNS="80")
    return subprocess.run([str(PEERSTATS), "--database-url", url, "status", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def status_json(url: str) -> tuple[int, dict]:
    result = status(url, "--json")
    return result.returncode, json.loads(result.stdout)


def overdue_minutes(conn: psycopg.Connection) -> int:
    """How long, in minutes, log entries past a threshold may wait (the health check's own rule)."""
    return conn.execute("select extract(epoch from private.dirty_log_overdue_after())::integer / 60").fetchone()[0]


def health(conn: psycopg.Connection) -> dict:
    return conn.execute("select public.stats_health()").fetchone()[0]


@pytest.fixture
def restored_afterwards(migrated):
    """A migrated database that the test may break; migrated afresh afterwards, for the tests
    of other modules that do not migrate first."""
    yield migrated
    migrate_afresh(migrated)


def break_the_refresh_of_mv_chapter_stats(conn: psycopg.Connection) -> None:
    """Without its unique index a view cannot be refreshed concurrently: every refresh fails for it."""
    conn.execute("drop index private.mv_chapter_stats_key")
    failed = conn.execute("select status from public.refresh_stats_views() "
                          "where view_name = 'mv_chapter_stats'").fetchone()[0]
    assert failed.startswith("failed: cannot refresh materialized view"), failed


def test_a_freshly_migrated_database_is_healthy(migrated, conn):
    result = status(migrated)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("statistics layer: healthy")
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    threshold, days_threshold = conn.execute("select private.dirty_keys_threshold(), "
                                             "private.dirty_days_threshold()").fetchone()
    assert f"change log: 0 entries, 0 chapter-days; threshold {threshold:,}" in result.stdout
    assert f"most dirty days of one chapter: 0; threshold {days_threshold}" in result.stdout

    code, verdict = status_json(migrated)
    assert code == 0 and verdict["healthy"] is True and verdict["problems"] == []
    assert [view["view_name"] for view in verdict["views"]] == \
        ["mv_activity_time_series", "mv_chapter_stats", "mv_peer_mentor_stats"]
    assert all(view["age_s"] < 600 and view["last_failure"] is None for view in verdict["views"])
    assert [(job["jobname"], job["active"]) for job in verdict["cron_jobs"]] == [(name, True) for name in PROJECT_JOBS]
    assert verdict["log"] == {"entries": 0, "chapter_days": 0, "oldest_entry_at": None, "oldest_entry_age_s": None,
                              "threshold": threshold, "most_days_of_a_chapter": 0,
                              "days_threshold": days_threshold}


def test_the_log_is_counted_in_entries_chapter_days_and_age(hand_checked, conn, db_url):
    log = health(conn)["log"]
    entries, chapter_days = conn.execute(
        "select count(*), count(distinct (chapter_id, bucket_date)) from private.stats_dirty_keys").fetchone()
    assert (log["entries"], log["chapter_days"]) == (entries, chapter_days) and entries > chapter_days > 0
    assert 0 <= log["oldest_entry_age_s"] < 600
    conn.execute("select public.refresh_stats_views()")
    assert health(conn)["log"]["entries"] == 0


def test_a_view_failing_to_refresh_is_shown_and_unhealthy_after_two_hours(restored_afterwards, conn):
    break_the_refresh_of_mv_chapter_stats(conn)
    # A failure an hour-long schedule will retry is shown, not yet unhealthy.
    code, verdict = status_json(restored_afterwards)
    assert code == 0, verdict["problems"]
    chapter_stats = next(view for view in verdict["views"] if view["view_name"] == "mv_chapter_stats")
    assert "mv_chapter_stats failed: cannot refresh materialized view" in chapter_stats["last_failure"]
    assert chapter_stats["failing_since"] == chapter_stats["last_failure_at"]  # failing since its first failure

    # Two hours on, the view has still not refreshed once.
    conn.execute("update public.stats_freshness set refreshed_at = refreshed_at - private.stats_stale_after()"
                 " - interval '1 minute' "
                 "where view_name = 'mv_chapter_stats'")
    conn.execute("update private.refresh_runs set started_at = started_at - interval '1 hour', "
                 "finished_at = finished_at - interval '1 hour'")
    result = status(restored_afterwards)
    assert result.returncode == 1
    assert result.stderr == "peerstats: unhealthy: 1 problem (see above)\n"
    assert "problem: mv_chapter_stats: no successful refresh since" in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    code, verdict = status_json(restored_afterwards)
    assert code == 1 and len(verdict["problems"]) == 1
    assert "failing since" in verdict["problems"][0] and "cannot refresh materialized view" in verdict["problems"][0]


def test_a_missing_or_inactive_cron_job_is_unhealthy(restored_afterwards, conn):
    conn.execute("select cron.unschedule('refresh-stats-views')")
    conn.execute("select cron.alter_job(jobid, active := false) from cron.job where jobname = 'prune-stats-cron-history'")
    code, verdict = status_json(restored_afterwards)
    assert code == 1
    assert verdict["problems"] == ["cron job prune-stats-cron-history is inactive",
                                   "cron job refresh-stats-views is missing"]
    # The command prints the function's verdict.
    assert (health(conn)["healthy"], health(conn)["problems"]) == (False, verdict["problems"])


def test_a_cron_job_whose_last_run_failed_is_unhealthy(restored_afterwards, conn):
    job_id = conn.execute("select jobid from cron.job where jobname = 'refresh-stats-views-if-dirty'").fetchone()[0]
    conn.execute("select cron.alter_job(%s, command := 'select private.no_such_function()')", (job_id,))
    # pg_cron runs it within the minute.
    deadline = time.monotonic() + 150
    while not conn.execute("select exists (select from cron.job_run_details where jobid = %s and status = 'failed')",
                           (job_id,)).fetchone()[0]:
        if time.monotonic() > deadline:
            pytest.fail("pg_cron recorded no failed run of the altered job in time")
        time.sleep(1)
    code, verdict = status_json(restored_afterwards)
    assert code == 1 and len(verdict["problems"]) == 1
    assert verdict["problems"][0].startswith("cron job refresh-stats-views-if-dirty is failing: its last run, at ")
    assert "private.no_such_function() does not exist" in verdict["problems"][0]


def test_the_log_past_its_threshold_for_too_long_is_unhealthy(restored_afterwards, conn):
    # The refresh keeps the log when a view fails, so the threshold job cannot empty it.
    break_the_refresh_of_mv_chapter_stats(conn)
    # One entry past the threshold, each its own chapter-day, just logged: the job has time.
    conn.execute("insert into private.stats_dirty_keys (xid, chapter_id, peer_mentor_id, bucket_date) "
                 "select pg_current_xact_id(), gen_random_uuid(), gen_random_uuid(), date '2026-01-01' + g % 365 "
                 "from generate_series(0, private.dirty_keys_threshold()) g")
    code, verdict = status_json(restored_afterwards)
    assert code == 0, verdict["problems"]
    assert verdict["log"]["entries"] == verdict["log"]["chapter_days"] == verdict["log"]["threshold"] + 1

    # Fifteen minutes on, it is still past the threshold.
    conn.execute("update private.stats_dirty_keys"
                 " set logged_at = logged_at - private.dirty_log_overdue_after() - interval '1 second'")
    code, verdict = status_json(restored_afterwards)
    assert code == 1
    assert verdict["problems"] == [f"the log has held more than {verdict['log']['threshold']} entries for over "
                                   f"{overdue_minutes(conn)} minutes: the threshold refresh has not emptied it"]


def test_every_job_the_migrations_schedule_is_in_the_registry_status_reads(db_url, conn):
    """`peerstats status` (public.stats_health()) and the history pruning know this project's
    pg_cron jobs from one registry, private.stats_cron_jobs(): a job a migration schedules
    without naming it there would be neither watched nor pruned."""
    with Runner(conn) as runner:
        list(runner.down(None))
    not_ours = {name for (name,) in conn.execute("select jobname from cron.job")}
    with Runner(conn) as runner:
        list(runner.up())
    scheduled = {name for (name,) in conn.execute("select jobname from cron.job")} - not_ours
    registry = conn.execute("select private.stats_cron_jobs()").fetchone()[0]
    assert scheduled - set(registry) == set(), "scheduled by the migrations, missing from private.stats_cron_jobs()"
    assert sorted(registry) == sorted(scheduled) == PROJECT_JOBS
    assert [job["jobname"] for job in health(conn)["cron_jobs"]] == sorted(registry)


@pytest.mark.parametrize("role", ["anon", "authenticated"])
def test_only_service_role_and_the_owner_may_ask_through_the_api(migrated, conn, role):
    with pytest.raises(errors.InsufficientPrivilege):
        request(conn, role, "select public.stats_health()")
    assert not conn.execute("select has_function_privilege('public', 'public.stats_health()', 'execute')").fetchone()[0]
    assert request(conn, "service_role", "select public.stats_health()")[0][0]["healthy"] is True


def test_status_on_a_database_without_the_migrations_says_so_in_one_line(db_url, conn):
    conn.execute("alter function public.stats_health() rename to stats_health_elsewhere")
    try:
        result = status(db_url)
    finally:
        conn.execute("alter function public.stats_health_elsewhere() rename to stats_health")
    assert result.returncode == 1
    assert result.stderr == ("peerstats: public.stats_health() is missing: apply the migrations first "
                             "(peerstats db up)\n")


def test_the_prune_job_deletes_this_projects_runs_older_than_a_week(migrated, conn):
    schedule, command = conn.execute(
        "select schedule, command from cron.job where jobname = 'prune-stats-cron-history'").fetchone()
    assert (schedule, command) == ("17 3 * * *", "select private.prune_stats_cron_history()")
    other_job = conn.execute("select cron.schedule('someone-elses-job', '0 0 1 1 *', 'select 1')").fetchone()[0]
    try:
        conn.execute((Path(__file__).parent / "sql" / "cron_history_of_eight_and_six_days.sql").read_text())
        kept_before = runs_by_job(conn)
        assert conn.execute(command).fetchone()[0] == len(PROJECT_JOBS)
        assert runs_by_job(conn) == {job: ["6 days"] for job in PROJECT_JOBS} | {"someone-elses-job": ["6 days", "8 days"]}
        assert kept_before == {job: ["6 days", "8 days"] for job in [*PROJECT_JOBS, "someone-elses-job"]}
    finally:
        conn.execute("select cron.unschedule(%s)", (other_job,))


def test_the_prune_job_deletes_the_week_old_runs_of_job_ids_from_before_a_reschedule(restored_afterwards, conn):
    """pg_cron gives a job unscheduled and scheduled again (a down and up of its migration, an
    operator's fix) a new job id; the old id's runs stay in the history with no job. They are
    this project's when their command is one this project's jobs run now; another user's job
    gone the same way keeps its history."""
    command = conn.execute("select command from cron.job where jobname = 'prune-stats-cron-history'").fetchone()[0]
    other_job = conn.execute("select cron.schedule('someone-elses-job', '0 0 1 1 *', 'select 1')").fetchone()[0]
    history = (Path(__file__).parent / "sql" / "cron_history_of_eight_and_six_days.sql").read_text()
    conn.execute("delete from cron.job_run_details where return_message like '%days'")  # an earlier test's
    conn.execute(history)
    old_ids = [job_id for (job_id,) in conn.execute("select jobid from cron.job order by jobid")]
    for name, schedule, job_command in conn.execute(
            "select jobname, schedule, command from cron.job where jobname = any (%s)", (PROJECT_JOBS,)).fetchall():
        conn.execute("select cron.unschedule(%s)", (name,))
        conn.execute("select cron.schedule(%s, %s, %s)", (name, schedule, job_command))
    conn.execute("select cron.unschedule(%s)", (other_job,))
    assert not set(old_ids) & {job_id for (job_id,) in conn.execute("select jobid from cron.job")}
    conn.execute(history.replace("9000000000000000", "9100000000000000"))  # the new ids' own history

    def ages() -> dict[str, list[str]]:
        return {f"{'old' if old else 'new'} {command_run}": kept for old, command_run, kept in conn.execute(
            "select d.jobid = any (%s), d.command, array_agg(d.return_message order by d.return_message)"
            " from cron.job_run_details d where d.return_message like '%% days' group by 1, 2", (old_ids,))}

    before = ages()
    assert conn.execute(command).fetchone()[0] == 2 * len(PROJECT_JOBS)
    after = ages()
    assert after == {key: ["6 days"] for key in before if key != "old select 1"} | {"old select 1": ["6 days", "8 days"]}
    assert len(after) == 2 * len(PROJECT_JOBS) + 1 and before["old select 1"] == ["6 days", "8 days"]


def runs_by_job(conn: psycopg.Connection) -> dict[str, list[str]]:
    """Each job's runs that the history file wrote, by age in whole days."""
    return {job: ages for job, ages in conn.execute(
        "select j.jobname, array_agg(d.return_message order by d.return_message) from cron.job_run_details d "
        "join cron.job j using (jobid) where d.return_message like '%% days' and j.jobname = any (%s) "
        "group by j.jobname", ([*PROJECT_JOBS, "someone-elses-job"],))}


def test_a_chapter_with_too_many_dirty_days_for_too_long_is_unhealthy(restored_afterwards, conn):
    # The threshold job's second condition: one chapter with more dirty days than it allows.
    break_the_refresh_of_mv_chapter_stats(conn)
    conn.execute("insert into private.stats_dirty_keys (xid, chapter_id, peer_mentor_id, bucket_date) "
                 "select pg_current_xact_id(), '00000000-0000-0000-0000-00000000000c', gen_random_uuid(), "
                 "date '2026-01-01' + g from generate_series(0, private.dirty_days_threshold()) g")
    code, verdict = status_json(restored_afterwards)
    assert code == 0, verdict["problems"]
    days = verdict["log"]["days_threshold"] + 1
    assert verdict["log"]["most_days_of_a_chapter"] == days

    conn.execute("update private.stats_dirty_keys"
                 " set logged_at = logged_at - private.dirty_log_overdue_after() - interval '1 second'")
    code, verdict = status_json(restored_afterwards)
    assert code == 1
    assert verdict["problems"] == [f"a chapter has had {days} dirty days, more than {days - 1}, for over "
                                   f"{overdue_minutes(conn)} minutes: the threshold refresh has not emptied them"]

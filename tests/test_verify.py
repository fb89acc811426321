"""`peerstats verify`: passes on a seeded database, and fails, row by row, where a criterion breaks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import migrate_afresh
from peerstats import database, verify
from peerstats.verify import rights
from peerstats.verify.common import Context
from peerstats.seed import seed
from readability import NARROW, assert_readable_at_80

PEERSTATS = str(Path(sys.executable).parent / "peerstats")
# Every acceptance criterion of the spec has at least one row; so do its performance,
# regression and security requirements.
EXPECTED_REFS = set(verify.SPEC_ORDER)


def run_verify(url: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([PEERSTATS, "--database-url", url, "verify", *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})})


@pytest.fixture
def seeded(migrated):
    with database.connect(migrated) as conn:
        seed(conn, activities=4000)
        conn.execute("select public.refresh_stats_views()")
    yield migrated
    # Put back whatever a test broke, for the tests after it.
    migrate_afresh(migrated)


def failed_rows(document: dict) -> list[str]:
    return [c["criterion"] for c in document["criteria"] if not c["passed"]]


def test_every_criterion_passes_on_a_seeded_database_and_the_totals_stay(seeded):
    with database.connect(seeded) as conn:
        totals_before = conn.execute(
            "select count(*), sum(duration_minutes) from private.counted_activities").fetchone()
    result = run_verify(seeded, "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert failed_rows(document) == [] and document["failed"] == 0
    assert {c["ref"] for c in document["criteria"]} == EXPECTED_REFS
    assert document["passed"] == len(document["criteria"]) >= 25
    by_ref = {}
    for c in document["criteria"]:
        by_ref.setdefault(c["ref"], []).append(c)
    # Measured, not assumed: real numbers behind the rows.
    assert all(0 < c["details"]["one_chapter_ms"] < 200 for c in by_ref["AC6"] if "one_chapter_ms" in c["details"])
    assert all(c["details"]["direct"]["idx_scan"] > 0 for c in by_ref["P2"])
    assert all(c["details"]["only_in_materialized"] == 0 and c["details"]["materialized_rows"] > 0
               for c in by_ref["R1"])
    with database.connect(seeded) as conn:
        assert conn.execute(
            "select count(*), sum(duration_minutes) from private.counted_activities").fetchone() == totals_before
        # The probe activity is gone, and the views hold what they held.
        assert conn.execute("select count(*) from public.activities").fetchone()[0] == 4000
        assert conn.execute("select sum(activity_count) from private.mv_chapter_stats").fetchone()[0] == totals_before[0]


def test_the_table_names_each_criterion_whole_at_80_columns(seeded):
    result = run_verify(seeded, env=NARROW)
    assert result.returncode == 0, result.stderr
    assert_readable_at_80(result.stdout, "AC1", "AC8", "criterion", "measured", "target", "pass", "criteria pass",
                          *(view.name for view in verify.VIEWS))


def test_a_dropped_chapter_index_fails_its_row_and_the_exit_code(seeded):
    with database.connect(seeded) as conn:
        conn.execute("drop index private.mv_peer_mentor_stats_chapter_id")
    result = run_verify(seeded, "--json")
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "mv_peer_mentor_stats" in result.stderr
    failed = failed_rows(json.loads(result.stdout))
    assert "chapter_id index on mv_peer_mentor_stats used by a chapter-filtered query" in failed
    assert "chapter_id index on mv_chapter_stats used by a chapter-filtered query" not in failed


def test_a_slower_schedule_and_a_leaked_grant_fail_their_rows_but_an_unrefreshed_change_does_not(seeded):
    with database.connect(seeded) as conn:
        conn.execute("select cron.alter_job(jobid, schedule => '0 3 * * *') from cron.job"
                     " where jobname = 'refresh-stats-views'")
        conn.execute("grant select on private.mv_chapter_stats to authenticated")
        # A change the views have not seen: verify refreshes first, so they must catch up.
        conn.execute("update public.activities set duration_minutes = duration_minutes + 1"
                     " where id = (select id from private.counted_activities order by id limit 1)")
        # PostgREST would serve executed plans, which count any chapter's rows (docs/security.md).
        conn.execute("alter role authenticator in database postgres set pgrst.db_plan_enabled = 'true'")
    try:
        report = verify.verify(seeded)
    finally:
        with database.connect(seeded) as conn:
            conn.execute("alter role authenticator in database postgres reset pgrst.db_plan_enabled")
    failed = {c.ref for c in report.failures}
    assert failed == {"AC8", "S1", "S3"}, report.summary()
    assert "not every hour" in next(c.measured for c in report.failures if c.ref == "AC8")
    assert next(c.measured for c in report.failures if c.ref == "S3") == "true (postgres)"


@pytest.mark.parametrize(("settings", "passes", "measured"), [
    ((), True, "not set on authenticator"),
    (("in database postgres set pgrst.db_plan_enabled = 'false'",), True, "false (postgres)"),
    (("set pgrst.db_plan_enabled = 'on'",), False, "on (every database)"),
    (("set pgrst.db_plan_enabled = 'false'", "in database postgres set pgrst.db_plan_enabled = 'true'"), False,
     "false (every database); true (postgres)"),
    (("in database template1 set pgrst.db_plan_enabled = 'true'",), True, "not set on authenticator"),
])
def test_s3_reads_the_plan_setting_of_the_role_postgrest_logs_in_as(db_url, conn, settings, passes, measured):
    try:
        for setting in settings:
            conn.execute(f"alter role authenticator {setting}")
        [criterion] = rights.plan_output_off(Context(db_url, conn))
    finally:
        conn.execute("alter role authenticator reset pgrst.db_plan_enabled")
        for database_name in ("postgres", "template1"):
            conn.execute(f"alter role authenticator in database {database_name} reset pgrst.db_plan_enabled")
    assert (criterion.passed, criterion.measured) == (passes, measured)


def test_an_empty_database_is_told_to_seed_first(migrated):
    result = run_verify(migrated)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "seed it first" in result.stderr


@pytest.mark.parametrize("schedule, hourly", [
    ("0 * * * *", True), ("*/5 * * * *", True), ("* * * * *", True), ("15,45 * * * *", True),
    ("0 0-23 * * *", True), ("0 * * * 0-6", True), ("0 * 1-31 * *", True), ("@hourly", True),
    ("30 seconds", True), ("1 second", True),
    ("0 */2 * * *", False), ("0 0 * * *", False), ("0 * * * 1-5", False), ("0 * * 1-6 *", False),
    ("0 8-17 * * *", False), ("@daily", False), ("0 * 1 * *", False), ("0 * $ * *", False),
])
def test_a_schedule_is_at_least_hourly_when_it_runs_in_every_hour(schedule, hourly):
    assert verify.runs_every_hour(schedule)[0] is hourly


@pytest.mark.parametrize("schedule", ["every hour", "0 * * *", "61 * * * *", "0 * * * mon-funday", "90 seconds"])
def test_an_unreadable_schedule_is_refused(schedule):
    with pytest.raises(ValueError):
        verify.runs_every_hour(schedule)

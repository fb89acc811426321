"""The Bufdir export and its validator, on the shipped reference dataset.

Every expected figure below is worked out by hand from src/peerstats/reference/dataset.sql
(its comments say which activity counts where), never read back from the code under test.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from decimal import Decimal
from importlib import resources

import psycopg
import pytest

from peerstats import bufdir
from peerstats.postgrest import request
from peerstats.refresh import refresh_stats_views
from readability import NARROW, assert_readable_at_80

BERGEN = "c0000000-0000-4000-8000-000000000001"
OSLO = "c0000000-0000-4000-8000-000000000002"
STAVANGER = "c0000000-0000-4000-8000-000000000003"
TROMSO = "c0000000-0000-4000-8000-000000000004"
BO = "b0000000-0000-4000-8000-000000000002"
DI_MOE = "b0000000-0000-4000-8000-000000000004"


def peerstats(url: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """The real command line, in a process of its own, so exit codes and stderr are the user's."""
    return subprocess.run(
        [sys.executable, "-c", "from peerstats.cli import main; main()", "--database-url", url, *args],
        capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})},
    )


def assert_one_line_failure(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("peerstats: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture
def reference(migrated, conn):
    """A migrated database holding the reference dataset, with the views refreshed."""
    bufdir.load_reference(conn)
    return migrated


def yearly(validation: bufdir.Validation, source: str) -> dict[tuple[int, str], tuple[int, int, int]]:
    """(year, chapter) -> (activities, minutes, active mentors) as one source has them."""
    figures = {}
    for row in validation.rows:
        f = row.export if source == "export" else row.source(source)
        figures[(row.year, row.chapter_id)] = (f.activity_count, f.total_minutes, f.active_mentor_count)
    return figures


def change(before: dict, after: dict) -> dict:
    """The non-zero per-chapter change between two `yearly` results."""
    deltas = {key: tuple(a - b for a, b in zip(after[key], before[key])) for key in before}
    return {key: delta for key, delta in deltas.items() if any(delta)}


def test_reference_export_equals_the_hand_written_files_exactly(reference, conn):
    assert bufdir.reference_years() == [2024, 2025]
    for year in (2024, 2025):
        text = bufdir.export_json(year, bufdir.export_year(conn, year))
        expected_text = resources.files("peerstats").joinpath(f"reference/expected_{year}.json").read_text()
        exported = json.loads(text, parse_float=Decimal)
        expected = json.loads(expected_text, parse_float=Decimal)
        assert exported == expected
        # The same shape, key order included, as the contract of the export states it.
        assert list(exported) == ["year", "chapters"]
        assert [list(c) for c in exported["chapters"]] == [
            ["chapter_id", "chapter_name", "activity_count", "total_hours", "active_mentor_count", "by_type"]
        ] * 4
    assert [check.mismatches for check in bufdir.check_reference(conn)] == [(), ()]
    # A year without data still lists every chapter, with zeros.
    empty = json.loads(bufdir.export_json(2023, bufdir.export_year(conn, 2023)))
    assert [(c["chapter_name"], c["activity_count"], c["total_hours"], c["active_mentor_count"], c["by_type"])
            for c in empty["chapters"]] == [(name, 0, 0.0, 0, []) for name in ("Bergen", "Oslo", "Stavanger", "Tromsø")]


def test_the_check_against_expected_files_names_each_mismatch(reference, conn):
    conn.execute("update public.activities set duration_minutes = 2 where id = 'a0000000-0000-4000-8000-000000000002'")
    checks = {check.year: check.mismatches for check in bufdir.check_reference(conn)}
    # a02 (Bergen, phone_call) 1 -> 2 minutes: Bergen 136 -> 137 min = 2.28 h, phone_call 2 min = 0.03 h.
    assert checks == {2024: ("chapters[0].total_hours: export 2.28, expected 2.27",
                             "chapters[0].by_type[0].total_hours: export 0.03, expected 0.02"),
                      2025: ()}


def test_csv_has_a_row_per_chapter_and_type_with_the_chapter_totals_beside(reference, tmp_path):
    output = tmp_path / "bufdir-2024.csv"
    result = peerstats(reference, "bufdir", "export", "--year", "2024", "--format", "csv", "--output", str(output))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    rows = list(csv.reader(io.StringIO(output.read_text(encoding="utf-8"))))
    assert rows == [
        list(bufdir.CSV_COLUMNS),
        ["2024", BERGEN, "Bergen", "3", "2.27", "2", "phone_call", "1", "0.02"],
        ["2024", BERGEN, "Bergen", "3", "2.27", "2", "visit", "2", "2.25"],
        ["2024", OSLO, "Oslo", "2", "25.00", "2", "visit", "2", "25.00"],
        ["2024", STAVANGER, "Stavanger", "1", "2.00", "1", "visit", "1", "2.00"],
        ["2024", TROMSO, "Tromsø", "0", "0.00", "0", "", "0", "0.00"],
    ]
    # Written whole through a temporary file, which is gone afterwards.
    assert [p.name for p in tmp_path.iterdir()] == [output.name]


def test_json_export_goes_to_standard_output_by_default(reference):
    result = peerstats(reference, "bufdir", "export", "--year", "2025")
    assert result.returncode == 0, result.stderr
    expected = resources.files("peerstats").joinpath("reference/expected_2025.json").read_text()
    assert json.loads(result.stdout, parse_float=Decimal) == json.loads(expected, parse_float=Decimal)


def test_validate_passes_at_once_after_an_insert_and_catches_a_change_the_dashboard_missed(migrated, conn):
    loaded = peerstats(migrated, "bufdir", "validate", "--reference")
    assert loaded.returncode == 0, loaded.stderr + loaded.stdout
    assert "reference 2024: the export equals expected_2024.json" in loaded.stdout
    assert "reference 2025: the export equals expected_2025.json" in loaded.stdout
    assert "no difference" in loaded.stdout

    # Bo visits in Bergen for 30 minutes, and nobody refreshes: the dashboard is exact anyway.
    conn.execute(
        "insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes) "
        "values (%s, %s, 'visit', '2025-06-01 12:00:00+00', 30)", (BO, BERGEN))
    exact = peerstats(migrated, "bufdir", "validate", "--json")
    assert exact.returncode == 0, exact.stdout
    report = json.loads(exact.stdout)
    assert report["ok"] is True and report["differences"] == []
    assert report["freshness"]["stale"] is True and report["freshness"]["changed_activities"] == 1

    # Di Moe (home chapter Stavanger) visits for 90 minutes in Tromsø while the log of changes
    # is switched off: the dashboard misses it, and the validator says so.
    conn.execute("alter table public.activities disable trigger activities_log_inserted_keys")
    try:
        conn.execute(
            "insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes) "
            "values (%s, %s, 'visit', '2025-06-01 12:00:00+00', 90)", (DI_MOE, TROMSO))
    finally:
        conn.execute("alter table public.activities enable trigger activities_log_inserted_keys")
    stale = peerstats(migrated, "bufdir", "validate", "--json")
    assert stale.returncode == 1
    assert_one_line_failure(stale, "3 difference(s)")
    report = json.loads(stale.stdout)
    assert report["ok"] is False
    assert report["freshness"]["stale"] is True and report["freshness"]["changed_activities"] == 2
    assert [(d["year"], d["chapter_name"], d["figure"], d["source"], d["export"], d["other"], d["cause"])
            for d in report["differences"]] == [
        (2025, "Tromsø", "activity_count", "dashboard", 1, 0, bufdir.STALE),
        (2025, "Tromsø", "total_hours", "dashboard", 1.5, 0.0, bufdir.STALE),
        (2025, "Tromsø", "active_mentor_count", "dashboard", 1, 0, bufdir.STALE),
    ]
    # The plain views are live, so they agree with the export.
    tromso_2025 = next(r for r in report["rows"] if (r["year"], r["chapter_id"]) == (2025, TROMSO))
    assert tromso_2025["plain_views"] == tromso_2025["export"] == {
        "activity_count": 1, "total_hours": 1.5, "total_minutes": 90, "active_mentor_count": 1}

    table = peerstats(migrated, "bufdir", "validate", "--year", "2025", env=NARROW)
    assert table.returncode == 1
    assert_readable_at_80(table.stdout, "Stavanger", "Tromsø", "1 / 0 / 1", "1.50 / 0.00 / 1.50", "stale", "equal")
    assert ("2025 Tromsø activity_count: export 1, dashboard 0 -> stale: a change the dashboard's log missed; "
            "refresh (`peerstats refresh`)") in " ".join(table.stdout.split())

    refresh_stats_views(conn)
    assert peerstats(migrated, "bufdir", "validate").returncode == 0


def test_a_plain_view_counting_differently_is_a_rule_divergence(reference, conn):
    # A plain view that forgets the duplicate rule: a05 (Oslo 2024, 60 min) and a15 (Bergen
    # 2025, 75 min) would count there (a07 and a17 count anyway: their originals do not).
    conn.execute("""
        create or replace view public.v_chapter_stats with (security_invoker = true) as
        select a.chapter_id,
               (date_trunc('month', a.recorded_at at time zone 'UTC'))::date as month_start,
               count(*) as activity_count,
               sum(a.duration_minutes) / 60.0 as total_hours,
               sum(a.duration_minutes) as total_minutes,
               count(distinct a.peer_mentor_id) as active_mentor_count
        from public.activities a join public.activity_types t on t.code = a.activity_type
        where a.deleted_at is null and t.counts_in_stats
        group by 1, 2""")
    validation = bufdir.reconcile(conn)
    assert not validation.staleness.stale
    assert [(d.year, d.chapter_name, d.figure, d.source, d.exported, d.other, d.cause)
            for d in validation.differences] == [
        (2024, "Oslo", "activity_count", "plain views", 2, 3, bufdir.RULE_DIVERGENCE),
        (2024, "Oslo", "total_hours", "plain views", Decimal("25.00"), Decimal("26.00"), bufdir.RULE_DIVERGENCE),
        (2025, "Bergen", "activity_count", "plain views", 2, 3, bufdir.RULE_DIVERGENCE),
        (2025, "Bergen", "total_hours", "plain views", Decimal("1.75"), Decimal("3.00"), bufdir.RULE_DIVERGENCE),
    ]


def test_switching_a_type_off_changes_export_and_dashboard_by_the_same_amounts(reference, conn):
    before = bufdir.reconcile(conn)
    conn.execute("update public.activity_types set counts_in_stats = false where code = 'phone_call'")
    after = bufdir.reconcile(conn)
    assert after.staleness.changed_activity_types == 1  # not refreshed: the dashboard is exact anyway
    assert after.differences == []

    # Bergen 2024 loses a02 (Bo, 1 min; Bo stays active there through a07);
    # Oslo 2025 loses a10 (Cy, 15 min) and a11 (Ada, 20 min; Ada's only one there).
    expected = {(2024, BERGEN): (-1, -1, 0), (2025, OSLO): (-2, -35, -1)}
    assert change(yearly(before, "export"), yearly(after, "export")) == expected
    assert change(yearly(before, "dashboard"), yearly(after, "dashboard")) == expected
    assert all(t.activity_type != "phone_call" for year in (2024, 2025)
               for chapter in bufdir.export_year(conn, year) for t in chapter.by_type)


def test_marking_a_duplicate_changes_export_and_dashboard_by_the_same_amounts(reference, conn):
    before = bufdir.reconcile(conn)
    # a16 (Oslo 2025, Cy, 50 min) becomes a duplicate of a10 (Oslo 2025, Cy).
    conn.execute("update public.activities set duplicate_of = 'a0000000-0000-4000-8000-000000000010' "
                 "where id = 'a0000000-0000-4000-8000-000000000016'")
    after = bufdir.reconcile(conn)  # not refreshed: the dashboard is exact anyway
    assert after.differences == []
    expected = {(2025, OSLO): (-1, -50, 0)}
    assert change(yearly(before, "export"), yearly(after, "export")) == expected
    assert change(yearly(before, "dashboard"), yearly(after, "dashboard")) == expected


def test_the_reference_dataset_loads_into_an_empty_database_only(reference, conn):
    result = peerstats(reference, "bufdir", "validate", "--reference")
    assert_one_line_failure(result, "empty database only", "public.chapters")
    assert conn.execute("select count(*) from public.activities").fetchone()[0] == 17


@pytest.mark.parametrize("args, fragments", [
    (["--year", "1999"], ["1999 is not in the range 2000<=x<="]),
    (["--year", str(bufdir.last_plausible_year() + 1)], ["is not in the range 2000<=x<="]),
    (["--year", "2025", "--format", "xml"], ["'xml' is not one of 'json', 'csv'"]),
    (["--year", "2025", "--output", "/proc/bufdir.json"], ["cannot write /proc/bufdir.json"]),
])
def test_bad_export_input_gets_one_line_and_a_non_zero_exit(reference, args, fragments):
    result = peerstats(reference, "bufdir", "export", *args)
    assert_one_line_failure(result, *fragments)
    assert result.stdout == ""


def test_an_output_in_a_missing_folder_writes_nothing(reference, tmp_path):
    target = tmp_path / "missing" / "bufdir.json"
    result = peerstats(reference, "bufdir", "export", "--year", "2025", "--output", str(target))
    assert_one_line_failure(result, f"cannot write {target}: No such file or directory")
    assert list(tmp_path.iterdir()) == []


def test_only_the_service_role_and_the_owner_may_run_the_export(reference, conn):
    query = "select count(*) from private.bufdir_export(2025)"
    # 4 chapter total rows, Bergen: visit, Oslo: phone_call and visit.
    assert request(conn, "service_role", query) == [(7,)]
    for role in ("anon", "authenticated"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            request(conn, role, query, user_id="00000000-0000-4000-8000-000000000001")

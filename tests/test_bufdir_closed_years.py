"""`peerstats bufdir close`, `reopen` and `validate` on a closed year, through the real command
line, on the reference dataset (2024 Bergen: 3 activities, 136 minutes = 2.27 h; visit 135
minutes = 2.25 h; worked out in src/peerstats/reference/README.md)."""

from __future__ import annotations

import json

import pytest
from psycopg import errors

from peerstats import bufdir
from peerstats.postgrest import request
from peerstats.refresh import refresh_stats_views
from test_bufdir import assert_one_line_failure, peerstats, reference  # noqa: F401 (reference is a fixture)

pytestmark = pytest.mark.every_postgresql

A01 = "a0000000-0000-4000-8000-000000000001"  # Bergen 2024, Ada, visit, 90 min


def test_close_stores_the_submission_and_validate_then_compares_it(reference, conn):  # noqa: F811
    closed = peerstats(reference, "bufdir", "close", "--year", "2024")
    assert closed.returncode == 0, closed.stderr
    assert "closed 2024: stored the submission (4 chapters, 6 activities)" in " ".join(closed.stdout.split())
    assert conn.execute("select status, changed_by from private.reporting_years where year = 2024").fetchone() == (
        "closed", "postgres")
    submitted = conn.execute("select submitted_by, operator is not null, jsonb_array_length(figures) "
                             "from private.bufdir_submissions where year = 2024").fetchone()
    assert submitted == ("postgres", True, 8)  # 4 chapter rows, 4 type rows (Bergen 2, Oslo 1, Stavanger 1)

    again = peerstats(reference, "bufdir", "close", "--year", "2024")
    assert again.returncode == 1
    assert_one_line_failure(again, "reporting year 2024 is already closed")

    valid = peerstats(reference, "bufdir", "validate", "--year", "2024")
    assert valid.returncode == 0, valid.stdout + valid.stderr
    assert "2024 is closed; submitted to Bufdir on" in " ".join(valid.stdout.split())
    assert "no difference from the stored submission" in " ".join(valid.stdout.split())

    with pytest.raises(errors.CheckViolation, match="reporting year 2024 is closed"):
        conn.execute("update public.activities set duration_minutes = 120 where id = %s", (A01,))

    # Reopening needs a reason and a closed year.
    for args, code, fragment in ((("--year", "2024"), 2, "Missing option '--reason'"),
                                 (("--year", "2024", "--reason", "   "), 2, "must not be blank"),
                                 (("--year", "2025", "--reason", "typo"), 1, "reporting year 2025 is not closed")):
        result = peerstats(reference, "bufdir", "reopen", *args)
        assert result.returncode == code
        assert_one_line_failure(result, fragment)


def test_a_correction_after_reopening_is_named_by_validate(reference, conn):  # noqa: F811
    bufdir.close_year(conn, 2024, "tester")
    reopened = peerstats(reference, "bufdir", "reopen", "--year", "2024", "--reason", "Ada's visit lasted 2 hours")
    assert reopened.returncode == 0, reopened.stderr
    assert conn.execute("select event, reason from private.reporting_year_events where year = 2024 order by id"
                        ).fetchall() == [("closed", None), ("reopened", "Ada's visit lasted 2 hours")]

    request(conn, "service_role", "update public.activities set duration_minutes = 120 where id = %s", (A01,),
            read_only=False)
    refresh_stats_views(conn)
    table = peerstats(reference, "bufdir", "validate", "--year", "2024")
    assert table.returncode == 1
    assert_one_line_failure(table, "3 difference(s) from the submission stored when the year was closed")
    # 136 -> 166 minutes: 2.27 -> 2.77 h; visit 135 -> 165 minutes: 2.25 -> 2.75 h.
    for line in ("2024 Bergen total_hours: submitted 2.27, export now 2.77 -> changed since the submission",
                 "2024 Bergen visit total_hours: submitted 2.25, export now 2.75 -> changed since the submission",
                 "2024 Bergen total_hours: submitted 2.27, dashboard now 2.77 -> changed since the submission"):
        assert line in " ".join(table.stdout.split())  # wrapped at the terminal's width
    report = json.loads(peerstats(reference, "bufdir", "validate", "--year", "2024", "--json").stdout)
    assert report["ok"] is False
    assert [s["status"] for s in report["submissions"]] == ["reopened"]
    assert len(report["submission_differences"]) == 3


def test_validate_without_a_year_checks_a_reported_year_left_with_no_counted_activity(reference, conn):  # noqa: F811
    """A closed or reopened year is compared with its submission whatever rows it has left: here every
    2024 activity is soft-deleted in a reopened year, so 2024 has no counted activity and no dashboard
    row, and validate without --year still names every chapter's figures that went to zero."""
    bufdir.close_year(conn, 2024, "tester")
    bufdir.reopen_year(conn, 2024, "every registration of 2024 was withdrawn", "tester")
    request(conn, "service_role", "update public.activities set deleted_at = now()"
            " where recorded_at >= '2024-01-01' and recorded_at < '2025-01-01'", read_only=False)
    assert conn.execute("select count(*) from private.counted_activities where recorded_at >= '2024-01-01'"
                        " and recorded_at < '2025-01-01'").fetchone()[0] == 0
    everything = peerstats(reference, "bufdir", "validate")
    assert everything.returncode == 1
    assert "from the submission stored when the year was closed" in everything.stderr
    assert "2024 Bergen total_hours: submitted 2.27, export now" in " ".join(everything.stdout.split())
    report = json.loads(peerstats(reference, "bufdir", "validate", "--json").stdout)
    assert [s["year"] for s in report["submissions"]] == [2024]
    assert {d["year"] for d in report["submission_differences"]} == {2024}


BERGEN = "c0000000-0000-4000-8000-000000000001"
TROMSO = "c0000000-0000-4000-8000-000000000004"  # no mentor, no activity


def test_a_closed_year_survives_a_new_chapter_a_rename_and_a_deleted_chapter_but_not_a_changed_figure(
        reference, conn):  # noqa: F811
    """Closed years are compared by chapter id: a chapter added since (nothing of it counted in
    the year), one renamed and one deleted are no difference; the rename and the deletion are
    shown as information. A figure of the year that moves still fails, naming chapter and figure."""
    assert peerstats(reference, "bufdir", "close", "--year", "2024").returncode == 0
    conn.execute("insert into public.chapters (name) values ('NHF New chapter')")
    conn.execute("update public.chapters set name = 'Bergen og omegn' where id = %s", (BERGEN,))
    conn.execute("delete from public.chapters where id = %s", (TROMSO,))

    valid = peerstats(reference, "bufdir", "validate", "--year", "2024")
    assert valid.returncode == 0, valid.stdout + valid.stderr
    shown = " ".join(valid.stdout.split())  # wrapped at the terminal's width
    assert f"2024 Bergen: renamed since the submission, now Bergen og omegn (chapter {BERGEN}; information)" in shown
    assert f"2024 Tromsø (chapter {TROMSO}): deleted since the submission" in shown
    assert "no difference from the stored submission" in shown
    report = json.loads(peerstats(reference, "bufdir", "validate", "--year", "2024", "--json").stdout)
    assert report["ok"] is True and report["submission_differences"] == []
    assert report["chapter_changes"] == [
        {"year": 2024, "chapter_id": BERGEN, "submitted_name": "Bergen", "current_name": "Bergen og omegn",
         "change": "renamed"},
        {"year": 2024, "chapter_id": TROMSO, "submitted_name": "Tromsø", "current_name": None, "change": "deleted"}]

    # A figure of 2024 moves (a correction after reopening): the renamed chapter fails by its figures.
    bufdir.reopen_year(conn, 2024, "Ada's visit lasted 2 hours", "tester")
    request(conn, "service_role", "update public.activities set duration_minutes = 120 where id = %s", (A01,),
            read_only=False)
    changed = peerstats(reference, "bufdir", "validate", "--year", "2024")
    assert changed.returncode == 1
    assert_one_line_failure(changed, "3 difference(s) from the submission stored when the year was closed")
    shown = " ".join(changed.stdout.split())
    assert ("2024 Bergen og omegn total_hours: submitted 2.27, export now 2.77 -> changed since the submission"
            in shown)
    assert "renamed since the submission, now Bergen og omegn" in shown
    report = json.loads(peerstats(reference, "bufdir", "validate", "--year", "2024", "--json").stdout)
    assert report["ok"] is False
    assert {(d["chapter_id"], d["figure"], d["source"]) for d in report["submission_differences"]} == {
        (BERGEN, "total_hours", "export"), (BERGEN, "visit total_hours", "export"),
        (BERGEN, "total_hours", "dashboard")}


def test_a_chapter_with_activities_in_a_closed_year_cannot_be_deleted(reference, conn):  # noqa: F811
    """So a chapter deleted after closing had nothing counted in the year, and the comparison
    above (zeros on the side it is absent from) holds: its activities keep it (foreign key), and
    they cannot be deleted while their year is closed."""
    bufdir.close_year(conn, 2024, "tester")
    with pytest.raises(errors.ForeignKeyViolation, match="activities_chapter_id_fkey"):
        conn.execute("delete from public.chapters where id = %s", (BERGEN,))
    with pytest.raises(errors.CheckViolation, match="reporting year 2024 is closed"):
        conn.execute("delete from public.activities where chapter_id = %s", (BERGEN,))

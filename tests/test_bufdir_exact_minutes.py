"""Every hours figure of the Bufdir export (JSON, CSV, xlsx) and of `bufdir validate` is made from
a sum of exact minutes, turned into hours once, a half rounded up: here totals of 3 minutes past
a multiple of 6 (3, 9, 15, 24,555: hours ending in 5 at the second decimal or below), each split
across mentors, days, months and activities whose hours, rounded one by one, add up to another
figure (1 + 1 + 1 minutes is 0.05 h, but 0.02 + 0.02 + 0.02 = 0.06)."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal

import openpyxl
import pytest

from peerstats.refresh import refresh_stats_views
from test_bufdir import peerstats

CHAPTER_A = "c1000000-0000-4000-8000-00000000000a"
CHAPTER_B = "c1000000-0000-4000-8000-00000000000b"
MENTORS = {"b1000000-0000-4000-8000-000000000001": CHAPTER_A, "b1000000-0000-4000-8000-000000000002": CHAPTER_A,
           "b1000000-0000-4000-8000-000000000003": CHAPTER_B}
M1, M2, M3 = MENTORS


def activities_of(year: int) -> list[tuple[str, str, str, datetime, int]]:
    """(mentor, chapter, type, recorded_at, minutes). Chapter A: visit 1 + 1 + 1 = 3 minutes over
    two mentors, two months; call 17 full days of 1,440 and 35 + 37: 24,552; in all 24,555
    (409.25 h). Chapter B: visit 4 + 5 = 9 over two months, call 1 + 5 = 6; in all 15 (0.25 h)."""
    def at(month: int, day: int, hour: int = 12) -> datetime:
        return datetime(year, month, day, hour, tzinfo=timezone.utc)

    rows = [(M1, CHAPTER_A, "visit", at(1, 5), 1), (M1, CHAPTER_A, "visit", at(1, 5, 13), 1),
            (M2, CHAPTER_A, "visit", at(2, 10), 1),
            (M2, CHAPTER_A, "call", at(4, 1), 35), (M2, CHAPTER_A, "call", at(4, 1, 14), 37),
            (M3, CHAPTER_B, "visit", at(5, 31), 4), (M3, CHAPTER_B, "visit", at(6, 1), 5),
            (M3, CHAPTER_B, "call", at(7, 1), 1), (M3, CHAPTER_B, "call", at(12, 31, 23), 5)]
    rows += [(M1, CHAPTER_A, "call", datetime(year, 3, 1, tzinfo=timezone.utc) + timedelta(days=d), 1440)
             for d in range(17)]
    return rows


def round_half_up(minutes: int) -> Decimal:
    return (Decimal(minutes) / 60).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@pytest.fixture
def halves(migrated, conn):
    year = conn.execute("select extract(year from now() at time zone 'UTC')::int - 1").fetchone()[0]
    conn.execute("insert into public.chapters (id, name) values (%s, 'A'), (%s, 'B')", (CHAPTER_A, CHAPTER_B))
    conn.execute("insert into public.activity_types (code, label, counts_in_stats)"
                 " values ('visit', 'Visit', true), ('call', 'Call', true)")
    for mentor, chapter in MENTORS.items():
        conn.execute("insert into public.peer_mentors (id, chapter_id, full_name) values (%s, %s, 'Mentor')",
                     (mentor, chapter))
    rows = activities_of(year)
    insert = ("insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at,"
              " duration_minutes) values (%s, %s, %s, %s, %s)")
    with conn.cursor() as cursor:
        cursor.executemany(insert, [row for row in rows if row[1] == CHAPTER_A])
        refresh_stats_views(conn)
        # Chapter B reaches the dashboard through its log of changes, not the materialized views.
        cursor.executemany(insert, [row for row in rows if row[1] == CHAPTER_B])
    minutes: dict[tuple[str, str | None], int] = defaultdict(int)
    for _, chapter, activity_type, _, duration in rows:
        minutes[chapter, activity_type] += duration
        minutes[chapter, None] += duration
    assert minutes[CHAPTER_A, None] == 24555 and minutes[CHAPTER_B, None] == 15
    assert all(m % 6 == 3 for (_, t), m in minutes.items() if t is None or t == "visit")
    return migrated, year, {key: round_half_up(m) for key, m in minutes.items()}, dict(minutes)


def test_every_hours_figure_of_the_export_and_validate_is_its_minutes_turned_into_hours_once(halves, tmp_path):
    url, year, hours, minutes = halves
    assert hours[CHAPTER_A, None] == Decimal("409.25") and hours[CHAPTER_A, "visit"] == Decimal("0.05")
    # What adding per-row hours would have shown instead.
    assert 3 * round_half_up(1) == Decimal("0.06") != hours[CHAPTER_A, "visit"]

    document = json.loads(peerstats(url, "bufdir", "export", "--year", str(year)).stdout)
    shown = {}
    for chapter in document["chapters"]:
        shown[chapter["chapter_id"], None] = Decimal(str(chapter["total_hours"]))
        for t in chapter["by_type"]:
            shown[chapter["chapter_id"], t["activity_type"]] = Decimal(str(t["total_hours"]))
    assert shown == hours

    table = peerstats(url, "bufdir", "export", "--year", str(year), "--format", "csv").stdout
    shown = {}
    for row in csv.DictReader(io.StringIO(table)):
        shown[row["chapter_id"], None] = Decimal(row["total_hours"])
        shown[row["chapter_id"], row["activity_type"]] = Decimal(row["type_total_hours"])
    assert shown == hours

    spreadsheet = tmp_path / "bufdir.xlsx"
    assert peerstats(url, "bufdir", "export", "--year", str(year), "--format", "xlsx",
                     "--output", str(spreadsheet)).returncode == 0
    shown = {}
    for _, _, activity_type, _, value, _, chapter_id in list(openpyxl.load_workbook(spreadsheet).active.values)[1:]:
        key = (chapter_id, None if activity_type == "chapter total, all types" else activity_type)
        shown[key] = Decimal(str(value))
    assert shown == hours

    report = json.loads(peerstats(url, "bufdir", "validate", "--year", str(year), "--json").stdout)
    assert report["ok"] is True
    for row in report["rows"]:
        for source in ("export", "dashboard", "plain_views"):
            assert row[source]["total_minutes"] == minutes[row["chapter_id"], None]
            assert Decimal(str(row[source]["total_hours"])) == hours[row["chapter_id"], None]
    wide = peerstats(url, "bufdir", "validate", "--year", str(year), env={"COLUMNS": "200"})
    text = " ".join(wide.stdout.split())
    for chapter in (CHAPTER_A, CHAPTER_B):
        assert " / ".join([str(hours[chapter, None])] * 3) in text

    # Closed, the year's submission gives the same figures back, by minutes.
    assert peerstats(url, "bufdir", "close", "--year", str(year)).returncode == 0
    closed = json.loads(peerstats(url, "bufdir", "validate", "--year", str(year), "--json").stdout)
    assert closed["ok"] is True and [s["year"] for s in closed["submissions"]] == [year]


def test_a_submission_stored_before_the_export_had_minutes_still_compares_by_its_minutes(halves, conn):
    url, year, hours, _ = halves
    assert peerstats(url, "bufdir", "close", "--year", str(year)).returncode == 0
    # As close stored it before 20261207000400: total_hours (unrounded) and no total_minutes.
    conn.execute("update private.bufdir_submissions set figures ="
                 " (select jsonb_agg(f - 'total_minutes') from jsonb_array_elements(figures) f)")
    assert conn.execute("select bool_and(not f ? 'total_minutes') from private.bufdir_submissions s,"
                        " jsonb_array_elements(s.figures) f").fetchone()[0]
    valid = peerstats(url, "bufdir", "validate", "--year", str(year))
    assert valid.returncode == 0, valid.stdout + valid.stderr
    assert "no difference from the stored submission" in " ".join(valid.stdout.split())

"""`peerstats bufdir export --format xlsx`: read back with openpyxl, the spreadsheet holds exactly the JSON export's figures."""

from __future__ import annotations

import json
from collections import defaultdict

import openpyxl
from peerstats import bufdir, xlsx_export
from test_bufdir import STAVANGER, assert_one_line_failure, peerstats, reference  # noqa: F401 (a fixture)


def read_back(path) -> dict:
    """The workbook turned back into the JSON export's document, from the cells' values alone."""
    sheet = openpyxl.load_workbook(path).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == xlsx_export.COLUMNS
    years = set()
    types_of: dict[str, list[dict]] = defaultdict(list)
    chapters = []
    for year, chapter_name, activity_type, activities, hours, mentors, chapter_id in rows[1:]:
        years.add(year)
        if activity_type == xlsx_export.CHAPTER_TOTAL:
            chapters.append({"chapter_id": chapter_id, "chapter_name": chapter_name, "activity_count": activities,
                             "total_hours": hours, "active_mentor_count": mentors, "by_type": types_of[chapter_id]})
        else:
            assert mentors is None  # mentors are counted per chapter, not per type
            types_of[chapter_id].append({"activity_type": activity_type, "activity_count": activities,
                                         "total_hours": hours})
    (year,) = years
    return {"year": year, "chapters": chapters}


def test_the_spreadsheet_reads_back_as_exactly_the_json_export(reference, tmp_path):  # noqa: F811
    for year in bufdir.reference_years():
        check_year(reference, tmp_path, year)
    check_layout(tmp_path / "bufdir-2025.xlsx")


def check_year(reference, tmp_path, year: int) -> None:  # noqa: F811
    spreadsheet = tmp_path / f"bufdir-{year}.xlsx"
    written = peerstats(reference, "bufdir", "export", "--year", str(year), "--format", "xlsx", "--output", str(spreadsheet))
    assert written.returncode == 0, written.stderr
    assert written.stdout == ""
    exported = peerstats(reference, "bufdir", "export", "--year", str(year))
    assert exported.returncode == 0, exported.stderr
    document = json.loads(exported.stdout)
    # Equal as numbers (a spreadsheet has no separate integer type: 25.00 hours reads back as 25).
    assert read_back(spreadsheet) == document


def check_layout(spreadsheet) -> None:
    """Numbers are numbers, and the chapter totals are labelled and bold."""
    sheet = openpyxl.load_workbook(spreadsheet).active
    assert sheet.title == "Bufdir 2025"
    body = list(sheet.iter_rows(min_row=2))
    for row in body:
        assert all(cell.data_type == "n" for cell in row[3:5]), [cell.value for cell in row]
        assert row[4].number_format == xlsx_export.HOURS_FORMAT
    totals = [row for row in body if row[2].value == xlsx_export.CHAPTER_TOTAL]
    assert [row[1].value for row in totals] == ["Bergen", "Oslo", "Stavanger", "Tromsø"]
    assert all(cell.font.bold for row in totals for cell in row)
    # A chapter where nothing counted (Stavanger in 2025) has its total row, with zeros, and no type rows.
    stavanger = [[cell.value for cell in row[2:6]] for row in body if row[6].value == STAVANGER]
    assert stavanger == [[xlsx_export.CHAPTER_TOTAL, 0, 0, 0]]


def test_a_spreadsheet_needs_an_output_file():
    # Refused before any connection is made.
    result = peerstats("postgresql:///no-such-database?host=/nonexistent", "bufdir", "export", "--year", "2025", "--format", "xlsx")
    assert_one_line_failure(result, "--format xlsx needs --output")
    assert result.returncode == 2 and result.stdout == ""


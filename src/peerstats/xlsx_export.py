"""The annual Bufdir export as a spreadsheet (`peerstats bufdir export --format xlsx`), for the national office.

The same figures as the JSON and CSV exports (bufdir.export_year), laid out for a person: per
chapter one row per activity type that counted, then the chapter's total row, labelled and in
bold. Counts are whole numbers and hours numbers with two decimals (as the other exports
publish them), never text, so the sheet can sum and filter them.
"""

from __future__ import annotations

import io

from openpyxl import Workbook
from openpyxl.styles import Font

from peerstats.bufdir import ChapterFigures, published_hours

FORMAT = "xlsx"
COLUMNS = ("year", "chapter", "activity type", "activities", "hours", "active mentors", "chapter id")
CHAPTER_TOTAL = "chapter total, all types"
COLUMN_WIDTHS = (8, 28, 26, 12, 12, 15, 38)
HOURS_FORMAT = "#,##0.00"
COUNT_FORMAT = "#,##0"


def workbook_bytes(year: int, chapters: list[ChapterFigures]) -> bytes:
    """The workbook as the bytes of an .xlsx file: one sheet, one header row."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = f"Bufdir {year}"
    sheet.append(COLUMNS)
    for header in sheet[1]:
        header.font = Font(bold=True)
    for chapter in chapters:
        for figures in chapter.by_type:
            sheet.append((year, chapter.chapter_name, figures.activity_type, figures.activity_count,
                          published_hours(figures.total_minutes), None, chapter.chapter_id))
        sheet.append((year, chapter.chapter_name, CHAPTER_TOTAL, chapter.activity_count,
                      published_hours(chapter.total_minutes), chapter.active_mentor_count, chapter.chapter_id))
        for total_cell in sheet[sheet.max_row]:
            total_cell.font = Font(bold=True)
    for row in sheet.iter_rows(min_row=2, min_col=4, max_col=6):
        count, hours, mentors = row
        count.number_format = mentors.number_format = COUNT_FORMAT
        hours.number_format = HOURS_FORMAT
    for letter, width in zip("ABCDEFG", COLUMN_WIDTHS, strict=True):
        sheet.column_dimensions[letter].width = width
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()

"""The annual Bufdir export: every chapter's figures for one UTC year, as JSON or CSV.

The figures are the database's (private.bufdir_export(year), from the one counting rule);
this module only shapes and writes them.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg

from peerstats.errors import PeerstatsError
from peerstats.hours import hours_from_minutes

# The plausible years run from 2000, well before anything this app records (an earlier year
# is a typo), to last_plausible_year().
FIRST_YEAR = 2000
FORMATS = ("json", "csv")
PUBLISHED_DECIMALS = 2
CSV_COLUMNS = (
    "year", "chapter_id", "chapter_name", "activity_count", "total_hours", "active_mentor_count",
    "activity_type", "type_activity_count", "type_total_hours",
)


def last_plausible_year() -> int:
    """Next UTC year: just after New Year in Norway the UTC year is still the old one, so a
    local "this year" can be one ahead of UTC's; anything later is a typo."""
    return datetime.now(timezone.utc).year + 1


def published_hours(minutes: int) -> Decimal:
    """A figure's exact minutes as the export publishes them: hours, turned from the minutes
    once, at two decimals, a half rounded up. Two different minute totals lie at least 1/60 h
    apart, so two decimals never merge them."""
    return hours_from_minutes(minutes, PUBLISHED_DECIMALS)


def json_hours(minutes: int) -> float:
    # A JSON number: Python writes a float as the shortest text that reads back as the same
    # float, which for a two-decimal value is exactly its digits (1.52, 25.0, 0.02).
    return float(published_hours(minutes))


def packaged_text(relative_path: str) -> str:
    return resources.files("peerstats").joinpath(relative_path).read_text(encoding="utf-8")


def require_export_function(conn: psycopg.Connection) -> None:
    installed = conn.execute("select to_regprocedure('private.bufdir_export(integer)') is not null").fetchone()[0]
    if not installed:
        raise PeerstatsError("this database has no Bufdir export (private.bufdir_export): run `peerstats db up` first")


# --- the export ---------------------------------------------------------------------------

@dataclass(frozen=True)
class TypeFigures:
    activity_type: str
    activity_count: int
    total_minutes: int  # exact: the export's hours are made from it


@dataclass(frozen=True)
class ChapterFigures:
    chapter_id: str
    chapter_name: str
    activity_count: int
    total_minutes: int  # exact: the export's hours are made from it
    active_mentor_count: int
    by_type: tuple[TypeFigures, ...]


def export_year(conn: psycopg.Connection, year: int) -> list[ChapterFigures]:
    """Every chapter's figures for one UTC calendar year, in the order of chapter names."""
    require_export_function(conn)
    rows = conn.execute(
        "select chapter_id, chapter_name, activity_type, activity_count, total_minutes, active_mentor_count "
        "from private.bufdir_export(%s)",
        (year,),
    ).fetchall()
    return chapter_figures(rows)


def chapter_figures(rows: list[tuple]) -> list[ChapterFigures]:
    """private.bufdir_export's rows (a total row per chapter, then its types; minutes in the
    fifth column) as ChapterFigures."""
    types_of: dict[Any, list[TypeFigures]] = defaultdict(list)
    for chapter_id, _, activity_type, activity_count, total_minutes, _ in rows:
        if activity_type is not None:
            types_of[chapter_id].append(TypeFigures(activity_type, activity_count, total_minutes))
    return [
        ChapterFigures(str(chapter_id), chapter_name, activity_count, total_minutes, active_mentor_count,
                       tuple(types_of[chapter_id]))
        for chapter_id, chapter_name, activity_type, activity_count, total_minutes, active_mentor_count in rows
        if activity_type is None  # the chapter's total row
    ]


def export_json(year: int, chapters: list[ChapterFigures]) -> str:
    document = {
        "year": year,
        "chapters": [
            {
                "chapter_id": chapter.chapter_id,
                "chapter_name": chapter.chapter_name,
                "activity_count": chapter.activity_count,
                "total_hours": json_hours(chapter.total_minutes),
                "active_mentor_count": chapter.active_mentor_count,
                "by_type": [
                    {"activity_type": t.activity_type, "activity_count": t.activity_count,
                     "total_hours": json_hours(t.total_minutes)}
                    for t in chapter.by_type
                ],
            }
            for chapter in chapters
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def export_csv(year: int, chapters: list[ChapterFigures]) -> str:
    """One row per chapter and activity type, the chapter's totals beside; a chapter where
    nothing counted gets one row with an empty type and zeros."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for chapter in chapters:
        chapter_cells = [year, chapter.chapter_id, chapter.chapter_name, chapter.activity_count,
                         published_hours(chapter.total_minutes), chapter.active_mentor_count]
        for t in chapter.by_type or (TypeFigures("", 0, 0),):
            writer.writerow(chapter_cells + [t.activity_type, t.activity_count, published_hours(t.total_minutes)])
    return buffer.getvalue()


def export_text(conn: psycopg.Connection, year: int, output_format: str) -> str:
    chapters = export_year(conn, year)
    return export_csv(year, chapters) if output_format == "csv" else export_json(year, chapters)


def write_output(content: str | bytes, output: Path | None) -> None:
    """Write text to standard output, or text (as UTF-8) or bytes to `output` whole or not at
    all: into a temporary file beside it, then renamed over it, so a failure never leaves a
    half-written export."""
    if output is None:
        sys.stdout.write(content)
        return
    try:
        descriptor, temporary = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".partial")
    except OSError as failure:
        raise PeerstatsError(f"cannot write {output}: {failure.strerror or failure}") from failure
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content.encode("utf-8") if isinstance(content, str) else content)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes 0600; give the usual mode of a new file
        os.replace(temporary, output)
    except OSError as failure:
        Path(temporary).unlink(missing_ok=True)
        raise PeerstatsError(f"cannot write {output}: {failure.strerror or failure}") from failure


def utc_text(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


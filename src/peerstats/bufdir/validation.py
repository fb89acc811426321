"""`bufdir validate`: the export reconciled with the dashboard and the plain views.

The validator sets private.bufdir_export's chapter totals beside the API the dashboard reads
(exact at every moment) and the plain views (sql/bufdir_reconcile.sql), checks the reference
dataset's years against their expected files, and a closed year against its stored
submission. Nothing here counts activities itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from importlib import resources
from typing import Any

import psycopg
from psycopg import sql
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from peerstats.bufdir.closed_years import Submission, reported_years, stored_submission
from peerstats.bufdir.export import (
    ChapterFigures, TypeFigures, export_json, export_year, json_hours, packaged_text, published_hours,
    require_export_function, utc_text,
)
from peerstats.errors import PeerstatsError
from peerstats.output import Column, print_table
from peerstats.refresh import refresh_stats_views

# The dashboard is exact, unless the log of changes it merges with the materialized views missed
# one (its triggers disabled, say): it then shows the materialized figures, older than that change.
STALE = "stale: a change the dashboard's log missed; refresh (`peerstats refresh`)"
RULE_DIVERGENCE = "rule divergence"
# The tables the reference dataset fills; it loads only where all of them are empty.
REFERENCE_TABLES = ("chapters", "peer_mentors", "activity_types", "activities")
EXPECTED_FILE = re.compile(r"^expected_(?P<year>\d{4})\.json$")



@dataclass(frozen=True)
class Figures:
    """One chapter's year as one source has it; hours are kept as exact whole minutes."""
    activity_count: int
    total_minutes: int
    active_mentor_count: int

    @property
    def total_hours(self) -> Decimal:
        return published_hours(self.total_minutes)

    def value(self, figure: str) -> int | Decimal:
        return getattr(self, figure)

    def differs_from(self, other: Figures, figure: str) -> bool:
        # Hours are compared as minutes, exactly; every other figure is an integer.
        key = "total_minutes" if figure == "total_hours" else figure
        return getattr(self, key) != getattr(other, key)


FIGURES = ("activity_count", "total_hours", "active_mentor_count")
SOURCES = ("dashboard", "plain views")


@dataclass(frozen=True)
class ChapterYear:
    year: int
    chapter_id: str
    chapter_name: str
    export: Figures
    dashboard: Figures  # the API the dashboard reads: exact, unless its log of changes missed one
    plain_views: Figures  # the same rule, computed live

    def source(self, name: str) -> Figures:
        return self.dashboard if name == "dashboard" else self.plain_views


@dataclass(frozen=True)
class Staleness:
    views_as_of: datetime | None
    changed_activities: int
    changed_activity_types: int
    latest_activity_change: datetime | None
    latest_activity_type_change: datetime | None

    @property
    def stale(self) -> bool:
        return self.views_as_of is None or self.changed_activities > 0 or self.changed_activity_types > 0

    def describe(self) -> str:
        as_of = "never" if self.views_as_of is None else utc_text(self.views_as_of)
        activities = f"{self.changed_activities} activit{'y' if self.changed_activities == 1 else 'ies'}"
        types = f"{self.changed_activity_types} activity type{'' if self.changed_activity_types == 1 else 's'}"
        return (f"the dashboard's materialized part holds data as of {as_of}; changed since (and shown "
                f"through its log): {activities}, {types}")


@dataclass(frozen=True)
class Difference:
    year: int
    chapter_id: str
    chapter_name: str
    figure: str
    source: str
    exported: int | Decimal
    other: int | Decimal
    cause: str


@dataclass(frozen=True)
class SubmissionDifference:
    """A figure of the stored submission that the live export or the dashboard no longer gives."""
    year: int
    chapter_id: str
    chapter_name: str  # its name now, or as submitted if deleted since
    figure: str  # e.g. activity_count, or visit activity_count for a type
    source: str  # export or dashboard
    submitted: Any
    now: Any

    def describe(self) -> str:
        return (f"{self.year} {self.chapter_name} {self.figure}: submitted {self.submitted}, {self.source} now {self.now}"
                " -> changed since the submission")


@dataclass(frozen=True)
class ChapterChange:
    """A chapter of a submission renamed or deleted since: no figure of the year changes by it."""
    year: int
    chapter_id: str
    submitted_name: str
    current_name: str | None  # None: deleted since

    def describe(self) -> str:
        if self.current_name is None:
            return (f"{self.year} {self.submitted_name} (chapter {self.chapter_id}): deleted since the submission; "
                    "nothing of it counted in the year (information)")
        return (f"{self.year} {self.submitted_name}: renamed since the submission, now {self.current_name} "
                f"(chapter {self.chapter_id}; information)")


@dataclass(frozen=True)
class ReferenceCheck:
    year: int
    expected_file: str
    mismatches: tuple[str, ...]


@dataclass
class Validation:
    rows: list[ChapterYear]
    staleness: Staleness
    differences: list[Difference]
    reference_checks: list[ReferenceCheck] = field(default_factory=list)
    submissions: list[Submission] = field(default_factory=list)
    submission_differences: list[SubmissionDifference] = field(default_factory=list)
    chapter_changes: list[ChapterChange] = field(default_factory=list)

    @property
    def failures(self) -> int:
        return (len(self.differences) + len(self.submission_differences)
                + sum(len(check.mismatches) for check in self.reference_checks))

    def summary(self) -> str:
        parts = []
        if self.differences:
            parts.append(f"{len(self.differences)} difference(s) between the export and the dashboard or plain views")
        if self.submission_differences:
            parts.append(f"{len(self.submission_differences)} difference(s) from the submission stored when the year "
                         "was closed")
        mismatched = [check for check in self.reference_checks if check.mismatches]
        if mismatched:
            parts.append(f"the export differs from {', '.join(c.expected_file for c in mismatched)}")
        return "; ".join(parts) + " (see above)"



def likely_cause(source: str, staleness: Staleness) -> str:
    """The plain views are live; the dashboard can lag only by a change its log missed."""
    if source == "dashboard" and staleness.stale:
        return STALE
    return RULE_DIVERGENCE


def reconcile(conn: psycopg.Connection, year: int | None = None) -> Validation:
    """The export beside the dashboard and the plain views, for `year` or every year with data."""
    require_export_function(conn)
    # One snapshot for the figures and the staleness facts, so they describe the same moment.
    with conn.transaction():
        conn.execute("set transaction isolation level repeatable read")
        rows = [
            ChapterYear(row[0], str(row[1]), row[2], Figures(*row[3:6]), Figures(*row[6:9]), Figures(*row[9:12]))
            for row in conn.execute(packaged_text("sql/bufdir_reconcile.sql"), {"year": year})
        ]
        staleness = Staleness(*conn.execute(packaged_text("sql/bufdir_staleness.sql")).fetchone())
    differences = [
        Difference(row.year, row.chapter_id, row.chapter_name, figure, source,
                   row.export.value(figure), row.source(source).value(figure), likely_cause(source, staleness))
        for row in rows
        for source in SOURCES
        for figure in FIGURES
        if row.export.differs_from(row.source(source), figure)
    ]
    return Validation(rows, staleness, differences)


# --- the reference dataset ----------------------------------------------------------------

def reference_years() -> list[int]:
    folder = resources.files("peerstats").joinpath("reference")
    return sorted(int(match["year"]) for entry in folder.iterdir() if (match := EXPECTED_FILE.match(entry.name)))


def load_reference(conn: psycopg.Connection) -> None:
    """Load the reference dataset into an empty database and refresh the dashboard's views."""
    require_export_function(conn)
    with conn.transaction():
        occupied = [
            table for table in REFERENCE_TABLES
            if conn.execute(sql.SQL("select exists (select from {})").format(sql.Identifier("public", table))).fetchone()[0]
        ]
        if occupied:
            raise PeerstatsError(
                "the reference dataset loads into an empty database only, and "
                f"{', '.join('public.' + t for t in occupied)} already hold rows; use a fresh database"
            )
        conn.execute(packaged_text("reference/dataset.sql"))
    failed = [r.view_name for r in refresh_stats_views(conn) if r.status != "refreshed"]
    if failed:
        raise PeerstatsError(f"the reference dataset is loaded, but refreshing {', '.join(failed)} failed")


def json_differences(exported: Any, expected: Any, path: str = "") -> Iterator[str]:
    """Where two JSON documents differ, as `path: export X, expected Y` lines."""
    if isinstance(expected, dict) and isinstance(exported, dict):
        for key in list(expected) + [k for k in exported if k not in expected]:
            where = f"{path}.{key}" if path else key
            if key not in exported:
                yield f"{where}: missing from the export"
            elif key not in expected:
                yield f"{where}: in the export, not expected"
            else:
                yield from json_differences(exported[key], expected[key], where)
    elif isinstance(expected, list) and isinstance(exported, list):
        if len(exported) != len(expected):
            yield f"{path}: export has {len(exported)} entries, expected {len(expected)}"
        for index, (mine, theirs) in enumerate(zip(exported, expected)):
            yield from json_differences(mine, theirs, f"{path}[{index}]")
    elif exported != expected:
        yield f"{path}: export {exported}, expected {expected}"


def check_reference(conn: psycopg.Connection) -> list[ReferenceCheck]:
    """The export of each reference year against its hand-written expected file, compared
    exactly: both read with every number as a Decimal, so 1.52 must be 1.52."""
    checks = []
    for year in reference_years():
        name = f"expected_{year}.json"
        expected = json.loads(packaged_text(f"reference/{name}"), parse_float=Decimal)
        exported = json.loads(export_json(year, export_year(conn, year)), parse_float=Decimal)
        checks.append(ReferenceCheck(year, name, tuple(json_differences(exported, expected))))
    return checks


def validate(conn: psycopg.Connection, *, year: int | None = None, with_reference: bool = False) -> Validation:
    """Reconcile the export with the dashboard; with_reference first loads the reference
    dataset (into an empty database) and checks the export against its expected files. For a
    closed (or reopened) year, the stored submission is set beside the export and the dashboard."""
    reference_checks = []
    if with_reference:
        load_reference(conn)
        reference_checks = check_reference(conn)
    validation = reconcile(conn, year)
    years = [year] if year is not None else sorted({row.year for row in validation.rows} | set(reported_years(conn)))
    submissions = [s for y in years if (s := stored_submission(conn, y)) is not None]
    exports = {s.year: export_year(conn, s.year) for s in submissions}
    return replace(validation, reference_checks=reference_checks, submissions=submissions,
                   submission_differences=[d for s in submissions
                                           for d in submission_differences(s, exports[s.year], validation)],
                   chapter_changes=[c for s in submissions for c in chapter_changes(s, exports[s.year])])


def submission_differences(submission: Submission, export: list[ChapterFigures],
                           validation: Validation) -> Iterator[SubmissionDifference]:
    """Every figure of the submission that the live export or the dashboard gives otherwise,
    chapter by chapter id: its totals and each type's figures (hours as published, two decimals
    made from the exact minutes, which tell every whole minute apart). A chapter on one side
    only has zeros on the other, so a chapter added since, or deleted since (possible only while
    nothing of it counted that year), differs only where a figure of the year moved; its name
    is information (chapter_changes)."""
    now = {c.chapter_id: c for c in export}
    submitted = {c.chapter_id: c for c in submission.chapters}
    dashboard = {row.chapter_id: row.dashboard for row in validation.rows if row.year == submission.year}

    def difference(chapter: tuple[str, str], figure: str, source: str, then: Any,
                   current: Any) -> Iterator[SubmissionDifference]:
        if then != current:
            yield SubmissionDifference(submission.year, *chapter, figure, source, then, current)

    for chapter_id in list(submitted) + [c for c in now if c not in submitted]:
        before, after = submitted.get(chapter_id), now.get(chapter_id)
        name = (chapter_id, (after or before).chapter_name)
        before, after = before or no_figures(after), after or no_figures(before)
        submitted_totals = totals_of(before)
        for figure in FIGURES:
            yield from difference(name, figure, "export", submitted_totals.value(figure),
                                  totals_of(after).value(figure))
        before_types = {t.activity_type: t for t in before.by_type}
        after_types = {t.activity_type: t for t in after.by_type}
        for activity_type in sorted(before_types.keys() | after_types.keys()):
            then_type = before_types.get(activity_type, TypeFigures(activity_type, 0, 0))
            now_type = after_types.get(activity_type, TypeFigures(activity_type, 0, 0))
            yield from difference(name, f"{activity_type} activity_count", "export",
                                  then_type.activity_count, now_type.activity_count)
            yield from difference(name, f"{activity_type} total_hours", "export",
                                  published_hours(then_type.total_minutes), published_hours(now_type.total_minutes))
        shown = dashboard.get(chapter_id)
        for figure in FIGURES if shown is not None else ():
            yield from difference(name, figure, "dashboard", submitted_totals.value(figure), shown.value(figure))


def totals_of(chapter: ChapterFigures) -> Figures:
    return Figures(chapter.activity_count, chapter.total_minutes, chapter.active_mentor_count)


def no_figures(chapter: ChapterFigures) -> ChapterFigures:
    """A chapter as a side it is absent from has it: nothing counted."""
    return ChapterFigures(chapter.chapter_id, chapter.chapter_name, 0, 0, 0, ())


def chapter_changes(submission: Submission, export: list[ChapterFigures]) -> Iterator[ChapterChange]:
    """The chapters of the submission renamed or deleted since: information, not a difference."""
    now = {c.chapter_id: c.chapter_name for c in export}
    for chapter in submission.chapters:
        current = now.get(chapter.chapter_id)
        if current != chapter.chapter_name:
            yield ChapterChange(submission.year, chapter.chapter_id, chapter.chapter_name, current)


# --- output ---------------------------------------------------------------------------------

def side_by_side(row: ChapterYear, figure: str) -> Text:
    values = [row.export.value(figure), row.dashboard.value(figure), row.plain_views.value(figure)]
    differs = any(row.export.differs_from(row.source(s), figure) for s in SOURCES)
    return Text(" / ".join(str(v) for v in values), style="bold red" if differs else "")


def row_result(row: ChapterYear, differences: list[Difference]) -> Text:
    causes = sorted({"stale" if d.cause == STALE else d.cause
                     for d in differences if (d.year, d.chapter_id) == (row.year, row.chapter_id)})
    return Text(", ".join(causes), style="bold red") if causes else Text("equal", style="green")


def print_validation(console: Console, validation: Validation) -> None:
    for check in validation.reference_checks:
        if check.mismatches:
            console.print(f"[bold red]reference {check.year}: the export differs from {check.expected_file}[/]")
            for mismatch in check.mismatches:
                console.print(f"  {mismatch}", soft_wrap=True, markup=False)
        else:
            console.print(f"reference {check.year}: the export equals {check.expected_file}")
    # mentors: active mentors
    print_table(console, ["year", "chapter", *(Column(h, "right") for h in ("activities", "hours", "mentors")), "result"],
                [(row.year, row.chapter_name, side_by_side(row, "activity_count"), side_by_side(row, "total_hours"),
                  side_by_side(row, "active_mentor_count"), row_result(row, validation.differences))
                 for row in validation.rows],
                title="Bufdir export against the dashboard\n(export / dashboard / plain views)", boxed=False)
    console.print(validation.staleness.describe())
    if not validation.rows:
        console.print("no year has data: nothing to reconcile")
    for d in validation.differences:
        console.print(f"[bold red]{d.year} {escape(d.chapter_name)}[/] {d.figure}: export {d.exported}, {d.source} {d.other}"
                      f" -> {d.cause}")
    for submission in validation.submissions:
        console.print(submission.describe())
    for change in validation.chapter_changes:
        console.print(change.describe(), markup=False)
    for d in validation.submission_differences:
        console.print(d.describe(), markup=False, style="bold red")
    if not validation.differences and validation.rows:
        console.print("no difference: the export equals the dashboard and the plain views for every chapter and year")
    if validation.submissions and not validation.submission_differences:
        console.print("no difference from the stored submission: the export and the dashboard still give the "
                      "figures submitted to Bufdir")


def figures_document(figures: Figures) -> dict[str, Any]:
    return {"activity_count": figures.activity_count, "total_hours": json_hours(figures.total_minutes),
            "total_minutes": figures.total_minutes, "active_mentor_count": figures.active_mentor_count}


def validation_json(validation: Validation) -> str:
    def number(value: int | Decimal) -> int | float:
        return float(value) if isinstance(value, Decimal) else value  # hours, already published

    s = validation.staleness
    document = {
        "ok": validation.failures == 0,
        "freshness": {
            "views_as_of": None if s.views_as_of is None else s.views_as_of.isoformat(),
            "changed_activities": s.changed_activities,
            "changed_activity_types": s.changed_activity_types,
            "stale": s.stale,
        },
        "reference": [{"year": c.year, "expected_file": c.expected_file, "equal": not c.mismatches,
                       "mismatches": list(c.mismatches)} for c in validation.reference_checks],
        "rows": [{"year": r.year, "chapter_id": r.chapter_id, "chapter_name": r.chapter_name,
                  "export": figures_document(r.export), "dashboard": figures_document(r.dashboard),
                  "plain_views": figures_document(r.plain_views)} for r in validation.rows],
        "differences": [{"year": d.year, "chapter_id": d.chapter_id, "chapter_name": d.chapter_name,
                         "figure": d.figure, "source": d.source, "export": number(d.exported),
                         "other": number(d.other), "cause": d.cause} for d in validation.differences],
        "submissions": [{"year": s.year, "status": s.status, "submitted_at": s.submitted_at.isoformat(),
                         "submitted_by": s.submitted_by, "operator": s.operator} for s in validation.submissions],
        "submission_differences": [{"year": d.year, "chapter_id": d.chapter_id, "chapter_name": d.chapter_name,
                                    "figure": d.figure,
                                    "source": d.source, "submitted": str(d.submitted), "now": str(d.now)}
                                   for d in validation.submission_differences],
        "chapter_changes": [{"year": c.year, "chapter_id": c.chapter_id, "submitted_name": c.submitted_name,
                             "current_name": c.current_name,
                             "change": "deleted" if c.current_name is None else "renamed"}
                            for c in validation.chapter_changes],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"

"""The annual Bufdir export, and the validator that reconciles it with the dashboard.

Both read figures the database computes from the one counting rule
(private.counted_activities): the export through private.bufdir_export(year), the validator
by setting that function's chapter totals beside the API the dashboard reads (exact at every
moment) and the plain views (sql/bufdir_reconcile.sql). Nothing here counts activities itself.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from peerstats.errors import PeerstatsError
from peerstats.output import Column, print_table
from peerstats.refresh import refresh_stats_views

# The plausible years run from 2000, well before anything this app records (an earlier year
# is a typo), to last_plausible_year().
FIRST_YEAR = 2000
FORMATS = ("json", "csv")
CSV_COLUMNS = (
    "year", "chapter_id", "chapter_name", "activity_count", "total_hours", "active_mentor_count",
    "activity_type", "type_activity_count", "type_total_hours",
)
# The dashboard is exact, unless the log of changes it merges with the materialized views missed
# one (its triggers disabled, say): it then shows the materialized figures, older than that change.
STALE = "stale: a change the dashboard's log missed; refresh (`peerstats refresh`)"
RULE_DIVERGENCE = "rule divergence"
# The tables the reference dataset fills; it loads only where all of them are empty.
REFERENCE_TABLES = ("chapters", "peer_mentors", "activity_types", "activities")
EXPECTED_FILE = re.compile(r"^expected_(?P<year>\d{4})\.json$")


def last_plausible_year() -> int:
    """Next UTC year: just after New Year in Norway the UTC year is still the old one, so a
    local "this year" can be one ahead of UTC's; anything later is a typo."""
    return datetime.now(timezone.utc).year + 1


def published_hours(hours: Decimal) -> Decimal:
    """Hours as the export publishes them: two decimals. Durations are whole minutes, and two
    different minute totals lie at least 1/60 h apart, so two decimals never merge them:
    minutes = round(hours * 60) always gives the exact minutes back."""
    return hours.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def json_hours(hours: Decimal) -> float:
    # A JSON number: Python writes a float as the shortest text that reads back as the same
    # float, which for a two-decimal value is exactly its digits (1.52, 25.0, 0.02).
    return float(published_hours(hours))


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
    total_hours: Decimal  # unrounded, as the database computes it


@dataclass(frozen=True)
class ChapterFigures:
    chapter_id: str
    chapter_name: str
    activity_count: int
    total_hours: Decimal  # unrounded, as the database computes it
    active_mentor_count: int
    by_type: tuple[TypeFigures, ...]


def export_year(conn: psycopg.Connection, year: int) -> list[ChapterFigures]:
    """Every chapter's figures for one UTC calendar year, in the order of chapter names."""
    require_export_function(conn)
    rows = conn.execute(
        "select chapter_id, chapter_name, activity_type, activity_count, total_hours, active_mentor_count "
        "from private.bufdir_export(%s)",
        (year,),
    ).fetchall()
    return chapter_figures(rows)


def chapter_figures(rows: list[tuple]) -> list[ChapterFigures]:
    """private.bufdir_export's rows (a total row per chapter, then its types) as ChapterFigures."""
    types_of: dict[Any, list[TypeFigures]] = defaultdict(list)
    for chapter_id, _, activity_type, activity_count, total_hours, _ in rows:
        if activity_type is not None:
            types_of[chapter_id].append(TypeFigures(activity_type, activity_count, total_hours))
    return [
        ChapterFigures(str(chapter_id), chapter_name, activity_count, total_hours, active_mentor_count,
                       tuple(types_of[chapter_id]))
        for chapter_id, chapter_name, activity_type, activity_count, total_hours, active_mentor_count in rows
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
                "total_hours": json_hours(chapter.total_hours),
                "active_mentor_count": chapter.active_mentor_count,
                "by_type": [
                    {"activity_type": t.activity_type, "activity_count": t.activity_count,
                     "total_hours": json_hours(t.total_hours)}
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
                         published_hours(chapter.total_hours), chapter.active_mentor_count]
        for t in chapter.by_type or (TypeFigures("", 0, Decimal(0)),):
            writer.writerow(chapter_cells + [t.activity_type, t.activity_count, published_hours(t.total_hours)])
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


# --- the reconciliation with the dashboard ------------------------------------------------

@dataclass(frozen=True)
class Figures:
    """One chapter's year as one source has it; hours are kept as exact whole minutes."""
    activity_count: int
    total_minutes: int
    active_mentor_count: int

    @property
    def total_hours(self) -> Decimal:
        return published_hours(Decimal(self.total_minutes) / 60)

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
class Submission:
    """The figures of a closed year as they were submitted to Bufdir (private.bufdir_submissions)."""
    year: int
    status: str  # closed, or reopened for corrections
    submitted_at: datetime
    submitted_by: str  # the database role
    operator: str | None  # who ran `peerstats bufdir close`, as the client named them
    chapters: list[ChapterFigures]

    def describe(self) -> str:
        by = self.submitted_by + (f" ({self.operator})" if self.operator else "")
        return f"{self.year} is {self.status}; submitted to Bufdir on {utc_text(self.submitted_at)} by {by}"


@dataclass(frozen=True)
class SubmissionDifference:
    """A figure of the stored submission that the live export or the dashboard no longer gives."""
    year: int
    chapter_name: str
    figure: str  # e.g. activity_count, or visit activity_count for a type, or chapter_name
    source: str  # export or dashboard
    submitted: Any
    now: Any

    def describe(self) -> str:
        return (f"{self.year} {self.chapter_name} {self.figure}: submitted {self.submitted}, {self.source} now {self.now}"
                " -> changed since the submission")


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


def utc_text(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


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
    return replace(validation, reference_checks=reference_checks, submissions=submissions,
                   submission_differences=[d for s in submissions
                                           for d in submission_differences(s, export_year(conn, s.year), validation)])


# --- closed reporting years -----------------------------------------------------------------

def require_closed_years(conn: psycopg.Connection) -> None:
    installed = conn.execute("select to_regprocedure('private.close_reporting_year(integer, text)') is not null"
                             ).fetchone()[0]
    if not installed:
        raise PeerstatsError("this database cannot close reporting years (private.close_reporting_year): "
                             "run `peerstats db up` first")


def close_year(conn: psycopg.Connection, year: int, operator: str | None) -> Submission:
    """Close a reported year: the database stores its export as submitted, then refuses every
    write of its activities until it is reopened."""
    require_closed_years(conn)
    with refusal_as_error():
        conn.execute("select private.close_reporting_year(%s, %s)", (year, operator))
    return stored_submission(conn, year)


def reopen_year(conn: psycopg.Connection, year: int, reason: str, operator: str | None) -> None:
    """Reopen a closed year for corrections by service_role; the reason is logged."""
    require_closed_years(conn)
    with refusal_as_error():
        conn.execute("select private.reopen_reporting_year(%s, %s, %s)", (year, reason, operator))


@contextmanager
def refusal_as_error() -> Iterator[None]:
    """The database's refusal (a year already closed, not closed, a blank reason) as one line."""
    try:
        yield
    except psycopg.errors.CheckViolation as refusal:
        raise PeerstatsError(refusal.diag.message_primary or str(refusal)) from refusal


def reported_years(conn: psycopg.Connection) -> list[int]:
    """Every year whose reporting status is not open (closed or reopened), whatever rows it has
    left: a closed year whose figures went to zero must still be compared with its submission."""
    if conn.execute("select to_regclass('private.reporting_years') is null").fetchone()[0]:
        return []
    return [row[0] for row in conn.execute("select year from private.reporting_years where status <> 'open' order by year")]


def stored_submission(conn: psycopg.Connection, year: int) -> Submission | None:
    """The latest submission of a year that is closed or reopened; None for an open year."""
    if conn.execute("select to_regclass('private.bufdir_submissions') is null").fetchone()[0]:
        return None
    row = conn.execute(
        "select r.status, s.submitted_at, s.submitted_by, s.operator, s.figures::text "
        "from private.reporting_years r join private.bufdir_submissions s on s.year = r.year "
        "where r.year = %s and r.status <> 'open' order by s.id desc limit 1",
        (year,),
    ).fetchone()
    if row is None:
        return None
    status, submitted_at, submitted_by, operator, figures = row
    rows = [(f["chapter_id"], f["chapter_name"], f["activity_type"], f["activity_count"],
             Decimal(f["total_hours"]), f["active_mentor_count"])  # a zero reads back as an int
            for f in json.loads(figures, parse_float=Decimal)]
    return Submission(year, status, submitted_at, submitted_by, operator, chapter_figures(rows))


def submission_differences(submission: Submission, export: list[ChapterFigures],
                           validation: Validation) -> Iterator[SubmissionDifference]:
    """Every figure of the submission that the live export or the dashboard gives otherwise:
    per chapter its name, totals and each type's figures (hours as two-decimal published hours,
    which tell every whole minute apart); a chapter added or gone is named too."""
    now = {c.chapter_id: c for c in export}
    submitted = {c.chapter_id: c for c in submission.chapters}
    dashboard = {row.chapter_id: row.dashboard for row in validation.rows if row.year == submission.year}

    def difference(name: str, figure: str, source: str, then: Any, current: Any) -> Iterator[SubmissionDifference]:
        if then != current:
            yield SubmissionDifference(submission.year, name, figure, source, then, current)

    for chapter_id in list(submitted) + [c for c in now if c not in submitted]:
        before, after = submitted.get(chapter_id), now.get(chapter_id)
        name = (before or after).chapter_name
        if before is None or after is None:
            yield SubmissionDifference(submission.year, name, "chapter", "export",
                                       "absent" if before is None else "present",
                                       "absent" if after is None else "present")
            continue
        yield from difference(name, "chapter_name", "export", before.chapter_name, after.chapter_name)
        for figure in ("activity_count", "total_hours", "active_mentor_count"):
            then, current = getattr(before, figure), getattr(after, figure)
            if figure == "total_hours":
                then, current = published_hours(then), published_hours(current)
            yield from difference(name, figure, "export", then, current)
        before_types = {t.activity_type: t for t in before.by_type}
        after_types = {t.activity_type: t for t in after.by_type}
        for activity_type in sorted(before_types.keys() | after_types.keys()):
            then_type = before_types.get(activity_type, TypeFigures(activity_type, 0, Decimal(0)))
            now_type = after_types.get(activity_type, TypeFigures(activity_type, 0, Decimal(0)))
            yield from difference(name, f"{activity_type} activity_count", "export",
                                  then_type.activity_count, now_type.activity_count)
            yield from difference(name, f"{activity_type} total_hours", "export",
                                  published_hours(then_type.total_hours), published_hours(now_type.total_hours))
        shown = dashboard.get(chapter_id)
        if shown is not None:
            yield from difference(name, "activity_count", "dashboard", before.activity_count, shown.activity_count)
            yield from difference(name, "total_hours", "dashboard", published_hours(before.total_hours),
                                  shown.total_hours)
            yield from difference(name, "active_mentor_count", "dashboard", before.active_mentor_count,
                                  shown.active_mentor_count)


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
    for d in validation.submission_differences:
        console.print(d.describe(), markup=False, style="bold red")
    if not validation.differences and validation.rows:
        console.print("no difference: the export equals the dashboard and the plain views for every chapter and year")
    if validation.submissions and not validation.submission_differences:
        console.print("no difference from the stored submission: the export and the dashboard still give the "
                      "figures submitted to Bufdir")


def figures_document(figures: Figures) -> dict[str, Any]:
    return {"activity_count": figures.activity_count, "total_hours": json_hours(figures.total_hours),
            "total_minutes": figures.total_minutes, "active_mentor_count": figures.active_mentor_count}


def validation_json(validation: Validation) -> str:
    def number(value: int | Decimal) -> int | float:
        return json_hours(value) if isinstance(value, Decimal) else value

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
        "submission_differences": [{"year": d.year, "chapter_name": d.chapter_name, "figure": d.figure,
                                    "source": d.source, "submitted": str(d.submitted), "now": str(d.now)}
                                   for d in validation.submission_differences],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"

"""What every group of verify's checks shares: the views, a criterion, the scope of the
measurements, the context a check measures with, and reading plans from EXPLAIN (FORMAT JSON)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from importlib import resources
from typing import Any

import psycopg
from psycopg import sql

TARGET_MS = 200
LOCK_TIMEOUT = "2s"
RATIO_TARGET = 0.95
TIMING_RUNS = 3
INDEX_SCAN_NODES = frozenset({"Index Scan", "Index Only Scan", "Bitmap Index Scan"})
API_ROLES = ("anon", "authenticated")
# Order of the report: the spec's acceptance criteria, then its performance, regression and
# security requirements, then the exact API's (exactness).
SPEC_ORDER = ("AC1", "AC2", "AC3", "AC4", "AC5", "AC6", "AC7", "AC8", "P1", "P2", "R1", "S1", "S2", "S3", "E1", "E2", "E3")


@dataclass(frozen=True)
class StatsView:
    name: str
    plain: str
    api: str
    date_column: str

    @property
    def materialized_id(self) -> sql.Identifier:
        return sql.Identifier("private", self.name)

    @property
    def plain_id(self) -> sql.Identifier:
        return sql.Identifier("public", self.plain)

    @property
    def api_id(self) -> sql.Identifier:
        return sql.Identifier("public", self.api)


VIEWS = (
    StatsView("mv_peer_mentor_stats", "v_peer_mentor_stats", "peer_mentor_stats", "month_start"),
    StatsView("mv_chapter_stats", "v_chapter_stats", "chapter_stats", "month_start"),
    StatsView("mv_activity_time_series", "v_activity_time_series", "activity_time_series", "bucket_date"),
)
TIME_SERIES = VIEWS[2]
TIME_SERIES_COLUMNS = {"bucket_date": "date", "chapter_id": "uuid", "activity_count": "bigint", "total_hours": "numeric",
                       "total_minutes": "bigint"}


@dataclass
class Criterion:
    ref: str
    criterion: str
    measured: str
    target: str
    passed: bool
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Scope:
    """What the measurements ask about: date ranges ending at the newest data, chapters by size, coordinators."""

    anchor: date
    ranges: dict[str, tuple[date, date]]
    chapters: list[Any]
    coordinators: list[tuple[Any, int]]

    @property
    def twelve_months(self) -> tuple[date, date]:
        return self.ranges["12 months"]

    @property
    def largest_chapter(self) -> Any:
        return self.chapters[0]

    @property
    def coordinator(self) -> tuple[Any, int] | None:
        """The coordinator with the most chapters: the heaviest request the API serves."""
        return self.coordinators[0] if self.coordinators else None


def read_sql(name: str) -> str:
    return resources.files("peerstats").joinpath("sql", name).read_text()


@dataclass
class Context:
    """What a check measures with: the database, and what verify learnt of it first (the scope
    of the measurements and the views' indexes)."""

    url: str
    conn: psycopg.Connection
    scope: Scope | None = None
    indexes: dict[str, list[dict[str, Any]]] | None = None


@dataclass(frozen=True)
class Check:
    """One check of a group: `measure` returns its criteria. If it raises a database error, verify
    reports one failed row with this ref, title and target instead of stopping."""

    ref: str
    title: str
    target: str
    measure: Callable[[Context], list[Criterion]]


# --- plans ---------------------------------------------------------------------------------

def explain(conn: psycopg.Connection, query: sql.Composable, params: Any = None) -> dict[str, Any]:
    """EXPLAIN (ANALYZE, FORMAT JSON) of `query`: the plan document (Plan, Execution Time, ...)."""
    return conn.execute(sql.SQL("explain (analyze, format json) ") + query, params).fetchone()[0][0]


def plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from plan_nodes(child)


def index_names_used(plan: dict[str, Any]) -> set[str]:
    return {node["Index Name"] for node in plan_nodes(plan) if node["Node Type"] in INDEX_SCAN_NODES}


def scan_summary(plan: dict[str, Any]) -> str:
    """The plan's scans, e.g. 'Bitmap Index Scan on mv_chapter_stats_key'."""
    scans = []
    for node in plan_nodes(plan):
        if node["Node Type"] in INDEX_SCAN_NODES:
            scans.append(f"{node['Node Type']} on {node['Index Name']}")
        elif node["Node Type"] == "Seq Scan":
            scans.append(f"Seq Scan on {node['Relation Name']}")
    return ", ".join(scans) or "no scan node"


def worst_execution_ms(run: Callable[[], dict[str, Any]]) -> float:
    return max(run()["Execution Time"] for _ in range(TIMING_RUNS))


def date_range_query(table: sql.Identifier, date_column: str, *, by_chapter: bool) -> sql.Composed:
    return sql.SQL("select * from {table} where {chapter}{date} >= %s and {date} < %s").format(
        table=table, date=sql.Identifier(date_column),
        chapter=sql.SQL("chapter_id = %s and " if by_chapter else ""))


def twelve_month_filters(view: StatsView, scope: Scope, chapter: Any = None) -> list[tuple[str, str, Any]]:
    """The dashboard's 12-month filter on `view` (of one chapter, if given), as PostgREST
    query-string filters (postgrest.read)."""
    start, end = scope.twelve_months
    chapter_filter = [] if chapter is None else [("chapter_id", "eq", chapter)]
    return [*chapter_filter, (view.date_column, "gte", start), (view.date_column, "lt", end)]


def fmt_ms(value: Decimal | float | None) -> str:
    return "-" if value is None else f"{float(value):.1f} ms"

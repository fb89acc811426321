"""The daily bound's number stands in one definition: `private.daily_bound_minutes()`. In the
current schema the literal appears only there and in the per-row check of one activity's
duration (a day is also the longest single activity); the seeder and the benches read the bound
from the database instead of writing it again."""

from __future__ import annotations

import re
from pathlib import Path

from peerstats.migrations import supabase_dir

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "peerstats"
DAY_OF_MINUTES = re.compile(r"\b1,?440\b")


def lines_with_the_number(paths) -> list[tuple[str, str]]:
    return [(path.name, line.strip()) for path in paths
            for line in path.read_text().splitlines() if DAY_OF_MINUTES.search(line)]


def test_the_schema_writes_1440_only_in_the_bounds_definition_and_the_per_row_check():
    found = lines_with_the_number(sorted((supabase_dir() / "schemas").glob("*.sql")))
    assert [name for name, _ in found] == ["11_functions_write_guards.sql", "25_activities.sql"], found
    definition, per_row_check = (line for _, line in found)
    assert definition == "AS $$ select 1440 $$;"
    assert per_row_check.startswith("CONSTRAINT duration_minutes_within_a_day CHECK"), per_row_check


def test_the_seeder_and_the_benches_read_the_bound_from_the_database():
    code = [path for path in PACKAGE.rglob("*") if path.suffix in (".py", ".sql")
            and path.parent.name != "reference"]  # the Bufdir reference data set: one activity of a full day
    assert lines_with_the_number(code) == []
    readers = {path.relative_to(PACKAGE).as_posix() for path in code if "daily_bound_minutes" in path.read_text()}
    assert {"seed.py", "bench/exact.py"} <= readers, readers

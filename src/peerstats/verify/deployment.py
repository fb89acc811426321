"""Deployment: the migration that creates the views has an up and a down script (AC7), and the
pg_cron job refreshes them at least hourly (AC8: its schedule read the way pg_cron reads it)."""

from __future__ import annotations

import re

from peerstats import migrations
from peerstats.verify.common import VIEWS, Check, Context, Criterion

CRON_JOB = "refresh-stats-views"


def migration_up_and_down(context: Context) -> list[Criterion]:
    applied = {row[0] for row in context.conn.execute(
        "select version from supabase_migrations.schema_migrations")} \
        if context.conn.execute("select to_regclass('supabase_migrations.schema_migrations') is not null").fetchone()[0] \
        else set()
    creating = [m for m in migrations.discover() if any(
        f"create materialized view private.{v.name}" in m.up_path.read_text().lower() for v in VIEWS)]
    parts, ok = [], bool(creating)
    for migration in creating:
        down = migration.down_path.read_text().lower()
        dropped = [v.name for v in VIEWS if any(
            "drop materialized view" in line and v.name in line and "cascade" in line for line in down.splitlines())]
        is_applied = migration.version in applied
        ok = ok and is_applied and len(dropped) == len(VIEWS)
        parts.append(f"{migration.filename}: {'applied' if is_applied else 'NOT applied'}; down script "
                     f"supabase/rollback/{migration.filename} drops {len(dropped)} of 3 views CASCADE")
    return [Criterion(
        "AC7", "migration with up (CREATE MATERIALIZED VIEW, indexes) and down (DROP ... CASCADE) scripts",
        "; ".join(parts) or "no migration creates a materialized view",
        "applied; its down script drops the 3 views CASCADE", ok)]



def cron_job(context: Context) -> list[Criterion]:
    title, target = f"pg_cron job '{CRON_JOB}' refreshes the views at least hourly", \
        "active, in this database, at least once every hour, calling the refresh"
    if not context.conn.execute("select to_regclass('cron.job') is not null").fetchone()[0]:
        return [Criterion("AC8", title, "pg_cron is not installed in this database", target, False)]
    job = context.conn.execute(
        "select schedule, command, active, database = current_database() from cron.job where jobname = %s",
        (CRON_JOB,)).fetchone()
    if job is None:
        return [Criterion("AC8", title, "no such job in cron.job", target, False)]
    schedule, command, active, this_database = job
    try:
        hourly, reading = runs_every_hour(schedule)
    except ValueError as unreadable:
        hourly, reading = False, str(unreadable)
    refreshes = "refresh_stats_views" in command or all(
        v.name in command for v in VIEWS) and "concurrently" in command.lower()
    measured = (f"'{schedule}' ({reading}); {'active' if active else 'INACTIVE'}; "
                f"{'this database' if this_database else 'ANOTHER database'}; runs: {command}")
    return [Criterion("AC8", title, measured, target, hourly and active and this_database and refreshes,
                      {"schedule": schedule, "command": command, "active": active})]


# pg_cron's schedules: five cron fields (minute hour day-of-month month day-of-week, with
# names, ranges, steps, lists, and '$' for the last day of the month), '@hourly'-style
# macros, or '<1-59> seconds'.
CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))
CRON_NAMES = {
    "month": {name: number for number, name in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1)},
    "day of week": {name: number for number, name in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])},
}
CRON_MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
               "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}


def cron_field_values(text: str, field_name: str, low: int, high: int) -> set[int]:
    def number(token: str) -> int:
        value = CRON_NAMES.get(field_name, {}).get(token, token)
        if field_name == "day of month" and token == "$":
            return high + 1  # the last day of the month: not every day
        if isinstance(value, int):
            return value
        if not value.isdigit() or not low <= int(value) <= high:
            raise ValueError(f"cannot read {field_name} '{text}'")
        return int(value)

    values: set[int] = set()
    for item in text.split(","):
        span, _, step_text = item.partition("/")
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else None
        if step_text and step is None:
            raise ValueError(f"cannot read {field_name} step '{item}'")
        if span == "*":
            first, last = low, high
        elif "-" in span:
            first_text, last_text = span.split("-", 1)
            first, last = number(first_text), number(last_text)
        else:
            first = number(span)
            last = high if step else first
        values.update(range(first, last + 1, step or 1))
    if field_name == "day of week" and 7 in values:
        values = (values - {7}) | {0}
    return values


def runs_every_hour(schedule: str) -> tuple[bool, str]:
    """Whether a pg_cron schedule runs at least once in every hour, and how it reads."""
    text = " ".join(schedule.lower().split())
    seconds = re.fullmatch(r"(\d+) seconds?", text)
    if seconds:
        every = int(seconds.group(1))
        if not 1 <= every <= 59:
            raise ValueError(f"pg_cron takes 1 to 59 seconds, not '{schedule}'")
        return True, f"every {every} s"
    text = CRON_MACROS.get(text, text)
    fields = text.split(" ")
    if len(fields) != 5:
        raise ValueError(f"cannot read the schedule '{schedule}': expected 5 fields")
    minutes, hours, days, months, weekdays = (
        cron_field_values(part, name, low, high) for part, (name, low, high) in zip(fields, CRON_FIELDS))
    every_day_of_month, every_weekday = set(range(1, 32)) <= days, set(range(7)) <= weekdays
    # cron's rule: when either day field is '*', a day must match both; otherwise either.
    if fields[2].startswith("*") or fields[4].startswith("*"):
        every_day = every_day_of_month and every_weekday
    else:
        every_day = every_day_of_month or every_weekday
    hourly = bool(minutes) and set(range(24)) <= hours and set(range(1, 13)) <= months and every_day
    per_hour = len(minutes)
    reading = (f"{per_hour} time{'s' if per_hour != 1 else ''} an hour, every hour, every day" if hourly
               else "not every hour of every day")
    return hourly, reading


CHECKS = [
    Check("AC7", "migration up and down", "both", migration_up_and_down),
    Check("AC8", "pg_cron job", "at least hourly", cron_job),
]

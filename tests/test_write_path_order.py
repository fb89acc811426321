"""docs/write-path.md lists every trigger of the project's tables in firing order; the
migrated database fires exactly those, in that order.

The document is the one statement of the order: this test parses its tables (one per base
table, under a heading naming it) and compares them with pg_trigger, ordered as PostgreSQL
fires triggers: before statement, before row, after row, after statement, and within each
by the byte order of the names. A difference is named trigger by trigger.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

DOCUMENT = Path(__file__).resolve().parents[1] / "docs" / "write-path.md"
TABLE_HEADING = re.compile(r"^## `(?P<table>\w+\.\w+)`$", re.M)
FIRING_STAGES = ("before statement", "before row", "after row", "after statement")
EVENTS = ("insert", "update", "delete", "truncate")


@dataclass(frozen=True)
class Trigger:
    name: str
    fires: str  # one of FIRING_STAGES
    events: tuple[str, ...]  # in the order of EVENTS
    only: str  # "UPDATE OF <columns>" and "WHEN (<condition>)", as pg_get_triggerdef writes them; or ""
    function: str

    def described(self) -> str:
        return f"{self.fires}, on {', '.join(self.events)}{f' {self.only}' if self.only else ''}, {self.function}"


def in_firing_order(triggers: list[Trigger]) -> list[Trigger]:
    return sorted(triggers, key=lambda t: (FIRING_STAGES.index(t.fires), t.name.encode()))


def documented(text: str) -> dict[str, list[Trigger]]:
    """{schema.table: its triggers, in the order the document lists them}."""
    parts = TABLE_HEADING.split(text)
    tables = {}
    for table, section in zip(parts[1::2], parts[2::2]):
        triggers = []
        for line in section.splitlines():
            if line.startswith("| `"):
                name, fires, events, only, function = (cell.strip().strip("`")
                                                       for cell in line.strip("|").split(" | ")[:5])
                on = events.split(", ")
                triggers.append(Trigger(name, fires, tuple(e for e in EVENTS if e in on), only, function))
        tables[table] = triggers
    return tables


def fired(conn) -> dict[str, list[Trigger]]:
    """{schema.table: its triggers in firing order}, for every table of public and private."""
    rows = conn.execute(r"""
        select format('%I.%I', n.nspname, c.relname), t.tgname,
               case when t.tgtype & 2 <> 0 then 'before' else 'after' end || ' '
                 || case when t.tgtype & 1 <> 0 then 'row' else 'statement' end,
               array[t.tgtype & 4 <> 0, t.tgtype & 16 <> 0, t.tgtype & 8 <> 0, t.tgtype & 32 <> 0],
               concat_ws(' ', substring(pg_get_triggerdef(t.oid) from ' (UPDATE OF [^ ]+(?:, [^ ]+)*) ON '),
                         substring(pg_get_triggerdef(t.oid) from ' (WHEN \(.*\)) EXECUTE ')),
               format('%I.%I', pn.nspname, p.proname)
        from pg_trigger t
        join pg_class c on c.oid = t.tgrelid
        join pg_namespace n on n.oid = c.relnamespace
        join pg_proc p on p.oid = t.tgfoid
        join pg_namespace pn on pn.oid = p.pronamespace
        where not t.tgisinternal and n.nspname in ('public', 'private')""").fetchall()
    tables: dict[str, list[Trigger]] = {}
    for table, name, fires, on, only, function in rows:
        tables.setdefault(table, []).append(
            Trigger(name, fires, tuple(e for e, yes in zip(EVENTS, on) if yes), only, function))
    return {table: in_firing_order(triggers) for table, triggers in tables.items()}


def differences(listed_by_table: dict[str, list[Trigger]], fired_by_table: dict[str, list[Trigger]]) -> list[str]:
    """Each difference between the document and the database, naming table and trigger."""
    found = []
    for table in sorted(listed_by_table.keys() | fired_by_table.keys()):
        listed, fires = listed_by_table.get(table, []), fired_by_table.get(table, [])
        listed_names, fired_names = [t.name for t in listed], [t.name for t in fires]
        found += [f"{table}: {name} is listed twice in docs/write-path.md"
                  for name in sorted({n for n in listed_names if listed_names.count(n) > 1})]
        for position, trigger in enumerate(fires):
            if trigger.name not in listed_names:
                after = f"after {fired_names[position - 1]}" if position else "first"
                found.append(f"{table}: {trigger.name} ({trigger.described()}) is missing from docs/write-path.md;"
                             f" it fires {after}")
        found += [f"{table}: {name} is listed in docs/write-path.md but the database has no such trigger"
                  for name in listed_names if name not in fired_names]
        by_name = {t.name: t for t in fires}
        found += [f"{table}: {t.name} is listed as ({t.described()}), the database has ({by_name[t.name].described()})"
                  for t in listed if t.name in by_name and t != by_name[t.name]]
        listed_order = [name for name in dict.fromkeys(listed_names) if name in by_name]
        fired_order = [name for name in fired_names if name in listed_order]
        for position, (where_listed, where_fired) in enumerate(zip(listed_order, fired_order), start=1):
            if where_listed != where_fired:
                found.append(f"{table}: out of order: docs/write-path.md lists {where_listed} at position {position},"
                             f" where PostgreSQL fires {where_fired}; the firing order is {', '.join(fired_order)}")
                break
    return found


def test_the_document_lists_every_trigger_in_firing_order(migrated, conn):
    listed = documented(DOCUMENT.read_text())
    assert {"public.activities", "public.activity_types", "public.coordinator_chapters",
            "public.peer_mentor_chapters"} <= listed.keys()
    assert sum(map(len, listed.values())) >= 20
    problems = differences(listed, fired(conn))
    assert not problems, "\n".join(problems)


def test_a_renamed_added_changed_or_moved_trigger_is_named(migrated, conn):
    text = DOCUMENT.read_text()
    with conn.transaction(force_rollback=True):
        conn.execute("alter trigger activities_touch_updated_at on public.activities rename to activities_stamp")
        conn.execute("create trigger activities_broadcast after insert on public.activities"
                     " for each statement execute function private.touch_updated_at()")
        conn.execute("drop trigger activities_validate_duplicate_insert on public.activities")
        conn.execute("create trigger activities_validate_duplicate_insert before insert on public.activities"
                     " for each row execute function private.validate_duplicate_of()")
        conn.execute("drop trigger activity_types_touch_updated_at on public.activity_types")
        conn.execute("create trigger activity_types_touch_updated_at after update on public.activity_types"
                     " for each row execute function private.touch_updated_at()")
        found = differences(documented(text), fired(conn))
    assert found == [
        "public.activities: activities_stamp (before row, on update, private.touch_updated_at) is missing from"
        " docs/write-path.md; it fires after activities_guard_write",
        "public.activities: activities_broadcast (after statement, on insert, private.touch_updated_at) is missing"
        " from docs/write-path.md; it fires after activities_validate_duplicate_update",
        "public.activities: activities_touch_updated_at is listed in docs/write-path.md but the database has no such"
        " trigger",
        "public.activities: activities_validate_duplicate_insert is listed as (before row, on insert WHEN ((new."
        "duplicate_of IS NOT NULL)), private.validate_duplicate_of), the database has (before row, on insert,"
        " private.validate_duplicate_of)",
        "public.activity_types: activity_types_touch_updated_at is listed as (before row, on update,"
        " private.touch_updated_at), the database has (after row, on update, private.touch_updated_at)",
        "public.activity_types: out of order: docs/write-path.md lists activity_types_touch_updated_at at position 2,"
        " where PostgreSQL fires activity_types_closed_years; the firing order is activity_types_lock_activities,"
        " activity_types_closed_years, activity_types_touch_updated_at, activity_types_log_retyped_keys",
    ]
    # Two rows of the document swapped: the first position they disagree at is named.
    rows = text.splitlines()
    first, second = (rows.index(row) for row in rows if row.startswith(("| `activities_log_deleted_keys`",
                                                                        "| `activities_log_inserted_keys`")))
    rows[first], rows[second] = rows[second], rows[first]
    assert differences(documented("\n".join(rows)), fired(conn)) == [
        "public.activities: out of order: docs/write-path.md lists activities_log_inserted_keys at position 12,"
        " where PostgreSQL fires activities_log_deleted_keys; the firing order is " +
        ", ".join(t.name for t in fired(conn)["public.activities"])]

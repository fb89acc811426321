"""supabase/schemas/*.sql, the current schema (one file per table, functions by concern), builds
the very database the migrations build: the same objects, definitions, function bodies, grants,
comments, owners, storage options, policies, triggers and pg_cron jobs. Neither can drift from
the other.

Both are built in the session cluster's database `postgres` (the only one with pg_cron), one
after the other: the migrations, a snapshot; everything they made dropped
(tests/sql/drop_project_objects.sql), the Supabase pieces and the schema files applied, a
snapshot; the two compared. The snapshot is `pg_dump
--schema-only` of the schemas public and private, split into its entries, beside catalogue
queries for what pg_dump leaves out or states only in passing.
"""

from __future__ import annotations

import re
import subprocess

import psycopg
import pytest

from conftest import SQL_DIR, migrate_afresh
from peerstats import database
from peerstats.cluster import postgres_bindir
from peerstats.migrations import Runner, supabase_dir

SCHEMA_FILES = sorted((supabase_dir() / "schemas").glob("*.sql"))
# A pg_dump entry starts with a header naming the object; the rest of the header (the owner)
# is compared too, as part of the entry.
ENTRY_HEADER = re.compile(r"^-- (?:Name: .*)$", re.M)
CATALOGUE = {
    "cron jobs": "select jobname, schedule, command, database, username, active from cron.job",
    "owners": """
        select n.nspname, c.relname, c.relkind::text, pg_get_userbyid(c.relowner), c.relacl::text,
               c.reloptions::text, obj_description(c.oid, 'pg_class')
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname in ('public', 'private')""",
    "functions": """
        select p.oid::regprocedure::text, pg_get_userbyid(p.proowner), p.proacl::text, p.prosecdef,
               p.proconfig::text, p.provolatile::text, p.proparallel::text, p.prosrc,
               obj_description(p.oid, 'pg_proc')
        from pg_proc p where p.pronamespace in ('public'::regnamespace, 'private'::regnamespace)""",
    # realtime.messages is Realtime's, the policies on it the project's.
    "policies": "select schemaname, tablename, policyname, permissive, roles::text, cmd, qual, with_check"
                " from pg_policies where schemaname in ('public', 'private', 'realtime')",
    "triggers": """
        select t.tgrelid::regclass::text, t.tgname, t.tgenabled::text, pg_get_triggerdef(t.oid)
        from pg_trigger t where not t.tgisinternal""",
}


def pg_dump_entries(url: str, schemas: tuple[str, ...] = ("public", "private")) -> dict[str, str]:
    """pg_dump --schema-only of `schemas` (every schema when empty), as {entry header:
    statements}, without what varies between two dumps of one schema (the restrict key, the
    version lines)."""
    dump = subprocess.run([str(postgres_bindir() / "pg_dump"), "--schema-only",
                           *(f"--schema={schema}" for schema in schemas), url],
                          capture_output=True, text=True, check=True).stdout
    dump = "\n".join(line for line in dump.splitlines() if not line.startswith(("\\restrict", "\\unrestrict")))
    headers = ENTRY_HEADER.findall(dump)
    bodies = ENTRY_HEADER.split(dump)[1:]
    entries: dict[str, str] = {}
    for header, body in zip(headers, bodies):
        statements = "\n".join(line for line in body.splitlines() if line.strip() and line.strip() != "--")
        # Two entries may share a header (pg_dump names some objects by name alone).
        entries[header] = f"{entries[header]}\n{statements}" if header in entries else statements
    return entries


def snapshot(url: str) -> dict[str, object]:
    with database.connect(url) as conn:
        catalogue = {name: sorted(tuple(map(str, row)) for row in conn.execute(query))
                     for name, query in CATALOGUE.items()}
    return {"pg_dump": pg_dump_entries(url), **catalogue}


def differences(left: dict[str, object], right: dict[str, object]) -> list[str]:
    """Every pg_dump entry or catalogue row in one snapshot and not the other, named."""
    found = []
    dump_left, dump_right = left["pg_dump"], right["pg_dump"]
    for header in sorted(dump_left.keys() | dump_right.keys()):
        if dump_left.get(header) != dump_right.get(header):
            found.append(f"pg_dump {header}:\n  migrations: {dump_left.get(header)}\n  schema files: "
                         f"{dump_right.get(header)}")
    for name in CATALOGUE:
        only_left = set(left[name]) - set(right[name])
        only_right = set(right[name]) - set(left[name])
        found += [f"{name}, migrations only: {row}" for row in sorted(only_left)]
        found += [f"{name}, schema files only: {row}" for row in sorted(only_right)]
    return found


def drop_project_objects(url: str) -> None:
    """Back to what Supabase provides, whatever state a build left (one that failed included)."""
    with database.connect(url) as conn:
        conn.execute((SQL_DIR / "drop_project_objects.sql").read_text())


def build_from_schema_files(url: str) -> None:
    """From what Supabase provides, the schema files applied in order, each in one transaction
    as the Supabase CLI applies a file."""
    drop_project_objects(url)
    with database.connect(url) as conn, Runner(conn) as runner:
        runner.ensure_supabase_pieces()
        for path in SCHEMA_FILES:
            try:
                with conn.transaction():
                    conn.execute(path.read_text())
            except psycopg.Error as failure:
                raise AssertionError(f"{path.name}: {failure}") from failure


@pytest.fixture
def both_builds(db_url):
    """The snapshots of the two builds; the schema files' build is left in place for a test to
    alter, and replaced by the migrations' afterwards."""
    migrate_afresh(db_url)
    from_migrations = snapshot(db_url)
    try:
        build_from_schema_files(db_url)
        yield from_migrations, snapshot(db_url)
    finally:
        drop_project_objects(db_url)
        migrate_afresh(db_url)


def test_the_schema_files_build_the_database_the_migrations_build(both_builds):
    from_migrations, from_schema_files = both_builds
    # The comparison sees what matters: bodies, grants, comments and storage options.
    dump = "\n".join(from_migrations["pg_dump"].values())
    assert "CREATE FUNCTION public.refresh_stats_views" in dump and "GRANT SELECT ON TABLE" in dump
    assert "COMMENT ON MATERIALIZED VIEW private.mv_chapter_stats" in dump
    assert "autovacuum_vacuum_threshold" in dump
    assert {"refresh-stats-views", "refresh-stats-views-if-dirty"} <= {job[0] for job in from_migrations["cron jobs"]}
    assert len(from_migrations["triggers"]) >= 18
    assert differences(from_migrations, from_schema_files) == []


DRIFTS = [
    # (a change made to the schema files' build, a name every difference it causes carries)
    ("create or replace function private.dirty_keys_threshold() returns integer language sql immutable"
     " set search_path = '' as $$ select 1 $$", "dirty_keys_threshold"),
    ("grant select on public.v_chapter_stats to anon", "v_chapter_stats"),
    ("comment on table public.stats_freshness is 'changed'", "stats_freshness"),
    ("alter table private.stats_dirty_keys set (autovacuum_vacuum_threshold = 7)", "stats_dirty_keys"),
    ("alter policy activity_types_readable on public.activity_types using (false)", "activity_types_readable"),
    ("alter table public.activities disable trigger activities_guard_write", "activities_guard_write"),
    ('alter policy "anon receives no stats topic" on realtime.messages using (true)', "anon receives no stats topic"),
    ("select cron.alter_job((select jobid from cron.job where jobname = 'refresh-stats-views'),"
     " schedule => '5 * * * *')", "refresh-stats-views"),
]


def test_a_drift_of_one_object_is_a_difference_naming_it(db_url, both_builds):
    from_migrations, _ = both_builds
    seen: list[str] = []
    for drift, named in DRIFTS:
        with database.connect(db_url) as conn:
            conn.execute(drift)
        found = [difference for difference in differences(from_migrations, snapshot(db_url)) if difference not in seen]
        assert found and all(named in difference for difference in found), (drift, found)
        seen += found


def top_level_statements(text: str) -> list[str]:
    """A SQL file's statements, split at the semicolons outside quotes, quoted names, dollar
    quotes and comments, each without its leading comment lines."""
    statements, start, index = [], 0, 0
    while index < len(text):
        if text.startswith("--", index):
            index = text.find("\n", index) + 1 or len(text)
        elif text[index] == "'":
            index = text.find("'", index + 1) + 1
            while text.startswith("'", index):  # a doubled quote inside the string
                index = text.find("'", index + 1) + 1
        elif text[index] == '"':  # a quoted name, which may hold a quote or a semicolon
            index = text.find('"', index + 1) + 1
        elif (tag := re.match(r"\$\w*\$", text[index:])) is not None:
            index = text.index(tag.group(), index + len(tag.group())) + len(tag.group())
        elif text[index] == ";":
            statements.append(text[start:index])
            start = index = index + 1
        else:
            index += 1
    cleaned = (re.sub(r"^(\s*--[^\n]*\n|\s+)*", "", statement) for statement in statements)
    return [statement for statement in cleaned if statement]


def test_the_schema_files_hold_definitions_only():
    """The current definition of each object, not its history: no data fixes, one-off
    refreshes, drops or replacements; a select only to schedule a pg_cron job; a set only to
    apply a file of functions whose bodies name tables of later files."""
    names = [path.name for path in SCHEMA_FILES]
    assert names == sorted(names) and all(re.match(r"^\d{2}_[a-z_]+\.sql$", name) for name in names)
    statements = [(path.name, statement) for path in SCHEMA_FILES for statement in top_level_statements(path.read_text())]
    assert len(statements) > 200
    for name, statement in statements:
        words = statement.lower().split()
        assert words[0] in ("create", "alter", "comment", "grant", "revoke", "select", "set"), (name, statement[:80])
        assert words[:3] != ["create", "or", "replace"], (name, statement[:80])
        assert words[0] != "select" or statement.lower().startswith("select cron.schedule("), (name, statement[:80])
        assert words[0] != "set" or words == ["set", "check_function_bodies", "=", "off"], (name, statement[:80])


# The relation a statement belongs to, for the statements that define a part of one.
RELATION_OF_STATEMENT = [
    re.compile(r"^create (?:table|view|materialized view) ([\w.]+)"),
    re.compile(r"^alter (?:table|view|materialized view) (?:only )?([\w.]+)"),
    re.compile(r"^create (?:unique )?index \w+ on (?:only )?([\w.]+)"),
    re.compile(r"^create statistics [\w.]+ .* from ([\w.]+)$"),
    re.compile(r'^create (?:policy|(?:constraint )?trigger) (?:\w+|"[^"]*") (?:.*? )?on ([\w.]+)'),
    re.compile(r"^comment on (?:table|view|materialized view) ([\w.]+) is"),
    re.compile(r"^comment on column ([\w]+\.[\w]+)\.\w+ is"),
    re.compile(r"^comment on (?:policy|trigger|constraint) \w+ on ([\w.]+) is"),
    re.compile(r"^(?:grant|revoke) [\w, ]+ on table ([\w.]+) (?:to|from)"),
]


def test_each_table_is_defined_in_one_file():
    """A reader finds a table's (or a view's) columns, constraints, indexes, statistics, comments,
    grants, policies and triggers in the one file that creates it."""
    files_of: dict[str, set[str]] = {}
    index_files: dict[str, str] = {}
    for path in SCHEMA_FILES:
        for statement in top_level_statements(path.read_text()):
            flat = " ".join(statement.lower().split())
            if (index := re.match(r"^create (?:unique )?index (\w+) on (?:only )?([\w.]+)", flat)) is not None:
                index_files[f"{index.group(2).split('.')[0]}.{index.group(1)}"] = index.group(2)
            if (commented := re.match(r"^comment on index ([\w.]+) is", flat)) is not None:
                files_of.setdefault(index_files[commented.group(1)], set()).add(path.name)
            for pattern in RELATION_OF_STATEMENT:
                if (found := pattern.match(flat)) is not None:
                    files_of.setdefault(found.group(1), set()).add(path.name)
                    break
    assert {"public.activities", "private.stats_dirty_keys", "private.mv_chapter_stats"} <= files_of.keys()
    assert {relation: files for relation, files in files_of.items() if len(files) > 1} == {}


def test_a_tables_triggers_are_written_in_firing_order():
    """Read top to bottom, a table's file lists its triggers as PostgreSQL fires them (before
    statement, before row, after row, after statement; by name within each), as
    docs/write-path.md does."""
    stages = ("before statement", "before row", "after row", "after statement")
    seen = 0
    for path in SCHEMA_FILES:
        triggers = []
        for statement in top_level_statements(path.read_text()):
            flat = " ".join(statement.lower().split())
            if (trigger := re.match(r"^create (?:constraint )?trigger (\w+) (before|after) ", flat)) is not None:
                level = "row" if " for each row " in flat else "statement"
                triggers.append((stages.index(f"{trigger.group(2)} {level}"), trigger.group(1).encode()))
        assert triggers == sorted(triggers), path.name
        seen += len(triggers)
    assert seen >= 20

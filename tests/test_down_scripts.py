"""Every down script restores the schema before its migration, and every migration applied
again after its down script gives the schema of its first application.

One walk over the migrations in order, in the session cluster's database `postgres` (the only
one with pg_cron), from the state `db down --all` leaves: for each migration, the schema
before it, after it, after its down script and after it again. The schema is `pg_dump
--schema-only` of the whole database, one entry per object, and pg_cron's jobs (name,
schedule, command). A difference a down script leaves on purpose, so that no data is lost, is
listed in KEPT_BY_DOWN_SCRIPTS with its reason; an entry there that no longer happens fails
too, so the list stays the truth.
"""

from __future__ import annotations

import difflib

from conftest import migrate_afresh
from peerstats import database
from peerstats.migrations import Runner
from test_declarative_schema import pg_dump_entries

PG_CRON_KEPT = "pg_cron is shared with every other job of the project's database; only our jobs go"
# Applied again, the migration brings what it kept up to date: tests/test_indirect_write_routes.py
# ::test_moderation_after_down_and_up_is_what_a_first_application_gives_unless_kept.
MODERATION_KEPT = ("the moderation states a first application could not rebuild from the rows; the up script "
                   "takes back those whose activity is as it was kept, and drops the table")
# {version: {pg_dump entry header (or "cron job <name>"): why its down script leaves it}}
KEPT_BY_DOWN_SCRIPTS: dict[str, dict[str, str]] = {
    "20261125000300": {
        "-- Name: pg_cron; Type: EXTENSION; Schema: -; Owner: -": PG_CRON_KEPT,
        "-- Name: EXTENSION pg_cron; Type: COMMENT; Schema: -; Owner: ": PG_CRON_KEPT,
    },
    "20261202000100": {
        "-- Name: moderations_kept_by_down; Type: TABLE; Schema: private; Owner: postgres": MODERATION_KEPT,
        "-- Name: moderations_kept_by_down moderations_kept_by_down_pkey; Type: CONSTRAINT; Schema: private; "
        "Owner: postgres": MODERATION_KEPT,
        "-- Name: TABLE moderations_kept_by_down; Type: COMMENT; Schema: private; Owner: postgres": MODERATION_KEPT,
    },
}


def schema(url: str) -> dict[str, str]:
    """The whole database's pg_dump --schema-only, by entry, and one entry per pg_cron job."""
    with database.connect(url) as conn:
        jobs = conn.execute("select jobname, schedule, command from cron.job").fetchall() \
            if conn.execute("select to_regclass('cron.job') is not null").fetchone()[0] else []
    return {**pg_dump_entries(url, schemas=()),
            **{f"cron job {name}": f"{schedule}\n{command}" for name, schedule, command in jobs}}


def differences(expected: dict[str, str], found: dict[str, str]) -> dict[str, str]:
    """{entry: a diff of its text} for every entry that is not the same in both."""
    return {
        entry: "\n".join(difflib.unified_diff(expected.get(entry, "").splitlines(), found.get(entry, "").splitlines(),
                                              "expected", "found", lineterm="", n=1))
        for entry in sorted(expected.keys() | found.keys()) if expected.get(entry) != found.get(entry)
    }


def report(problems: dict[str, dict[str, str]]) -> str:
    return "\n".join(f"{title}:\n" + "\n".join(f"  {entry}\n" + "\n".join(f"    {line}" for line in diff.splitlines())
                                               for entry, diff in by_entry.items())
                     for title, by_entry in problems.items())


def test_every_down_script_restores_the_schema_before_its_migration(db_url):
    problems: dict[str, dict[str, str]] = {}
    try:
        with database.connect(db_url) as conn, Runner(conn) as runner:
            list(runner.down(None))
            runner.ensure_supabase_pieces()  # what Supabase provides, and `db up` makes where missing
            # As on a Supabase project that has not enabled pg_cron: the walk sees what the
            # migrations do to it.
            conn.execute("drop extension if exists pg_cron")
        # pg_cron's functions keep the oid of its job table for the life of a session: the walk
        # runs on one that has not called them before the extension is created again.
        with database.connect(db_url) as conn, Runner(conn) as runner:
            before = schema(db_url)
            for migration in runner.migrations:
                assert next(runner.up()) == migration
                applied = schema(db_url)
                assert applied != before, f"{migration.filename} changed nothing the walk sees"
                assert list(runner.down(1)) == [migration]
                rolled_back = differences(before, schema(db_url))
                kept = KEPT_BY_DOWN_SCRIPTS.get(migration.version, {})
                problems[f"{migration.filename}: its down script leaves"] = {
                    entry: diff for entry, diff in rolled_back.items() if entry not in kept}
                problems[f"{migration.filename}: listed as kept by its down script, but not left (reason given)"] = {
                    entry: reason for entry, reason in kept.items() if entry not in rolled_back}
                assert next(runner.up()) == migration
                before = schema(db_url)
                problems[f"{migration.filename}: applied again, differs from its first application"] = \
                    differences(applied, before)
    finally:
        migrate_afresh(db_url)
    problems = {title: by_entry for title, by_entry in problems.items() if by_entry}
    assert not problems, report(problems)

"""The lints of Supabase's database linter named by the contract (0010, 0013, 0016, 0028, 0029)
and those a hosted deploy reported (0001 unindexed foreign keys, 0006 multiple permissive
policies, 0014 extension in public, and at INFO level 0008 row security without a policy), run
as queries (tests/sql/supabase_security_lints.sql)."""

from __future__ import annotations

import pytest

from conftest import SQL_DIR

LINTS = (SQL_DIR / "supabase_security_lints.sql").read_text()


def lint(conn, exposed_schemas: str) -> list[tuple[str, str]]:
    with conn.transaction():
        conn.execute("select set_config('pgrst.db_schemas', %s, true)", (exposed_schemas,))
        return conn.execute(LINTS).fetchall()


def test_the_exposed_schema_passes_every_security_lint(migrated, conn):
    assert lint(conn, "public") == []


def test_the_lints_find_what_they_look_for(migrated, conn):
    """Each lint query reports an object made to break it, and not its near miss that passes,
    so an empty answer means something."""
    with conn.transaction(force_rollback=True):
        findings_before = lint(conn, "public")
        # Supabase's default privileges grant each of these to anon and authenticated.
        conn.execute("create view public.lint_probe_view as select 1 as x")
        conn.execute("create table public.lint_probe_table (x integer)")
        conn.execute("create materialized view public.lint_probe_matview as select 1 as x")
        conn.execute("create function public.lint_probe_function(n integer) returns integer "
                     "language sql security definer as 'select n'")
        # A foreign key without an index led by its column, and one with it.
        conn.execute("create table private.lint_probe_parent (id integer primary key)")
        conn.execute("create table private.lint_probe_child (parent_id integer references private.lint_probe_parent)")
        conn.execute("create table private.lint_probe_indexed_child "
                     "(parent_id integer references private.lint_probe_parent, note text)")
        conn.execute("create index on private.lint_probe_indexed_child (parent_id, note)")
        # Two permissive SELECT policies for authenticated (one of them for all actions); a
        # restrictive one and service_role's (which bypasses row security) do not count.
        conn.execute("create table private.lint_probe_policies (x integer)")
        conn.execute("create policy readable on private.lint_probe_policies for select to authenticated using (true)")
        conn.execute("create policy everything on private.lint_probe_policies to authenticated, service_role "
                     "using (true)")
        conn.execute("create policy narrowed on private.lint_probe_policies as restrictive for update "
                     "to authenticated using (x > 0)")
        conn.execute("create table private.lint_probe_no_policy (x integer)")
        conn.execute("alter table private.lint_probe_no_policy enable row level security")
        conn.execute("create extension pgcrypto with schema public")
        findings = lint(conn, "public")
        assert [finding for finding in findings if finding not in findings_before] == [
            ("0001_unindexed_foreign_keys", "private.lint_probe_child lint_probe_child_parent_id_fkey"),
            ("0006_multiple_permissive_policies", "private.lint_probe_policies authenticated SELECT"),
            ("0008_rls_enabled_no_policy", "private.lint_probe_no_policy"),
            ("0010_security_definer_view", "public.lint_probe_view"),
            ("0013_rls_disabled_in_public", "public.lint_probe_table"),
            ("0014_extension_in_public", "pgcrypto"),
            ("0016_materialized_view_in_api", "public.lint_probe_matview"),
            ("0028_anon_security_definer_function_executable", "public.lint_probe_function(n integer)"),
            ("0029_authenticated_security_definer_function_executable", "public.lint_probe_function(n integer)"),
        ]


@pytest.mark.parametrize("exposed_schemas", ["public, private", "public,private,auth"])
def test_even_if_private_were_exposed_only_the_api_functions_would_be_reported(migrated, conn, exposed_schemas):
    """The materialized views are unreachable wherever they live; the only definer-rights code a
    signed-in user may run is the functions behind the API, which check the caller themselves,
    and the row security helpers that select by auth.uid() alone (the caller's own mentor row
    and chapters, the members of the chapters they coordinate)."""
    assert lint(conn, exposed_schemas) == [
        ("0029_authenticated_security_definer_function_executable", f"private.{signature}")
        for signature in ("activity_time_series_of(chapter uuid, key_days date[])",
                          "chapter_stats_of(chapter uuid, key_mentors uuid[], key_days date[])",
                          "coordinated_member_ids()",
                          "own_chapter_ids()",
                          "own_peer_mentor_ids()",
                          "peer_mentor_stats_chapters()",
                          "peer_mentor_stats_of(chapter uuid, key_mentors uuid[], key_days date[])",
                          "stats_chapters()")
    ]

"""The three materialized views: what they are, their indexes, comments and grants, and that
after any change and a refresh each equals its plain view row for row."""

from __future__ import annotations

import pytest
from psycopg import errors

from conftest import except_all_both_ways
from peerstats.postgrest import request

MATERIALIZED_VIEWS = ("mv_activity_time_series", "mv_chapter_stats", "mv_peer_mentor_stats")
PLAIN_VIEW_OF = {mv: "v_" + mv.removeprefix("mv_") for mv in MATERIALIZED_VIEWS}
API_VIEW_OF = {mv: mv.removeprefix("mv_") for mv in MATERIALIZED_VIEWS}
COLUMNS = {
    "mv_activity_time_series": [("bucket_date", "date"), ("chapter_id", "uuid"), ("activity_count", "bigint"),
                                ("total_hours", "numeric"), ("total_minutes", "bigint")],
    "mv_chapter_stats": [("chapter_id", "uuid"), ("month_start", "date"), ("activity_count", "bigint"),
                         ("total_hours", "numeric"), ("total_minutes", "bigint"), ("active_mentor_count", "bigint")],
    "mv_peer_mentor_stats": [("peer_mentor_id", "uuid"), ("chapter_id", "uuid"), ("month_start", "date"),
                             ("activity_count", "bigint"), ("total_hours", "numeric"), ("total_minutes", "bigint")],
}
UNIQUE_KEY = {
    "mv_activity_time_series": ["chapter_id", "bucket_date"],
    "mv_chapter_stats": ["chapter_id", "month_start"],
    "mv_peer_mentor_stats": ["peer_mentor_id", "chapter_id", "month_start"],
}
LEADING_COLUMN = {"mv_activity_time_series": "bucket_date", "mv_chapter_stats": "chapter_id",
                  "mv_peer_mentor_stats": "chapter_id"}
ALL_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")


def indexes(conn, view: str) -> list[tuple]:
    """(name, access method, unique, valid, has predicate, has expressions, column names) of each index."""
    return conn.execute("""
        select c.relname, am.amname, i.indisunique, i.indisvalid, i.indpred is not null, i.indexprs is not null,
               array(select a.attname from unnest(i.indkey) with ordinality k(attnum, n)
                     join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum order by k.n)
        from pg_index i join pg_class c on c.oid = i.indexrelid join pg_am am on am.oid = c.relam
        where i.indrelid = %s::regclass""", (f"private.{view}",)).fetchall()


def test_the_views_are_materialized_populated_and_in_private(migrated, conn):
    # The contract's three, and no other (the exact API's mentor-day grain is a table).
    assert conn.execute("select schemaname, matviewname, ispopulated from pg_matviews order by 2").fetchall() == \
        [("private", view, True) for view in sorted(MATERIALIZED_VIEWS)]


def columns(conn, relation: str) -> list[tuple[str, str]]:
    return conn.execute("select attname, format_type(atttypid, atttypmod) from pg_attribute "
                        "where attrelid = %s::regclass and attnum > 0 and not attisdropped order by attnum",
                        (relation,)).fetchall()


@pytest.mark.parametrize("view", MATERIALIZED_VIEWS)
def test_columns_follow_the_contract(migrated, conn, view):
    # The plain view and the API have the materialized view's columns, in its order.
    for relation in (f"private.{view}", f"public.{PLAIN_VIEW_OF[view]}", f"public.{API_VIEW_OF[view]}"):
        assert columns(conn, relation) == [tuple(c) for c in COLUMNS[view]], relation


@pytest.mark.parametrize("view", MATERIALIZED_VIEWS)
def test_a_unique_index_on_the_plain_key_columns(migrated, conn, view):
    # What REFRESH ... CONCURRENTLY needs: unique, valid, on plain columns, without a predicate.
    assert [name for name, am, unique, valid, predicate, expressions, columns in indexes(conn, view)
            if unique and valid and not predicate and not expressions and columns == UNIQUE_KEY[view]]


@pytest.mark.parametrize("view", MATERIALIZED_VIEWS)
def test_a_btree_index_led_by_the_filter_column(migrated, conn, view):
    led = [(name, columns) for name, am, unique, valid, predicate, expressions, columns in indexes(conn, view)
           if am == "btree" and valid and not predicate and columns[0] == LEADING_COLUMN[view]]
    assert led
    if view != "mv_activity_time_series":
        return
    # The time series also answers a chapter's dates through (chapter_id, bucket_date).
    assert any(am == "btree" and columns == ["chapter_id", "bucket_date"]
               for name, am, unique, valid, predicate, expressions, columns in indexes(conn, view))


@pytest.mark.parametrize("view", MATERIALIZED_VIEWS)
def test_the_comment_states_the_staleness_window_and_where_to_read_the_last_refresh(migrated, conn, view):
    comment = conn.execute("select obj_description(%s::regclass, 'pg_class')", (f"private.{view}",)).fetchone()[0]
    assert "STALENESS" in comment.upper() and "1 hour" in comment
    assert "public.stats_freshness" in comment and f"'{view}'" in comment


def acl(conn, relation: str) -> set[tuple[str, str]]:
    """(grantee, privilege) of a relation's grants; PUBLIC shows as 'PUBLIC'."""
    return set(conn.execute(
        "select coalesce(r.rolname, 'PUBLIC'), a.privilege_type "
        "from pg_class c, aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a "
        "left join pg_roles r on r.oid = a.grantee "
        "where c.oid = %s::regclass and a.grantee <> c.relowner", (relation,)).fetchall())


@pytest.mark.parametrize("view", MATERIALIZED_VIEWS)
def test_nobody_but_the_owner_may_touch_a_materialized_view(migrated, conn, view):
    assert acl(conn, f"private.{view}") == set()
    for role in ("anon", "authenticated", "service_role"):
        for privilege in ALL_PRIVILEGES:
            assert not conn.execute("select has_table_privilege(%s, %s, %s)",
                                    (role, f"private.{view}", privilege)).fetchone()[0], (role, privilege)


@pytest.mark.parametrize("view", MATERIALIZED_VIEWS)
def test_the_api_views_have_the_plain_views_grants(migrated, conn, view):
    assert acl(conn, f"public.{API_VIEW_OF[view]}") == acl(conn, f"public.{PLAIN_VIEW_OF[view]}") == \
        {("authenticated", "SELECT"), ("service_role", "SELECT")}


@pytest.mark.parametrize("view", MATERIALIZED_VIEWS)
def test_signed_in_users_cannot_select_a_materialized_view(hand_checked, conn, view):
    with pytest.raises(errors.InsufficientPrivilege, match=f"permission denied for materialized view {view}"):
        request(conn, "authenticated", f"select * from private.{view}",
                user_id=hand_checked.users["coord.five@peerstats.test"])
    with pytest.raises(errors.InsufficientPrivilege, match="permission denied"):
        request(conn, "anon", f"select * from private.{view}")


# --- regression: after changes and a refresh, every view equals its plain view ------------------


def differences(conn, view: str) -> list[tuple]:
    """Rows in one of the materialized view and its plain view but not the other (EXCEPT ALL both ways)."""
    return conn.execute(except_all_both_ways(f"private.{view}", f"public.{PLAIN_VIEW_OF[view]}")).fetchall()


def hours_not_from_minutes(conn, relation: str) -> list[tuple]:
    """The rows of a statistics view, read as service_role, whose total_hours is not exactly its
    total_minutes / 60.0."""
    return request(conn, "service_role", f"select * from {relation} where total_minutes is null "
                                         "or total_hours is distinct from total_minutes / 60.0")


def totals(conn, relation: str) -> tuple:
    return conn.execute(f"select count(*), sum(activity_count), sum(total_minutes) from {relation}").fetchone()


def test_the_concurrent_refresh_runs_after_data_changes(hand_checked, conn):
    for view in MATERIALIZED_VIEWS:
        conn.execute(f"refresh materialized view concurrently private.{view}")
        assert differences(conn, view) == []


def test_after_every_kind_of_change_and_a_refresh_each_view_equals_its_plain_view(hand_checked, conn):
    conn.execute("select public.refresh_stats_views()")
    assert all(differences(conn, view) == [] for view in MATERIALIZED_VIEWS)

    ids = hand_checked
    # New activities, one in a month and chapter with nothing yet.
    conn.execute("insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, "
                 "duration_minutes) values (%s, %s, 'visit', '2024-05-31 23:59:59+00', 33), "
                 "(%s, %s, 'course', '2024-02-12 09:00+00', 1380)",
                 (ids.mentors["Anna"], ids.chapters["Chapter B"], ids.mentors["Eva"], ids.chapters["Chapter E"]))
    # recorded_at moved across a month boundary, chapter_id moved to another chapter.
    conn.execute("update public.activities set recorded_at = '2024-02-01 00:00:00+00' where id::text like '%c01'")
    conn.execute("update public.activities set chapter_id = %s where id::text like '%%c09'", (ids.chapters["Chapter E"],))
    # A soft delete and a newly marked duplicate.
    conn.execute("update public.activities set deleted_at = now() where id::text like '%c08'")
    conn.execute("update public.activities set duplicate_of = '00000000-0000-4000-8000-000000000c05' "
                 "where id::text like '%c06'")
    # A type that stops counting.
    conn.execute("update public.activity_types set counts_in_stats = false where code = 'phone_call'")

    # Until the refresh, every view shows the old figures.
    assert all(differences(conn, view) != [] for view in MATERIALIZED_VIEWS)
    # The API's live part, like its materialized part, gives hours as minutes / 60.0.
    assert all(hours_not_from_minutes(conn, f"public.{API_VIEW_OF[view]}") == [] for view in MATERIALIZED_VIEWS)

    assert {r[0] for r in conn.execute("select status from public.refresh_stats_views()")} == {"refreshed"}

    for view in MATERIALIZED_VIEWS:
        assert differences(conn, view) == [], view
        assert totals(conn, f"private.{view}") == totals(conn, f"public.{PLAIN_VIEW_OF[view]}")
        assert hours_not_from_minutes(conn, f"public.{PLAIN_VIEW_OF[view]}") == []
        assert conn.execute(f"select * from private.{view} "
                            "where total_hours is distinct from total_minutes / 60.0").fetchall() == []
        # The totals equal the counting rule's, to the minute.
        assert totals(conn, f"private.{view}")[1:] == conn.execute(
            "select count(*), sum(duration_minutes) from private.counted_activities").fetchone()
        # service_role reads the same rows through the API.
        api_rows = request(conn, "service_role", f"select * from public.{API_VIEW_OF[view]}")
        assert sorted(api_rows) == sorted(conn.execute(f"select * from private.{view}").fetchall())
    # 11 counted - c08 (deleted) - c06 (duplicate) - c03, c04 (phone calls) + 2 new = 9
    assert totals(conn, "private.mv_chapter_stats")[1] == 9

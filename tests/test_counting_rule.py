"""The counting rule and the plain views' figures, worked out by hand for tests/sql/hand_checked_dataset.sql.

The dataset puts activities one second either side of UTC midnight and of two month boundaries
(January/February and February/March 2024), on the leap day 2024-02-29, a mentor (Anna) active
in two chapters, and a 1440-minute activity. Every figure below was computed by hand from it.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from psycopg import errors

from peerstats.postgrest import request

A, B, C, D, E, F = (f"Chapter {letter}" for letter in "ABCDEF")

COUNTED = {"c01", "c02", "c03", "c04", "c05", "c06", "c07", "c08", "c09", "c10", "c11"}

# (chapter, UTC day): (activities, hours, minutes)
TIME_SERIES = {
    (A, date(2024, 1, 31)): (1, Decimal("1"), 60),      # 23:59:59, 60 min
    (A, date(2024, 2, 1)): (1, Decimal("0.5"), 30),     # 00:00:01, 30 min (its duplicate, the deleted and the admin one excluded)
    (B, date(2024, 2, 28)): (1, Decimal("0.75"), 45),   # 23:59:59, 45 min
    (B, date(2024, 2, 29)): (2, Decimal("0.45"), 27),   # leap day: 00:00:01 12 min + 23:59:59 15 min
    (B, date(2024, 3, 1)): (1, Decimal("0.5"), 30),     # 00:00:01, 30 min
    (C, date(2024, 3, 15)): (2, Decimal("25.5"), 1530),  # Cato's 1440 min + Anna's 90 min
    (D, date(2024, 2, 10)): (1, Decimal("0.4"), 24),
    (E, date(2024, 2, 12)): (1, Decimal("0.8"), 48),
    (F, date(2024, 2, 5)): (1, Decimal("0.9"), 54),
}

# (chapter, UTC month): (activities, hours, minutes, active mentors)
CHAPTER_STATS = {
    (A, date(2024, 1, 1)): (1, Decimal("1"), 60, 1),
    (A, date(2024, 2, 1)): (1, Decimal("0.5"), 30, 1),
    (B, date(2024, 2, 1)): (3, Decimal("1.2"), 72, 1),  # 45 + 12 + 15 min
    (B, date(2024, 3, 1)): (1, Decimal("0.5"), 30, 1),
    (C, date(2024, 3, 1)): (2, Decimal("25.5"), 1530, 2),  # Cato and Anna
    (D, date(2024, 2, 1)): (1, Decimal("0.4"), 24, 1),
    (E, date(2024, 2, 1)): (1, Decimal("0.8"), 48, 1),
    (F, date(2024, 2, 1)): (1, Decimal("0.9"), 54, 1),
}

# (mentor, chapter, UTC month): (activities, hours, minutes)
PEER_MENTOR_STATS = {
    ("Anna", A, date(2024, 1, 1)): (1, Decimal("1"), 60),
    ("Anna", A, date(2024, 2, 1)): (1, Decimal("0.5"), 30),
    ("Anna", C, date(2024, 3, 1)): (1, Decimal("1.5"), 90),
    ("Bo", B, date(2024, 2, 1)): (3, Decimal("1.2"), 72),
    ("Bo", B, date(2024, 3, 1)): (1, Decimal("0.5"), 30),
    ("Cato", C, date(2024, 3, 1)): (1, Decimal("24"), 1440),
    ("Dag", D, date(2024, 2, 1)): (1, Decimal("0.4"), 24),
    ("Eva", E, date(2024, 2, 1)): (1, Decimal("0.8"), 48),
    ("Finn", F, date(2024, 2, 1)): (1, Decimal("0.9"), 54),
}

def keyed(rows, key_length: int) -> dict:
    result = {tuple(row[:key_length]): tuple(row[key_length:]) for row in rows}
    assert len(result) == len(rows), "a key appears twice"
    return result


def figures(conn, role: str | None, user_id: str | None = None) -> tuple[dict, dict, dict]:
    """The three plain views as `role` (and user) see them, or as the owner when role is None, keyed by names."""
    def read(query):
        return conn.execute(query).fetchall() if role is None else request(conn, role, query, user_id=user_id)

    # Names are looked up as the owner: row security would hide Anna's mentor row from Cato.
    mentor_names = dict(conn.execute("select id, full_name from public.peer_mentors").fetchall())
    chapter_names = dict(conn.execute("select id, name from public.chapters").fetchall())
    return (
        keyed([(chapter_names[r[1]], r[0], *r[2:]) for r in read("select * from public.v_activity_time_series")], 2),
        keyed([(chapter_names[r[0]], *r[1:]) for r in read("select * from public.v_chapter_stats")], 2),
        keyed([(mentor_names[r[0]], chapter_names[r[1]], *r[2:])
               for r in read("select * from public.v_peer_mentor_stats")], 3),
    )


def of_chapters(expected: dict, chapters: set[str], chapter_position: int = 0) -> dict:
    return {key: value for key, value in expected.items() if key[chapter_position] in chapters}


def test_counted_activities_exclude_deleted_duplicate_and_non_counting(conn, hand_checked):
    assert {r[0][-3:] for r in conn.execute("select id::text from private.counted_activities")} == COUNTED

    # Each exclusion follows the data: undo it and the activity counts again.
    conn.execute("update public.activities set deleted_at = null where id::text like '%d01'")
    conn.execute("update public.activities set duplicate_of = null where id::text like '%d02'")
    conn.execute("update public.activity_types set counts_in_stats = true where code = 'admin'")
    assert {r[0][-3:] for r in conn.execute("select id::text from private.counted_activities")} == \
        COUNTED | {"d01", "d02", "d03"}

    conn.execute("update public.activities set deleted_at = now() where id::text like '%c11'")
    conn.execute("update public.activities set duplicate_of = '00000000-0000-4000-8000-000000000c05' "
                 "where id::text like '%c06'")
    conn.execute("update public.activity_types set counts_in_stats = false where code = 'course'")
    assert {r[0][-3:] for r in conn.execute("select id::text from private.counted_activities")} == \
        (COUNTED | {"d01", "d02", "d03"}) - {"c11", "c06", "c07"}


def relations_read_by(conn, view: str) -> set[str]:
    return {r[0] for r in conn.execute(
        "select distinct d.refobjid::regclass::text from pg_depend d join pg_rewrite r on r.oid = d.objid "
        "where r.ev_class = %s::regclass and d.refobjid <> r.ev_class and d.refclassid = 'pg_class'::regclass",
        (view,))}


def test_counted_activities_have_no_other_way_in(conn, hand_checked):
    """The plain and the materialized views read the same aggregates, and those read activities
    through private.counted_activities and through nothing else."""
    aggregate_of = {
        "public.v_activity_time_series": "private.activity_time_series_live",
        "private.mv_activity_time_series": "private.activity_time_series_live",
        "public.v_chapter_stats": "private.chapter_stats_live",
        "private.mv_chapter_stats": "private.chapter_stats_live",
        "public.v_peer_mentor_stats": "private.peer_mentor_stats_live",
        "private.mv_peer_mentor_stats": "private.peer_mentor_stats_live",
    }
    for view, aggregate in aggregate_of.items():
        assert relations_read_by(conn, view) == {aggregate}, view
    for aggregate in set(aggregate_of.values()):
        assert relations_read_by(conn, aggregate) == {"private.counted_activities"}, aggregate


@pytest.mark.parametrize("time_zone", ["UTC", "Europe/Oslo", "America/Los_Angeles", "Pacific/Kiritimati"])
def test_the_plain_views_give_the_hand_worked_figures_in_every_session_time_zone(conn, hand_checked, time_zone):
    conn.execute("select set_config('TimeZone', %s, false)", (time_zone,))
    # A bucket by the session's local day would move c01, c03 or c04 to another day and month.
    local_days = {r[0] for r in conn.execute("select recorded_at::date from public.activities "
                                             "where id::text like any (array['%c01', '%c03', '%c04'])")}
    assert (local_days == {date(2024, 1, 31), date(2024, 2, 28), date(2024, 2, 29)}) == (time_zone == "UTC")
    # service_role and the owner see every chapter.
    for role in ("service_role", None):
        time_series, chapter_stats, peer_mentor_stats = figures(conn, role)
        assert time_series == TIME_SERIES
        assert chapter_stats == CHAPTER_STATS
        assert peer_mentor_stats == PEER_MENTOR_STATS


@pytest.mark.parametrize("email, coordinated, mentor_rows_of", [
    ("coord.ab@peerstats.test", {A, B}, None),
    ("coord.five@peerstats.test", {A, B, C, D, E}, None),
    # Cato coordinates C: all of C (Anna's activity there too) and his own rows.
    ("cato@peerstats.test", {C}, "Cato"),
])
def test_a_coordinator_sees_whole_figures_of_their_chapters_only(conn, hand_checked, email, coordinated,
                                                                  mentor_rows_of):
    time_series, chapter_stats, peer_mentor_stats = figures(conn, "authenticated", hand_checked.users[email])
    assert time_series == of_chapters(TIME_SERIES, coordinated)
    assert chapter_stats == of_chapters(CHAPTER_STATS, coordinated)
    assert peer_mentor_stats == of_chapters(PEER_MENTOR_STATS, coordinated, chapter_position=1)


def test_a_mentor_who_is_no_coordinator_sees_own_rows_and_no_partial_chapter_figures(conn, hand_checked):
    # Anna may read her own activities in A and C, but a chapter total made of just hers would
    # be a partial aggregate: the chapter-level views show her nothing.
    time_series, chapter_stats, peer_mentor_stats = figures(conn, "authenticated",
                                                            hand_checked.users["anna@peerstats.test"])
    assert time_series == {} and chapter_stats == {}
    assert peer_mentor_stats == {key: value for key, value in PEER_MENTOR_STATS.items() if key[0] == "Anna"}


def test_a_user_with_no_role_sees_no_figures(conn, hand_checked):
    assert figures(conn, "authenticated", hand_checked.users["outsider@peerstats.test"]) == ({}, {}, {})
    assert figures(conn, "authenticated") == ({}, {}, {})  # signed in without a subject


@pytest.mark.parametrize("view", ["v_activity_time_series", "v_chapter_stats", "v_peer_mentor_stats"])
def test_anon_is_refused_the_plain_views(conn, hand_checked, view):
    with pytest.raises(errors.InsufficientPrivilege, match=f"permission denied for view {view}"):
        request(conn, "anon", f"select * from public.{view}")

"""The dirty-key log holds one entry per key per transaction, none for an inserted row that counts
nowhere, and skipping that entry stays exact when a type starts counting concurrently, at every
isolation level: the later writer fails with a serialization error, or the keys are logged."""

from __future__ import annotations

import threading
import time
from datetime import date

import psycopg
import pytest
from psycopg import IsolationLevel

from peerstats import database
from peerstats.postgrest import request
from test_exact_stats import differences, log_size, one, seeded  # noqa: F401 (seeded is a fixture)

INSERT = ("insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes)"
          " values (%s, %s, %s, %s::timestamptz, 30)")


def signed_in_mentor(conn: psycopg.Connection) -> tuple[str, str, str]:
    """(mentor id, home chapter, user id) of the first mentor who can sign in."""
    return tuple(str(v) for v in conn.execute(
        "select id, chapter_id, user_id from public.peer_mentors where user_id is not null order by id limit 1"
    ).fetchone())


def uncounted_type(conn: psycopg.Connection) -> str:
    return one(conn, "select code from public.activity_types where not counts_in_stats order by code limit 1")


def counted_type(conn: psycopg.Connection) -> str:
    return one(conn, "select code from public.activity_types where counts_in_stats order by code limit 1")


def entries_per_key(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute("select chapter_id::text, peer_mentor_id::text, bucket_date, count(*)"
                        " from private.stats_dirty_keys group by 1, 2, 3 order by 1, 2, 3").fetchall()


def test_a_transaction_of_many_statements_logs_each_key_once(seeded, conn):
    callers = seeded
    mentor, chapter, _ = signed_in_mentor(conn)
    counting = counted_type(conn)
    with conn.transaction():
        for hour in range(5):  # five statements on one key (mentor, chapter, 2026-03-02)
            conn.execute(INSERT, (mentor, chapter, counting, f"2026-03-02 0{hour}:00+00"))
        conn.execute("update public.activities set duration_minutes = 45 where peer_mentor_id = %s"
                     " and chapter_id = %s and recorded_at >= '2026-03-02' and recorded_at < '2026-03-03'", (mentor, chapter))
        conn.execute(INSERT, (mentor, chapter, counting, "2026-03-05 10:00+00"))  # a second key
    assert entries_per_key(conn) == [(chapter, mentor, date(2026, 3, 2), 1), (chapter, mentor, date(2026, 3, 5), 1)]
    # Another transaction on the same key adds its own entry: the refresh folds entries by transaction.
    conn.execute(INSERT, (mentor, chapter, counting, "2026-03-02 12:00+00"))
    assert [row[3] for row in entries_per_key(conn)] == [2, 1]
    assert differences(conn, callers) == {}
    conn.execute("select public.refresh_stats_views()")
    assert log_size(conn) == 0 and differences(conn, callers) == {}


def test_a_key_logged_in_a_rolled_back_savepoint_is_logged_again(seeded, conn):
    callers = seeded
    mentor, chapter, _ = signed_in_mentor(conn)
    counting = counted_type(conn)
    with conn.transaction():
        with pytest.raises(psycopg.errors.RaiseException), conn.transaction():
            conn.execute(INSERT, (mentor, chapter, counting, "2026-04-01 08:00+00"))
            conn.execute("do $$ begin raise exception 'undo'; end $$")
        assert log_size(conn) == 0
        conn.execute(INSERT, (mentor, chapter, counting, "2026-04-01 09:00+00"))
    assert log_size(conn) == 1 and differences(conn, callers) == {}


def test_an_insert_that_counts_nowhere_adds_no_entry_until_its_type_counts(seeded, conn):
    """The issue's request: one mentor request inserting a type that does not count, one a day over 14
    years, adds nothing to the log; switching the type on logs every one of them."""
    callers = seeded
    mentor, chapter, user = signed_in_mentor(conn)
    uncounted = uncounted_type(conn)
    request(conn, "authenticated",
            "insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes)"
            " select %s, %s, %s, now() - g * interval '1 day', 30 from generate_series(1, 5114) g",
            (mentor, chapter, uncounted), user_id=user, read_only=False)
    request(conn, "service_role", "insert into public.activities (peer_mentor_id, chapter_id, activity_type,"
            " recorded_at, duration_minutes, deleted_at) values (%s, %s, %s, '2026-05-02 10:00+00', 30, now())",
            (mentor, chapter, counted_type(conn)), read_only=False)  # a type that counts, soft-deleted as written
    assert log_size(conn) == 0
    assert differences(conn, callers) == {}

    conn.execute("update public.activity_types set counts_in_stats = true where code = %s", (uncounted,))
    assert one(conn, "select count(distinct bucket_date) from private.stats_dirty_keys where peer_mentor_id = %s",
               (mentor,)) >= 5114
    assert differences(conn, callers) == {}


# --- a type switched to counting while an insert of it skips its entry ---------------------------------

def open_snapshot(url: str, level: IsolationLevel) -> psycopg.Connection:
    connection = database.connect(url)
    connection.isolation_level = level
    return connection


@pytest.mark.parametrize("level", [IsolationLevel.REPEATABLE_READ, IsolationLevel.SERIALIZABLE])
def test_an_insert_on_a_snapshot_from_before_the_switch_fails(seeded, conn, db_url, level):
    """The inserter's snapshot predates the switch: its FOR SHARE lock of the switched type fails."""
    callers = seeded
    mentor, chapter, user = signed_in_mentor(conn)
    uncounted = uncounted_type(conn)
    with open_snapshot(db_url, level) as inserter:
        with pytest.raises(psycopg.errors.SerializationFailure), inserter.transaction():
            inserter.execute("select count(*) from public.activity_types")  # takes the snapshot
            conn.execute("update public.activity_types set counts_in_stats = true where code = %s", (uncounted,))
            request(inserter, "authenticated", INSERT, (mentor, chapter, uncounted, "2026-06-01 10:00+00"),
                    user_id=user, read_only=False)
    assert differences(conn, callers) == {}


@pytest.mark.parametrize("level", [IsolationLevel.REPEATABLE_READ, IsolationLevel.SERIALIZABLE])
def test_a_switch_on_a_snapshot_from_before_the_insert_fails(seeded, conn, db_url, level):
    """The switch's snapshot predates an insert that skipped its entry: the switch fails, and its retry
    logs the inserted row."""
    callers = seeded
    mentor, chapter, user = signed_in_mentor(conn)
    uncounted = uncounted_type(conn)
    switch = "update public.activity_types set counts_in_stats = true where code = %s"
    with open_snapshot(db_url, level) as office:
        with pytest.raises(psycopg.errors.SerializationFailure, match="a transaction committed activities after this one.s snapshot"), \
                office.transaction():
            office.execute("select count(*) from public.activities")  # takes the snapshot
            request(conn, "authenticated", INSERT, (mentor, chapter, uncounted, "2026-06-02 10:00+00"),
                    user_id=user, read_only=False)
            assert log_size(conn) == 0
            request(office, "service_role", switch, (uncounted,), read_only=False)
        assert differences(conn, callers) == {}
        with office.transaction():
            request(office, "service_role", switch, (uncounted,), read_only=False)
    assert differences(conn, callers) == {}
    assert one(conn, "select count(*) from private.stats_dirty_keys where peer_mentor_id = %s and chapter_id = %s"
                     " and bucket_date = '2026-06-02'", (mentor, chapter)) == 1


@pytest.mark.parametrize("level", [IsolationLevel.READ_COMMITTED, IsolationLevel.REPEATABLE_READ,
                                   IsolationLevel.SERIALIZABLE])
def test_a_switch_waits_for_an_insert_in_flight(seeded, conn, db_url, level):
    """An insert in flight when the switch starts: the switch waits for it, then logs its row (READ
    COMMITTED) or fails (a snapshot taken before the insert committed cannot see it)."""
    callers = seeded
    mentor, chapter, user = signed_in_mentor(conn)
    uncounted = uncounted_type(conn)
    outcome: list[BaseException | None] = []

    def switch() -> None:
        try:
            with open_snapshot(db_url, level) as office, office.transaction():
                office.execute("set local application_name = 'type-switch'")
                request(office, "service_role", "update public.activity_types set counts_in_stats = true"
                        " where code = %s", (uncounted,), read_only=False)
            outcome.append(None)
        except psycopg.Error as failure:
            outcome.append(failure)

    with database.connect(db_url) as writer, writer.transaction():
        request(writer, "authenticated", INSERT, (mentor, chapter, uncounted, "2026-06-03 10:00+00"),
                user_id=user, read_only=False)
        switching = threading.Thread(target=switch)
        switching.start()
        while not one(conn, "select count(*) from pg_stat_activity where application_name = 'type-switch'"
                            " and wait_event_type = 'Lock'"):
            time.sleep(0.01)
    switching.join()
    if level == IsolationLevel.READ_COMMITTED:
        assert outcome == [None]
        assert one(conn, "select count(*) from private.stats_dirty_keys where peer_mentor_id = %s and chapter_id = %s"
                         " and bucket_date = '2026-06-03'", (mentor, chapter)) == 1
    else:
        assert isinstance(outcome[0], psycopg.errors.SerializationFailure)
    assert differences(conn, callers) == {}

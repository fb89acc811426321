"""Broadcasts from the database: each committed transaction that changes what a chapter counts
sends one private stats_changed message per chapter on stats:chapter:<id>, naming only the UTC
days that changed; a rollback, a write that changes no figure, sends nothing; and no broadcast
ever refuses or noticeably slows a write.

realtime.send inserts the message into realtime.messages, which the Realtime server reads from
the WAL once committed: a committed row there is a delivered broadcast. The server's daily
partitions are made as it makes them (peerstats.realtime.partitions)."""

from __future__ import annotations

import statistics
import time
from datetime import date, datetime, timedelta, timezone

import psycopg
import pytest
from psycopg import IsolationLevel

from peerstats import database, seed
from peerstats.postgrest import request
from peerstats.realtime.partitions import create_partitions
from test_exact_stats import seeded  # noqa: F401 (a fixture)

INSERT = ("insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes)"
          " values (%s, %s, %s, %s::timestamptz, 5)")
PAYLOAD_KEYS = {"chapter_id", "days", "more", "id"}  # realtime.send adds id


@pytest.fixture
def realtime_ready(conn):
    """The server's partitions for today exist and realtime.messages is empty."""
    create_partitions(conn)
    conn.execute("delete from realtime.messages")
    conn.commit()


def messages(conn) -> list[tuple]:
    """(topic, event, private, extension, payload) of every message, oldest first."""
    return conn.execute("select topic, event, private, extension, payload from realtime.messages"
                        " order by inserted_at, topic").fetchall()


def topics(conn) -> list[str]:
    return sorted(topic for topic, *_ in messages(conn))


def topic_of(chapter: str) -> str:
    return f"stats:chapter:{chapter}"


def mentors_by_chapter(conn, count: int) -> list[tuple[str, str, str | None]]:
    """(mentor, home chapter, user) of one mentor in each of `count` chapters."""
    return [tuple(str(v) if v else None for v in row) for row in conn.execute(
        "select distinct on (m.chapter_id) m.id, m.chapter_id, m.user_id from public.peer_mentors m"
        " order by m.chapter_id, m.user_id nulls last, m.id limit %s", (count,))]


def type_code(conn, counts: bool) -> str:
    return conn.execute("select min(code) from public.activity_types where counts_in_stats = %s",
                        (counts,)).fetchone()[0]


def utc_noon(day: date) -> str:
    return f"{day} 12:00+00"


def this_year_days(count: int) -> list[date]:
    """`count` distinct UTC days ending yesterday."""
    yesterday = datetime.now(timezone.utc).date() - timedelta(days=1)
    return [yesterday - timedelta(days=n) for n in range(count)]


def test_a_transaction_sends_one_message_per_chapter_it_changed_naming_its_days(seeded, conn, realtime_ready):
    (mentor_a, chapter_a, _), (mentor_b, chapter_b, _) = mentors_by_chapter(conn, 2)
    counting = type_code(conn, True)
    days = this_year_days(3)
    with conn.transaction():
        for day in days:  # three statements into chapter A, on three days
            conn.execute(INSERT, (mentor_a, chapter_a, counting, utc_noon(day)))
        conn.execute(INSERT, (mentor_a, chapter_a, counting, f"{days[0]} 13:00+00"))  # a day already logged
        conn.execute(INSERT, (mentor_b, chapter_b, counting, utc_noon(days[1])))
        assert messages(conn) == []  # nothing before commit
    sent = {topic: rest for topic, *rest in messages(conn)}
    assert sorted(sent) == sorted([topic_of(chapter_a), topic_of(chapter_b)])
    for chapter, chapter_days in ((chapter_a, days), (chapter_b, days[1:2])):
        event, private, extension, payload = sent[topic_of(chapter)]
        assert (event, private, extension) == ("stats_changed", True, "broadcast")
        assert set(payload) == PAYLOAD_KEYS
        assert payload["chapter_id"] == chapter and payload["more"] is False
        assert payload["days"] == [day.isoformat() for day in sorted(chapter_days, reverse=True)]


@pytest.mark.parametrize("level", [IsolationLevel.READ_COMMITTED, IsolationLevel.REPEATABLE_READ,
                                   IsolationLevel.SERIALIZABLE])
def test_a_write_through_the_api_sends_its_message_at_every_isolation_level(seeded, conn, db_url, realtime_ready,
                                                                              level):
    mentor, chapter, user = next(row for row in mentors_by_chapter(conn, 6) if row[2])
    with database.connect(db_url) as writer:
        writer.isolation_level = level
        request(writer, "authenticated", INSERT, (mentor, chapter, type_code(conn, True), utc_noon(this_year_days(1)[0])),
                user_id=user, read_only=False)
    assert topics(conn) == [topic_of(chapter)]


def test_a_rolled_back_transaction_or_savepoint_sends_nothing(seeded, conn, realtime_ready):
    (mentor_a, chapter_a, _), (mentor_b, chapter_b, _) = mentors_by_chapter(conn, 2)
    counting = type_code(conn, True)
    day = this_year_days(1)[0]
    with conn.transaction(force_rollback=True):
        conn.execute(INSERT, (mentor_a, chapter_a, counting, utc_noon(day)))
    assert messages(conn) == []

    # A savepoint rolled back takes its chapter's message with it; the rest commits.
    with conn.transaction():
        with pytest.raises(psycopg.errors.RaiseException), conn.transaction():
            conn.execute(INSERT, (mentor_b, chapter_b, counting, utc_noon(day)))
            conn.execute("do $$ begin raise exception 'undo'; end $$")
        conn.execute(INSERT, (mentor_a, chapter_a, counting, utc_noon(day)))
    assert topics(conn) == [topic_of(chapter_a)]

    # Fired early in a savepoint (constraints made immediate), then rolled back: the chapter's
    # mark goes with its message, so the commit sends it.
    conn.execute("delete from realtime.messages")
    with conn.transaction():
        with pytest.raises(psycopg.errors.RaiseException), conn.transaction():
            conn.execute(INSERT, (mentor_b, chapter_b, counting, utc_noon(day)))
            conn.execute("set constraints all immediate")
            conn.execute("set constraints all deferred")
            conn.execute("do $$ begin raise exception 'undo'; end $$")
        conn.execute(INSERT, (mentor_b, chapter_b, counting, utc_noon(day - timedelta(days=1))))
    assert topics(conn) == [topic_of(chapter_b)]
    assert messages(conn)[0][4]["days"] == [(day - timedelta(days=1)).isoformat()]


def test_a_write_that_changes_no_figure_sends_nothing(seeded, conn, realtime_ready):
    (mentor, chapter, _), = mentors_by_chapter(conn, 1)
    conn.execute(INSERT, (mentor, chapter, type_code(conn, False), utc_noon(this_year_days(1)[0])))
    conn.commit()
    assert messages(conn) == []


def test_a_mentor_writing_through_the_api_broadcasts_though_no_api_role_may_send(seeded, conn, realtime_ready):
    mentor, chapter, user = next(row for row in mentors_by_chapter(conn, 6) if row[2])
    request(conn, "authenticated", INSERT, (mentor, chapter, type_code(conn, True), utc_noon(this_year_days(1)[0])),
            user_id=user, read_only=False)
    assert topics(conn) == [topic_of(chapter)]


def test_the_days_are_capped_newest_first_with_a_flag(seeded, conn, realtime_ready):
    (mentor, chapter, _), = mentors_by_chapter(conn, 1)
    cap = conn.execute("select private.broadcast_days_cap()").fetchone()[0]
    days = this_year_days(cap + 5)
    counting = type_code(conn, True)
    with conn.transaction():
        conn.cursor().executemany(INSERT, [(mentor, chapter, counting, utc_noon(day)) for day in days])
    [(_, _, _, _, payload)] = messages(conn)
    assert payload["days"] == [day.isoformat() for day in days[:cap]] and payload["more"] is True


def test_an_import_of_10000_rows_over_400_chapters_sends_400_messages(migrated, conn, realtime_ready):
    seed.seed(conn, activities=400, chapters=400, mentors=400, years=1)
    conn.execute("delete from realtime.messages")
    conn.commit()
    mentors = mentors_by_chapter(conn, 400)
    assert len(mentors) == 400
    days = this_year_days(25)
    with conn.transaction():
        conn.execute(
            "insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes)"
            " select m.mentor, m.chapter, %s, d.day + time '12:00' at time zone 'UTC', 5"
            " from unnest(%s::uuid[], %s::uuid[]) m (mentor, chapter) cross join unnest(%s::date[]) d (day)",
            (type_code(conn, True), [m for m, _, _ in mentors], [c for _, c, _ in mentors], days))
    sent = messages(conn)
    assert len(sent) == 400
    assert sorted(topic for topic, *_ in sent) == sorted(topic_of(c) for _, c, _ in mentors)
    assert {tuple(payload["days"]) for *_, payload in sent} == {tuple(day.isoformat() for day in days)}


def test_without_a_partition_or_without_realtime_a_write_still_commits(seeded, conn):
    (mentor, chapter, _), = mentors_by_chapter(conn, 1)
    counting = type_code(conn, True)
    warnings: list[str] = []
    conn.add_notice_handler(lambda notice: warnings.append(notice.message_primary))
    with conn.transaction(force_rollback=True):
        # No partition for today: the Realtime server has not connected yet.
        conn.execute("select pg_advisory_xact_lock(1)")  # nothing else makes partitions meanwhile
        for (partition,) in conn.execute(
                "select inhrelid::regclass::text from pg_inherits where inhparent = 'realtime.messages'::regclass"
        ).fetchall():
            conn.execute(f"drop table {partition}")
        conn.execute(INSERT, (mentor, chapter, counting, utc_noon(this_year_days(1)[0])))
        conn.execute("set constraints all immediate")  # what commit runs, run now
        assert [w.split(":")[0] for w in warnings] == ["WarnSendingBroadcastMessage"]
    warnings.clear()
    with conn.transaction(force_rollback=True):
        # A database without Realtime.
        conn.execute("alter schema realtime rename to realtime_elsewhere")
        conn.execute(INSERT, (mentor, chapter, counting, utc_noon(this_year_days(1)[0])))
        conn.execute("set constraints all immediate")
        assert warnings == []
    # And committed, with no partition, the write is kept.
    conn.execute("drop table if exists realtime.messages_%s" % datetime.now(timezone.utc).strftime("%Y_%m_%d"))
    conn.execute(INSERT, (mentor, chapter, counting, utc_noon(this_year_days(2)[1])))
    conn.commit()
    assert conn.execute("select count(*) from realtime.messages").fetchone()[0] == 0
    create_partitions(conn)
    conn.commit()


def test_single_row_inserts_keep_most_of_their_throughput_with_broadcasts(seeded, conn, realtime_ready):
    """Single-row inserts through the API, one transaction each, in many short pairs of rounds
    with the broadcast trigger on and off (in turn first), in the same run: the median pair's
    rounds run at least 0.8 as many inserts per second with broadcasts as without. Short rounds
    side by side see the same load on the machine, and many of them steady the median. The
    first insert after the trigger is switched is not timed: it replans what the switch
    invalidated, in both arms alike.

    The issue's target, at least 0.9, is measured by `peerstats bench freshness` (its
    broadcasts' table says whether it is met; docs/benchmarks.md). Here the median lies
    between 0.91 and 0.97 on a shared machine, too close to 0.9 for a test: 0.8 leaves a wide
    margin and still fails a broadcast that costs a write a fifth of its speed."""
    mentor, chapter, user = next(row for row in mentors_by_chapter(conn, 6) if row[2])
    counting = type_code(conn, True)
    pairs, inserts_per_round = 96, 8
    # Six inserts of 5 minutes a day: far from the daily bound.
    days = iter(this_year_days(320) * 6)

    def insert() -> None:
        request(conn, "authenticated", INSERT, (mentor, chapter, counting, utc_noon(next(days))),
                user_id=user, read_only=False)

    def round_seconds(broadcasting: bool) -> float:
        conn.execute("alter table private.stats_dirty_keys"
                     f" {'enable' if broadcasting else 'disable'} trigger stats_dirty_keys_broadcast")
        conn.commit()
        insert()
        began = time.perf_counter()
        for _ in range(inserts_per_round):
            insert()
        return time.perf_counter() - began

    ratios = []
    for pair in range(pairs):
        order = (True, False) if pair % 2 == 0 else (False, True)
        seconds = {broadcasting: round_seconds(broadcasting) for broadcasting in order}
        ratios.append(seconds[False] / seconds[True])
    conn.execute("alter table private.stats_dirty_keys enable trigger stats_dirty_keys_broadcast")
    conn.commit()
    assert conn.execute("select count(*) from realtime.messages").fetchone()[0] == pairs * (inserts_per_round + 1)
    print(f"single-row inserts per second, with broadcasts / without: median {statistics.median(ratios):.3f}"
          f" of {pairs} pairs of {inserts_per_round}")
    assert statistics.median(ratios) >= 0.8, sorted(ratios)

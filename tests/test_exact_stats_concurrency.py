"""No lost change under concurrency: 4 writers make random mixed writes at random moments while
refreshes run back to back; a checker compares the API with the plain views, each comparison in
one statement (one snapshot), for several callers, throughout and at the end."""

from __future__ import annotations

import random
import threading
import time

import psycopg
import pytest

from peerstats import database
from test_exact_stats import differences, log_size, make_callers, peer_mentor_days_differences
from peerstats.seed import seed

pytestmark = pytest.mark.every_postgresql

WRITERS = 4
OPERATIONS_PER_WRITER = 1300
# Writes that may meet a concurrent writer's row lock in another order, or a duplicate mark
# racing with the hard delete of its original: the transaction is dropped, as an app would.
# A write racing another may also be refused by a rule of the write path (a duplicate whose
# original became a duplicate meanwhile, say): refused writes change nothing, as required.
EXPECTED_CONFLICTS = (psycopg.errors.DeadlockDetected, psycopg.errors.ForeignKeyViolation,
                      psycopg.errors.SerializationFailure, psycopg.errors.CheckViolation)

# Each operation is one transaction of one statement; %(...)s parameters come from pick().
OPERATIONS = {
    "insert": "insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes)"
              " select m.id, m.chapter_id, %(type)s, now() - %(days)s * interval '1 day', %(minutes)s"
              " from public.peer_mentors m where m.id = %(mentor)s",
    "duration": "update public.activities set duration_minutes = %(minutes)s where id = %(id)s",
    "date": "update public.activities set recorded_at = recorded_at - %(days)s * interval '1 day' where id = %(id)s",
    "type": "update public.activities set activity_type = %(type)s where id = %(id)s",
    "soft delete": "update public.activities set deleted_at = now() where id = %(id)s",
    "undelete": "update public.activities set deleted_at = null where id = %(id)s",
    "duplicate mark": "update public.activities d set duplicate_of = o.id from public.activities o"
                      " where d.id = %(id)s and o.id = %(other)s and o.chapter_id = d.chapter_id and o.id <> d.id"
                      " and o.peer_mentor_id = d.peer_mentor_id and o.duplicate_of is null"
                      " and not exists (select from public.activities x where x.duplicate_of = d.id)",
    "duplicate unmark": "update public.activities set duplicate_of = null where id = %(id)s",
    "hard delete": "delete from public.activities a where a.id = %(id)s"
                   " and not exists (select from public.activities d where d.duplicate_of = a.id)",
    "bulk insert": "insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at,"
                   " duration_minutes) select m.id, m.chapter_id, %(type)s, now() - g * interval '7 hours', %(minutes)s"
                   " from public.peer_mentors m, generate_series(1, 20) g where m.id = %(mentor)s",
}
WEIGHTS = {"insert": 30, "duration": 12, "date": 8, "type": 8, "soft delete": 10, "undelete": 8,
           "duplicate mark": 10, "duplicate unmark": 6, "hard delete": 6, "bulk insert": 2}


class Writer(threading.Thread):
    def __init__(self, url: str, number: int, ids: list, mentors: list, types: list[str]):
        super().__init__(daemon=True)
        self.url, self.random = url, random.Random(number)
        self.ids, self.mentors, self.types = ids, mentors, types
        self.done = {name: 0 for name in OPERATIONS}
        self.conflicts = 0
        self.failure: BaseException | None = None

    def pick(self) -> dict:
        r = self.random
        return {"id": r.choice(self.ids), "other": r.choice(self.ids), "mentor": r.choice(self.mentors),
                "type": r.choice(self.types), "days": r.randint(0, 300), "minutes": r.randint(1, 240)}

    def run(self) -> None:
        names, weights = list(WEIGHTS), list(WEIGHTS.values())
        try:
            with database.connect(self.url, application_name="exactness-writer") as conn:
                for _ in range(OPERATIONS_PER_WRITER):
                    name = self.random.choices(names, weights)[0]
                    try:
                        conn.execute(OPERATIONS[name], self.pick())
                        self.done[name] += 1
                    except EXPECTED_CONFLICTS:
                        self.conflicts += 1
                    if self.random.random() < 0.05:
                        time.sleep(self.random.random() * 0.01)
        except BaseException as failure:  # reported by the test
            self.failure = failure


class Refresher(threading.Thread):
    def __init__(self, url: str, stop: threading.Event):
        super().__init__(daemon=True)
        self.url, self.stop = url, stop
        self.refreshes = 0
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            with database.connect(self.url, application_name="exactness-refresher") as conn:
                while not self.stop.is_set():
                    statuses = [r[0] for r in conn.execute("select status from public.refresh_stats_views()")]
                    assert statuses == ["refreshed"] * 3, statuses  # the three views of the contract
                    self.refreshes += 1
        except BaseException as failure:  # reported by the test
            self.failure = failure


@pytest.fixture
def seeded(migrated, conn):
    seed(conn, activities=1500, chapters=6, mentors=24, years=1, seed=11)
    conn.execute("select public.refresh_stats_views()")
    return make_callers(conn)


def test_no_change_is_lost_by_four_writers_and_back_to_back_refreshes(seeded, conn, db_url):
    callers = seeded
    ids = [r[0] for r in conn.execute("select id from public.activities")]
    mentors = [r[0] for r in conn.execute("select id from public.peer_mentors")]
    types = [r[0] for r in conn.execute("select code from public.activity_types")]
    stop = threading.Event()
    refresher = Refresher(db_url, stop)
    writers = [Writer(db_url, n, ids, mentors, types) for n in range(WRITERS)]
    refresher.start()
    for writer in writers:
        writer.start()
    checks, found = 0, []
    retyped = 0
    while any(w.is_alive() for w in writers):
        found.append(differences(conn, callers))
        checks += 1
        # Now and then a type stops or starts counting, concurrently with the writers.
        if checks % 5 == 0:
            try:
                conn.execute("update public.activity_types set counts_in_stats = not counts_in_stats"
                             " where code = %s", (types[retyped % len(types)],))
            except psycopg.errors.CheckViolation:
                pass  # refused: its activities would overfill a mentor's day; nothing changed
            retyped += 1
    for writer in writers:
        writer.join()
    found.append(differences(conn, callers))
    stop.set()
    refresher.join()
    for thread in [*writers, refresher]:
        assert thread.failure is None, repr(thread.failure)

    operations = sum(sum(w.done.values()) + w.conflicts for w in writers)
    done = {name: sum(w.done[name] for w in writers) for name in OPERATIONS}
    assert operations >= 5000
    assert all(count > 0 for count in done.values()), done
    assert sum(w.conflicts for w in writers) < operations // 20
    assert refresher.refreshes >= 3 and checks >= 3 and retyped >= 1
    assert [f for f in found if f] == []

    conn.execute("select public.refresh_stats_views()")
    assert log_size(conn) == 0
    assert differences(conn, callers) == {}
    # The refreshed views equal the plain views too, so the API's materialized part is right.
    for plain, materialized in (("v_activity_time_series", "mv_activity_time_series"),
                                ("v_chapter_stats", "mv_chapter_stats"),
                                ("v_peer_mentor_stats", "mv_peer_mentor_stats")):
        assert conn.execute(f"select count(*) from ((select * from public.{plain} except all select * from"
                            f" private.{materialized}) union all (select * from private.{materialized}"
                            f" except all select * from public.{plain})) d").fetchone()[0] == 0
    # And the mentor-day grain, which the refreshes kept from the log while the writers wrote.
    assert peer_mentor_days_differences(conn) == []

"""Who may join stats:chapter:<id>, decided by the Realtime server's own authorization queries
(peerstats.realtime.authorization: the probe row, set_config of role, claims and topic, the
SELECT, the rollback): a coordinator of the chapter, service_role; not a coordinator of another
chapter, a mentor, anon, a token without a role; a malformed topic is refused without an error.
No API role may send on a stats: topic, whatever permissive policies the app adds."""

from __future__ import annotations

import time
import uuid

import psycopg
import pytest

from peerstats.postgrest import claims_for, request
from peerstats.realtime.authorization import AuthorizationError, Context, may_join, read_policies, write_policies
from peerstats.realtime.partitions import create_partitions
from test_exact_stats import seeded  # noqa: F401 (a fixture)


@pytest.fixture
def people(seeded, conn):
    """Claims of a 5-chapter coordinator (A is among their chapters, B is not), a mentor, anon
    and service_role, with the chapters A and B; the server's partitions exist."""
    create_partitions(conn)
    conn.commit()
    five, one, mentor, service = seeded
    chapters = [str(c) for (c,) in conn.execute("select chapter_id from public.coordinator_chapters"
                                                " where user_id = %s order by chapter_id", (five.user_id,))]
    [other] = [str(c) for (c,) in conn.execute("select chapter_id from public.coordinator_chapters"
                                               " where user_id = %s", (one.user_id,))]
    mentor_chapter = str(conn.execute("select chapter_id from public.peer_mentors where user_id = %s"
                                      " order by id limit 1", (mentor.user_id,)).fetchone()[0])
    return {
        "chapter_a": chapters[0], "chapter_b": other, "mentor_chapter": mentor_chapter,
        "coordinator": claims(five.role, five.user_id), "mentor": claims(mentor.role, mentor.user_id),
        "anon": claims("anon", None), "service_role": claims(service.role, None),
    }


def claims(role: str, user_id: str | None) -> dict:
    """A JWT's claims as the server reads them: PostgREST's claims of the role, with an expiry."""
    return {**claims_for(role, user_id), "exp": int(time.time()) + 3600}


def topic(chapter: str) -> str:
    return f"stats:chapter:{chapter}"


def joins(conn, who: dict, channel: str) -> bool:
    return may_join(conn, Context(channel, who))


def test_each_role_joins_only_what_it_may(people, conn):
    a, b = topic(people["chapter_a"]), topic(people["chapter_b"])
    decided = {(who, channel): joins(conn, people[who], channel)
               for who in ("coordinator", "mentor", "anon", "service_role") for channel in (a, b)}
    assert decided == {("coordinator", a): True, ("coordinator", b): False,
                       ("mentor", a): False, ("mentor", b): False,
                       ("anon", a): False, ("anon", b): False,
                       ("service_role", a): True, ("service_role", b): True}
    # A mentor is refused even their own chapter's figures; a coordinator's broadcast read is
    # what lets them in, and presence on the topic is not granted.
    assert not joins(conn, people["mentor"], topic(people["mentor_chapter"]))
    assert read_policies(conn, Context(a, people["coordinator"]), presence=True) == {
        "broadcast": True, "presence": False}


@pytest.mark.parametrize("channel", [
    "stats:chapter:", "stats:chapter:not-a-uuid", "stats:chapter:{A}x", "stats:chapter:{A_UPPER}",
    "stats:chapter:{A}\n", " stats:chapter:{A}", "stats:chapter:{A}:x", "stats:chapter:{A}'; select 1; --",
    "stats:chapters:{A}", "stats:{A}", "", "room-1",
])
def test_a_malformed_topic_is_refused_and_raises_nothing(people, conn, channel):
    malformed = channel.format(A=people["chapter_a"], A_UPPER=people["chapter_a"].upper())
    # read_policies raises on an error of a policy; here every probe is simply not let through.
    assert read_policies(conn, Context(malformed, people["coordinator"]), presence=True) == {
        "broadcast": False, "presence": False}


def test_a_token_without_a_role_is_refused(people, conn):
    roleless = {key: value for key, value in people["coordinator"].items() if key != "role"}
    with pytest.raises(AuthorizationError, match="missing_role_claim"):
        read_policies(conn, Context(topic(people["chapter_a"]), roleless))
    assert not joins(conn, roleless, topic(people["chapter_a"]))


def test_a_coordinator_removed_from_a_chapter_is_refused_at_the_next_check(people, conn):
    a = topic(people["chapter_a"])
    assert joins(conn, people["coordinator"], a)
    conn.execute("delete from public.coordinator_chapters where user_id = %s and chapter_id = %s",
                 (people["coordinator"]["sub"], people["chapter_a"]))
    conn.commit()
    assert not joins(conn, people["coordinator"], a)


def test_without_todays_partition_the_check_cannot_decide(people, conn):
    with conn.transaction(force_rollback=True):
        conn.execute("select pg_advisory_xact_lock(1)")
        for (partition,) in conn.execute("select inhrelid::regclass::text from pg_inherits"
                                         " where inhparent = 'realtime.messages'::regclass").fetchall():
            conn.execute(f"drop table {partition}")
        with pytest.raises(AuthorizationError, match="missing_partition"), conn.transaction():
            read_policies(conn, Context(topic(people["chapter_a"]), people["coordinator"]))


def sends(conn, who: dict, channel: str) -> dict[str, bool]:
    return write_policies(conn, Context(channel, who), presence=True)


def test_no_api_role_may_send_on_a_stats_topic(people, conn):
    a = topic(people["chapter_a"])
    for who in ("coordinator", "mentor", "anon"):
        assert sends(conn, people[who], a) == {"broadcast": False, "presence": False}, who
    # Not by realtime.send, nor by inserting the row itself.
    for role, who in (("authenticated", people["coordinator"]), ("anon", people["anon"])):
        request(conn, role, "select realtime.send('{\"forged\": true}', 'stats_changed', %s, true)", (a,),
                user_id=who.get("sub"), read_only=False)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            request(conn, role, "insert into realtime.messages (topic, extension, event, payload, private)"
                    " values (%s, 'broadcast', 'stats_changed', '{}', true)", (a,), user_id=who.get("sub"),
                    read_only=False)
    assert conn.execute("select count(*) from realtime.messages where payload ? 'forged'").fetchone()[0] == 0


def test_the_apps_own_permissive_policies_open_no_stats_topic(people, conn):
    """Supabase's guides suggest `using (true)` for authenticated; with it, and an insert policy
    as open, stats: topics stay their coordinators' and nobody sends on them, while the app's
    own topics open as the app meant."""
    with conn.transaction(force_rollback=True):
        conn.execute("create policy app_reads on realtime.messages for select to anon, authenticated using (true)")
        conn.execute("create policy app_sends on realtime.messages for insert to anon, authenticated"
                     " with check (true)")
        a, b = topic(people["chapter_a"]), topic(people["chapter_b"])
        assert joins(conn, people["coordinator"], a) and not joins(conn, people["coordinator"], b)
        assert not joins(conn, people["mentor"], a) and not joins(conn, people["anon"], a)
        assert joins(conn, people["mentor"], "room-1") and joins(conn, people["anon"], "room-1")
        for who in ("coordinator", "mentor", "anon"):
            assert sends(conn, people[who], a) == {"broadcast": False, "presence": False}, who
            assert sends(conn, people[who], "room-1") == {"broadcast": True, "presence": True}, who
        # A row whose own topic is a stats: topic, sent under another channel's name, is refused too.
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            request(conn, "authenticated", "insert into realtime.messages (topic, extension, event, payload, private)"
                    " values (%s, 'broadcast', 'stats_changed', '{}', true)", (a,),
                    user_id=people["mentor"]["sub"], read_only=False)


def test_the_probe_of_an_unknown_chapter_is_refused(people, conn):
    assert not joins(conn, people["coordinator"], topic(str(uuid.uuid4())))
    assert joins(conn, people["service_role"], topic(str(uuid.uuid4())))

"""The schema realtime as Supabase's Realtime server defines it, made by the migration runner
where it is missing, and its daily partitions kept as the server keeps them."""

from __future__ import annotations

import datetime as dt

import pytest

from peerstats import database
from peerstats.migrations import Runner
from peerstats.realtime.partitions import create_partitions, drop_old_partitions

# supabase/realtime, priv/repo/tenant_schema/realtime/tables/messages.sql.
MESSAGES_COLUMNS = [
    ("topic", "text", True), ("extension", "text", True), ("payload", "jsonb", False),
    ("event", "text", False), ("private", "boolean", False),
    ("updated_at", "timestamp without time zone", True), ("inserted_at", "timestamp without time zone", True),
    ("id", "uuid", True), ("binary_payload", "bytea", False),
]


@pytest.fixture
def scratch(db_url, conn):
    """A connection to a new database of the session cluster, dropped afterwards."""
    conn.execute("drop database if exists peerstats_realtime_scratch")
    conn.execute("create database peerstats_realtime_scratch")
    with database.connect(db_url.replace("/postgres?", "/peerstats_realtime_scratch?")) as scratch_conn:
        yield scratch_conn
    conn.execute("drop database peerstats_realtime_scratch with (force)")


def utc_today(conn) -> dt.date:
    return conn.execute("select (now() at time zone 'UTC')::date").fetchone()[0]


def partitions(conn) -> list[str]:
    return [name for (name,) in conn.execute(
        "select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid "
        "where i.inhparent = 'realtime.messages'::regclass order by 1")]


def warnings_of(conn, statement: str, *params) -> list[str]:
    seen = []
    conn.add_notice_handler(lambda notice: seen.append(notice.message_primary))
    conn.execute(statement, params)
    return seen


def test_the_realtime_schema_is_made_as_supabase_defines_it(scratch):
    Runner(scratch).ensure_supabase_pieces()

    assert scratch.execute(
        "select attname, format_type(atttypid, atttypmod), attnotnull from pg_attribute "
        "where attrelid = 'realtime.messages'::regclass and attnum > 0 and not attisdropped "
        "order by attnum").fetchall() == MESSAGES_COLUMNS
    assert scratch.execute(
        "select c.relkind::text, pg_get_partkeydef(c.oid), c.relrowsecurity, c.relforcerowsecurity, "
        "pg_get_userbyid(c.relowner) from pg_class c where c.oid = 'realtime.messages'::regclass").fetchone() == (
        "p", "RANGE (inserted_at)", True, False, "supabase_realtime_admin")
    assert scratch.execute(
        "select pg_get_constraintdef(oid) from pg_constraint where conrelid = 'realtime.messages'::regclass "
        "and contype = 'p'").fetchone() == ("PRIMARY KEY (id, inserted_at)",)
    # Granted, not merely had (postgres is the superuser here).
    assert scratch.execute(
        "select array_agg(distinct pg_get_userbyid(a.grantee)::text || ' ' || a.privilege_type) "
        "from pg_class c, aclexplode(c.relacl) a where c.oid = 'realtime.messages'::regclass "
        "and pg_get_userbyid(a.grantee) <> 'supabase_realtime_admin'").fetchone()[0] == sorted(
        f"{role} {privilege}" for role in ("anon", "authenticated", "service_role", "postgres")
        for privilege in ("INSERT", "SELECT", "UPDATE"))
    assert sorted(function for (function,) in scratch.execute(
        "select p.oid::regprocedure::text || ' ' || pg_get_userbyid(p.proowner) "
        "from pg_proc p where p.pronamespace = 'realtime'::regnamespace")) == sorted([
            "realtime.broadcast_changes(text,text,text,text,text,record,record,text) supabase_realtime_admin",
            "realtime.send(jsonb,text,text,boolean) supabase_realtime_admin",
            "realtime.send_binary(bytea,text,text,boolean) supabase_realtime_admin",
            "realtime.topic() supabase_realtime_admin"])

    # Run again, nothing changes; a database whose realtime the server made is left alone.
    made = scratch.execute("select oid from pg_class where relnamespace = 'realtime'::regnamespace "
                           "order by 1").fetchall()
    Runner(scratch).ensure_supabase_pieces()
    assert scratch.execute("select oid from pg_class where relnamespace = 'realtime'::regnamespace "
                           "order by 1").fetchall() == made


def test_an_existing_realtime_schema_is_left_alone(scratch):
    scratch.execute("create schema realtime")
    scratch.execute("create table realtime.made_by_the_server (x integer)")
    Runner(scratch).ensure_supabase_pieces()
    assert scratch.execute("select array_agg(relname::text) from pg_class "
                           "where relnamespace = 'realtime'::regnamespace").fetchone()[0] == ["made_by_the_server"]


def test_send_warns_without_a_partition_and_inserts_once_the_server_made_them(scratch):
    Runner(scratch).ensure_supabase_pieces()
    scratch.execute("set time zone 'UTC'")

    # No partition for now: the insert fails inside send, which only warns.
    with scratch.transaction():
        warned = warnings_of(scratch, "select realtime.send('{\"a\": 1}', 'e', 'room', true)")
        assert scratch.execute("select count(*) from realtime.messages").fetchone()[0] == 0
    assert len(warned) == 1 and warned[0].startswith("WarnSendingBroadcastMessage: no partition"), warned

    with scratch.transaction():
        create_partitions(scratch)
    today = utc_today(scratch)
    assert partitions(scratch) == [f"messages_{today + dt.timedelta(days=d):%Y_%m_%d}" for d in range(-1, 4)]
    assert {owner for (owner,) in scratch.execute(
        "select pg_get_userbyid(c.relowner) from pg_inherits i join pg_class c on c.oid = i.inhrelid "
        "where i.inhparent = 'realtime.messages'::regclass")} == {"supabase_realtime_admin"}

    with scratch.transaction():
        assert warnings_of(scratch, "select realtime.send('{\"a\": 1}', 'e', 'room')") == []
        # send leaves the topic set for the rest of the transaction, where realtime.topic() reads it.
        assert scratch.execute("select realtime.topic()").fetchone() == ("room",)
    row = scratch.execute("select id, topic, extension, event, private, payload from realtime.messages").fetchone()
    message_id, *rest, payload = row
    assert rest == ["room", "broadcast", "e", True] and payload == {"a": 1, "id": str(message_id)}
    assert scratch.execute("select realtime.topic()").fetchone() == (None,)

    # Creating them again changes nothing.
    with scratch.transaction():
        create_partitions(scratch)
    assert len(partitions(scratch)) == 5


def test_partitions_older_than_72_hours_are_dropped(scratch):
    Runner(scratch).ensure_supabase_pieces()
    today = utc_today(scratch)
    with scratch.transaction():
        create_partitions(scratch)
        for days_ago in (3, 4, 9):
            day = today - dt.timedelta(days=days_ago)
            scratch.execute(f"create table realtime.messages_{day:%Y_%m_%d} partition of realtime.messages "
                            f"for values from ('{day}') to ('{day + dt.timedelta(days=1)}')")
    with scratch.transaction():
        drop_old_partitions(scratch)
    oldest_kept = scratch.execute("select ((now() - interval '72 hours') at time zone 'UTC')::date").fetchone()[0]
    created = [today + dt.timedelta(days=d) for d in (-9, -4, -3, -1, 0, 1, 2, 3)]
    assert partitions(scratch) == [f"messages_{day:%Y_%m_%d}" for day in created if day >= oldest_kept]
    assert len(partitions(scratch)) < len(created)

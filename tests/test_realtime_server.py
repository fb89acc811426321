"""The model of the Realtime server (peerstats.realtime.server) behaves as supabase/realtime does:
tokens refused at connect and at join with the server's texts, private joins decided by the
server's own authorization queries over the row security of realtime.messages, delivery of
committed rows only and in commit order from the WAL, in both serializers, channels shut down
when their token expires or loses its read permission, and the daily partitions made at the
first join and dropped after 72 hours by the Janitor.

Each test runs on a database of its own with only Supabase's pieces (the schema realtime among
them) and policies of its own on topics no migration knows. Most clients are raw WebSockets;
the last tests connect the official clients unchanged: supabase-py's `realtime` (serializer
1.0.0) and @supabase/realtime-js in Node (2.0.0, binary broadcast frames).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import secrets
import struct
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from realtime import AsyncRealtimeClient, RealtimeSubscribeStates
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from peerstats import database
from peerstats.migrations import Runner
from peerstats.realtime import tokens
from peerstats.realtime.server import serve_in_thread

SECRET = secrets.token_urlsafe(32)
ALLOWED_USER = str(uuid.uuid4())
OTHER_USER = str(uuid.uuid4())
# Read: an authenticated user may join model-test:<their own id>, and anyone authenticated
# model-test:open; presence only on model-test:presence-only. Write: only on model-test:open.
# service_role bypasses row security.
TEST_POLICIES = """
create policy model_test_read on realtime.messages for select to authenticated
  using (realtime.topic() in ('model-test:' || auth.uid()::text, 'model-test:open')
         and extension = 'broadcast');
create policy model_test_write on realtime.messages for insert to authenticated
  with check (realtime.topic() = 'model-test:open' and extension = 'broadcast');
create policy model_test_presence on realtime.messages for select to authenticated
  using (realtime.topic() = 'model-test:presence-only' and extension = 'presence');
"""


@pytest.fixture
def realtime_db(db_url, conn):
    """The URL of a new database of the session cluster with Supabase's pieces and the test
    policies; dropped afterwards."""
    conn.execute("drop database if exists peerstats_realtime_model")
    conn.execute("create database peerstats_realtime_model")
    url = db_url.replace("/postgres?", "/peerstats_realtime_model?")
    with database.connect(url) as setup:
        Runner(setup).ensure_supabase_pieces()
        setup.execute(TEST_POLICIES)
    yield url
    conn.execute("drop database peerstats_realtime_model with (force)")


@pytest.fixture
def server(realtime_db):
    with serve_in_thread(realtime_db, SECRET) as running:
        yield running


def token(role: str | None = "authenticated", user_id: str | None = ALLOWED_USER, *, lifetime_s: int = 3600,
          secret: str = SECRET) -> str:
    now = int(time.time())
    claims = {"iat": now, "exp": now + lifetime_s}
    if role is not None:
        claims["role"] = role
    if user_id is not None:
        claims["sub"] = user_id
    return tokens.sign(secret, claims)


def socket_url(server, apikey: str | None, vsn: str = "1.0.0") -> str:
    return (server.url.replace("http://", "ws://") + "/realtime/v1/websocket?vsn=" + vsn
            + (f"&apikey={apikey}" if apikey is not None else ""))


class Client:
    """A raw Phoenix client over one WebSocket, in either serializer."""

    def __init__(self, server, apikey: str, vsn: str = "1.0.0") -> None:
        self.ws = connect(socket_url(server, apikey, vsn))
        self.vsn = vsn
        self.ref = 0

    def push(self, topic: str, event: str, payload: dict, join_ref: str | None = None) -> str:
        self.ref += 1
        ref = str(self.ref)
        if self.vsn == "2.0.0":
            self.ws.send(json.dumps([join_ref, ref, topic, event, payload]))
        else:
            self.ws.send(json.dumps({"topic": topic, "event": event, "payload": payload, "ref": ref,
                                     "join_ref": join_ref}))
        return ref

    def receive(self, timeout: float = 5) -> dict:
        frame = self.ws.recv(timeout=timeout)
        if isinstance(frame, bytes):
            return decode_user_broadcast(frame)
        decoded = json.loads(frame)
        if self.vsn == "2.0.0":
            join_ref, ref, topic, event, payload = decoded
            return {"join_ref": join_ref, "ref": ref, "topic": topic, "event": event, "payload": payload}
        return decoded

    def join(self, topic: str, access_token: str | None = None, *, private: bool = True,
             presence: bool = False) -> dict:
        payload: dict = {"config": {"broadcast": {"ack": False, "self": False},
                                    "presence": {"key": "", "enabled": presence},
                                    "postgres_changes": [], "private": private}}
        if access_token is not None:
            payload["access_token"] = access_token
        ref = self.push(f"realtime:{topic}", "phx_join", payload, join_ref=str(self.ref + 1))
        reply = self.receive()
        assert reply["event"] == "phx_reply" and reply["ref"] == ref, reply
        return reply["payload"]

    def close(self) -> None:
        self.ws.close()


def decode_user_broadcast(frame: bytes) -> dict:
    """The server's binary user broadcast (kind 4), decoded as realtime-js's serializer does."""
    kind, topic_size, event_size, metadata_size, encoding = struct.unpack_from("5B", frame)
    assert kind == 4
    offset = 5
    topic = frame[offset:offset + topic_size].decode()
    offset += topic_size
    event = frame[offset:offset + event_size].decode()
    offset += event_size
    metadata = json.loads(frame[offset:offset + metadata_size]) if metadata_size else None
    body = frame[offset + metadata_size:]
    return {"binary": True, "topic": topic, "event": "broadcast",
            "payload": {"type": "broadcast", "event": event, "meta": metadata,
                        "payload": json.loads(body) if encoding == 1 else body}}


def send_from_database(url: str, *messages: tuple[str, dict], private: bool = True, commit: bool = True) -> None:
    """realtime.send of each (topic, payload), event 'changed', in one transaction."""
    with database.connect(url) as writer:
        writer.execute("set time zone 'UTC'")
        with writer.transaction(force_rollback=not commit):
            for topic, payload in messages:
                writer.execute("select realtime.send(%s, 'changed', %s, %s)", (json.dumps(payload), topic, private))


@pytest.mark.parametrize("apikey, error", [
    (None, "API key is missing"),
    ("not-a-token", "The token provided is not a valid JWT"),
    (token(secret=secrets.token_urlsafe(32)), "Failed to validate JWT signature"),
    (token(lifetime_s=-10), "Token has expired"),
    (token(role=None), "Fields `role` and `exp` are required in JWT"),
])
def test_connect_refuses_a_bad_apikey_with_the_servers_401(server, apikey, error):
    with pytest.raises(InvalidStatus) as refused:
        connect(socket_url(server, apikey))
    assert refused.value.response.status_code == 401
    assert json.loads(refused.value.response.body) == {"error": error}


def test_join_refuses_a_bad_access_token_with_the_servers_reason(server):
    client = Client(server, token("anon", None))
    now = int(time.time())
    cases = {
        token(secret=secrets.token_urlsafe(32)): "JwtSignatureError: Failed to validate JWT signature",
        tokens.sign(SECRET, {"role": "authenticated", "sub": ALLOWED_USER, "exp": now - 30}):
            "InvalidJWTToken: Token has expired 30 seconds ago",
        token(role=None): "InvalidJWTToken: Fields `role` and `exp` are required in JWT",
        tokens.sign(SECRET, {"role": "authenticated", "sub": ALLOWED_USER}):
            "InvalidJWTToken: Fields `role` and `exp` are required in JWT",
        "a.b.c": "MalformedJWT: The token provided is not a valid JWT",
    }
    for access_token, reason in cases.items():
        reply = client.join(f"model-test:{ALLOWED_USER}", access_token)
        assert reply["status"] == "error"
        # The expiry is counted in whole seconds at the moment of the join.
        if "expired" in reason:
            assert reply["response"]["reason"].startswith("InvalidJWTToken: Token has expired ")
        else:
            assert reply["response"] == {"reason": reason}
    client.close()


def test_private_joins_are_decided_by_the_policies_through_the_servers_probe(server, realtime_db):
    client = Client(server, token("anon", None))
    refused = "Unauthorized: You do not have permissions to read from this Channel topic: "
    decisions = [
        (f"model-test:{ALLOWED_USER}", token(), "ok"),
        ("model-test:open", token(user_id=OTHER_USER), "ok"),
        (f"model-test:{ALLOWED_USER}", token(user_id=OTHER_USER), refused),
        (f"model-test:{ALLOWED_USER}", token("anon", None), refused),
        ("model-test:nobody-may", token(), refused),
        ("model-test:nobody-may", token("service_role", None), "ok"),
        # A role the database does not know: set_config fails, the server reports it unauthorized.
        (f"model-test:{ALLOWED_USER}", token("no_such_role"), refused),
    ]
    for topic, access_token, expected in decisions:
        reply = client.join(topic, access_token)
        if expected == "ok":
            assert reply == {"status": "ok", "response": {"postgres_changes": []}}, topic
        else:
            assert reply == {"status": "error", "response": {"reason": expected + topic}}, (topic, access_token)
    # A public channel needs no policy.
    assert client.join("model-test:nobody-may", token("anon", None), private=False)["status"] == "ok"
    # A read of presence lets a join in too, when the join enables presence.
    assert client.join("model-test:presence-only", token())["status"] == "error"
    assert client.join("model-test:presence-only", token(), presence=True)["status"] == "ok"
    client.close()
    with database.connect(realtime_db) as conn:
        # Every probe row was rolled back.
        assert conn.execute("select count(*) from realtime.messages").fetchone()[0] == 0


def test_heartbeat_is_answered_in_each_serializer(server):
    v1 = Client(server, token())
    ref = v1.push("phoenix", "heartbeat", {})
    assert v1.receive() == {"topic": "phoenix", "event": "phx_reply", "payload": {"status": "ok", "response": {}},
                            "ref": ref}
    v2 = Client(server, token(), "2.0.0")
    ref = v2.push("phoenix", "heartbeat", {})
    assert v2.receive() == {"join_ref": None, "ref": ref, "topic": "phoenix", "event": "phx_reply",
                            "payload": {"status": "ok", "response": {}}}
    # A message to a topic not joined.
    ref = v1.push("realtime:model-test:open", "broadcast", {"type": "broadcast", "event": "e", "payload": {}})
    assert v1.receive()["payload"] == {"status": "error", "response": {"reason": "unmatched topic"}}
    v1.close()
    v2.close()


def test_committed_rows_only_in_commit_order_to_matching_channels_in_both_serializers(server, realtime_db):
    mine = f"model-test:{ALLOWED_USER}"
    v1, v2, public = Client(server, token()), Client(server, token(), "2.0.0"), Client(server, token())
    assert v1.join(mine)["status"] == v2.join(mine)["status"] == "ok"
    assert public.join(mine, private=False)["status"] == "ok"

    send_from_database(realtime_db, (mine, {"n": 0}), commit=False)  # rolled back: never sent
    send_from_database(realtime_db, (mine, {"n": 1}))
    send_from_database(realtime_db, (mine, {"n": 2}), ("model-test:open", {"n": "elsewhere"}), (mine, {"n": 3}))
    # Two transactions open at once: the one that commits first is delivered first.
    with database.connect(realtime_db) as first, database.connect(realtime_db) as second:
        first.execute("set time zone 'UTC'")
        second.execute("set time zone 'UTC'")
        first.execute("begin")
        first.execute("select realtime.send('{\"n\": 5}', 'changed', %s)", (mine,))
        second.execute("begin")
        second.execute("select realtime.send('{\"n\": 4}', 'changed', %s)", (mine,))
        second.execute("commit")
        first.execute("commit")
    send_from_database(realtime_db, (mine, {"n": "public"}), private=False)

    with database.connect(realtime_db) as conn:
        ids = dict(conn.execute("select payload->>'n', id::text from realtime.messages").fetchall())
    for client in (v1, v2):
        received = [client.receive() for _ in range(5)]
        assert [m["payload"]["payload"]["n"] for m in received] == [1, 2, 3, 4, 5]
        first = received[0]
        assert first["topic"] == f"realtime:{mine}" and first["event"] == "broadcast"
        assert first["payload"]["type"] == "broadcast" and first["payload"]["event"] == "changed"
        assert first["payload"]["meta"] == {"id": ids["1"]}
        assert first["payload"]["payload"] == {"n": 1, "id": ids["1"]}
        assert first.get("binary", False) == (client is v2)  # v2 gets the binary user broadcast frame
    # The public row reached the public channel only; nothing else came.
    assert public.receive()["payload"]["payload"]["n"] == "public"
    for client in (v1, v2, public):
        with pytest.raises(TimeoutError):
            client.receive(timeout=0.5)
        client.close()


def test_a_channel_closes_when_its_token_expires(server):
    client = Client(server, token("anon", None))
    assert client.join(f"model-test:{ALLOWED_USER}", token(lifetime_s=2))["status"] == "ok"
    system = client.receive(timeout=10)
    assert system["event"] == "system" and system["payload"]["status"] == "error"
    assert system["payload"]["message"].startswith("Token has expired")
    closed = client.receive()
    assert (closed["event"], closed["payload"]) == ("phx_close", {})
    client.close()


def test_a_new_access_token_that_loses_the_read_permission_closes_the_channel(server):
    client = Client(server, token("anon", None))
    topic = f"model-test:{ALLOWED_USER}"
    assert client.join(topic, token())["status"] == "ok"
    client.push(f"realtime:{topic}", "access_token", {"access_token": token(user_id=OTHER_USER)}, join_ref="2")
    system = client.receive()
    assert system["payload"] == {"extension": "system", "status": "error", "channel": topic,
                                 "message": f"You no longer have permission to read from this Channel topic: {topic}"}
    assert client.receive()["event"] == "phx_close"
    client.close()


def test_client_broadcasts_pass_the_servers_write_check(server):
    sender, receiver = Client(server, token()), Client(server, token(user_id=OTHER_USER))
    mine = f"model-test:{ALLOWED_USER}"
    for topic in ("model-test:open", mine):
        assert sender.join(topic)["status"] == "ok"
    assert receiver.join("model-test:open")["status"] == "ok"
    # The write policy allows model-test:open only: the broadcast on the sender's own topic is
    # dropped without a reply (nobody else listens there anyway), the other reaches the receiver.
    sender.push(f"realtime:{mine}", "broadcast", {"type": "broadcast", "event": "hello", "payload": {"x": 0}})
    sender.push("realtime:model-test:open", "broadcast", {"type": "broadcast", "event": "hello", "payload": {"x": 1}})
    got = receiver.receive()
    assert got["event"] == "broadcast" and got["payload"] == {"type": "broadcast", "event": "hello", "payload": {"x": 1}}
    with pytest.raises(TimeoutError):
        sender.receive(timeout=0.5)  # self is false: the sender does not get its own
    sender.close()
    receiver.close()


def test_partitions_are_made_at_the_first_join_and_the_janitor_drops_those_past_72_hours(server, realtime_db):
    def partitions(conn) -> list[str]:
        return [name for name, in conn.execute(
            "select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid"
            " where i.inhparent = 'realtime.messages'::regclass order by 1")]

    with database.connect(realtime_db) as conn:
        assert partitions(conn) == []  # the server has not connected to the tenant yet
        client = Client(server, token())
        assert client.join(f"model-test:{ALLOWED_USER}")["status"] == "ok"
        today = conn.execute("select (now() at time zone 'UTC')::date").fetchone()[0]
        assert partitions(conn) == [f"messages_{today + dt.timedelta(days=d):%Y_%m_%d}" for d in range(-1, 4)]
        old = today - dt.timedelta(days=5)
        conn.execute(f"create table realtime.messages_{old:%Y_%m_%d} partition of realtime.messages"
                     f" for values from ('{old}') to ('{old + dt.timedelta(days=1)}')")
        server.server.run_janitor()
        assert f"messages_{old:%Y_%m_%d}" not in partitions(conn)
        assert len(partitions(conn)) == 5
        client.close()


def test_the_official_python_client_receives_a_broadcast_from_a_committed_write(server, realtime_db):
    mine = f"model-test:{ALLOWED_USER}"

    async def scenario() -> tuple[list, list, dict]:
        client = AsyncRealtimeClient(server.url, token("anon", None), auto_reconnect=False, max_retries=1)
        await client.set_auth(token())
        received: asyncio.Queue = asyncio.Queue()
        states: list = []
        channel = client.channel(mine, {"config": {"private": True}})
        channel.on_broadcast("changed", received.put_nowait)
        await channel.subscribe(lambda state, error: states.append(state))
        # Someone else's channel: refused, with the server's reason.
        refused: list = []
        await client.channel(f"model-test:{OTHER_USER}", {"config": {"private": True}}).subscribe(
            lambda state, error: refused.append((state, str(error))))
        await asyncio.to_thread(send_from_database, realtime_db, (mine, {"n": 1}), commit=False)
        await asyncio.to_thread(send_from_database, realtime_db, (mine, {"n": 2}))
        payload = await asyncio.wait_for(received.get(), 10)
        await client.close()
        return states, refused, payload

    states, refused, payload = asyncio.run(scenario())
    assert states == [RealtimeSubscribeStates.SUBSCRIBED]
    assert refused[0][0] == RealtimeSubscribeStates.CHANNEL_ERROR
    assert "You do not have permissions to read from this Channel topic" in refused[0][1]
    assert payload["event"] == "changed" and payload["payload"]["n"] == 2  # not the rolled-back 1
    assert payload["meta"]["id"] == payload["payload"]["id"]


REPOSITORY = Path(__file__).resolve().parents[1]


def test_realtime_js_in_node_receives_a_broadcast_from_a_committed_write(server, realtime_db):
    mine = f"model-test:{ALLOWED_USER}"
    node = subprocess.Popen(
        ["node", str(REPOSITORY / "tests" / "js" / "receive_broadcast.cjs"), server.url, token("anon", None), token(),
         mine], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "NODE_PATH": str(REPOSITORY / ".tools" / "node_modules")})
    try:
        assert json.loads(node.stdout.readline()) == {"status": "SUBSCRIBED", "error": None}
        send_from_database(realtime_db, (mine, {"n": 1}), commit=False)
        send_from_database(realtime_db, (mine, {"n": 2}))
        received = json.loads(node.stdout.readline())
        assert node.wait(timeout=20) == 0, node.stderr.read()
    finally:
        node.kill()
    message = received["broadcast"]
    assert message["type"] == "broadcast" and message["event"] == "changed"
    assert message["payload"]["n"] == 2 and message["meta"]["id"] == message["payload"]["id"]


def test_the_projects_stats_topics_through_the_model_decide_each_role_as_specified(hand_checked, migrated):
    """The migrations' policies on stats:chapter:<id>, through the model's joins: a coordinator of
    A and B joins A, not C; a mentor and anon join nothing; service_role joins any; a malformed
    topic or id is refused, not an error."""
    coordinator_ab, anna = hand_checked.users["coord.ab@peerstats.test"], hand_checked.users["anna@peerstats.test"]
    a, c = hand_checked.chapters["Chapter A"], hand_checked.chapters["Chapter C"]
    with serve_in_thread(migrated, SECRET) as running:
        client = Client(running, token("anon", None))
        decisions = [
            (f"stats:chapter:{a}", token(user_id=coordinator_ab), True),
            (f"stats:chapter:{c}", token(user_id=coordinator_ab), False),
            (f"stats:chapter:{a}", token(user_id=anna), False),
            (f"stats:chapter:{a}", token("anon", None), False),
            (f"stats:chapter:{c}", token("service_role", None), True),
            ("stats:chapter:not-a-uuid", token(user_id=coordinator_ab), False),
            (f"stats:chapter:{a}:extra", token(user_id=coordinator_ab), False),
        ]
        for topic, access_token, allowed in decisions:
            reply = client.join(topic, access_token)
            assert reply["status"] == ("ok" if allowed else "error"), (topic, reply)
            if not allowed:
                assert reply["response"]["reason"] == (
                    f"Unauthorized: You do not have permissions to read from this Channel topic: {topic}")
        client.close()

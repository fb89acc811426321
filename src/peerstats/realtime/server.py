"""A model of the Supabase Realtime server, enough for broadcasts from the database to private
channels, that the official clients connect to unchanged.

What it does as the server does (supabase/realtime; the module names below are its):
- Connect (RealtimeWeb.UserSocket): a WebSocket at .../websocket?apikey=<JWT>&vsn=<1.0.0|2.0.0>;
  the apikey token is checked as every token is (tokens.verify), a refusal is an HTTP 401.
- Join (RealtimeChannel.join): the join's access_token (else the socket's) is checked; the
  tenant's database connection starts on the first join (Connect: the daily partitions, then
  the replication of realtime.messages); a private channel is authorized by the server's own
  read check; the reply is ok with postgres_changes, or an error with the server's reason.
- Token life (confirm_token, handle_in "access_token"): a channel is re-checked at its token's
  expiry (at least every 5 minutes) and on a new access_token; it is shut down (a system
  message, then phx_close) when the token fails or a read permission it had is gone.
- Delivery (ReplicationConnection, MessageDispatcher): committed inserts into realtime.messages,
  read from the WAL by logical decoding, in commit order, to every channel of that topic whose
  privacy matches the row's and, if private, whose join-time read check passed; a v2 client gets
  the binary user broadcast frame, a v1 client the JSON broadcast.
- Client broadcasts: on a private channel the server's write check, run on the first one and
  kept; on a public one none; `self` and `ack` as configured.
- Janitor: the partitions from yesterday to three days ahead, and those of days before 72 hours
  ago dropped, at connect and every `janitor_interval_s`.
Not modelled: presence (beyond its read check at join), Postgres Changes, replay, rate limits,
many tenants.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from peerstats.realtime import authorization, partitions, phoenix, replication, tokens
from peerstats.realtime.phoenix import Message, UserBroadcast

log = logging.getLogger(__name__)

# RealtimeChannel: @confirm_token_ms_interval.
CONFIRM_TOKEN_INTERVAL_S = 300
# Janitor: JANITOR_SCHEDULE_TIMER_IN_MS's default.
JANITOR_INTERVAL_S = 4 * 3600
# Tenant.max_payload_size_in_kb's default, and the 500 bytes Tenants.validate_payload_size allows past it.
MAX_PAYLOAD_BYTES = 3000 * 1000 + 500
# How often the replication slot is read: the delay polling adds to a delivery, at most.
POLL_INTERVAL_S = 0.02


class MissingPartition(Exception):
    """The probe row found no partition of realtime.messages for now (check_violation)."""


class JoinRefused(Exception):
    """A join the server refuses; the message is its reason."""


@dataclass(eq=False)
class Channel:
    connection: Connection
    topic: str
    join_ref: str | None
    private: bool
    self_broadcast: bool
    ack: bool
    access_token: str
    claims: dict[str, Any]
    # Presence is not modelled, but a join that enables it is authorized on it too.
    presence_enabled: bool = False
    broadcast_read: bool | None = None
    presence_read: bool | None = None
    broadcast_write: bool | None = None
    confirm_timer: asyncio.TimerHandle | None = None

    @property
    def sub_topic(self) -> str:
        return self.topic.removeprefix("realtime:")


@dataclass(eq=False)
class Connection:
    websocket: ServerConnection
    vsn: str
    token: str
    headers: dict[str, str]
    channels: dict[str, Channel] = field(default_factory=dict)
    outbox: asyncio.Queue = field(default_factory=asyncio.Queue)

    def send(self, frame: str | bytes | None) -> None:
        """Queue a frame: one writer per connection keeps the frames in the order they were queued."""
        if frame is not None:
            self.outbox.put_nowait(frame)

    async def write_frames(self) -> None:
        while True:
            frame = await self.outbox.get()
            try:
                await self.websocket.send(frame)
            except ConnectionClosed:
                return


class RealtimeServer:
    def __init__(self, db_url: str, jwt_secret: str, *, host: str = "127.0.0.1", port: int = 0,
                 janitor_interval_s: float = JANITOR_INTERVAL_S) -> None:
        self.db_url = db_url
        self.jwt_secret = jwt_secret
        self.host, self.port = host, port
        self.janitor_interval_s = janitor_interval_s
        self.connections: set[Connection] = set()
        self._tenant_lock = asyncio.Lock()
        self._tenant_connected = False
        self._policy_conn: psycopg.Connection | None = None
        self._policy_lock = threading.Lock()
        self._stopping = threading.Event()
        self._replication_thread: threading.Thread | None = None
        self._replication_ready = threading.Event()
        self._replication_error: BaseException | None = None
        self._janitor: asyncio.Task | None = None
        self._server = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def url(self) -> str:
        """The URL clients are given; they append /websocket (supabase-js adds /realtime/v1 first)."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._server = await serve(self._handle, self.host, self.port, process_request=self._check_connect)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self._stopping.set()
        if self._janitor:
            self._janitor.cancel()
        if self._server:
            self._server.close()
            await self._server.wait_closed()
        if self._replication_thread:
            await asyncio.to_thread(self._replication_thread.join)
        if self._policy_conn:
            self._policy_conn.close()

    # --- connect -------------------------------------------------------------------------------

    def _check_connect(self, websocket: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        if not url.path.rstrip("/").endswith("/websocket"):
            return websocket.respond(HTTPStatus.NOT_FOUND, "Not Found\n")
        query = {name: values[-1] for name, values in parse_qs(url.query).items()}
        token = request.headers.get("x-api-key") or query.get("apikey")
        if token is None:
            return json_response(401, "API key is missing")
        try:
            tokens.verify(token, self.jwt_secret)
        except tokens.TokenRefused as refused:
            return json_response(401, refused.connect_error)
        return None

    async def _handle(self, websocket: ServerConnection) -> None:
        url = urlsplit(websocket.request.path)
        query = {name: values[-1] for name, values in parse_qs(url.query).items()}
        token = websocket.request.headers.get("x-api-key") or query["apikey"]
        connection = Connection(
            websocket, phoenix.V2 if query.get("vsn") == phoenix.V2 else phoenix.V1, token,
            {name: value for name, value in websocket.request.headers.raw_items() if name.lower().startswith("x-")})
        self.connections.add(connection)
        writer = asyncio.create_task(connection.write_frames())
        try:
            async for frame in websocket:
                try:
                    decoded = phoenix.decode(frame, connection.vsn)
                except phoenix.InvalidMessage as invalid:
                    log.info("ignored a frame the serializer cannot read: %s", invalid)
                    continue
                await self._receive(connection, decoded)
        except ConnectionClosed:
            pass
        finally:
            for channel in connection.channels.values():
                if channel.confirm_timer:
                    channel.confirm_timer.cancel()
            self.connections.discard(connection)
            writer.cancel()

    async def _receive(self, connection: Connection, decoded: Message | tuple[Message, UserBroadcast]) -> None:
        message, user_broadcast = decoded if isinstance(decoded, tuple) else (decoded, None)
        vsn = connection.vsn
        if message.topic == "phoenix" and message.event == "heartbeat":
            connection.send(phoenix.reply(message, "ok", {}, vsn))
            return
        if message.event == "phx_join":
            await self._join(connection, message)
            return
        channel = connection.channels.get(message.topic)
        if channel is None:
            # Phoenix.Socket: a message to a topic this socket has not joined.
            connection.send(phoenix.reply(message, "error", {"reason": "unmatched topic"}, vsn))
            return
        try:
            if message.event == "phx_leave":
                self._close(channel, reply_to=message)
            elif message.event == "access_token" and isinstance(message.payload, dict):
                await self._refresh_token(channel, message.payload.get("access_token"))
            elif message.event == "broadcast":
                await self._client_broadcast(channel, message, user_broadcast)
            else:
                log.info("unexpected message from client of type %s", message.event)
        except Exception:  # noqa: BLE001 - a channel that crashes, as Phoenix reports it
            log.exception("the channel %s crashed", channel.topic)
            self._forget(channel)
            connection.send(phoenix.encode(Message(channel.topic, "phx_error", {}, channel.join_ref, channel.join_ref),
                                           vsn))

    # --- join ----------------------------------------------------------------------------------

    async def _join(self, connection: Connection, message: Message) -> None:
        vsn = connection.vsn
        payload = message.payload if isinstance(message.payload, dict) else {}
        if not message.topic.startswith("realtime:"):
            connection.send(phoenix.reply(message, "error", {"reason": "unmatched topic"}, vsn))
            return
        if message.topic == "realtime:":
            connection.send(phoenix.reply(message, "error",
                                          {"reason": "TopicNameRequired: You must provide a topic name"}, vsn))
            return
        if message.topic in connection.channels:
            # Phoenix.Socket shuts a duplicate's channel down and forgets it first, unannounced.
            self._forget(connection.channels[message.topic])
        config = payload.get("config") or {}
        broadcast_config = config.get("broadcast") or {}
        access_token = payload.get("access_token") or payload.get("user_token")
        if not isinstance(access_token, str) or access_token.startswith("sb_"):
            access_token = connection.token
        channel = Channel(connection, message.topic, message.join_ref or message.ref, truthy(config.get("private")),
                          truthy(broadcast_config.get("self")), truthy(broadcast_config.get("ack")),
                          access_token, {}, truthy((config.get("presence") or {}).get("enabled")))
        try:
            channel.claims = tokens.verify(access_token, self.jwt_secret)
            await self._connect_tenant()
            if channel.private:
                await asyncio.to_thread(self._read_check, channel)
                # The join needs a read of broadcast or of presence (maybe_assign_policies).
                if not (channel.broadcast_read or channel.presence_read):
                    raise JoinRefused("Unauthorized: You do not have permissions to read from this Channel topic: "
                                      + channel.sub_topic)
        except tokens.TokenRefused as refused:
            connection.send(phoenix.reply(message, "error", {"reason": refused.join_reason}, vsn))
            return
        except MissingPartition:
            connection.send(phoenix.reply(message, "error", {
                "reason": "MissingPartition: Realtime was unable to find the expected messages partition"}, vsn))
            return
        except JoinRefused as refused:
            connection.send(phoenix.reply(message, "error", {"reason": str(refused)}, vsn))
            return
        except Exception as failed:  # noqa: BLE001 - the join's rescue clause, as the server's
            log.exception("UnknownErrorOnChannel")
            connection.send(phoenix.reply(message, "error", {"reason": f"UnknownErrorOnChannel: {failed}"}, vsn))
            return
        connection.channels[message.topic] = channel
        self._schedule_confirm_token(channel)
        connection.send(phoenix.reply(message, "ok", {"postgres_changes": []}, vsn))

    def _schedule_confirm_token(self, channel: Channel) -> None:
        if channel.confirm_timer:
            channel.confirm_timer.cancel()
        delay = min(CONFIRM_TOKEN_INTERVAL_S, channel.claims["exp"] - time.time())
        channel.confirm_timer = asyncio.get_running_loop().call_later(max(delay, 0), self._confirm_token, channel)

    def _confirm_token(self, channel: Channel) -> None:
        try:
            channel.claims = tokens.verify(channel.access_token, self.jwt_secret)
        except tokens.TokenRefused as refused:
            self._shut_down(channel, refused.shutdown_message)
            return
        self._schedule_confirm_token(channel)

    async def _refresh_token(self, channel: Channel, access_token: Any) -> None:
        if not isinstance(access_token, str) or access_token.startswith("sb_") or access_token == channel.access_token:
            return
        channel.access_token = access_token
        had_read = (channel.broadcast_read, channel.presence_read)
        channel.broadcast_write = None
        try:
            channel.claims = tokens.verify(access_token, self.jwt_secret)
            if channel.private:
                await asyncio.to_thread(self._read_check, channel)
        except tokens.TokenRefused as refused:
            self._shut_down(channel, refused.shutdown_message)
            return
        except MissingPartition:
            self._shut_down(channel, "Realtime was unable to connect to the project database")
            return
        if (had_read[0] and not channel.broadcast_read) or (had_read[1] and not channel.presence_read):
            self._shut_down(channel,
                            f"You no longer have permission to read from this Channel topic: {channel.sub_topic}")
            return
        self._schedule_confirm_token(channel)

    def _shut_down(self, channel: Channel, reason: str) -> None:
        """RealtimeChannel.shutdown_response: a system message with the reason, then the channel
        stops normally, for which Phoenix sends phx_close."""
        channel.connection.send(phoenix.encode(Message(
            channel.topic, "system", {"extension": "system", "status": "error", "message": reason,
                                      "channel": channel.sub_topic}, None, channel.join_ref), channel.connection.vsn))
        self._close(channel)

    def _forget(self, channel: Channel) -> None:
        if channel.connection.channels.get(channel.topic) is channel:
            del channel.connection.channels[channel.topic]
        if channel.confirm_timer:
            channel.confirm_timer.cancel()

    def _close(self, channel: Channel, *, reply_to: Message | None = None) -> None:
        connection = channel.connection
        self._forget(channel)
        if reply_to is not None:
            connection.send(phoenix.reply(reply_to, "ok", {}, connection.vsn))
        connection.send(phoenix.encode(Message(channel.topic, "phx_close", {}, channel.join_ref, channel.join_ref),
                                       connection.vsn))

    # --- the server's authorization queries ------------------------------------------------------

    def _policy_connection(self) -> psycopg.Connection:
        if self._policy_conn is None or self._policy_conn.closed:
            self._policy_conn = psycopg.connect(self.db_url, autocommit=True,
                                                application_name="realtime_model_authorization")
        return self._policy_conn

    @staticmethod
    def _context(channel: Channel) -> authorization.Context:
        return authorization.Context(channel.sub_topic, channel.claims, channel.connection.headers)

    def _read_check(self, channel: Channel) -> None:
        """The server's read check (peerstats.realtime.authorization), for broadcast and, when the
        join enables it, presence; sets the channel's read permissions."""
        with self._policy_lock:
            try:
                reads = authorization.read_policies(self._policy_connection(), self._context(channel),
                                                    presence=channel.presence_enabled)
                channel.broadcast_read, channel.presence_read = reads["broadcast"], reads.get("presence")
            except authorization.AuthorizationError as undecided:
                if undecided.reason == "missing_partition":
                    raise MissingPartition() from undecided
                if undecided.reason == "query_canceled":
                    raise JoinRefused(f"QueryCanceled: {undecided}") from undecided
                # rls_policy_error: the server tells the client it is unauthorized.
                log.warning("read check refused: %s", undecided)
                channel.broadcast_read, channel.presence_read = False, False

    def _write_check(self, channel: Channel) -> bool:
        """The server's write check for broadcast, run on a client's first broadcast; a check
        that cannot decide drops the broadcast, as the server does."""
        with self._policy_lock:
            try:
                return authorization.write_policies(self._policy_connection(), self._context(channel))["broadcast"]
            except authorization.AuthorizationError as undecided:
                log.error("write check failed: %s", undecided)
                return False

    # --- tenant connection: partitions, replication, janitor ----------------------------------------

    async def _connect_tenant(self) -> None:
        async with self._tenant_lock:
            if self._tenant_connected:
                return
            await asyncio.to_thread(self.run_janitor)
            self._replication_thread = threading.Thread(target=self._replicate, name="realtime-replication",
                                                        daemon=True)
            self._replication_thread.start()
            await asyncio.to_thread(self._replication_ready.wait)
            if self._replication_error is not None:
                raise self._replication_error
            self._tenant_connected = True
            self._janitor = asyncio.create_task(self._janitor_loop())

    def run_janitor(self) -> None:
        """What the server does when a tenant connects and on each Janitor run."""
        with psycopg.connect(self.db_url, autocommit=True, application_name="realtime_model_janitor") as conn:
            with conn.transaction():
                partitions.create_partitions(conn)
            with conn.transaction():
                partitions.drop_old_partitions(conn)

    async def _janitor_loop(self) -> None:
        while True:
            await asyncio.sleep(self.janitor_interval_s)
            await asyncio.to_thread(self.run_janitor)

    def _replicate(self) -> None:
        try:
            conn = psycopg.connect(self.db_url, autocommit=True, application_name="realtime_replication_connection")
            replication.ensure_publication(conn)
            reader = replication.SlotReader(conn, uuid.uuid4().hex[:12])
        except BaseException as failed:  # noqa: BLE001 - handed to the join that waits for it
            self._replication_error = failed
            self._replication_ready.set()
            return
        self._replication_ready.set()
        with conn:
            while not self._stopping.is_set():
                rows = list(reader.committed_rows())
                if rows:
                    assert self._loop is not None
                    self._loop.call_soon_threadsafe(self._deliver_all, rows)
                else:
                    self._stopping.wait(POLL_INTERVAL_S)
            reader.drop()

    def _deliver_all(self, rows: list[replication.CommittedRow]) -> None:
        for row in rows:
            self._deliver(row)

    def _deliver(self, row: replication.CommittedRow) -> None:
        """ReplicationConnection.handle_message for an Insert, then MessageDispatcher.dispatch."""
        values = row.values
        if any(values.get(column) is None for column in ("inserted_at", "event", "id", "topic", "private")):
            log.error("UnableToBroadcastChanges: a row lacks inserted_at, event, id, topic or private")
            return
        if values.get("payload") is not None:
            body, json_encoded = values["payload"].encode(), True
        elif values.get("binary_payload") is not None:
            body, json_encoded = bytes.fromhex(values["binary_payload"].removeprefix("\\x")), False
        else:
            log.error("UnableToBroadcastChanges: a row without payload")
            return
        if len(body) > MAX_PAYLOAD_BYTES:
            log.error("UnableToBroadcastChanges: payload size exceeded")
            return
        private = values["private"] == "t"
        topic = "realtime:" + values["topic"]
        channels = [channel for connection in self.connections for channel in connection.channels.values()
                    if channel.topic == topic and channel.private == private
                    and (not private or channel.broadcast_read is True)]
        broadcast = UserBroadcast(topic, values["event"], body, json_encoded, {"id": values["id"]})
        for channel in channels:
            channel.connection.send(phoenix.encode_user_broadcast(broadcast, channel.connection.vsn))

    # --- broadcasts from clients -----------------------------------------------------------------

    async def _client_broadcast(self, channel: Channel, message: Message, user_broadcast: UserBroadcast | None) -> None:
        if channel.private:
            if channel.broadcast_write is None:
                channel.broadcast_write = await asyncio.to_thread(self._write_check, channel)
            if not channel.broadcast_write:
                return  # dropped without a reply, as the server does
        for other in [c for connection in self.connections for c in connection.channels.values()]:
            if other.topic != channel.topic or other.private != channel.private:
                continue
            if other is channel and not channel.self_broadcast:
                continue
            if other.private and other.broadcast_read is not True:
                continue
            vsn = other.connection.vsn
            if user_broadcast is not None:
                other.connection.send(phoenix.encode_user_broadcast(user_broadcast, vsn))
            else:
                other.connection.send(phoenix.encode(Message(channel.topic, "broadcast", message.payload), vsn))
        if channel.ack:
            channel.connection.send(phoenix.reply(message, "ok", {}, channel.connection.vsn))


def truthy(value: Any) -> bool:
    """Payloads.FlexibleBoolean: true, "true" (any case) and 1 are true."""
    if isinstance(value, str):
        return value.lower() == "true"
    return value is True or value == 1


def json_response(status: int, error: str) -> Response:
    body = json.dumps({"error": error}).encode()
    return Response(status, HTTPStatus(status).phrase,
                    Headers([("Content-Type", "application/json"), ("Content-Length", str(len(body)))]), body)


@dataclass(frozen=True)
class RunningServer:
    server: RealtimeServer

    @property
    def url(self) -> str:
        return self.server.url


@contextmanager
def serve_in_thread(db_url: str, jwt_secret: str, **options: Any) -> Iterator[RunningServer]:
    """The model running on its own event loop in a background thread, for synchronous callers
    (tests, benchmarks, the command line); stopped on exit."""
    loop = asyncio.new_event_loop()
    server = RealtimeServer(db_url, jwt_secret, **options)
    thread = threading.Thread(target=loop.run_forever, name="realtime-model", daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(timeout=30)
    try:
        yield RunningServer(server)
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()

"""Committed rows of realtime.messages, read from the write-ahead log as the Realtime server
reads them (supabase/realtime, lib/realtime/tenants/replication_connection.ex).

The server creates the publication supabase_realtime_messages_publication for realtime.messages
(publish_via_partition_root stays false, so the rows name the daily partitions), a TEMPORARY
logical slot with the pgoutput plugin, and streams it. Logical decoding emits a transaction
only at its commit, whole and in commit order; a rolled-back transaction is never emitted.

psycopg 3 does not speak the replication protocol, so this reader takes the same pgoutput
messages through SQL: pg_logical_slot_get_binary_changes on a temporary slot of its own
session, polled. The slot, the plugin, the publication and so what is emitted, when, and in
which order are the server's; only the transport differs, and polling adds up to one interval
to the delay.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

import psycopg

PUBLICATION = "supabase_realtime_messages_publication"
SLOT_PREFIX = "supabase_realtime_messages_replication_slot_"


@dataclass(frozen=True)
class CommittedRow:
    """One row inserted into a partition of realtime.messages, its values as text."""

    values: dict[str, str | None]


@dataclass
class PgOutputDecoder:
    """Decodes the pgoutput protocol version 1 messages that matter, Relation and Insert; the
    rest (Begin, Commit, Update, Delete, Truncate, Type, Origin) are skipped, as the server
    skips all but Begin and Commit, which only frame the transaction here."""

    relations: dict[int, tuple[str, str, list[str]]] = field(default_factory=dict)

    def decode(self, data: bytes) -> CommittedRow | None:
        kind = data[:1]
        if kind == b"R":
            relation_id, = struct.unpack_from("!I", data, 1)
            offset = 5
            namespace, offset = _string(data, offset)
            name, offset = _string(data, offset)
            offset += 1  # replica identity
            column_count, = struct.unpack_from("!H", data, offset)
            offset += 2
            columns = []
            for _ in range(column_count):
                offset += 1  # flags
                column, offset = _string(data, offset)
                offset += 8  # type oid, type modifier
                columns.append(column)
            self.relations[relation_id] = (namespace, name, columns)
        elif kind == b"I":
            relation_id, = struct.unpack_from("!I", data, 1)
            namespace, name, columns = self.relations[relation_id]
            # The server takes any relation of schema realtime whose name starts with messages.
            if namespace != "realtime" or not name.startswith("messages"):
                return None
            values = _tuple_data(data, 6)  # after kind, relation id and the 'N' of a new tuple
            return CommittedRow(dict(zip(columns, values)))
        return None


def _string(data: bytes, offset: int) -> tuple[str, int]:
    end = data.index(b"\0", offset)
    return data[offset:end].decode(), end + 1


def _tuple_data(data: bytes, offset: int) -> list[str | None]:
    count, = struct.unpack_from("!H", data, offset)
    offset += 2
    values: list[str | None] = []
    for _ in range(count):
        kind = data[offset:offset + 1]
        offset += 1
        if kind == b"t":
            length, = struct.unpack_from("!I", data, offset)
            offset += 4
            values.append(data[offset:offset + length].decode())
            offset += length
        else:  # n: null; u: an unchanged TOASTed value, which an Insert never has
            values.append(None)
    return values


def ensure_publication(conn: psycopg.Connection) -> None:
    """The server's publication: created if missing, made anew if it holds anything but
    realtime.messages."""
    exists = conn.execute("select exists (select from pg_publication where pubname = %s)", (PUBLICATION,)).fetchone()[0]
    tables = [table for table, in conn.execute(
        "select r.prrelid::regclass::text from pg_publication_rel r join pg_publication p on p.oid = r.prpubid"
        " where p.pubname = %s", (PUBLICATION,))]
    if tables == ["realtime.messages"]:
        return
    if exists:
        conn.execute(f"drop publication {PUBLICATION}")
    conn.execute(f"create publication {PUBLICATION} for table realtime.messages")


class SlotReader:
    """A temporary logical slot of this session over the publication, read by polling."""

    def __init__(self, conn: psycopg.Connection, slot_suffix: str) -> None:
        self.conn = conn
        self.slot = SLOT_PREFIX + slot_suffix
        self.decoder = PgOutputDecoder()
        conn.execute("select pg_create_logical_replication_slot(%s, 'pgoutput', true)", (self.slot,))

    def committed_rows(self) -> Iterator[CommittedRow]:
        """The rows committed since the last call, in commit order; consumed from the slot."""
        changes = self.conn.execute(
            "select data from pg_logical_slot_get_binary_changes(%s, null, null,"
            " 'proto_version', '1', 'publication_names', %s)", (self.slot, PUBLICATION)).fetchall()
        for data, in changes:
            row = self.decoder.decode(bytes(data))
            if row is not None:
                yield row

    def drop(self) -> None:
        """Drop the slot now: a temporary slot goes with its session too, but only once the
        server process has ended, after the client has already moved on."""
        self.conn.execute("select pg_drop_replication_slot(%s)", (self.slot,))

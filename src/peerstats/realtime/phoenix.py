"""The Phoenix channel messages the Realtime server exchanges with its clients, in both
serializers the official clients use.

- vsn 1.0.0 (Phoenix.Socket.V1.JSONSerializer; supabase-py's `realtime`): every frame a JSON
  object {topic, event, payload, ref} (join_ref too when a client sends it).
- vsn 2.0.0 (RealtimeWeb.Socket.V2Serializer; realtime-js): text frames are JSON arrays
  [join_ref, ref, topic, event, payload]; broadcasts may be binary frames: a client's
  "user broadcast push" (kind 3) and the server's "user broadcast" (kind 4), which is how a
  broadcast from the database reaches a v2 client.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

V1 = "1.0.0"
V2 = "2.0.0"
USER_BROADCAST_PUSH = 3
USER_BROADCAST = 4
JSON_ENCODING = 1
BINARY_ENCODING = 0


class InvalidMessage(ValueError):
    pass


@dataclass(frozen=True)
class Message:
    topic: str
    event: str
    payload: Any
    ref: str | None = None
    join_ref: str | None = None


@dataclass(frozen=True)
class UserBroadcast:
    """A broadcast whose payload travels as bytes: JSON text (encoding json) or raw bytes."""

    topic: str
    event: str
    payload: bytes
    json_encoded: bool
    metadata: dict[str, Any] | None = None

    def as_json_payload(self) -> dict[str, Any]:
        """UserBroadcast.convert_to_json_broadcast: what a v1 client gets instead."""
        payload: dict[str, Any] = {"event": self.event, "payload": json.loads(self.payload), "type": "broadcast"}
        if self.metadata:
            payload["meta"] = self.metadata
        return payload


def decode(frame: str | bytes, vsn: str) -> Message | tuple[Message, UserBroadcast]:
    """A client's frame; a binary user broadcast push comes with its Message (refs, topic)."""
    if isinstance(frame, bytes):
        if vsn != V2:
            raise InvalidMessage("binary frames need the v2 serializer")
        return decode_user_broadcast_push(frame)
    try:
        decoded = json.loads(frame)
    except json.JSONDecodeError as bad:
        raise InvalidMessage(str(bad)) from bad
    if vsn == V2:
        if not isinstance(decoded, list) or len(decoded) < 5:
            raise InvalidMessage("expected V2 array")
        join_ref, ref, topic, event, payload = decoded[:5]
        return Message(topic, event, payload, ref, join_ref)
    if not isinstance(decoded, dict) or not {"topic", "event", "payload", "ref"} <= decoded.keys():
        raise InvalidMessage("expected a message object with topic, event, payload and ref")
    return Message(decoded["topic"], decoded["event"], decoded["payload"], decoded["ref"], decoded.get("join_ref"))


def decode_user_broadcast_push(frame: bytes) -> tuple[Message, UserBroadcast]:
    if len(frame) < 7 or frame[0] != USER_BROADCAST_PUSH:
        raise InvalidMessage("unknown binary frame")
    join_ref_size, ref_size, topic_size, event_size, metadata_size, encoding = frame[1:7]
    offset = 7
    parts = []
    for size in (join_ref_size, ref_size, topic_size, event_size, metadata_size):
        parts.append(frame[offset:offset + size].decode())
        offset += size
    join_ref, ref, topic, event, metadata = parts
    broadcast = UserBroadcast(topic, event, frame[offset:], encoding == JSON_ENCODING,
                              json.loads(metadata) if metadata else None)
    return Message(topic, "broadcast", None, ref or None, join_ref or None), broadcast


def encode(message: Message, vsn: str) -> str:
    if vsn == V2:
        return json.dumps([message.join_ref, message.ref, message.topic, message.event, message.payload])
    # Phoenix's V1 serializer writes these four fields only.
    return json.dumps({"topic": message.topic, "event": message.event, "payload": message.payload, "ref": message.ref})


def reply(request: Message, status: str, response: dict[str, Any], vsn: str) -> str:
    return encode(Message(request.topic, "phx_reply", {"status": status, "response": response},
                          request.ref, request.join_ref), vsn)


def encode_user_broadcast(broadcast: UserBroadcast, vsn: str) -> str | bytes | None:
    """The server's frame of a user broadcast; None where the client cannot take it (a binary
    payload to a v1 client, which the server drops)."""
    if vsn != V2:
        if not broadcast.json_encoded:
            return None
        return encode(Message(broadcast.topic, "broadcast", broadcast.as_json_payload()), vsn)
    topic, event = broadcast.topic.encode(), broadcast.event.encode()
    metadata = json.dumps(broadcast.metadata).encode() if broadcast.metadata else b""
    for part in (topic, event, metadata):
        if len(part) > 255:
            raise InvalidMessage("topic, event and metadata must fit 255 bytes each")
    header = struct.pack("5B", USER_BROADCAST, len(topic), len(event), len(metadata),
                         JSON_ENCODING if broadcast.json_encoded else BINARY_ENCODING)
    return header + topic + event + metadata + broadcast.payload

"""The broadcasts' part of `peerstats bench freshness`: from a write's commit to the Realtime
message reaching a subscriber, through the model of the Realtime server, and what the
broadcasts cost a write.

- Spread: single-row inserts through the API at `rate` a second, round robin over the
  coordinator's chapters, each its own transaction; a subscriber (Supabase's official Python
  client, as service_role, on the private channel of every chapter) notes when each message
  arrives. The delay is from the moment the writer's commit returned to that arrival (both
  clocks this machine's), so it includes the model's polling of the WAL.
- Burst: BURST_WRITES single-row transactions into one chapter back to back.
- Messages per transaction: a one-row insert, a multi-row insert over several chapters, and a
  rolled-back insert, each counted at the subscriber.
- Throughput: single-row inserts through the API with the broadcast trigger enabled and
  disabled, THROUGHPUT_ROUNDS alternating rounds of a tenth of the load's duration each (at
  least a second), in the same run.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
from psycopg import sql

from peerstats import database, postgrest
from peerstats.bench.exact import set_triggers_enabled
from peerstats.bench.latency import summary
from peerstats.errors import PeerstatsError
from peerstats.realtime import tokens
from peerstats.realtime.server import serve_in_thread

BURST_WRITES = 100
MULTI_ROW_CHAPTERS = 5
MULTI_ROW_ROWS = 50
THROUGHPUT_ROUNDS = 3
# The targets: commit to message p95 under a second at the spread rate, and single-row
# inserts with broadcasts at least 0.9 as many a second as without. Reported, never enforced:
# on a shared machine a run's throughput ratio moves by a few hundredths.
DELIVERY_P95_TARGET_MS = 1000
THROUGHPUT_RATIO_TARGET = 0.9
# A message not arrived this long after the last write counts as lost.
DELIVERY_WAIT_S = 5.0
TOPIC_PREFIX = "stats:chapter:"
BROADCAST_TABLE = sql.Identifier("private", "stats_dirty_keys")
BROADCAST_TRIGGERS = ("stats_dirty_keys_broadcast",)
INSERT = ("insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes)"
          " values (%s, %s, %s, %s, 1)")


@dataclass
class BroadcastReport:
    rate: float
    spread_writes: int
    spread_delivered: int
    spread_ms: dict[str, float]
    burst_writes: int
    burst_delivered: int
    burst_ms: dict[str, float]
    messages_per_transaction: dict[str, int]
    inserts_per_s_with_broadcasts: float
    inserts_per_s_without_broadcasts: float

    @property
    def throughput_ratio(self) -> float:
        return self.inserts_per_s_with_broadcasts / self.inserts_per_s_without_broadcasts

    @property
    def throughput_target_met(self) -> bool:
        return self.throughput_ratio >= THROUGHPUT_RATIO_TARGET

    @property
    def delivery_target_met(self) -> bool:
        return self.spread_delivered == self.spread_writes and self.spread_ms["p95"] < DELIVERY_P95_TARGET_MS

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "throughput_ratio": self.throughput_ratio,
                "throughput_target_met": self.throughput_target_met, "delivery_target_met": self.delivery_target_met}


class Subscriber:
    """The official Python client on its own event loop, subscribed to every chapter's channel;
    `arrivals[chapter]` lists the monotonic times its messages arrived."""

    def __init__(self, realtime_url: str, token: str, chapters: list[str]) -> None:
        self.realtime_url, self.token, self.chapters = realtime_url, token, chapters
        self.arrivals: dict[str, list[float]] = defaultdict(list)
        self.lock = threading.Lock()
        self.loop = asyncio.new_event_loop()
        self.client: Any = None

    def count(self, chapter: str | None = None) -> int:
        with self.lock:
            return len(self.arrivals[chapter]) if chapter else sum(len(times) for times in self.arrivals.values())

    def _arrived(self, chapter: str) -> Callable[[Any], None]:
        def arrived(_message: Any) -> None:
            with self.lock:
                self.arrivals[chapter].append(time.monotonic())
        return arrived

    async def _subscribe(self) -> None:
        from realtime import AsyncRealtimeClient, RealtimeSubscribeStates

        self.client = AsyncRealtimeClient(self.realtime_url, self.token, auto_reconnect=False, max_retries=1)
        for chapter in self.chapters:
            states: list = []
            channel = self.client.channel(TOPIC_PREFIX + chapter, {"config": {"private": True}})
            channel.on_broadcast("stats_changed", self._arrived(chapter))
            await channel.subscribe(lambda state, error, states=states: states.append((state, error)))
            if not states or states[-1][0] != RealtimeSubscribeStates.SUBSCRIBED:
                raise PeerstatsError(f"the subscriber could not join {TOPIC_PREFIX}{chapter}: {states}")

    @contextmanager
    def running(self) -> Iterator[Subscriber]:
        thread = threading.Thread(target=self.loop.run_forever, name="bench-subscriber", daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._subscribe(), self.loop).result(timeout=30)
            yield self
        finally:
            if self.client is not None:
                asyncio.run_coroutine_threadsafe(self.client.close(), self.loop).result(timeout=30)
            self.loop.call_soon_threadsafe(self.loop.stop)
            thread.join(timeout=30)
            self.loop.close()

    def wait_for(self, expected: int, chapter: str | None = None) -> None:
        deadline = time.monotonic() + DELIVERY_WAIT_S
        while self.count(chapter) < expected and time.monotonic() < deadline:
            time.sleep(0.01)


def delays(commits: dict[str, list[float]], arrivals: dict[str, list[float]]) -> list[float]:
    """The k-th message of a chapter answers its k-th commit: each write is its own transaction,
    and a chapter's messages arrive in commit order."""
    return [(arrived - committed) * 1000 for chapter, times in commits.items()
            for committed, arrived in zip(times, arrivals.get(chapter, []))]


def measure(url: str, coordinator_chapters: list[str], writer_of: dict[str, tuple[str, str]], activity_type: str, *,
            rate: float, duration: float, progress: Callable[[str], None]) -> BroadcastReport:
    secret = secrets.token_urlsafe(32)
    # Yesterday: today's mentor-days take the latency probes, and no mentor-day may pass the
    # daily bound (private.daily_bound_minutes()).
    recorded_at = datetime.now(timezone.utc) - timedelta(days=1)
    with serve_in_thread(url, secret) as model, \
            Subscriber(model.url, tokens.token_for(secret, "service_role"),
                       coordinator_chapters).running() as subscriber, \
            database.connect(url, application_name="peerstats-bench-broadcast-writer") as writer:

        def write(chapter: str) -> float:
            mentor, user = writer_of[chapter]
            postgrest.request(writer, "authenticated", INSERT, (mentor, chapter, activity_type, recorded_at),
                              user_id=user, read_only=False)
            return time.monotonic()

        total = max(1, round(rate * duration))
        progress(f"broadcasts: {total} inserts at {rate:g} a second over {len(coordinator_chapters)} chapters, "
                 "each message timed at a subscriber")
        spread: dict[str, list[float]] = defaultdict(list)
        started = time.monotonic()
        for i in range(total):
            time.sleep(max(0.0, started + i / rate - time.monotonic()))
            chapter = coordinator_chapters[i % len(coordinator_chapters)]
            spread[chapter].append(write(chapter))
        subscriber.wait_for(total)
        spread_delays = delays(spread, subscriber.arrivals)

        burst_chapter = coordinator_chapters[0]
        progress(f"broadcasts: a burst of {BURST_WRITES} inserts into one chapter")
        before = subscriber.count(burst_chapter)
        burst = {burst_chapter: [write(burst_chapter) for _ in range(BURST_WRITES)]}
        subscriber.wait_for(before + BURST_WRITES, burst_chapter)
        with subscriber.lock:
            burst_arrivals = {burst_chapter: subscriber.arrivals[burst_chapter][before:]}
        burst_delays = delays(burst, burst_arrivals)

        progress("broadcasts: messages per transaction")
        per_transaction = messages_per_transaction(writer, subscriber, coordinator_chapters, writer_of, activity_type,
                                                   recorded_at)
    progress(f"broadcasts: single-row insert throughput with and without them, {THROUGHPUT_ROUNDS} rounds each")
    with_broadcasts, without = throughput(url, coordinator_chapters, writer_of, activity_type,
                                          round_s=max(1.0, duration / 10))
    return BroadcastReport(
        rate=rate, spread_writes=total, spread_delivered=len(spread_delays), spread_ms=summary(spread_delays),
        burst_writes=BURST_WRITES, burst_delivered=len(burst_delays), burst_ms=summary(burst_delays),
        messages_per_transaction=per_transaction, inserts_per_s_with_broadcasts=with_broadcasts,
        inserts_per_s_without_broadcasts=without)


def messages_per_transaction(writer: psycopg.Connection, subscriber: Subscriber, chapters: list[str],
                             writer_of: dict[str, tuple[str, str]], activity_type: str,
                             recorded_at: datetime) -> dict[str, int]:
    def messages_of(transaction: Callable[[], None], expected: int) -> int:
        before = subscriber.count()
        transaction()
        subscriber.wait_for(before + expected)
        time.sleep(0.3)  # anything more than expected would arrive as soon
        return subscriber.count() - before

    chosen = chapters[:MULTI_ROW_CHAPTERS]
    rows = [(writer_of[chapters[i % len(chosen)]][0], chapters[i % len(chosen)], activity_type, recorded_at)
            for i in range(MULTI_ROW_ROWS)]

    def one_row() -> None:
        writer.execute(INSERT, rows[0])

    def many_rows() -> None:
        with writer.transaction():
            writer.cursor().executemany(INSERT, rows)

    def rolled_back() -> None:
        with writer.transaction(force_rollback=True):
            writer.execute(INSERT, rows[0])

    return {
        "one row": messages_of(one_row, 1),
        f"{MULTI_ROW_ROWS} rows over {len(chosen)} chapters": messages_of(many_rows, len(chosen)),
        "a rolled-back row": messages_of(rolled_back, 0),
    }


def throughput(url: str, chapters: list[str], writer_of: dict[str, tuple[str, str]], activity_type: str, *,
               round_s: float) -> tuple[float, float]:
    """Single-row inserts a second through the API, with and without the broadcast trigger,
    alternating rounds (so both meet the same machine). The model has stopped: its partitions
    stay, so realtime.send writes its rows as on a project, but no slot is decoded on the two
    cores the writer uses (on Supabase the Realtime server runs elsewhere). The inserts are
    dated over the 28 days before yesterday, so no mentor-day passes the daily bound."""
    now = datetime.now(timezone.utc)
    counts = {True: 0, False: 0}
    with database.connect(url, application_name="peerstats-bench-broadcast-owner") as owner, \
            database.connect(url, application_name="peerstats-bench-broadcast-writer") as writer:
        try:
            for _ in range(THROUGHPUT_ROUNDS):
                for enabled in (True, False):
                    set_triggers_enabled(owner, BROADCAST_TABLE, BROADCAST_TRIGGERS, enabled)
                    deadline = time.monotonic() + round_s
                    i = 0
                    while time.monotonic() < deadline:
                        chapter = chapters[i % len(chapters)]
                        mentor, user = writer_of[chapter]
                        recorded_at = now - timedelta(days=2 + i % 28)
                        postgrest.request(writer, "authenticated", INSERT,
                                          (mentor, chapter, activity_type, recorded_at), user_id=user, read_only=False)
                        i += 1
                    counts[enabled] += i
        finally:
            set_triggers_enabled(owner, BROADCAST_TABLE, BROADCAST_TRIGGERS, True)
    seconds = THROUGHPUT_ROUNDS * round_s
    return counts[True] / seconds, counts[False] / seconds

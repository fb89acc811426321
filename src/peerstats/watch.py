"""`peerstats watch --coordinator USER_ID`: a coordinator's chapters, live in the terminal.

The figures are read through the API as the coordinator (postgrest.request, as the dashboard
reads them): per chapter the activities and hours of the last 12 months, of this week and of
today (UTC). The view subscribes, with Supabase's official Python Realtime client, to the
private channel `stats:chapter:<id>` of each chapter, and reads the figures again after each
`stats_changed` broadcast: once per burst (the broadcasts of DEBOUNCE_S are taken together) and
after each (re)subscription, since Realtime does not promise delivery and a reconnect may have
missed some. Nothing is read while nothing changes.

On hosted Supabase the client connects to the project's Realtime with the user's JWT; on any
other database (the embedded cluster by default) to the model of the Realtime server
(peerstats.realtime.server), started on loopback for the command with a secret of its own, that
signs the coordinator's token.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any
from uuid import UUID

import psycopg
from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from peerstats import database, postgrest
from peerstats.errors import PeerstatsError
from peerstats.hours import hours_from_minutes
from peerstats.periods import months_window, week_start
from peerstats.realtime import tokens
from peerstats.realtime.server import serve_in_thread

# Broadcasts that arrive within this long of the first are answered by one read.
DEBOUNCE_S = 0.2
TOPIC_PREFIX = "stats:chapter:"
EVENT = "stats_changed"


@dataclass(frozen=True)
class Totals:
    activities: int
    # The days' total_minutes added up: exact, made hours once when shown (a sum of the days'
    # total_hours, rounded quotients, can land on the other side of a half; docs/api.md).
    minutes: int

    def __add__(self, other: Totals) -> Totals:
        return Totals(self.activities + other.activities, self.minutes + other.minutes)

    def text(self) -> str:
        return f"{self.activities:,}\n{hours_from_minutes(self.minutes, 1):,f} h"


NOTHING = Totals(0, 0)


@dataclass(frozen=True)
class ChapterFigures:
    chapter_id: str
    name: str
    twelve_months: Totals
    this_week: Totals
    today: Totals


@dataclass(frozen=True)
class Snapshot:
    today: date
    read_at: datetime
    chapters: list[ChapterFigures]


def coordinated_chapters(conn: psycopg.Connection, coordinator_id: str) -> list[tuple[str, str]]:
    known = conn.execute("select exists (select from auth.users where id = %s)", (coordinator_id,)).fetchone()[0]
    if not known:
        raise PeerstatsError(f"no user {coordinator_id}: --coordinator takes the id of a user (auth.users)")
    chapters = postgrest.request(conn, "authenticated", "select c.id::text, c.name from public.coordinator_chapters cc"
                                 " join public.chapters c on c.id = cc.chapter_id where cc.user_id = %s"
                                 " order by c.name, c.id", (coordinator_id,), user_id=coordinator_id)
    if not chapters:
        raise PeerstatsError(f"user {coordinator_id} coordinates no chapter (public.coordinator_chapters): "
                             "nothing to watch")
    return chapters


def read_figures(conn: psycopg.Connection, coordinator_id: str, chapters: list[tuple[str, str]]) -> Snapshot:
    """The figures of `chapters`, read through the API as the coordinator in one request."""
    chapter_ids = [chapter_id for chapter_id, _ in chapters]
    (read_at, today), = postgrest.request(conn, "authenticated", "select now(), (now() at time zone 'UTC')::date",
                                          user_id=coordinator_id)
    start, end = months_window(today, 12)
    days = postgrest.request(
        conn, "authenticated", "select chapter_id::text, bucket_date, activity_count, total_minutes"
        " from public.activity_time_series where chapter_id = any (%s::uuid[])"
        " and bucket_date >= %s and bucket_date < %s",
        (chapter_ids, start, end), user_id=coordinator_id)
    totals: dict[str, dict[str, Totals]] = defaultdict(lambda: defaultdict(lambda: NOTHING))
    monday = week_start(today)
    for chapter_id, day, activity_count, total_minutes in days:
        figures = Totals(activity_count, total_minutes)
        of_chapter = totals[chapter_id]
        of_chapter["12 months"] += figures
        if day >= monday:
            of_chapter["week"] += figures
        if day == today:
            of_chapter["today"] += figures
    return Snapshot(today, read_at, [
        ChapterFigures(chapter_id, name, totals[chapter_id]["12 months"], totals[chapter_id]["week"],
                       totals[chapter_id]["today"])
        for chapter_id, name in chapters])


def render(snapshot: Snapshot, last_changed: dict[str, datetime], status: str) -> Group:
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 1), expand=False)
    table.add_column("chapter", max_width=24, overflow="ellipsis", no_wrap=True)
    for heading in ("12 months", "this week", "today"):
        table.add_column(heading, justify="right")
    table.add_column("last change", justify="right")
    for chapter in snapshot.chapters:
        changed = last_changed.get(chapter.chapter_id)
        table.add_row(chapter.name, chapter.twelve_months.text(), chapter.this_week.text(), chapter.today.text(),
                      changed.strftime("%H:%M:%S UTC") if changed else "-")
    # Two lines, each within 80 columns: one line of both wrapped mid-phrase there.
    read = Text(f"read {snapshot.read_at.astimezone(timezone.utc):%H:%M:%S} UTC through the API; "
                f"today is {snapshot.today} (UTC)", style="dim")
    return Group(table, read, Text(status, style="dim"))


@dataclass(frozen=True)
class RealtimeAccess:
    """Where the Realtime client connects and with which tokens."""

    url: str
    apikey: str
    access_token: str


class Watch:
    """The live view: subscribes, reads, renders; `on_render` is called after each render with
    the snapshot shown (for tests and the demo)."""

    def __init__(self, db_url: str, coordinator_id: str, access: RealtimeAccess, console: Console, *,
                 on_render: Callable[[Snapshot], None] | None = None) -> None:
        self.db_url = db_url
        self.coordinator_id = coordinator_id
        self.access = access
        self.console = console
        self.on_render = on_render
        self.last_changed: dict[str, datetime] = {}
        self.changed = asyncio.Event()
        self.stopped = asyncio.Event()
        self.status = "connecting to Realtime"

    def _received(self, chapter_id: str) -> Callable[[Any], None]:
        def received(_message: Any) -> None:
            self.last_changed[chapter_id] = datetime.now(timezone.utc)
            self.changed.set()
        return received

    def _subscription_state(self, state: Any, error: Exception | None) -> None:
        self.status = f"Realtime: {getattr(state, 'value', state)}" + (f" ({error})" if error else "")
        # A (re)subscription may follow missed broadcasts: read everything again.
        self.changed.set()

    async def run(self) -> None:
        # Imported here: the client brings pydantic and httpx, which no other command needs.
        from realtime import AsyncRealtimeClient

        with database.connect(self.db_url, application_name="peerstats watch") as conn:
            chapters = coordinated_chapters(conn, self.coordinator_id)
            client = AsyncRealtimeClient(self.access.url, self.access.apikey, max_retries=3)
            await client.set_auth(self.access.access_token)
            for chapter_id, _ in chapters:
                channel = client.channel(TOPIC_PREFIX + chapter_id, {"config": {"private": True}})
                channel.on_broadcast(EVENT, self._received(chapter_id))
                await channel.subscribe(self._subscription_state)
            # "last change" is the last broadcast seen: say since when one is seen.
            self.status = (f"listening to {len(chapters)} chapter{'s' if len(chapters) != 1 else ''}"
                           f" since {datetime.now(timezone.utc):%H:%M:%S} UTC")
            try:
                with Live(console=self.console, auto_refresh=False, transient=False) as live:
                    while not self.stopped.is_set():
                        self.changed.clear()
                        snapshot = await asyncio.to_thread(read_figures, conn, self.coordinator_id, chapters)
                        live.update(render(snapshot, self.last_changed, self.status), refresh=True)
                        if self.on_render is not None:
                            self.on_render(snapshot)
                        await self._next_change()
            finally:
                await client.close()

    async def _next_change(self) -> None:
        stop = asyncio.create_task(self.stopped.wait())
        change = asyncio.create_task(self.changed.wait())
        await asyncio.wait([stop, change], return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        change.cancel()
        if change.done() and not self.stopped.is_set():
            await asyncio.sleep(DEBOUNCE_S)


@contextmanager
def realtime_for(db_url: str, coordinator_id: str, *, realtime_url: str | None, jwt: str | None,
                 apikey: str | None) -> Iterator[RealtimeAccess]:
    """The hosted project's Realtime when a URL is given, else the model on `db_url`."""
    if realtime_url is not None:
        if jwt is None:
            raise PeerstatsError("--realtime-url needs --jwt, the coordinator's access token")
        yield RealtimeAccess(realtime_url, apikey or jwt, jwt)
        return
    with database.connect(db_url, application_name="peerstats watch") as conn:
        wal_level = conn.execute("show wal_level").fetchone()[0]
    if wal_level != "logical":
        raise PeerstatsError(f"the database runs with wal_level = {wal_level}: the model of Realtime reads the WAL "
                             "by logical decoding, which needs wal_level = logical (and a restart)")
    secret = secrets.token_urlsafe(32)
    with serve_in_thread(db_url, secret) as model:
        access_token = tokens.token_for(secret, "authenticated", coordinator_id)
        yield RealtimeAccess(model.url, tokens.token_for(secret, "anon"), access_token)


def run(db_url: str, coordinator_id: UUID, console: Console, *, realtime_url: str | None = None,
        jwt: str | None = None, apikey: str | None = None) -> None:
    """Watch until interrupted (Ctrl-C)."""
    with realtime_for(db_url, str(coordinator_id), realtime_url=realtime_url, jwt=jwt, apikey=apikey) as access:
        try:
            asyncio.run(Watch(db_url, str(coordinator_id), access, console).run())
        except KeyboardInterrupt:
            pass


@contextmanager
def watching_in_thread(db_url: str, coordinator_id: str, console: Console,
                       on_render: Callable[[Snapshot], None]) -> Iterator[Watch]:
    """The watch on the model in a background thread until the block ends: for the demo and tests."""
    with realtime_for(db_url, coordinator_id, realtime_url=None, jwt=None, apikey=None) as access:
        loop = asyncio.new_event_loop()
        watch = Watch(db_url, coordinator_id, access, console, on_render=on_render)
        failure: list[BaseException] = []

        def main() -> None:
            try:
                loop.run_until_complete(watch.run())
            except BaseException as failed:  # noqa: BLE001 - re-raised in the caller's thread
                failure.append(failed)

        thread = threading.Thread(target=main, name="peerstats-watch", daemon=True)
        thread.start()
        try:
            yield watch
        finally:
            loop.call_soon_threadsafe(watch.stopped.set)
            thread.join(timeout=30)
            loop.close()
        if failure:
            raise failure[0]

"""`peerstats watch`: a coordinator's chapters, re-read through the API when a broadcast says a
chapter changed; the update shows within a second of the write's commit, in 80 columns."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import re
import secrets
import select
import signal
import struct
import sys
import termios
import threading
import time
from pathlib import Path

from rich.console import Console

from peerstats import database, postgrest
from peerstats.realtime import tokens
from peerstats.realtime.server import serve_in_thread
from peerstats.watch import Snapshot, coordinated_chapters, read_figures, watching_in_thread
from test_report import half_dataset, shown

COORDINATOR_AB = "00000000-0000-4000-8000-0000000000a1"
CHAPTER_A = "00000000-0000-4000-8000-00000000000a"
ANNA_USER, ANNA = "00000000-0000-4000-8000-0000000000a3", "00000000-0000-4000-8000-000000000b01"


def write_activity_as_anna(url: str, minutes: int) -> float:
    """Anna registers an activity in chapter A now, through the API; returns the moment her
    commit returned (time.monotonic)."""
    with database.connect(url) as conn:
        postgrest.request(conn, "authenticated",
                          "insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at,"
                          " duration_minutes) values (%s, %s, 'visit', now(), %s)", (ANNA, CHAPTER_A, minutes),
                          user_id=ANNA_USER, read_only=False)
        return time.monotonic()


def test_watch_shows_a_write_within_a_second_and_fits_80_columns(hand_checked, migrated):
    screen = io.StringIO()
    console = Console(file=screen, width=80, force_terminal=True, color_system=None)
    renders: list[tuple[float, Snapshot]] = []
    rendered = threading.Condition()

    def on_render(snapshot: Snapshot) -> None:
        with rendered:
            renders.append((time.monotonic(), snapshot))
            rendered.notify_all()

    def wait_for(predicate, timeout: float = 10) -> tuple[float, Snapshot]:
        with rendered:
            assert rendered.wait_for(lambda: any(predicate(s) for _, s in renders), timeout), renders
            return next((at, s) for at, s in renders if predicate(s))

    def chapter_a(snapshot: Snapshot):
        return next(c for c in snapshot.chapters if c.chapter_id == CHAPTER_A)

    with watching_in_thread(migrated, COORDINATOR_AB, console, on_render):
        _, first = wait_for(lambda s: True)
        assert [c.name for c in first.chapters] == ["Chapter A", "Chapter B"]
        before = chapter_a(first).today
        reads_before = len(renders)
        time.sleep(1)
        assert len(renders) == reads_before  # nothing changed, nothing read

        committed_at = write_activity_as_anna(migrated, 33)
        shown_at, shown = wait_for(lambda s: chapter_a(s).today.activities == before.activities + 1)
        assert chapter_a(shown).today.minutes == before.minutes + 33
        assert chapter_a(shown).this_week.activities == chapter_a(first).this_week.activities + 1
        assert chapter_a(shown).twelve_months.activities == chapter_a(first).twelve_months.activities + 1
        assert shown_at - committed_at < 1.0

    text = plain(screen.getvalue().encode()).decode()
    assert max(len(line.rstrip()) for line in text.replace("\r", "\n").split("\n")) <= 80
    assert "Chapter A" in text and "Chapter B" in text and "last change" in text and " UTC" in text
    # The captions are whole lines, since when a change is seen included.
    assert re.search(r"\nread \d\d:\d\d:\d\d UTC through the API; today is \d{4}-\d\d-\d\d \(UTC\) *\n", text)
    assert re.search(r"\nlistening to 2 chapters since \d\d:\d\d:\d\d UTC *\n", text)


def test_each_hours_figure_is_its_days_minutes_summed_then_shown_half_up(migrated, conn):
    """A figure of the view adds up days: their total_minutes, made hours once (docs/api.md). The
    dataset's 12-month totals lie at a half of the shown decimal, which a sum of the days'
    total_hours misses."""
    today = conn.execute("select (now() at time zone 'UTC')::date").fetchone()[0]
    coordinator, minutes, _ = half_dataset(conn, today)
    snapshot = read_figures(conn, str(coordinator), coordinated_chapters(conn, str(coordinator)))
    assert len(snapshot.chapters) == 3
    for chapter in snapshot.chapters:
        total = minutes[f"total/{chapter.chapter_id}/hours"]
        assert chapter.twelve_months.text().split("\n")[1] == f"{shown(total):,} h"
        assert chapter.twelve_months.minutes == total


def test_watch_refuses_bad_input_with_one_line(migrated, monkeypatch, capfd):
    from test_command_line import assert_one_line, run_in_process

    code, _, err = run_in_process(monkeypatch, capfd, "watch", "--coordinator", COORDINATOR_AB, "--jwt", "x")
    assert_one_line(code, err, 2, "--jwt and --apikey go with --realtime-url")
    code, _, err = run_in_process(monkeypatch, capfd, "watch", "--coordinator", COORDINATOR_AB,
                                  "--realtime-url", "https://example.invalid/realtime/v1")
    assert_one_line(code, err, 2, "--realtime-url needs --jwt")
    nobody = "00000000-0000-4000-8000-00000000dead"
    code, _, err = run_in_process(monkeypatch, capfd, "--database-url", migrated, "watch", "--coordinator", nobody)
    assert_one_line(code, err, 1, f"no user {nobody}")


def test_watch_at_a_terminal_through_a_realtime_url_and_a_jwt(hand_checked, migrated):
    """The hosted path (--realtime-url, --jwt: the official client to a given server), here
    pointed at the model, in a pseudo-terminal of 80 columns."""
    secret = secrets.token_urlsafe(32)
    with serve_in_thread(migrated, secret) as model:
        pid, terminal = pty.fork()
        if pid == 0:
            os.execv(str(Path(sys.executable).parent / "peerstats"), [
                "peerstats", "--database-url", migrated, "watch", "--coordinator", COORDINATOR_AB,
                "--realtime-url", model.url, "--jwt", tokens.token_for(secret, "authenticated", COORDINATOR_AB)])
        fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        screen = b""

        def read_until(pattern: bytes, timeout: float = 20) -> None:
            nonlocal screen
            deadline = time.monotonic() + timeout
            while not re.search(pattern, plain(screen)) and time.monotonic() < deadline:
                if select.select([terminal], [], [], 0.1)[0]:
                    screen += os.read(terminal, 65536)
            assert re.search(pattern, plain(screen)), plain(screen).decode(errors="replace")

        try:
            read_until(rb"listening to 2\s+chapters")
            write_activity_as_anna(migrated, 21)
            read_until(rb"Chapter A[^\n]*\d\d:\d\d:\d\d UTC")
        finally:
            os.kill(pid, signal.SIGINT)
            _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    text = plain(screen).decode()
    assert max(len(line) for line in text.replace("\r", "\n").split("\n")) <= 80


def plain(screen: bytes) -> bytes:
    """What a terminal shows, without the escape sequences of colours and cursor moves."""
    return re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", screen)

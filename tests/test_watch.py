"""`peerstats watch`: a coordinator's chapters, re-read through the API when a broadcast says a
chapter changed; the update shows within a second of the write's commit, in 80 columns."""

from __future__ import annotations

import io
import threading
import time
from decimal import Decimal

from rich.console import Console

from peerstats import database, postgrest
from peerstats.watch import Snapshot, watching_in_thread

COORDINATOR_AB = "00000000-0000-4000-8000-0000000000a1"
CHAPTER_A = "00000000-0000-4000-8000-00000000000a"
ANNA_USER, ANNA = "00000000-0000-4000-8000-0000000000a3", "00000000-0000-4000-8000-000000000b01"


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

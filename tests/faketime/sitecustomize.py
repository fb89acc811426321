"""Imported at start-up by every Python process of tests/test_calendar.py's clock list (its
PYTHONPATH names this folder, and no other run's does).

Those processes run under libfaketime with the wall clock moved and the monotonic clock left
alone: moved too, a timed wait on a lock (Thread.join or Event.wait with a timeout) never
returns, its deadline read on the moved clock and waited for on the real one. Left alone,
libfaketime 0.9.10 fails clock_nanosleep with an absolute monotonic deadline (EINVAL), and
Python's time.sleep makes exactly that call; a sleep on select's relative timeout goes around it.
"""

import select
import time


def sleep(seconds: float) -> None:
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    select.select([], [], [], seconds)


time.sleep = sleep

"""The probe activity with which verify's checks see the statistics move after a write.

It is made inside a transaction the check rolls back, so no other session ever sees it, and
nothing of it is left after: not in activities, not in the change log, not in the views, not
in stats_freshness. It belongs to a peer mentor and a counting activity type made for it, in
a chapter made for it unless the check names one, on a day of a year open for writes
(sql/verify_probe.sql), so no data can refuse it: a full day of an existing mentor, a closed
year, a chapter without mentors or a database without counting types.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

from peerstats.errors import PeerstatsError
from peerstats.verify.common import read_sql


@dataclass(frozen=True)
class Probe:
    chapter_id: Any
    peer_mentor_id: Any
    activity_type: str
    recorded_at: datetime

    def insert(self, conn: psycopg.Connection, minutes: int) -> Any:
        """Insert the probe activity; its id."""
        return conn.execute(
            "insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes)"
            " values (%s, %s, %s, %s, %s) returning id",
            (self.peer_mentor_id, self.chapter_id, self.activity_type, self.recorded_at, minutes)).fetchone()[0]


def make_probe(conn: psycopg.Connection, chapter_id: Any = None) -> Probe:
    """A probe's mentor and type (and chapter, unless given), inside the caller's open
    transaction, which the caller must roll back."""
    if conn.info.transaction_status != TransactionStatus.INTRANS:
        raise RuntimeError("a probe is made inside a transaction that is rolled back")
    row = conn.execute(read_sql("verify_probe.sql"), {"chapter_id": chapter_id}).fetchone()
    if row is None:
        earliest = conn.execute("select extract(year from private.earliest_recorded_at() at time zone 'UTC')::int"
                                ).fetchone()[0]
        raise PeerstatsError(f"every reporting year from {earliest} to this one is closed or reopened: "
                             "verify has no year to write its probe activity in")
    return Probe(*row)

"""Fixtures: one throwaway PostgreSQL 15 cluster with pg_cron for the whole session.

pg_cron lives in the database `postgres` only, so every test uses that database; a test that
needs a clean schema asks for `migrated`, which rolls everything back and applies it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from peerstats import database
from peerstats.cluster import throwaway_cluster
from peerstats.migrations import apply_all


@pytest.fixture(scope="session")
def cluster():
    with throwaway_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def db_url(cluster) -> str:
    return cluster.url


@pytest.fixture
def conn(db_url):
    with database.connect(db_url) as connection:
        yield connection


SQL_DIR = Path(__file__).parent / "sql"


def migrate_afresh(url: str) -> None:
    """Roll every migration back, then apply them all again: empty tables, fresh objects."""
    with database.connect(url) as connection:
        apply_all(connection, afresh=True)


@pytest.fixture
def migrated(db_url) -> str:
    """The URL of a database with every migration applied to empty tables."""
    migrate_afresh(db_url)
    return db_url


def daily_bound(conn) -> int:
    """The daily bound as the database defines it (private.daily_bound_minutes())."""
    return conn.execute("select private.daily_bound_minutes()").fetchone()[0]


def except_all_both_ways(left: str, right: str) -> str:
    """A query for the rows of `left` missing from `right` and those of `right` missing from `left`."""
    return (f"(select 'only in {left}', * from {left} except all select 'only in {left}', * from {right}) union all "
            f"(select 'only in {right}', * from {right} except all select 'only in {right}', * from {left})")


@dataclass(frozen=True)
class HandChecked:
    """Ids of tests/sql/hand_checked_dataset.sql, by chapter name, mentor name and user email."""

    chapters: dict[str, str]
    mentors: dict[str, str]
    users: dict[str, str]


@pytest.fixture
def hand_checked(migrated, conn) -> HandChecked:
    """A migrated database holding the small dataset whose figures the tests work out by hand."""
    conn.execute((SQL_DIR / "hand_checked_dataset.sql").read_text())
    return HandChecked(
        chapters={name: str(id_) for name, id_ in conn.execute("select name, id from public.chapters")},
        mentors={name: str(id_) for name, id_ in conn.execute("select full_name, id from public.peer_mentors")},
        users={email: str(id_) for email, id_ in conn.execute(
            "select email, id from auth.users where email like '%@peerstats.test'")},
    )

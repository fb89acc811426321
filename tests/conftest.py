"""Fixtures: one throwaway PostgreSQL 15 cluster with pg_cron for the whole session.

pg_cron lives in the database `postgres` only, so every test uses that database; a test that
needs a clean schema asks for `migrated`, which rolls everything back and applies it again.
"""

from __future__ import annotations

import pytest

from peerstats import database
from peerstats.cluster import throwaway_cluster
from peerstats.migrations import Runner


@pytest.fixture(scope="session")
def cluster():
    cluster = throwaway_cluster()
    cluster.ensure_running()
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="session")
def db_url(cluster) -> str:
    return cluster.url


@pytest.fixture
def conn(db_url):
    with database.connect(db_url) as connection:
        yield connection


@pytest.fixture
def migrated(db_url) -> str:
    """The URL of a database with every migration applied to empty tables."""
    with database.connect(db_url) as connection, Runner(connection) as runner:
        for _ in runner.down(None):
            pass
        for _ in runner.up():
            pass
    return db_url

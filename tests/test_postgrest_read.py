"""postgrest.read: a GET of a view as PostgREST 12 sends it, whose body is the caller's rows as
json built in the database, the rows the same filters give in plain SQL for that caller."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from psycopg import sql

from peerstats import postgrest

ENDPOINTS = ("activity_time_series", "chapter_stats", "peer_mentor_stats")


@pytest.fixture
def refreshed(hand_checked, conn):
    conn.execute("select public.refresh_stats_views()")
    return hand_checked


def test_the_statement_is_postgrests_read_of_a_view_with_its_filters_in_query_string_order(conn):
    statement, parameters = postgrest.read_statement(
        sql.Identifier("public", "chapter_stats"), [("chapter_id", "in", ["a", 'b"\\']), ("month_start", "gte", "2026-01-01")])
    table = '"public"."chapter_stats"'
    assert statement.as_string(conn) == (
        f"WITH pgrst_source AS ( SELECT {table}.* FROM {table}  WHERE  {table}.\"chapter_id\" = ANY (%s)  AND  "
        f"{table}.\"month_start\" >= %s    )  SELECT null::bigint AS total_result_set, "
        "pg_catalog.count(_postgrest_t) AS page_total, coalesce(json_agg(_postgrest_t), '[]') AS body, "
        "nullif(current_setting('response.headers', true), '') AS response_headers, "
        "nullif(current_setting('response.status', true), '') AS response_status, "
        "'' AS response_inserted FROM ( SELECT * FROM pgrst_source ) _postgrest_t")
    assert parameters == ['{"a","b\\"\\\\"}', "2026-01-01"]
    # The array literal reads back as the values it was built from.
    assert conn.execute("select %s::text[]", (parameters[0],)).fetchone()[0] == ["a", 'b"\\']


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_the_body_holds_the_rows_the_caller_reads_with_the_same_filters(conn, refreshed, endpoint):
    coordinator = refreshed.users["coord.five@peerstats.test"]
    chapter = refreshed.chapters["Chapter A"]
    date = "bucket_date" if endpoint == "activity_time_series" else "month_start"
    for filters, where, values in (
            ([(date, "gte", "2000-01-01")], "{} >= %s", ["2000-01-01"]),
            ([("chapter_id", "eq", chapter), (date, "lt", "2100-01-01")], "chapter_id = %s and {} < %s",
             [chapter, "2100-01-01"])):
        response = postgrest.read(conn, "authenticated", sql.Identifier("public", endpoint), filters,
                                  user_id=coordinator)
        query = sql.SQL("select * from {} where " + where).format(sql.Identifier("public", endpoint),
                                                                   sql.Identifier(date))
        expected = postgrest.request(conn, "authenticated", query, values, user_id=coordinator)
        body = json.loads(response.body, parse_float=Decimal)
        assert response.rows == len(body) == len(expected) > 0
        # Every value as its text: dates, uuids, counts and hours to the last digit.
        assert sorted(tuple(str(value) for value in row.values()) for row in body) == \
            sorted(tuple(str(value) for value in row) for row in expected)


def test_a_read_that_matches_nothing_returns_an_empty_array(conn, refreshed):
    response = postgrest.read(conn, "authenticated", sql.Identifier("public", "chapter_stats"),
                              [("month_start", "gte", "2100-01-01")], user_id=refreshed.users["coord.five@peerstats.test"])
    assert response == postgrest.Response(0, b"[]")

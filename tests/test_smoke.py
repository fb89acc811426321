def test_migrated_database_has_the_three_materialized_views(migrated, conn):
    names = [r[0] for r in conn.execute(
        "select matviewname from pg_matviews where schemaname = 'private' order by 1")]
    assert names == ["mv_activity_time_series", "mv_chapter_stats", "mv_peer_mentor_stats"]

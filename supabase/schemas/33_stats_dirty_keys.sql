-- private.stats_dirty_keys: the dirty-key log. Written by the triggers of public.activities and
-- public.activity_types with the functions of 14_functions_dirty_key_log_and_exact_api.sql;
-- read by the exact API there; emptied by public.refresh_stats_views() (13_functions_refresh.sql).
-- Its constraint trigger sends the Realtime broadcasts at commit
-- (private.broadcast_changed_chapter(), 17_functions_realtime_broadcasts.sql).

-- One row per (key, transaction) whose figures a committed or running transaction may have
-- changed: a transaction of many statements (the seeder's chunks, an import in batches) logs
-- each key once, which the unique index states and enforces. xid is the writing
-- transaction's (pg_current_xact_id()), which the refresh compares with its snapshot; the
-- refresh deletes the entries whose transaction its snapshot sees. Append-only: writers never
-- update or lock a row of it, so concurrent writers never wait for each other here. logged_at
-- (its default: the triggers leave it out) tells an operator how old the oldest entry is.
CREATE TABLE private.stats_dirty_keys (
    xid xid8 NOT NULL,
    chapter_id uuid NOT NULL,
    peer_mentor_id uuid NOT NULL,
    bucket_date date NOT NULL,
    logged_at timestamp with time zone DEFAULT now() NOT NULL
)
WITH (autovacuum_vacuum_scale_factor='0', autovacuum_vacuum_threshold='2000', autovacuum_analyze_scale_factor='0', autovacuum_analyze_threshold='2000');

-- Led by the chapter and day, so reads take a chapter's keys from it alone.
CREATE UNIQUE INDEX stats_dirty_keys_chapter ON private.stats_dirty_keys USING btree (chapter_id, bucket_date, peer_mentor_id, xid);

CREATE INDEX stats_dirty_keys_mentor ON private.stats_dirty_keys USING btree (peer_mentor_id);

-- The commit-time trigger reads the days its own transaction logged for a chapter; led by the
-- chapter, the log's index would walk every entry of the chapter to find them.
create index stats_dirty_keys_transaction on private.stats_dirty_keys using btree (xid, chapter_id, bucket_date);

COMMENT ON TABLE private.stats_dirty_keys IS 'Operational log: keys (chapter, mentor, UTC day) whose statistics changed since the last refresh, with the writing transaction; its down script folds them into the materialized views before dropping it. Written by triggers on activities and activity_types; emptied by public.refresh_stats_views() of the entries it folded into the materialized views.';

COMMENT ON COLUMN private.stats_dirty_keys.logged_at IS 'When the writing transaction began: the age of the change the entry stands for.';

ALTER TABLE private.stats_dirty_keys ENABLE ROW LEVEL SECURITY;

GRANT SELECT ON TABLE private.stats_dirty_keys TO service_role;

-- Who reads the log (service_role, which bypasses row security anyway), stated so row security
-- on it is not "enabled without a policy" (Supabase lint 0008).
CREATE POLICY stats_dirty_keys_read_by_service_role ON private.stats_dirty_keys FOR SELECT TO service_role USING (true);

create constraint trigger stats_dirty_keys_broadcast
after insert on private.stats_dirty_keys
deferrable initially deferred
for each row execute function private.broadcast_changed_chapter();

-- private.peer_mentor_days: the exact API's mentor-day grain. Kept by
-- private.fold_into_peer_mentor_days() and private.rebuild_peer_mentor_days()
-- (13_functions_refresh.sql); read by the exact API (14_functions_dirty_key_log_and_exact_api.sql).

-- The exact API's mentor-day grain: kept from the log by the refresh (only the chapter-days
-- the entries it removes name), rebuilt whole after a TRUNCATE or by hand.
CREATE TABLE private.peer_mentor_days (
    chapter_id uuid NOT NULL,
    peer_mentor_id uuid NOT NULL,
    bucket_date date NOT NULL,
    activity_count bigint NOT NULL,
    minutes bigint NOT NULL
);

ALTER TABLE ONLY private.peer_mentor_days
    ADD CONSTRAINT peer_mentor_days_pkey PRIMARY KEY (chapter_id, peer_mentor_id, bucket_date);

COMMENT ON TABLE private.peer_mentor_days IS 'Counted activities and minutes per chapter, mentor and UTC day: the grain the exact API recomputes changed mentor-months from. Not read by clients. Kept up to date by public.refresh_stats_views() from the chapter-days named in private.stats_dirty_keys; the API merges it with the changes logged since.';

ALTER TABLE private.peer_mentor_days ENABLE ROW LEVEL SECURITY;

-- No role but the owner reads it.
REVOKE ALL ON TABLE private.peer_mentor_days FROM PUBLIC, anon, authenticated, service_role;

-- Nobody reads it but its owner and the definer-rights functions the owner runs: a policy that
-- admits no row says so to Supabase's linter (0008, row security without a policy).
CREATE POLICY peer_mentor_days_owner_only ON private.peer_mentor_days AS RESTRICTIVE
  FOR ALL TO PUBLIC USING (false);

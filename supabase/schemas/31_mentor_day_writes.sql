-- private.mentor_day_writes: a row per (mentor, UTC day) that every writer raising that day's
-- minutes updates, written by private.refuse_overfull_mentor_days() (11_functions_write_guards.sql).
--
-- PostgreSQL detects a conflict between two REPEATABLE READ or SERIALIZABLE writers only where
-- both update the same row (a row a committed transaction merely locked raises nothing), and
-- at READ COMMITTED such an update makes the later writer wait and then read the earlier
-- one's result. Hence rows that exist only to be updated by every writer of a kind: this
-- table, and private.original_registration_writes (32_original_registration_writes.sql).

CREATE TABLE private.mentor_day_writes (
    peer_mentor_id uuid NOT NULL,
    day date NOT NULL,
    writes bigint NOT NULL
);

ALTER TABLE ONLY private.mentor_day_writes
    ADD CONSTRAINT mentor_day_writes_pkey PRIMARY KEY (peer_mentor_id, day);

COMMENT ON TABLE private.mentor_day_writes IS 'One row per (peer mentor, UTC day) whose counted minutes a write may have raised; every such write updates it before summing the day, so two writers of the same day never both pass the daily bound (private.daily_bound_minutes()).';

-- No role but the owner reads it (no row security to protect it).
REVOKE ALL ON TABLE private.mentor_day_writes FROM PUBLIC, anon, authenticated, service_role;

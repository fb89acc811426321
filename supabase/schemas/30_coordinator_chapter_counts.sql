-- private.coordinator_chapter_counts: a counter row per coordinator, kept by the triggers of
-- public.coordinator_chapters (23_coordinator_chapters.sql) with the functions of
-- 11_functions_write_guards.sql.

-- Counting a coordinator's rows on a snapshot would let two REPEATABLE READ transactions each
-- see four and both add a fifth. So every assignment updates one counter row per
-- coordinator: at READ COMMITTED the second writer waits and then counts
-- on from the first one's committed value; at REPEATABLE READ and SERIALIZABLE it fails with a
-- serialization error (retry, and the count is right).
CREATE TABLE private.coordinator_chapter_counts (
    user_id uuid NOT NULL,
    chapter_count integer NOT NULL
);

ALTER TABLE ONLY private.coordinator_chapter_counts
    ADD CONSTRAINT coordinator_chapter_counts_pkey PRIMARY KEY (user_id);

COMMENT ON TABLE private.coordinator_chapter_counts IS 'How many chapters each user coordinates, kept by a trigger on coordinator_chapters; the row every assignment to that user updates, so concurrent assignments serialise on it.';

-- No role but the owner reads it (no row security to protect it).
REVOKE ALL ON TABLE private.coordinator_chapter_counts FROM PUBLIC, anon, authenticated, service_role;

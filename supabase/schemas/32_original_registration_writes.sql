-- private.original_registration_writes: a row per original registration that its duplicates'
-- writers and its own writers update, written by private.record_original_writes()
-- (11_functions_write_guards.sql); why such rows: 31_mentor_day_writes.sql.

CREATE TABLE private.original_registration_writes (
    activity_id uuid NOT NULL,
    writes bigint NOT NULL
);

ALTER TABLE ONLY private.original_registration_writes
    ADD CONSTRAINT original_registration_writes_pkey PRIMARY KEY (activity_id);

COMMENT ON TABLE private.original_registration_writes IS 'One row per activity that was named by a duplicate_of, or whose deleted_at, type, chapter, mentor or duplicate_of changed; both kinds of write update it, so a duplicate mark and a change of its original conflict (serialization failure at REPEATABLE READ and SERIALIZABLE, a wait at READ COMMITTED). Rows of hard-deleted activities stay: they are never read.';

-- No role but the owner reads it (no row security to protect it).
REVOKE ALL ON TABLE private.original_registration_writes FROM PUBLIC, anon, authenticated, service_role;

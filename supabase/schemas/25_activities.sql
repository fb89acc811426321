-- public.activities: every registered activity, the table the statistics count; with its
-- indexes, planner statistics, row security and the whole write path.
--
-- The triggers are in firing order (before statement, before row, after row, after statement;
-- by name within each, as PostgreSQL fires them); docs/write-path.md lists, per statement,
-- what each guarantees and relies on.
-- Functions they, the policies and the check of recorded_at call: the row security helpers
-- (10_functions_row_security.sql); the write guards and the named rules
-- (11_functions_write_guards.sql); the dirty-key log
-- (14_functions_dirty_key_log_and_exact_api.sql); the closed years
-- (15_functions_bufdir_and_closed_years.sql). What counts of it: private.counted_activities
-- (40_counting_rule_and_plain_views.sql).

CREATE TABLE public.activities (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    peer_mentor_id uuid NOT NULL,
    chapter_id uuid NOT NULL,
    activity_type text NOT NULL,
    recorded_at timestamp with time zone NOT NULL,
    duration_minutes integer NOT NULL,
    duplicate_of uuid,
    deleted_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    moderated_in_chapter uuid,
    CONSTRAINT activity_not_duplicate_of_itself CHECK ((duplicate_of <> id)),
    CONSTRAINT duration_minutes_within_a_day CHECK (((duration_minutes >= 1) AND (duration_minutes <= 1440))),
    CONSTRAINT recorded_at_finite_and_not_before_earliest_recorded_at CHECK (((recorded_at >= private.earliest_recorded_at()) AND (recorded_at < 'infinity'::timestamp with time zone)))
);

ALTER TABLE ONLY public.activities ALTER COLUMN id SET STATISTICS 0;

ALTER TABLE ONLY public.activities ALTER COLUMN peer_mentor_id SET STATISTICS 0;

ALTER TABLE ONLY public.activities ALTER COLUMN chapter_id SET STATISTICS 0;

ALTER TABLE ONLY public.activities ALTER COLUMN duplicate_of SET STATISTICS 0;

ALTER TABLE ONLY public.activities ALTER COLUMN moderated_in_chapter SET STATISTICS 0;

ALTER TABLE ONLY public.activities
    ADD CONSTRAINT activities_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.activities
    ADD CONSTRAINT activities_activity_type_fkey FOREIGN KEY (activity_type) REFERENCES public.activity_types(code) ON UPDATE CASCADE;

ALTER TABLE ONLY public.activities
    ADD CONSTRAINT activities_chapter_id_fkey FOREIGN KEY (chapter_id) REFERENCES public.chapters(id);

ALTER TABLE ONLY public.activities
    ADD CONSTRAINT activities_duplicate_of_fkey FOREIGN KEY (duplicate_of) REFERENCES public.activities(id);

ALTER TABLE ONLY public.activities
    ADD CONSTRAINT activities_moderated_in_chapter_fkey FOREIGN KEY (moderated_in_chapter) REFERENCES public.chapters(id);

ALTER TABLE ONLY public.activities
    ADD CONSTRAINT activities_peer_mentor_id_fkey FOREIGN KEY (peer_mentor_id) REFERENCES public.peer_mentors(id);

CREATE INDEX activities_chapter_id_recorded_at ON public.activities USING btree (chapter_id, recorded_at);

CREATE INDEX activities_duplicate_of ON public.activities USING btree (duplicate_of) WHERE (duplicate_of IS NOT NULL);

CREATE INDEX activities_moderated_in_chapter ON public.activities USING btree (moderated_in_chapter) WHERE (moderated_in_chapter IS NOT NULL);

CREATE INDEX activities_peer_mentor_id_recorded_at ON public.activities USING btree (peer_mentor_id, recorded_at);

CREATE INDEX activities_updated_at ON public.activities USING btree (updated_at);

CREATE INDEX activities_activity_type ON public.activities USING btree (activity_type);

CREATE INDEX activities_repeats_chapter_id_recorded_at ON public.activities USING btree (chapter_id, recorded_at) WHERE (((duplicate_of IS NOT NULL))::integer = 1);

-- The share of repeats, for the estimates of the counting rule's two branches
-- (private.counted_activities): statistics only. An
-- index on the expression would give the same figures, but before ANALYZE has seen any row
-- the planner ANDs it into per-day lookups, reading every original each time.
CREATE STATISTICS public.activities_duplicate_flag ON (((duplicate_of IS NOT NULL))::integer) FROM public.activities;

COMMENT ON STATISTICS public.activities_duplicate_flag IS 'The share of repeats (duplicate_of set) for the planner''s estimates of the counting rule''s two branches; statistics only, no index to write or to AND into a lookup.';

COMMENT ON COLUMN public.activities.recorded_at IS 'When the activity took place. Statistics bucket it by its UTC date.';

COMMENT ON COLUMN public.activities.duplicate_of IS 'Set when this registration repeats that one (of the same mentor and chapter): it counts only when that original does not (soft-deleted or of a type that does not count).';

COMMENT ON COLUMN public.activities.deleted_at IS 'Soft delete: a deleted activity never counts.';

COMMENT ON COLUMN public.activities.moderated_in_chapter IS 'The chapter the activity was in when its deleted_at or duplicate_of was set (null while neither is): only a coordinator of this chapter, or service_role, may clear or change them or move the activity elsewhere. Set by the database.';

ALTER TABLE public.activities ENABLE ROW LEVEL SECURITY;

-- Supabase's default privileges grant everything in public to the API roles: revoke, then grant.
REVOKE ALL ON TABLE public.activities FROM anon, authenticated, service_role;

GRANT ALL ON TABLE public.activities TO service_role;

GRANT SELECT,INSERT,UPDATE ON TABLE public.activities TO authenticated;

CREATE POLICY activities_insert ON public.activities FOR INSERT TO authenticated WITH CHECK (((peer_mentor_id = ANY (( SELECT private.own_peer_mentor_ids() AS own_peer_mentor_ids)::uuid[])) AND (chapter_id = ANY (( SELECT private.own_chapter_ids() AS own_chapter_ids)::uuid[]))));

CREATE POLICY activities_select ON public.activities FOR SELECT TO authenticated USING (((chapter_id = ANY (( SELECT private.coordinated_chapter_ids() AS coordinated_chapter_ids)::uuid[])) OR (peer_mentor_id = ANY (( SELECT private.own_peer_mentor_ids() AS own_peer_mentor_ids)::uuid[]))));

CREATE POLICY activities_update ON public.activities FOR UPDATE TO authenticated USING ((((peer_mentor_id = ANY (( SELECT private.own_peer_mentor_ids() AS own_peer_mentor_ids)::uuid[])) AND (chapter_id = ANY (( SELECT private.own_chapter_ids() AS own_chapter_ids)::uuid[]))) OR (chapter_id = ANY (( SELECT private.coordinated_chapter_ids() AS coordinated_chapter_ids)::uuid[])))) WITH CHECK ((((peer_mentor_id = ANY (( SELECT private.own_peer_mentor_ids() AS own_peer_mentor_ids)::uuid[])) AND (chapter_id = ANY (( SELECT private.own_chapter_ids() AS own_chapter_ids)::uuid[]))) OR ((chapter_id = ANY (( SELECT private.coordinated_chapter_ids() AS coordinated_chapter_ids)::uuid[])) AND private.mentor_belongs_to(peer_mentor_id, chapter_id))));

CREATE TRIGGER activities_closed_years_truncate BEFORE TRUNCATE ON public.activities FOR EACH STATEMENT EXECUTE FUNCTION private.refuse_truncate_with_closed_years();

CREATE TRIGGER activities_guard_write BEFORE INSERT OR UPDATE ON public.activities FOR EACH ROW EXECUTE FUNCTION private.guard_activity_write();

CREATE TRIGGER activities_touch_updated_at BEFORE UPDATE ON public.activities FOR EACH ROW EXECUTE FUNCTION private.touch_updated_at();

CREATE TRIGGER activities_validate_duplicate_insert BEFORE INSERT ON public.activities FOR EACH ROW WHEN ((new.duplicate_of IS NOT NULL)) EXECUTE FUNCTION private.validate_duplicate_of();

CREATE TRIGGER activities_validate_duplicate_update BEFORE UPDATE OF duplicate_of, chapter_id, peer_mentor_id ON public.activities FOR EACH ROW EXECUTE FUNCTION private.validate_duplicate_of();

CREATE TRIGGER activities_closed_years_delete AFTER DELETE ON public.activities REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION private.activities_deleted_check_years();

CREATE TRIGGER activities_closed_years_insert AFTER INSERT ON public.activities REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION private.activities_inserted_check_years();

CREATE TRIGGER activities_closed_years_update AFTER UPDATE ON public.activities REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION private.activities_updated_check_years();

CREATE TRIGGER activities_guard_related_rows_delete AFTER DELETE ON public.activities REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION private.activities_deleted_guard_related_rows();

CREATE TRIGGER activities_guard_related_rows_insert AFTER INSERT ON public.activities REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION private.activities_inserted_guard_related_rows();

CREATE TRIGGER activities_guard_related_rows_update AFTER UPDATE ON public.activities REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION private.activities_updated_guard_related_rows();

CREATE TRIGGER activities_log_deleted_keys AFTER DELETE ON public.activities REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION private.log_deleted_activities();

CREATE TRIGGER activities_log_inserted_keys AFTER INSERT ON public.activities REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION private.log_inserted_activities();

CREATE TRIGGER activities_log_updated_keys AFTER UPDATE ON public.activities REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION private.log_updated_activities();

CREATE TRIGGER activities_refresh_after_truncate AFTER TRUNCATE ON public.activities FOR EACH STATEMENT EXECUTE FUNCTION private.refresh_after_truncate();

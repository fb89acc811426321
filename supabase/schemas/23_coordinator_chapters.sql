-- public.coordinator_chapters: the chapters each user coordinates (at most five), with row
-- security. Functions its triggers call: private.enforce_coordinator_chapter_limit(),
-- private.reset_coordinator_chapter_counts() (11_functions_write_guards.sql), which keep
-- private.coordinator_chapter_counts (30_coordinator_chapter_counts.sql).

CREATE TABLE public.coordinator_chapters (
    user_id uuid NOT NULL,
    chapter_id uuid NOT NULL
);

ALTER TABLE ONLY public.coordinator_chapters ALTER COLUMN user_id SET STATISTICS 0;

ALTER TABLE ONLY public.coordinator_chapters ALTER COLUMN chapter_id SET STATISTICS 0;

ALTER TABLE ONLY public.coordinator_chapters
    ADD CONSTRAINT coordinator_chapters_pkey PRIMARY KEY (user_id, chapter_id);

ALTER TABLE ONLY public.coordinator_chapters
    ADD CONSTRAINT coordinator_chapters_chapter_id_fkey FOREIGN KEY (chapter_id) REFERENCES public.chapters(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.coordinator_chapters
    ADD CONSTRAINT coordinator_chapters_user_id_fkey FOREIGN KEY (user_id) REFERENCES auth.users(id) ON DELETE CASCADE;

CREATE INDEX coordinator_chapters_chapter_id ON public.coordinator_chapters USING btree (chapter_id);

ALTER TABLE public.coordinator_chapters ENABLE ROW LEVEL SECURITY;

-- Supabase's default privileges grant everything in public to the API roles: revoke, then grant.
REVOKE ALL ON TABLE public.coordinator_chapters FROM anon, authenticated, service_role;

GRANT ALL ON TABLE public.coordinator_chapters TO service_role;

GRANT SELECT ON TABLE public.coordinator_chapters TO authenticated;

CREATE POLICY coordinator_chapters_select ON public.coordinator_chapters FOR SELECT TO authenticated USING ((user_id = ( SELECT auth.uid() AS uid)));

CREATE TRIGGER coordinator_chapter_limit AFTER INSERT OR DELETE OR UPDATE ON public.coordinator_chapters FOR EACH ROW EXECUTE FUNCTION private.enforce_coordinator_chapter_limit();

CREATE TRIGGER coordinator_chapter_counts_truncate AFTER TRUNCATE ON public.coordinator_chapters FOR EACH STATEMENT EXECUTE FUNCTION private.reset_coordinator_chapter_counts();


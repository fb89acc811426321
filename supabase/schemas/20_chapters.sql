-- public.chapters: a chapter of the organisation, with its row security.
-- Functions its policy calls: private.coordinated_chapter_ids(), private.own_chapter_ids()
-- (10_functions_row_security.sql).

CREATE TABLE public.chapters (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    name text NOT NULL,
    CONSTRAINT chapter_name_not_blank CHECK ((btrim(name) <> ''::text))
);

ALTER TABLE ONLY public.chapters ALTER COLUMN id SET STATISTICS 0;

ALTER TABLE ONLY public.chapters ALTER COLUMN name SET STATISTICS 0;

ALTER TABLE ONLY public.chapters
    ADD CONSTRAINT chapters_pkey PRIMARY KEY (id);

ALTER TABLE public.chapters ENABLE ROW LEVEL SECURITY;

-- Supabase's default privileges grant everything in public to the API roles: revoke, then grant.
REVOKE ALL ON TABLE public.chapters FROM anon, authenticated, service_role;

GRANT ALL ON TABLE public.chapters TO service_role;

GRANT SELECT ON TABLE public.chapters TO authenticated;

CREATE POLICY chapters_select ON public.chapters FOR SELECT TO authenticated USING (((id = ANY (( SELECT private.coordinated_chapter_ids() AS coordinated_chapter_ids)::uuid[])) OR (id = ANY (( SELECT private.own_chapter_ids() AS own_chapter_ids)::uuid[]))));

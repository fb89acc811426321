-- public.peer_mentors: a peer mentor, their home chapter and their login, with row security.
-- Functions its policy calls: private.coordinated_chapter_ids(),
-- private.coordinated_member_ids() (10_functions_row_security.sql).

CREATE TABLE public.peer_mentors (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    user_id uuid,
    chapter_id uuid NOT NULL,
    full_name text NOT NULL,
    CONSTRAINT peer_mentor_full_name_not_blank CHECK ((btrim(full_name) <> ''::text))
);

ALTER TABLE ONLY public.peer_mentors ALTER COLUMN id SET STATISTICS 0;

ALTER TABLE ONLY public.peer_mentors ALTER COLUMN user_id SET STATISTICS 0;

ALTER TABLE ONLY public.peer_mentors ALTER COLUMN chapter_id SET STATISTICS 0;

ALTER TABLE ONLY public.peer_mentors ALTER COLUMN full_name SET STATISTICS 0;

ALTER TABLE ONLY public.peer_mentors
    ADD CONSTRAINT peer_mentors_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.peer_mentors
    ADD CONSTRAINT peer_mentors_user_id_key UNIQUE (user_id);

ALTER TABLE ONLY public.peer_mentors
    ADD CONSTRAINT peer_mentors_chapter_id_fkey FOREIGN KEY (chapter_id) REFERENCES public.chapters(id);

ALTER TABLE ONLY public.peer_mentors
    ADD CONSTRAINT peer_mentors_user_id_fkey FOREIGN KEY (user_id) REFERENCES auth.users(id) ON DELETE SET NULL;

CREATE INDEX peer_mentors_chapter_id ON public.peer_mentors USING btree (chapter_id);

ALTER TABLE public.peer_mentors ENABLE ROW LEVEL SECURITY;

-- Supabase's default privileges grant everything in public to the API roles: revoke, then grant.
REVOKE ALL ON TABLE public.peer_mentors FROM anon, authenticated, service_role;

GRANT ALL ON TABLE public.peer_mentors TO service_role;

GRANT SELECT ON TABLE public.peer_mentors TO authenticated;

-- A coordinator reads the mentors of their chapters, home or member; a mentor reads themselves.
-- The members' arm comes last: a mentor's lookup of their own row, on every write of
-- activities, is decided before it and never lists the members.
CREATE POLICY peer_mentors_select ON public.peer_mentors FOR SELECT TO authenticated USING (((chapter_id = ANY (( SELECT private.coordinated_chapter_ids() AS coordinated_chapter_ids)::uuid[])) OR (user_id = ( SELECT auth.uid() AS uid)) OR (id = ANY (( SELECT private.coordinated_member_ids() AS coordinated_member_ids)::uuid[]))));

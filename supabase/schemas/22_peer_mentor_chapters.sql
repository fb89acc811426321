-- public.peer_mentor_chapters: a mentor's memberships of chapters besides their home chapter.
-- Functions its policies and trigger call: private.coordinated_chapter_ids(),
-- private.own_peer_mentor_ids() (10_functions_row_security.sql); private.stamp_membership_grant()
-- (11_functions_write_guards.sql).

CREATE TABLE public.peer_mentor_chapters (
    peer_mentor_id uuid NOT NULL,
    chapter_id uuid NOT NULL,
    granted_by uuid,
    granted_at timestamp with time zone DEFAULT now() NOT NULL
);

ALTER TABLE ONLY public.peer_mentor_chapters ALTER COLUMN peer_mentor_id SET STATISTICS 0;

ALTER TABLE ONLY public.peer_mentor_chapters ALTER COLUMN chapter_id SET STATISTICS 0;

ALTER TABLE ONLY public.peer_mentor_chapters ALTER COLUMN granted_by SET STATISTICS 0;

ALTER TABLE ONLY public.peer_mentor_chapters ALTER COLUMN granted_at SET STATISTICS 0;

ALTER TABLE ONLY public.peer_mentor_chapters
    ADD CONSTRAINT peer_mentor_chapters_pkey PRIMARY KEY (peer_mentor_id, chapter_id);

ALTER TABLE ONLY public.peer_mentor_chapters
    ADD CONSTRAINT peer_mentor_chapters_chapter_id_fkey FOREIGN KEY (chapter_id) REFERENCES public.chapters(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.peer_mentor_chapters
    ADD CONSTRAINT peer_mentor_chapters_granted_by_fkey FOREIGN KEY (granted_by) REFERENCES auth.users(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.peer_mentor_chapters
    ADD CONSTRAINT peer_mentor_chapters_peer_mentor_id_fkey FOREIGN KEY (peer_mentor_id) REFERENCES public.peer_mentors(id) ON DELETE CASCADE;

CREATE INDEX peer_mentor_chapters_chapter_id ON public.peer_mentor_chapters USING btree (chapter_id);

CREATE INDEX peer_mentor_chapters_granted_by ON public.peer_mentor_chapters USING btree (granted_by);

COMMENT ON TABLE public.peer_mentor_chapters IS 'Chapters a peer mentor may register activities in besides their home chapter, granted by a coordinator of that chapter or by service_role.';

ALTER TABLE public.peer_mentor_chapters ENABLE ROW LEVEL SECURITY;

-- Supabase's default privileges grant everything in public to the API roles: revoke, then grant.
REVOKE ALL ON TABLE public.peer_mentor_chapters FROM anon, authenticated, service_role;

GRANT ALL ON TABLE public.peer_mentor_chapters TO service_role;

GRANT SELECT,INSERT,DELETE ON TABLE public.peer_mentor_chapters TO authenticated;

CREATE POLICY peer_mentor_chapters_delete ON public.peer_mentor_chapters FOR DELETE TO authenticated USING ((chapter_id = ANY (( SELECT private.coordinated_chapter_ids() AS coordinated_chapter_ids)::uuid[])));

CREATE POLICY peer_mentor_chapters_insert ON public.peer_mentor_chapters FOR INSERT TO authenticated WITH CHECK (((chapter_id = ANY (( SELECT private.coordinated_chapter_ids() AS coordinated_chapter_ids)::uuid[])) AND (EXISTS ( SELECT
   FROM public.peer_mentors pm
  WHERE (pm.id = peer_mentor_chapters.peer_mentor_id)))));

CREATE POLICY peer_mentor_chapters_select ON public.peer_mentor_chapters FOR SELECT TO authenticated USING (((chapter_id = ANY (( SELECT private.coordinated_chapter_ids() AS coordinated_chapter_ids)::uuid[])) OR (peer_mentor_id = ANY (( SELECT private.own_peer_mentor_ids() AS own_peer_mentor_ids)::uuid[]))));

CREATE TRIGGER peer_mentor_chapters_stamp_grant BEFORE INSERT ON public.peer_mentor_chapters FOR EACH ROW EXECUTE FUNCTION private.stamp_membership_grant();

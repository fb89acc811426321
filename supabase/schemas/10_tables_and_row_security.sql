-- The base tables and their row security: who may read and write which rows.
--
-- Every table in public has row security (Supabase lint 0013). A coordinator reads the
-- chapters listed for auth.uid() in coordinator_chapters (at most five), and the mentors who
-- belong to them: home chapter or membership; a peer mentor reads and writes their own
-- activities in the chapters they belong to (home chapter, plus the memberships in
-- peer_mentor_chapters). The helpers the policies call live in the unexposed
-- schema private and run with the caller's rights. The identifying columns carry no planner
-- statistics (SET STATISTICS 0), so EXPLAIN estimates reveal no chapter's or mentor's volume
-- (see docs/security.md).

CREATE SCHEMA private;

COMMENT ON SCHEMA private IS 'peerstats internals: the counting rule, materialized views and helpers. Not exposed by PostgREST.';

GRANT USAGE ON SCHEMA private TO authenticated;

GRANT USAGE ON SCHEMA private TO service_role;

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
    CONSTRAINT recorded_at_finite_and_not_before_2000 CHECK (((recorded_at >= '2000-01-01 00:00:00+00'::timestamp with time zone) AND (recorded_at < 'infinity'::timestamp with time zone)))
);

ALTER TABLE ONLY public.activities ALTER COLUMN id SET STATISTICS 0;

ALTER TABLE ONLY public.activities ALTER COLUMN peer_mentor_id SET STATISTICS 0;

ALTER TABLE ONLY public.activities ALTER COLUMN chapter_id SET STATISTICS 0;

ALTER TABLE ONLY public.activities ALTER COLUMN duplicate_of SET STATISTICS 0;

ALTER TABLE ONLY public.activities ALTER COLUMN moderated_in_chapter SET STATISTICS 0;

ALTER TABLE ONLY public.activities
    ADD CONSTRAINT activities_pkey PRIMARY KEY (id);

CREATE INDEX activities_chapter_id_recorded_at ON public.activities USING btree (chapter_id, recorded_at);

CREATE INDEX activities_duplicate_of ON public.activities USING btree (duplicate_of) WHERE (duplicate_of IS NOT NULL);

CREATE INDEX activities_moderated_in_chapter ON public.activities USING btree (moderated_in_chapter) WHERE (moderated_in_chapter IS NOT NULL);

CREATE INDEX activities_peer_mentor_id_recorded_at ON public.activities USING btree (peer_mentor_id, recorded_at);

CREATE INDEX activities_updated_at ON public.activities USING btree (updated_at);

COMMENT ON COLUMN public.activities.recorded_at IS 'When the activity took place. Statistics bucket it by its UTC date.';

COMMENT ON COLUMN public.activities.duplicate_of IS 'Set when this registration repeats that one (of the same mentor and chapter): it counts only when that original does not (soft-deleted or of a type that does not count).';

COMMENT ON COLUMN public.activities.deleted_at IS 'Soft delete: a deleted activity never counts.';

COMMENT ON COLUMN public.activities.moderated_in_chapter IS 'The chapter the activity was in when its deleted_at or duplicate_of was set (null while neither is): only a coordinator of this chapter, or service_role, may clear or change them or move the activity elsewhere. Set by the database.';

ALTER TABLE public.activities ENABLE ROW LEVEL SECURITY;

-- Supabase's default privileges grant everything in public to the API roles: revoke, then grant.
REVOKE ALL ON TABLE public.activities FROM anon, authenticated, service_role;

GRANT ALL ON TABLE public.activities TO service_role;

GRANT SELECT,INSERT,UPDATE ON TABLE public.activities TO authenticated;

CREATE TABLE public.activity_types (
    code text NOT NULL,
    label text NOT NULL,
    counts_in_stats boolean NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT activity_type_code_format CHECK ((code ~ '^[a-z][a-z0-9_]*$'::text))
);

ALTER TABLE ONLY public.activity_types
    ADD CONSTRAINT activity_types_pkey PRIMARY KEY (code);

ALTER TABLE public.activity_types ENABLE ROW LEVEL SECURITY;

-- Supabase's default privileges grant everything in public to the API roles: revoke, then grant.
REVOKE ALL ON TABLE public.activity_types FROM anon, authenticated, service_role;

GRANT ALL ON TABLE public.activity_types TO service_role;

GRANT SELECT ON TABLE public.activity_types TO authenticated;

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

CREATE TABLE public.coordinator_chapters (
    user_id uuid NOT NULL,
    chapter_id uuid NOT NULL
);

ALTER TABLE ONLY public.coordinator_chapters ALTER COLUMN user_id SET STATISTICS 0;

ALTER TABLE ONLY public.coordinator_chapters ALTER COLUMN chapter_id SET STATISTICS 0;

ALTER TABLE ONLY public.coordinator_chapters
    ADD CONSTRAINT coordinator_chapters_pkey PRIMARY KEY (user_id, chapter_id);

CREATE INDEX coordinator_chapters_chapter_id ON public.coordinator_chapters USING btree (chapter_id);

ALTER TABLE public.coordinator_chapters ENABLE ROW LEVEL SECURITY;

-- Supabase's default privileges grant everything in public to the API roles: revoke, then grant.
REVOKE ALL ON TABLE public.coordinator_chapters FROM anon, authenticated, service_role;

GRANT ALL ON TABLE public.coordinator_chapters TO service_role;

GRANT SELECT ON TABLE public.coordinator_chapters TO authenticated;

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

CREATE INDEX peer_mentor_chapters_chapter_id ON public.peer_mentor_chapters USING btree (chapter_id);

CREATE INDEX peer_mentor_chapters_granted_by ON public.peer_mentor_chapters USING btree (granted_by);

COMMENT ON TABLE public.peer_mentor_chapters IS 'Chapters a peer mentor may register activities in besides their home chapter, granted by a coordinator of that chapter or by service_role.';

ALTER TABLE public.peer_mentor_chapters ENABLE ROW LEVEL SECURITY;

-- Supabase's default privileges grant everything in public to the API roles: revoke, then grant.
REVOKE ALL ON TABLE public.peer_mentor_chapters FROM anon, authenticated, service_role;

GRANT ALL ON TABLE public.peer_mentor_chapters TO service_role;

GRANT SELECT,INSERT,DELETE ON TABLE public.peer_mentor_chapters TO authenticated;

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

CREATE INDEX peer_mentors_chapter_id ON public.peer_mentors USING btree (chapter_id);

ALTER TABLE public.peer_mentors ENABLE ROW LEVEL SECURITY;

-- Supabase's default privileges grant everything in public to the API roles: revoke, then grant.
REVOKE ALL ON TABLE public.peer_mentors FROM anon, authenticated, service_role;

GRANT ALL ON TABLE public.peer_mentors TO service_role;

GRANT SELECT ON TABLE public.peer_mentors TO authenticated;

-- The identifying columns carry no planner statistics (each table above sets STATISTICS 0 on
-- them); this function lists them, for the test that no pg_statistic row describes them.
-- Every column that names or tells apart a chapter, a mentor, a user or an activity, in the
-- tables under row security that hold per-chapter rows. (recorded_at, activity_type,
-- duration_minutes and the timestamps keep their statistics: they describe all chapters
-- together, and the dashboard's date-range plans need them.)
CREATE FUNCTION private.statistics_free_columns() RETURNS TABLE(table_name regclass, column_name name)
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  values ('public.activities'::regclass, 'id'::name), ('public.activities', 'peer_mentor_id'),
         ('public.activities', 'chapter_id'), ('public.activities', 'duplicate_of'),
         ('public.activities', 'moderated_in_chapter'),
         ('public.peer_mentors', 'id'), ('public.peer_mentors', 'user_id'),
         ('public.peer_mentors', 'chapter_id'), ('public.peer_mentors', 'full_name'),
         ('public.chapters', 'id'), ('public.chapters', 'name'),
         ('public.coordinator_chapters', 'user_id'), ('public.coordinator_chapters', 'chapter_id')
$$;

COMMENT ON FUNCTION private.statistics_free_columns() IS 'Columns kept free of planner statistics (statistics target 0, existing pg_statistic rows removed), so EXPLAIN estimates reveal no chapter or mentor. public.peer_mentor_chapters has none on any column.';

REVOKE ALL ON FUNCTION private.statistics_free_columns() FROM PUBLIC;

-- Row security helpers. Policies call them through a sub-select so PostgreSQL evaluates them
-- once per query, not once per row. Those that select by auth.uid() alone run with the
-- definer's rights (they return only the caller's own rows either way); the others with the
-- caller's, under row security.
CREATE FUNCTION private.coordinated_chapter_ids() RETURNS uuid[]
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
begin
  return (select coalesce(pg_catalog.array_agg(c.chapter_id), '{}')
          from public.coordinator_chapters c
          where c.user_id = auth.uid());
end
$$;

COMMENT ON FUNCTION private.coordinated_chapter_ids() IS 'The chapters auth.uid() coordinates (at most five).';

REVOKE ALL ON FUNCTION private.coordinated_chapter_ids() FROM PUBLIC;

GRANT ALL ON FUNCTION private.coordinated_chapter_ids() TO authenticated;

GRANT ALL ON FUNCTION private.coordinated_chapter_ids() TO service_role;

-- Definer's rights: with the caller's, the policy of peer_mentor_chapters would call
-- private.own_peer_mentor_ids(), which reads peer_mentors, whose policy calls this again,
-- without end. It asks for the chapters of auth.uid() alone, so it returns nothing the caller
-- could not read in peer_mentor_chapters already. The chapters are a sub-select, asked once
-- (as a bare call in the filter, once per membership row).
CREATE FUNCTION private.coordinated_member_ids() RETURNS uuid[]
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  return (select coalesce(pg_catalog.array_agg(m.peer_mentor_id), '{}')
          from public.peer_mentor_chapters m
          where m.chapter_id = any ((select private.coordinated_chapter_ids())::uuid[]));
end
$$;

COMMENT ON FUNCTION private.coordinated_member_ids() IS 'The peer mentors who are members (public.peer_mentor_chapters) of the chapters auth.uid() coordinates, whatever their home chapter.';

REVOKE ALL ON FUNCTION private.coordinated_member_ids() FROM PUBLIC;

GRANT ALL ON FUNCTION private.coordinated_member_ids() TO authenticated;

GRANT ALL ON FUNCTION private.coordinated_member_ids() TO service_role;

-- Whether a mentor belongs to a chapter (home or member). The caller's rights suffice: it is
-- asked about a chapter the caller coordinates, whose mentors and memberships they may read.
CREATE FUNCTION private.mentor_belongs_to(mentor_id uuid, target_chapter_id uuid) RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select exists (select from public.peer_mentors pm where pm.id = mentor_id and pm.chapter_id = target_chapter_id)
      or exists (select from public.peer_mentor_chapters m
                 where m.peer_mentor_id = mentor_id and m.chapter_id = target_chapter_id)
$$;

REVOKE ALL ON FUNCTION private.mentor_belongs_to(mentor_id uuid, target_chapter_id uuid) FROM PUBLIC;

GRANT ALL ON FUNCTION private.mentor_belongs_to(mentor_id uuid, target_chapter_id uuid) TO authenticated;

GRANT ALL ON FUNCTION private.mentor_belongs_to(mentor_id uuid, target_chapter_id uuid) TO service_role;

-- The chapters auth.uid() may register activities in: their home chapter and memberships.
-- This and own_peer_mentor_ids() run on every read and write of activities (their policies
-- call them) and select by auth.uid() alone: with the definer's rights they skip the policy of
-- peer_mentors, whose members' arm would otherwise run each time.
CREATE FUNCTION private.own_chapter_ids() RETURNS uuid[]
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
  select coalesce(array_agg(distinct chapter_id), '{}')
  from (
    select pm.chapter_id from public.peer_mentors pm where pm.user_id = auth.uid()
    union all
    select m.chapter_id
    from public.peer_mentor_chapters m
    join public.peer_mentors pm on pm.id = m.peer_mentor_id
    where pm.user_id = auth.uid()
  ) own
$$;

COMMENT ON FUNCTION private.own_chapter_ids() IS 'The chapters auth.uid() belongs to as a peer mentor: their home chapter and their memberships.';

REVOKE ALL ON FUNCTION private.own_chapter_ids() FROM PUBLIC;

GRANT ALL ON FUNCTION private.own_chapter_ids() TO authenticated;

GRANT ALL ON FUNCTION private.own_chapter_ids() TO service_role;

CREATE FUNCTION private.own_peer_mentor_ids() RETURNS uuid[]
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  return (select coalesce(pg_catalog.array_agg(m.id), '{}')
          from public.peer_mentors m
          where m.user_id = auth.uid());
end
$$;

COMMENT ON FUNCTION private.own_peer_mentor_ids() IS 'The peer mentor row of auth.uid(), as an array (empty for a user who is not a mentor).';

REVOKE ALL ON FUNCTION private.own_peer_mentor_ids() FROM PUBLIC;

GRANT ALL ON FUNCTION private.own_peer_mentor_ids() TO authenticated;

GRANT ALL ON FUNCTION private.own_peer_mentor_ids() TO service_role;

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

ALTER TABLE ONLY public.coordinator_chapters
    ADD CONSTRAINT coordinator_chapters_chapter_id_fkey FOREIGN KEY (chapter_id) REFERENCES public.chapters(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.coordinator_chapters
    ADD CONSTRAINT coordinator_chapters_user_id_fkey FOREIGN KEY (user_id) REFERENCES auth.users(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.peer_mentor_chapters
    ADD CONSTRAINT peer_mentor_chapters_chapter_id_fkey FOREIGN KEY (chapter_id) REFERENCES public.chapters(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.peer_mentor_chapters
    ADD CONSTRAINT peer_mentor_chapters_granted_by_fkey FOREIGN KEY (granted_by) REFERENCES auth.users(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.peer_mentor_chapters
    ADD CONSTRAINT peer_mentor_chapters_peer_mentor_id_fkey FOREIGN KEY (peer_mentor_id) REFERENCES public.peer_mentors(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.peer_mentors
    ADD CONSTRAINT peer_mentors_chapter_id_fkey FOREIGN KEY (chapter_id) REFERENCES public.chapters(id);

ALTER TABLE ONLY public.peer_mentors
    ADD CONSTRAINT peer_mentors_user_id_fkey FOREIGN KEY (user_id) REFERENCES auth.users(id) ON DELETE SET NULL;

CREATE POLICY activities_insert ON public.activities FOR INSERT TO authenticated WITH CHECK (((peer_mentor_id = ANY (( SELECT private.own_peer_mentor_ids() AS own_peer_mentor_ids)::uuid[])) AND (chapter_id = ANY (( SELECT private.own_chapter_ids() AS own_chapter_ids)::uuid[]))));

CREATE POLICY activities_select ON public.activities FOR SELECT TO authenticated USING (((chapter_id = ANY (( SELECT private.coordinated_chapter_ids() AS coordinated_chapter_ids)::uuid[])) OR (peer_mentor_id = ANY (( SELECT private.own_peer_mentor_ids() AS own_peer_mentor_ids)::uuid[]))));

CREATE POLICY activities_update ON public.activities FOR UPDATE TO authenticated USING ((((peer_mentor_id = ANY (( SELECT private.own_peer_mentor_ids() AS own_peer_mentor_ids)::uuid[])) AND (chapter_id = ANY (( SELECT private.own_chapter_ids() AS own_chapter_ids)::uuid[]))) OR (chapter_id = ANY (( SELECT private.coordinated_chapter_ids() AS coordinated_chapter_ids)::uuid[])))) WITH CHECK ((((peer_mentor_id = ANY (( SELECT private.own_peer_mentor_ids() AS own_peer_mentor_ids)::uuid[])) AND (chapter_id = ANY (( SELECT private.own_chapter_ids() AS own_chapter_ids)::uuid[]))) OR ((chapter_id = ANY (( SELECT private.coordinated_chapter_ids() AS coordinated_chapter_ids)::uuid[])) AND private.mentor_belongs_to(peer_mentor_id, chapter_id))));

CREATE POLICY activity_types_readable ON public.activity_types FOR SELECT TO authenticated USING (true);

CREATE POLICY chapters_select ON public.chapters FOR SELECT TO authenticated USING (((id = ANY (( SELECT private.coordinated_chapter_ids() AS coordinated_chapter_ids)::uuid[])) OR (id = ANY (( SELECT private.own_chapter_ids() AS own_chapter_ids)::uuid[]))));

CREATE POLICY coordinator_chapters_select ON public.coordinator_chapters FOR SELECT TO authenticated USING ((user_id = ( SELECT auth.uid() AS uid)));

CREATE POLICY peer_mentor_chapters_delete ON public.peer_mentor_chapters FOR DELETE TO authenticated USING ((chapter_id = ANY (( SELECT private.coordinated_chapter_ids() AS coordinated_chapter_ids)::uuid[])));

CREATE POLICY peer_mentor_chapters_insert ON public.peer_mentor_chapters FOR INSERT TO authenticated WITH CHECK (((chapter_id = ANY (( SELECT private.coordinated_chapter_ids() AS coordinated_chapter_ids)::uuid[])) AND (EXISTS ( SELECT
   FROM public.peer_mentors pm
  WHERE (pm.id = peer_mentor_chapters.peer_mentor_id)))));

CREATE POLICY peer_mentor_chapters_select ON public.peer_mentor_chapters FOR SELECT TO authenticated USING (((chapter_id = ANY (( SELECT private.coordinated_chapter_ids() AS coordinated_chapter_ids)::uuid[])) OR (peer_mentor_id = ANY (( SELECT private.own_peer_mentor_ids() AS own_peer_mentor_ids)::uuid[]))));

-- A coordinator reads the mentors of their chapters, home or member; a mentor reads themselves.
-- The members' arm comes last: a mentor's lookup of their own row, on every write of
-- activities, is decided before it and never lists the members.
CREATE POLICY peer_mentors_select ON public.peer_mentors FOR SELECT TO authenticated USING (((chapter_id = ANY (( SELECT private.coordinated_chapter_ids() AS coordinated_chapter_ids)::uuid[])) OR (user_id = ( SELECT auth.uid() AS uid)) OR (id = ANY (( SELECT private.coordinated_member_ids() AS coordinated_member_ids)::uuid[]))));

-- Row security helpers: the functions the policies call.
--
-- Every table in public has row security (Supabase lint 0013). A coordinator reads the
-- chapters listed for auth.uid() in coordinator_chapters (at most five), and the mentors who
-- belong to them: home chapter or membership; a peer mentor reads and writes their own
-- activities in the chapters they belong to (home chapter, plus the memberships in
-- peer_mentor_chapters). The helpers live in the unexposed schema private; the policies that
-- call them are in the tables' files (20_chapters.sql to 25_activities.sql). The identifying
-- columns carry no planner statistics (SET STATISTICS 0), so EXPLAIN estimates reveal no
-- chapter's or mentor's volume (see docs/security.md).

-- The bodies name tables of later files (00_private_schema.sql says why this is safe).
set check_function_bodies = off;

-- The identifying columns carry no planner statistics (each table's file sets STATISTICS 0
-- on them); this function lists them, for the test that no pg_statistic row describes them.
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

-- Mentors who serve several chapters. A coordinator read only the mentors whose home chapter
-- they coordinate, so a member of their chapter from elsewhere (granted by service_role, or by
-- a coordinator of both chapters) was a bare id to them: they saw and moderated that mentor's
-- activities in their chapter, but could not read the mentor's name nor reassign an activity
-- to them ("is not one you can see"). Now a coordinator also reads the mentors who are members
-- of the chapters they coordinate (public.peer_mentor_chapters); no other mentor, and none of a
-- member's memberships of other chapters.
--
-- The members are listed by a definer-rights helper: with the caller's rights, the policy of
-- peer_mentor_chapters would call private.own_peer_mentor_ids(), which reads peer_mentors,
-- whose policy would list the members again, without end. It asks for the chapters of
-- auth.uid() alone, so it returns nothing the caller could not read in peer_mentor_chapters
-- already. PL/pgSQL keeps its plan for the session, and the chapters are a sub-select, asked
-- once: as a bare call in the filter, coordinated_chapter_ids() ran once per membership row.
create function private.coordinated_member_ids() returns uuid[]
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return (select coalesce(pg_catalog.array_agg(m.peer_mentor_id), '{}')
          from public.peer_mentor_chapters m
          where m.chapter_id = any ((select private.coordinated_chapter_ids())::uuid[]));
end
$$;

comment on function private.coordinated_member_ids() is
  'The peer mentors who are members (public.peer_mentor_chapters) of the chapters auth.uid() coordinates, whatever their home chapter.';

revoke all on function private.coordinated_member_ids() from public;
grant execute on function private.coordinated_member_ids() to authenticated, service_role;

alter policy peer_mentors_select on public.peer_mentors
  using (chapter_id = any ((select private.coordinated_chapter_ids())::uuid[])
         or user_id = (select auth.uid())
         or id = any ((select private.coordinated_member_ids())::uuid[]));

-- The caller's own mentor row and chapters are read on every write and read of activities (the
-- policies of activities and chapters call these two). Under the caller's row security, that
-- lookup would now list the members of the caller's chapters each time (a mentor's insert
-- check took twice as long, see docs/security.md). With the definer's rights it reads no
-- policy; both already select by auth.uid() alone, so they return what they returned.
alter function private.own_peer_mentor_ids() security definer;
alter function private.own_chapter_ids() security definer;

-- A coordinator reads again only the mentors whose home chapter they coordinate (and themselves).
alter function private.own_peer_mentor_ids() security invoker;
alter function private.own_chapter_ids() security invoker;

alter policy peer_mentors_select on public.peer_mentors
  using (chapter_id = any ((select private.coordinated_chapter_ids())::uuid[])
         or user_id = (select auth.uid()));

drop function private.coordinated_member_ids();

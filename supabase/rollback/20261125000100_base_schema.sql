-- Down: the base tables, their rows with them, and their helpers. The auth schema and the API
-- roles belong to Supabase and stay.
-- One statement, so the policies that refer across these tables go with them.
drop table if exists public.activities, public.coordinator_chapters, public.peer_mentors,
  public.activity_types, public.chapters;
drop function if exists private.own_peer_mentor_ids();
drop function if exists private.coordinated_chapter_ids();
drop function if exists private.enforce_coordinator_chapter_limit();
drop function if exists private.touch_updated_at();
-- What the down script of 20261202000100 kept of the activities' moderation goes with them.
drop table if exists private.moderations_kept_by_down;
drop schema if exists private;

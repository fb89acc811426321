-- The exact API: public.peer_mentor_stats, chapter_stats and activity_time_series, exact at every
-- moment. Each reads the caller's chapters with their logged keys, then calls one function per
-- chapter; those functions live in 14_functions_dirty_key_log_and_exact_api.sql, which says how
-- they merge the materialized rows with the changes logged since.

create view public.activity_time_series with (security_invoker = true) as
select s.bucket_date, c.chapter_id, s.activity_count, s.total_hours, s.total_minutes
from private.stats_chapters() c
cross join lateral private.activity_time_series_of(c.chapter_id, c.key_days) s;

COMMENT ON VIEW public.activity_time_series IS 'Daily activity count, hours and minutes of the caller''s chapters, exact at every moment (equal to v_activity_time_series). Add up rows by total_minutes. public.stats_freshness says when the materialized part was last refreshed.';

-- Supabase's default privileges grant everything in public to the API roles: revoke, then grant.
REVOKE ALL ON TABLE public.activity_time_series FROM anon, authenticated, service_role;

GRANT SELECT ON TABLE public.activity_time_series TO authenticated;

GRANT SELECT ON TABLE public.activity_time_series TO service_role;

create view public.chapter_stats with (security_invoker = true) as
select c.chapter_id, s.month_start, s.activity_count, s.total_hours, s.total_minutes, s.active_mentor_count
from private.stats_chapters() c
cross join lateral private.chapter_stats_of(c.chapter_id, c.key_mentors, c.key_days) s;

COMMENT ON VIEW public.chapter_stats IS 'Monthly figures of the caller''s chapters, exact at every moment (equal to v_chapter_stats). Add up rows by total_minutes.';

-- Supabase's default privileges grant everything in public to the API roles: revoke, then grant.
REVOKE ALL ON TABLE public.chapter_stats FROM anon, authenticated, service_role;

GRANT SELECT ON TABLE public.chapter_stats TO authenticated;

GRANT SELECT ON TABLE public.chapter_stats TO service_role;

create view public.peer_mentor_stats with (security_invoker = true) as
select s.peer_mentor_id, c.chapter_id, s.month_start, s.activity_count, s.total_hours, s.total_minutes
from private.peer_mentor_stats_chapters() c
cross join lateral private.peer_mentor_stats_of(c.chapter_id, c.key_mentors, c.key_days) s;

COMMENT ON VIEW public.peer_mentor_stats IS 'Monthly figures per mentor in the caller''s chapters (or of the calling mentor), exact at every moment (equal to v_peer_mentor_stats). Add up rows by total_minutes.';

-- Supabase's default privileges grant everything in public to the API roles: revoke, then grant.
REVOKE ALL ON TABLE public.peer_mentor_stats FROM anon, authenticated, service_role;

GRANT SELECT ON TABLE public.peer_mentor_stats TO authenticated;

GRANT SELECT ON TABLE public.peer_mentor_stats TO service_role;

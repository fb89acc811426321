-- The counting rule, defined once, and the plain views: the reference and the fallback.
--
-- private.counted_activities is the only definition of what counts: not soft-deleted, of a
-- type with counts_in_stats, and not a duplicate of an activity that counts. The plain views,
-- the materialized views and the Bufdir export all read activities through it. The plain
-- views are security_invoker, so row security decides what each caller sees, and the
-- chapter-level ones never show a partial aggregate (only the chapters the caller coordinates).

CREATE FUNCTION private.caller_sees_every_chapter() RETURNS boolean
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
begin
  return coalesce((
    select r.rolsuper or r.rolbypassrls
    from pg_catalog.pg_roles r
    where r.rolname = case pg_catalog.current_setting('role')
                        when 'none' then session_user
                        else pg_catalog.current_setting('role')
                      end
  ), false);
end
$$;

REVOKE ALL ON FUNCTION private.caller_sees_every_chapter() FROM PUBLIC;
GRANT ALL ON FUNCTION private.caller_sees_every_chapter() TO authenticated;
GRANT ALL ON FUNCTION private.caller_sees_every_chapter() TO service_role;

CREATE FUNCTION private.stats_chapter_ids() RETURNS uuid[]
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
begin
  if private.caller_sees_every_chapter() then
    return (select coalesce(pg_catalog.array_agg(c.id), '{}') from public.chapters c);
  end if;
  return private.coordinated_chapter_ids();
end
$$;

REVOKE ALL ON FUNCTION private.stats_chapter_ids() FROM PUBLIC;
GRANT ALL ON FUNCTION private.stats_chapter_ids() TO authenticated;
GRANT ALL ON FUNCTION private.stats_chapter_ids() TO service_role;

CREATE VIEW private.counted_activities WITH (security_invoker='true') AS
 SELECT a.id,
    a.peer_mentor_id,
    a.chapter_id,
    a.activity_type,
    a.recorded_at,
    a.duration_minutes
   FROM (public.activities a
     JOIN public.activity_types t ON ((t.code = a.activity_type)))
  WHERE ((a.deleted_at IS NULL) AND t.counts_in_stats AND (((a.duplicate_of IS NOT NULL))::integer = 0))
UNION ALL
 SELECT a.id,
    a.peer_mentor_id,
    a.chapter_id,
    a.activity_type,
    a.recorded_at,
    a.duration_minutes
   FROM (public.activities a
     JOIN public.activity_types t ON ((t.code = a.activity_type)))
  WHERE ((a.deleted_at IS NULL) AND t.counts_in_stats AND (((a.duplicate_of IS NOT NULL))::integer = 1) AND (NOT (EXISTS ( SELECT
           FROM (public.activities o
             JOIN public.activity_types ot ON ((ot.code = o.activity_type)))
          WHERE ((o.id = a.duplicate_of) AND (o.deleted_at IS NULL) AND ot.counts_in_stats)))));

COMMENT ON VIEW private.counted_activities IS 'The counting rule: activities that are not soft-deleted, of a type with counts_in_stats, and either not a duplicate or a duplicate whose original does not count (soft-deleted or of a non-counting type). Every statistic and the Bufdir export read activities through this view only.';

GRANT SELECT ON TABLE private.counted_activities TO authenticated;
GRANT SELECT ON TABLE private.counted_activities TO service_role;

CREATE VIEW private.activity_time_series_live WITH (security_invoker='true') AS
 SELECT (date_trunc('day'::text, (c.recorded_at AT TIME ZONE 'UTC'::text)))::date AS bucket_date,
    c.chapter_id,
    count(*) AS activity_count,
    ((sum(c.duration_minutes))::numeric / 60.0) AS total_hours
   FROM private.counted_activities c
  GROUP BY ((date_trunc('day'::text, (c.recorded_at AT TIME ZONE 'UTC'::text)))::date), c.chapter_id;

GRANT SELECT ON TABLE private.activity_time_series_live TO authenticated;
GRANT SELECT ON TABLE private.activity_time_series_live TO service_role;

CREATE VIEW private.chapter_stats_live WITH (security_invoker='true') AS
 SELECT per_mentor.chapter_id,
    per_mentor.month_start,
    (sum(per_mentor.activity_count))::bigint AS activity_count,
    (sum(per_mentor.minutes) / 60.0) AS total_hours,
    count(*) AS active_mentor_count
   FROM ( SELECT c.chapter_id,
            (date_trunc('month'::text, (c.recorded_at AT TIME ZONE 'UTC'::text)))::date AS month_start,
            c.peer_mentor_id,
            count(*) AS activity_count,
            sum(c.duration_minutes) AS minutes
           FROM private.counted_activities c
          GROUP BY c.chapter_id, ((date_trunc('month'::text, (c.recorded_at AT TIME ZONE 'UTC'::text)))::date), c.peer_mentor_id) per_mentor
  GROUP BY per_mentor.chapter_id, per_mentor.month_start;

GRANT SELECT ON TABLE private.chapter_stats_live TO authenticated;
GRANT SELECT ON TABLE private.chapter_stats_live TO service_role;

CREATE VIEW private.peer_mentor_stats_live WITH (security_invoker='true') AS
 SELECT c.peer_mentor_id,
    c.chapter_id,
    (date_trunc('month'::text, (c.recorded_at AT TIME ZONE 'UTC'::text)))::date AS month_start,
    count(*) AS activity_count,
    ((sum(c.duration_minutes))::numeric / 60.0) AS total_hours
   FROM private.counted_activities c
  GROUP BY c.peer_mentor_id, c.chapter_id, ((date_trunc('month'::text, (c.recorded_at AT TIME ZONE 'UTC'::text)))::date);

GRANT SELECT ON TABLE private.peer_mentor_stats_live TO authenticated;
GRANT SELECT ON TABLE private.peer_mentor_stats_live TO service_role;

CREATE VIEW public.v_activity_time_series WITH (security_invoker='true') AS
 SELECT activity_time_series_live.bucket_date,
    activity_time_series_live.chapter_id,
    activity_time_series_live.activity_count,
    activity_time_series_live.total_hours
   FROM private.activity_time_series_live
  WHERE (activity_time_series_live.chapter_id = ANY (( SELECT private.stats_chapter_ids() AS stats_chapter_ids)::uuid[]));

COMMENT ON VIEW public.v_activity_time_series IS 'Daily activity count and hours per chapter, computed live (the reference for mv_activity_time_series and the fallback when it is stale).';

-- Supabase's default privileges grant everything in public to the API roles: revoke, then grant.
REVOKE ALL ON TABLE public.v_activity_time_series FROM anon, authenticated, service_role;
GRANT SELECT ON TABLE public.v_activity_time_series TO authenticated;
GRANT SELECT ON TABLE public.v_activity_time_series TO service_role;

CREATE VIEW public.v_chapter_stats WITH (security_invoker='true') AS
 SELECT chapter_stats_live.chapter_id,
    chapter_stats_live.month_start,
    chapter_stats_live.activity_count,
    chapter_stats_live.total_hours,
    chapter_stats_live.active_mentor_count
   FROM private.chapter_stats_live
  WHERE (chapter_stats_live.chapter_id = ANY (( SELECT private.stats_chapter_ids() AS stats_chapter_ids)::uuid[]));

COMMENT ON VIEW public.v_chapter_stats IS 'Monthly activity count, hours and active mentors per chapter, computed live.';

-- Supabase's default privileges grant everything in public to the API roles: revoke, then grant.
REVOKE ALL ON TABLE public.v_chapter_stats FROM anon, authenticated, service_role;
GRANT SELECT ON TABLE public.v_chapter_stats TO authenticated;
GRANT SELECT ON TABLE public.v_chapter_stats TO service_role;

CREATE VIEW public.v_peer_mentor_stats WITH (security_invoker='true') AS
 SELECT peer_mentor_stats_live.peer_mentor_id,
    peer_mentor_stats_live.chapter_id,
    peer_mentor_stats_live.month_start,
    peer_mentor_stats_live.activity_count,
    peer_mentor_stats_live.total_hours
   FROM private.peer_mentor_stats_live;

COMMENT ON VIEW public.v_peer_mentor_stats IS 'Monthly activity count and hours per mentor and chapter, computed live.';

-- Supabase's default privileges grant everything in public to the API roles: revoke, then grant.
REVOKE ALL ON TABLE public.v_peer_mentor_stats FROM anon, authenticated, service_role;
GRANT SELECT ON TABLE public.v_peer_mentor_stats TO authenticated;
GRANT SELECT ON TABLE public.v_peer_mentor_stats TO service_role;

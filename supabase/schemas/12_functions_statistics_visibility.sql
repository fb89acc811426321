-- Which chapters' statistics, and which mentor-days, the caller sees: the helpers the plain
-- views (40_counting_rule_and_plain_views.sql), the exact API
-- (14_functions_dirty_key_log_and_exact_api.sql) and the daily bound's refusal
-- (11_functions_write_guards.sql) call.

-- The bodies name tables of later files (00_private_schema.sql says why this is safe).
set check_function_bodies = off;

-- Whether the calling role sees every chapter's statistics: superusers and roles that bypass
-- row security (service_role). The caller is the role PostgREST (or SET ROLE) switched to,
-- which stays the same inside SECURITY DEFINER functions, unlike current_user.
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

-- The chapters whose chapter-level statistics the caller may see: every chapter for
-- service_role, else the chapters auth.uid() coordinates. Chapter-level figures are shown
-- whole or not at all: a mentor who can read their own activities in a chapter they do not
-- coordinate must not get a chapter total made of just those.
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

-- Whether the caller reads every counted activity of a mentor's UTC day, as the select policy
-- of activities reads them (activities_select): those of the chapters the caller coordinates,
-- and a mentor's own; service_role and the owner read every row. Called by the daily bound's
-- definer code, which sees every row, to decide whether its refusal may give the day's total.
CREATE FUNCTION private.caller_reads_every_counted_activity_of(mentor_id uuid, day date) RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select private.caller_sees_every_chapter()
      or mentor_id = any (private.own_peer_mentor_ids())
      or not exists (
        select
        from private.counted_activities c
        where c.peer_mentor_id = mentor_id
          and c.recorded_at >= (day::timestamp at time zone 'UTC')
          and c.recorded_at < ((day + 1)::timestamp at time zone 'UTC')
          and not (c.chapter_id = any (private.coordinated_chapter_ids())))
$$;

REVOKE ALL ON FUNCTION private.caller_reads_every_counted_activity_of(mentor_id uuid, day date) FROM PUBLIC;

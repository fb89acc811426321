-- The refresh of the materialized statistics.
--
-- STALENESS WINDOW (for the UI's "last updated"): the materialized views (50_mv_chapter_stats.sql,
-- 51_mv_peer_mentor_stats.sql, 52_mv_activity_time_series.sql) show the data as of their last
-- refresh, read from public.stats_freshness.refreshed_at (36_stats_freshness.sql); the hourly
-- pg_cron job (90_cron_jobs.sql) keeps them at most an hour old. The API (60_exact_api_views.sql)
-- is exact regardless. public.refresh_stats_views() refreshes the three concurrently, one
-- refresh at a time, logs each call in private.refresh_runs (35_refresh_runs.sql), and is
-- executable by service_role and the owner only. It also brings the exact API's mentor-day
-- grain (private.peer_mentor_days, 34_peer_mentor_days.sql) up to date, recomputing only the
-- chapter-days the dirty-key log (33_stats_dirty_keys.sql) names.

-- The bodies name tables of later files (00_private_schema.sql says why this is safe).
set check_function_bodies = off;

CREATE FUNCTION private.rebuild_peer_mentor_days() RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  -- A refresh folding the log at the same moment writes mentor-days this delete would not see.
  perform pg_catalog.pg_advisory_xact_lock(7351046002);
  -- DELETE, not TRUNCATE: readers keep reading the rows until this transaction commits.
  delete from private.peer_mentor_days;
  insert into private.peer_mentor_days (chapter_id, peer_mentor_id, bucket_date, activity_count, minutes)
  select c.chapter_id, c.peer_mentor_id, (c.recorded_at at time zone 'UTC')::date, count(*),
         (sum(c.duration_minutes))::bigint
  from private.counted_activities c
  group by 1, 2, 3
  -- In the order of the primary key, as the materialized view it replaces was written: a
  -- chapter's mentor-months then sit on few pages.
  order by 1, 2, 3;
end
$$;

COMMENT ON FUNCTION private.rebuild_peer_mentor_days() IS 'Recomputes private.peer_mentor_days whole from private.counted_activities, holding the refresh''s lock: after a TRUNCATE, after changes made with the log''s triggers disabled, and for a refresh that folds more chapter-days than a rebuild costs.';

REVOKE ALL ON FUNCTION private.rebuild_peer_mentor_days() FROM PUBLIC;

-- Past this many chapter-days to fold in, a refresh rebuilds private.peer_mentor_days whole:
-- recomputing that many days one by one costs more than one pass over the counting rule.
CREATE FUNCTION private.peer_mentor_days_rebuild_above() RETURNS integer
    LANGUAGE sql IMMUTABLE
    SET search_path TO ''
    AS $$ select 10000 $$;

COMMENT ON FUNCTION private.peer_mentor_days_rebuild_above() IS 'Past this many chapter-days named in the dirty-key log, a refresh rebuilds private.peer_mentor_days whole instead of folding them in. The one definition the refresh reads.';

REVOKE ALL ON FUNCTION private.peer_mentor_days_rebuild_above() FROM PUBLIC;

GRANT ALL ON FUNCTION private.peer_mentor_days_rebuild_above() TO service_role;

CREATE FUNCTION private.fold_into_peer_mentor_days(folded pg_snapshot) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    SET jit TO 'off'
    AS $$
declare
  rebuild_above constant integer := private.peer_mentor_days_rebuild_above();
  chapters uuid[];
  days date[];
begin
  select coalesce(pg_catalog.array_agg(k.chapter_id), '{}'), coalesce(pg_catalog.array_agg(k.bucket_date), '{}')
    into chapters, days
  from (
    select distinct l.chapter_id, l.bucket_date
    from private.stats_dirty_keys l
    where pg_catalog.pg_visible_in_snapshot(l.xid, folded)
  ) k;
  if pg_catalog.cardinality(chapters) > rebuild_above then
    perform private.rebuild_peer_mentor_days();
    return;
  end if;
  delete from private.peer_mentor_days d
  using rows from (pg_catalog.unnest(chapters), pg_catalog.unnest(days)) as f (chapter_id, bucket_date)
  where d.chapter_id = f.chapter_id and d.bucket_date = f.bucket_date;
  insert into private.peer_mentor_days (chapter_id, peer_mentor_id, bucket_date, activity_count, minutes)
  select c.chapter_id, l.peer_mentor_id, l.bucket_date, l.activity_count, l.minutes
  from (
    select f.chapter_id, pg_catalog.array_agg(f.bucket_date) as days
    from rows from (pg_catalog.unnest(chapters), pg_catalog.unnest(days)) as f (chapter_id, bucket_date)
    group by f.chapter_id
  ) c
  cross join lateral private.live_chapter_days(c.chapter_id, c.days) l;
end
$$;

COMMENT ON FUNCTION private.fold_into_peer_mentor_days(folded pg_snapshot) IS 'Called by public.refresh_stats_views(): recomputes in private.peer_mentor_days the chapter-days of the private.stats_dirty_keys entries visible in the given snapshot (all of it, by private.rebuild_peer_mentor_days(), past 10,000 chapter-days).';

REVOKE ALL ON FUNCTION private.fold_into_peer_mentor_days(folded pg_snapshot) FROM PUBLIC;

-- The refresh, which also empties the dirty-key log of what it folded in. It takes
-- pg_current_snapshot() before the first REFRESH. Under READ COMMITTED every later statement
-- of this transaction runs on a snapshot that sees at least what that one saw, so every log
-- entry whose transaction is visible in it is reflected in the three refreshed views and in the
-- chapter-days of private.peer_mentor_days it recomputed, and only those are deleted, in the same transaction: readers see the new views and the shorter log
-- together, at commit. An entry of a transaction that was running, or committed after the
-- snapshot, stays, and its keys stay live until the next refresh. If one view fails to
-- refresh, the log is left whole.
CREATE FUNCTION public.refresh_stats_views(wait boolean DEFAULT true) RETURNS TABLE(view_name text, refreshed_at timestamp with time zone, refresh_ms numeric, status text)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  refresh_lock constant bigint := 7351046002;
  views constant text[] := array['mv_activity_time_series', 'mv_chapter_stats', 'mv_peer_mentor_stats'];
  called_at constant timestamptz := pg_catalog.clock_timestamp();
  run_started timestamptz;
  started timestamptz;
  folded pg_snapshot;
  outcomes text[] := '{}'::text[];
  -- pg_cron's background workers set no application_name.
  requester constant text := coalesce(nullif(pg_catalog.current_setting('application_name'), ''),
                                      'pg_cron or unnamed client (' || session_user || ')');
begin
  if not pg_catalog.pg_try_advisory_xact_lock(refresh_lock) then
    if not wait then
      raise notice 'refresh_stats_views: skipped, another refresh is running';
      insert into private.refresh_runs (requested_by, waited_ms, started_at, finished_at, status)
      values (requester, 0, called_at, called_at, 'skipped');
      foreach view_name in array views loop
        refreshed_at := null; refresh_ms := null; status := 'skipped';
        return next;
      end loop;
      return;
    end if;
    raise notice 'refresh_stats_views: another refresh is running, waiting for it';
    perform pg_catalog.pg_advisory_xact_lock(refresh_lock);
    raise notice 'refresh_stats_views: waited % ms',
      round(extract(epoch from pg_catalog.clock_timestamp() - called_at) * 1000, 1);
  end if;
  run_started := pg_catalog.clock_timestamp();
  folded := pg_catalog.pg_current_snapshot();

  -- The mentor-day grain first, from the log: only the chapter-days it names.
  begin
    perform private.fold_into_peer_mentor_days(folded);
  exception when others then
    raise warning 'refresh_stats_views: peer_mentor_days failed: %', sqlerrm;
    outcomes := outcomes || ('peer_mentor_days failed: ' || sqlerrm);
  end;

  foreach view_name in array views loop
    started := pg_catalog.clock_timestamp();
    begin
      execute pg_catalog.format('refresh materialized view concurrently private.%I', view_name);
      refreshed_at := started;
      refresh_ms := round(extract(epoch from pg_catalog.clock_timestamp() - started) * 1000, 3);
      status := 'refreshed';
      insert into public.stats_freshness as f (view_name, refreshed_at, refresh_ms)
      values (refresh_stats_views.view_name, refresh_stats_views.refreshed_at, refresh_stats_views.refresh_ms)
      on conflict on constraint stats_freshness_pkey do update
        set refreshed_at = excluded.refreshed_at, refresh_ms = excluded.refresh_ms;
    exception when others then
      raise warning 'refresh_stats_views: % failed: %', view_name, sqlerrm;
      refreshed_at := null; refresh_ms := null; status := 'failed: ' || sqlerrm;
      outcomes := outcomes || (view_name || ' ' || status);
    end;
    return next;
  end loop;

  if pg_catalog.cardinality(outcomes) = 0 then
    delete from private.stats_dirty_keys d where pg_catalog.pg_visible_in_snapshot(d.xid, folded);
  end if;
  delete from private.refresh_runs r where r.started_at < called_at - private.stats_history_kept();
  insert into private.refresh_runs (requested_by, waited_ms, started_at, finished_at, status)
  values (requester,
          round(extract(epoch from run_started - called_at) * 1000, 3),
          run_started, pg_catalog.clock_timestamp(),
          case when pg_catalog.cardinality(outcomes) = 0 then 'refreshed'
               else pg_catalog.array_to_string(outcomes, '; ') end);
end
$$;

COMMENT ON FUNCTION public.refresh_stats_views(wait boolean) IS 'Refreshes the three materialized statistics views CONCURRENTLY, recomputes in private.peer_mentor_days the chapter-days the log names, records public.stats_freshness and removes from private.stats_dirty_keys the entries the refresh folded in. Executable by service_role and the owner only. Two never run at once: wait => true waits for a running refresh, wait => false skips.';

-- Supabase's default privileges grant everything in public to the API roles: revoke, then grant.
REVOKE ALL ON FUNCTION public.refresh_stats_views(wait boolean) FROM anon, authenticated, service_role;

REVOKE ALL ON FUNCTION public.refresh_stats_views(wait boolean) FROM PUBLIC;

GRANT ALL ON FUNCTION public.refresh_stats_views(wait boolean) TO service_role;

-- The materialized statistics and their refresh.
--
-- STALENESS WINDOW (for the UI's "last updated"): the materialized views show the data as of
-- their last refresh, read from public.stats_freshness.refreshed_at; the hourly pg_cron job
-- (70_cron_jobs.sql) keeps them at most an hour old. The API (50_dirty_key_log_and_exact_api.sql)
-- is exact regardless. A materialized view has no row security, so they live in private and
-- grant nothing to anon or authenticated. Each unique index is what REFRESH CONCURRENTLY needs;
-- public.refresh_stats_views() refreshes the three concurrently, one refresh at a time, and is
-- executable by service_role and the owner only. It also brings the exact API's mentor-day
-- grain (private.peer_mentor_days) up to date, recomputing only the chapter-days the log names.

-- Every call of the refresh, kept a week: who asked, how long it waited and took, what came
-- of it. started_at is taken after the refresh lock, which is held until commit, so two
-- runs' [started_at, finished_at] never overlap.
CREATE TABLE private.refresh_runs (
    id bigint NOT NULL,
    requested_by text NOT NULL,
    waited_ms numeric NOT NULL,
    started_at timestamp with time zone NOT NULL,
    finished_at timestamp with time zone NOT NULL,
    status text NOT NULL
);

ALTER TABLE private.refresh_runs ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME private.refresh_runs_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

ALTER TABLE ONLY private.refresh_runs
    ADD CONSTRAINT refresh_runs_pkey PRIMARY KEY (id);

CREATE INDEX refresh_runs_started_at ON private.refresh_runs USING btree (started_at);

COMMENT ON TABLE private.refresh_runs IS 'Operational log: one row per call of public.refresh_stats_views() in the last 7 days (down scripts write to it too): requested_by is the caller''s application_name; status is refreshed, skipped, or failed with the reason per view.';

GRANT SELECT ON TABLE private.refresh_runs TO service_role;

-- When each view was last refreshed, for the dashboard's "last updated".
CREATE TABLE public.stats_freshness (
    view_name text NOT NULL,
    refreshed_at timestamp with time zone NOT NULL,
    refresh_ms numeric NOT NULL
);

ALTER TABLE ONLY public.stats_freshness
    ADD CONSTRAINT stats_freshness_pkey PRIMARY KEY (view_name);

COMMENT ON TABLE public.stats_freshness IS 'One row per materialized statistics view: refreshed_at is the moment its data is as of (the start of its last refresh), refresh_ms how long that refresh took.';

COMMENT ON COLUMN public.stats_freshness.refreshed_at IS 'The view holds every change to activities committed before this moment.';

ALTER TABLE public.stats_freshness ENABLE ROW LEVEL SECURITY;

-- Supabase's default privileges grant everything in public to the API roles: revoke, then grant.
REVOKE ALL ON TABLE public.stats_freshness FROM anon, authenticated, service_role;

GRANT SELECT ON TABLE public.stats_freshness TO authenticated;

GRANT SELECT ON TABLE public.stats_freshness TO service_role;

-- The exact API's mentor-day grain: kept from the log by the refresh (only the chapter-days
-- the entries it removes name), rebuilt whole after a TRUNCATE or by hand.
CREATE TABLE private.peer_mentor_days (
    chapter_id uuid NOT NULL,
    peer_mentor_id uuid NOT NULL,
    bucket_date date NOT NULL,
    activity_count bigint NOT NULL,
    minutes bigint NOT NULL
);

COMMENT ON TABLE private.peer_mentor_days IS 'Counted activities and minutes per chapter, mentor and UTC day: the grain the exact API recomputes changed mentor-months from. Not read by clients. Kept up to date by public.refresh_stats_views() from the chapter-days named in private.stats_dirty_keys; the API merges it with the changes logged since.';

ALTER TABLE ONLY private.peer_mentor_days
    ADD CONSTRAINT peer_mentor_days_pkey PRIMARY KEY (chapter_id, peer_mentor_id, bucket_date);

ALTER TABLE private.peer_mentor_days ENABLE ROW LEVEL SECURITY;

-- Nobody reads it but its owner and the definer-rights functions the owner runs: a policy that
-- admits no row says so to Supabase's linter (0008, row security without a policy).
CREATE POLICY peer_mentor_days_owner_only ON private.peer_mentor_days AS RESTRICTIVE
  FOR ALL TO PUBLIC USING (false);

-- No role but the owner reads it.
REVOKE ALL ON TABLE private.peer_mentor_days FROM PUBLIC, anon, authenticated, service_role;

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

CREATE FUNCTION private.fold_into_peer_mentor_days(folded pg_snapshot) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    SET jit TO 'off'
    AS $$
declare
  rebuild_above constant integer := 10000;
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
  delete from private.refresh_runs r where r.started_at < called_at - interval '7 days';
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

-- The stored aggregates are the same views the plain views filter (30_counting_rule_and_plain_views.sql), so the two
-- cannot drift apart. Each is stored in the order of its chapter index, so a chapter's rows
-- sit together on few pages; a concurrent refresh appends changed rows, and a plain refresh
-- restores the order.
create materialized view private.mv_activity_time_series as
select bucket_date, chapter_id, activity_count, total_hours, total_minutes
from private.activity_time_series_live
order by chapter_id, bucket_date
with data;

-- No role but the owner reads it (no row security to protect it).
REVOKE ALL ON TABLE private.mv_activity_time_series FROM PUBLIC, anon, authenticated, service_role;

CREATE INDEX mv_activity_time_series_bucket_date ON private.mv_activity_time_series USING btree (bucket_date);

CREATE UNIQUE INDEX mv_activity_time_series_key ON private.mv_activity_time_series USING btree (chapter_id, bucket_date);

COMMENT ON MATERIALIZED VIEW private.mv_activity_time_series IS 'Daily counted activities, hours and minutes per chapter (UTC days), for the dashboard bar chart. STALENESS: the view is as of its last refresh, up to 1 hour old (the hourly pg_cron job; sooner once private.stats_dirty_keys passes its threshold), but the API public.activity_time_series is exact at every moment: it recomputes the keys changed since. Last refresh: public.stats_freshness.refreshed_at where view_name = ''mv_activity_time_series''.';

create materialized view private.mv_chapter_stats as
select chapter_id, month_start, activity_count, total_hours, total_minutes, active_mentor_count
from private.chapter_stats_live
order by chapter_id, month_start
with data;

-- No role but the owner reads it (no row security to protect it).
REVOKE ALL ON TABLE private.mv_chapter_stats FROM PUBLIC, anon, authenticated, service_role;

CREATE UNIQUE INDEX mv_chapter_stats_key ON private.mv_chapter_stats USING btree (chapter_id, month_start);

COMMENT ON MATERIALIZED VIEW private.mv_chapter_stats IS 'Monthly counted activities, hours, minutes and active mentors per chapter (UTC months). STALENESS: the view is as of its last refresh, up to 1 hour old (the hourly pg_cron job; sooner once private.stats_dirty_keys passes its threshold), but the API public.chapter_stats is exact at every moment. Last refresh: public.stats_freshness.refreshed_at where view_name = ''mv_chapter_stats''.';

create materialized view private.mv_peer_mentor_stats as
select peer_mentor_id, chapter_id, month_start, activity_count, total_hours, total_minutes
from private.peer_mentor_stats_live
order by chapter_id, month_start, peer_mentor_id
with data;

-- No role but the owner reads it (no row security to protect it).
REVOKE ALL ON TABLE private.mv_peer_mentor_stats FROM PUBLIC, anon, authenticated, service_role;

CREATE INDEX mv_peer_mentor_stats_chapter_id ON private.mv_peer_mentor_stats USING btree (chapter_id, month_start);

CREATE UNIQUE INDEX mv_peer_mentor_stats_key ON private.mv_peer_mentor_stats USING btree (peer_mentor_id, chapter_id, month_start);

COMMENT ON MATERIALIZED VIEW private.mv_peer_mentor_stats IS 'Monthly counted activities, hours and minutes per mentor and chapter (UTC months). STALENESS: the view is as of its last refresh, up to 1 hour old (the hourly pg_cron job; sooner once private.stats_dirty_keys passes its threshold), but the API public.peer_mentor_stats is exact at every moment. Last refresh: public.stats_freshness.refreshed_at where view_name = ''mv_peer_mentor_stats''.';

CREATE POLICY stats_freshness_readable ON public.stats_freshness FOR SELECT TO authenticated USING (true);

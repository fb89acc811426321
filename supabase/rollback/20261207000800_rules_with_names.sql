-- Down of 20261207000800: the definitions as they were, their numbers written in them, and the
-- check of recorded_at under its former name; then the named rules dropped.
select pg_catalog.pg_advisory_xact_lock(7351046002);

ALTER TABLE public.activities
    DROP CONSTRAINT recorded_at_finite_and_not_before_earliest_recorded_at,
    ADD CONSTRAINT recorded_at_finite_and_not_before_2000 CHECK (((recorded_at >= '2000-01-01 00:00:00+00'::timestamp with time zone) AND (recorded_at < 'infinity'::timestamp with time zone)));

CREATE OR REPLACE FUNCTION private.enforce_coordinator_chapter_limit() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  assigned integer;
begin
  if tg_op in ('UPDATE', 'DELETE') then
    update private.coordinator_chapter_counts
    set chapter_count = chapter_count - 1
    where user_id = old.user_id;
  end if;
  if tg_op in ('INSERT', 'UPDATE') then
    insert into private.coordinator_chapter_counts as counts (user_id, chapter_count)
    values (new.user_id, 1)
    on conflict (user_id) do update set chapter_count = counts.chapter_count + 1
    returning counts.chapter_count into assigned;
    if assigned > 5 then
      raise exception 'coordinator % already has 5 chapters; a coordinator may have at most 5', new.user_id
        using errcode = 'check_violation',
              hint = 'Remove one of their chapters from coordinator_chapters first.';
    end if;
  end if;
  return null;
end
$$;

CREATE OR REPLACE FUNCTION private.guard_activity_write() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  api_user boolean := pg_catalog.row_security_active('public.activities'::regclass);
  moderated_before boolean;
begin
  if tg_op = 'INSERT' then
    new.updated_at := pg_catalog.now();
    if api_user then
      new.id := pg_catalog.gen_random_uuid();
      new.created_at := pg_catalog.now();
      new.moderated_in_chapter := null;
    end if;
    moderated_before := false;
  else
    moderated_before := old.deleted_at is not null or old.duplicate_of is not null;
  end if;
  if tg_op = 'UPDATE' and api_user then
    new.id := old.id;
    new.created_at := old.created_at;
    new.moderated_in_chapter := old.moderated_in_chapter;
    -- Whoever moderated, the chapter it was moderated in keeps it: moving the activity to
    -- another chapter first (or out of that chapter's coordinators' sight) changes nothing.
    if moderated_before
       and not (coalesce(old.moderated_in_chapter, old.chapter_id) = any (private.coordinated_chapter_ids())) then
      if old.deleted_at is not null and new.deleted_at is distinct from old.deleted_at then
        raise exception 'activity % is soft-deleted: only a coordinator of the chapter it was deleted in may restore it or change deleted_at', old.id
          using errcode = 'insufficient_privilege';
      end if;
      if old.duplicate_of is not null and new.duplicate_of is distinct from old.duplicate_of then
        raise exception 'activity % is marked a duplicate: only a coordinator of the chapter it was marked in may clear or change duplicate_of', old.id
          using errcode = 'insufficient_privilege';
      end if;
      if new.chapter_id <> old.chapter_id then
        raise exception 'activity % is soft-deleted or marked a duplicate: only a coordinator of the chapter it was moderated in may move it to another chapter', old.id
          using errcode = 'insufficient_privilege';
      end if;
    end if;
    -- One refusal for a mentor that does not exist and one the caller cannot read, so it
    -- tells nothing about which ids exist (the foreign key's own message would).
    if new.peer_mentor_id <> old.peer_mentor_id
       and not exists (select from public.peer_mentors pm where pm.id = new.peer_mentor_id) then
      raise exception 'peer mentor % is not one you can see: an activity can be reassigned only to a mentor you can read', new.peer_mentor_id
        using errcode = 'insufficient_privilege';
    end if;
  end if;
  if new.deleted_at is null and new.duplicate_of is null then
    new.moderated_in_chapter := null;
  elsif not moderated_before and (api_user or new.moderated_in_chapter is null) then
    new.moderated_in_chapter := new.chapter_id;
  end if;
  if (tg_op = 'INSERT' or new.recorded_at is distinct from old.recorded_at)
     and new.recorded_at > pg_catalog.now() + interval '1 day'
     and pg_catalog.isfinite(new.recorded_at) then  -- infinity is the check constraint's to name
    raise exception 'recorded_at % is more than one day ahead: an activity is registered after it took place', new.recorded_at
      using errcode = 'check_violation';
  end if;
  return new;
end
$$;

CREATE OR REPLACE FUNCTION private.fold_into_peer_mentor_days(folded pg_snapshot) RETURNS void
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

CREATE OR REPLACE FUNCTION public.refresh_stats_views(wait boolean DEFAULT true) RETURNS TABLE(view_name text, refreshed_at timestamp with time zone, refresh_ms numeric, status text)
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

CREATE OR REPLACE FUNCTION private.prune_stats_cron_history(kept interval DEFAULT '7 days'::interval) RETURNS bigint
    LANGUAGE sql
    SET search_path TO ''
    AS $$
  with ours as (
    select job.jobid, job.command, job.database, job.username
    from cron.job job
    where job.jobname = any (private.stats_cron_jobs())
  ), pruned as (
    delete from cron.job_run_details run
    where coalesce(run.end_time, run.start_time) < pg_catalog.now() - kept
      and (run.jobid in (select o.jobid from ours o)
           or (not exists (select from cron.job job where job.jobid = run.jobid)
               and exists (select from ours o
                           where o.command = run.command and o.database = run.database
                             and o.username = run.username)))
    returning 1
  )
  select count(*) from pruned
$$;

CREATE OR REPLACE FUNCTION public.stats_health() RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  stale_after constant interval := interval '2 hours';
  log_allowance constant interval := interval '15 minutes';
  checked_at constant timestamptz := pg_catalog.now();
  threshold constant integer := private.dirty_keys_threshold();
  days_threshold constant integer := private.dirty_days_threshold();
  problems text[] := '{}'::text[];
  views jsonb;
  jobs jsonb;
  log jsonb;
  overdue bigint;
  overdue_days bigint;
  item record;
begin
  select coalesce(jsonb_agg(jsonb_build_object(
           'view_name', f.view_name,
           'refreshed_at', f.refreshed_at,
           'age_s', round(extract(epoch from checked_at - f.refreshed_at)::numeric, 1),
           'failing_since', failure.failing_since,
           'last_failure_at', failure.last_failure_at,
           'last_failure', failure.last_failure) order by f.view_name), '[]'::jsonb)
  into views
  from public.stats_freshness f
  left join lateral (
    select min(r.started_at) filter (where r.started_at > f.refreshed_at) as failing_since,
           max(r.started_at) as last_failure_at,
           (array_agg(r.status order by r.started_at desc))[1] as last_failure
    from private.refresh_runs r
    where pg_catalog.strpos(r.status, f.view_name || ' failed: ') > 0
  ) failure on true;

  for item in select * from pg_catalog.jsonb_array_elements(views) as v(view) loop
    if (item.view ->> 'refreshed_at')::timestamptz < checked_at - stale_after then
      problems := problems || pg_catalog.format(
        '%s: no successful refresh since %s%s', item.view ->> 'view_name',
        pg_catalog.to_char((item.view ->> 'refreshed_at')::timestamptz at time zone 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'),
        case when item.view ->> 'failing_since' is not null
             then '; failing since ' || pg_catalog.to_char((item.view ->> 'failing_since')::timestamptz at time zone 'UTC',
                                                            'YYYY-MM-DD HH24:MI "UTC"')
                  || ': ' || (item.view ->> 'last_failure')
             else '' end);
    end if;
  end loop;

  select coalesce(jsonb_agg(jsonb_build_object(
           'jobname', expected.jobname,
           'schedule', job.schedule,
           'active', job.active,
           'last_status', last_run.status,
           'last_start', last_run.start_time,
           'last_end', last_run.end_time,
           'last_message', last_run.return_message,
           'runs_kept', (select count(*) from cron.job_run_details d where d.jobid = job.jobid))
           order by expected.jobname), '[]'::jsonb)
  into jobs
  from pg_catalog.unnest(private.stats_cron_jobs()) as expected(jobname)
  left join cron.job job on job.jobname = expected.jobname
  left join lateral (
    select d.status, d.start_time, d.end_time, d.return_message
    from cron.job_run_details d
    where d.jobid = job.jobid and d.status in ('succeeded', 'failed')
    order by d.runid desc
    limit 1
  ) last_run on true;

  for item in select * from pg_catalog.jsonb_array_elements(jobs) as j(job) loop
    if item.job -> 'active' = 'null'::jsonb then
      problems := problems || pg_catalog.format('cron job %s is missing', item.job ->> 'jobname');
    elsif not (item.job ->> 'active')::boolean then
      problems := problems || pg_catalog.format('cron job %s is inactive', item.job ->> 'jobname');
    elsif item.job ->> 'last_status' = 'failed' then
      problems := problems || pg_catalog.format('cron job %s is failing: its last run, at %s, failed: %s',
        item.job ->> 'jobname',
        pg_catalog.to_char((item.job ->> 'last_start')::timestamptz at time zone 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'),
        item.job ->> 'last_message');
    end if;
  end loop;

  select jsonb_build_object(
           'entries', count(*),
           'chapter_days', count(distinct (k.chapter_id, k.bucket_date)),
           'oldest_entry_at', min(k.logged_at),
           'oldest_entry_age_s', round(extract(epoch from checked_at - min(k.logged_at))::numeric, 1),
           'threshold', threshold,
           'most_days_of_a_chapter', (select coalesce(max(c.days), 0)
                                      from (select count(distinct d.bucket_date) as days
                                            from private.stats_dirty_keys d group by d.chapter_id) c),
           'days_threshold', days_threshold)
  into log
  from private.stats_dirty_keys k;
  -- Counting stops past the threshold: the check costs the same however large the log grew.
  select count(*) into overdue
  from (select from private.stats_dirty_keys k where k.logged_at < checked_at - log_allowance
        limit threshold + 1) d;
  if overdue > threshold then
    problems := problems || pg_catalog.format(
      'the log has held more than %s entries for over %s minutes: the threshold refresh has not emptied it',
      threshold, extract(epoch from log_allowance)::integer / 60);
  end if;
  select coalesce(max(c.days), 0) into overdue_days
  from (select count(distinct k.bucket_date) as days
        from private.stats_dirty_keys k
        where k.logged_at < checked_at - log_allowance
        group by k.chapter_id) c;
  if overdue_days > days_threshold then
    problems := problems || pg_catalog.format(
      'a chapter has had %s dirty days, more than %s, for over %s minutes: the threshold refresh has not emptied them',
      overdue_days, days_threshold, extract(epoch from log_allowance)::integer / 60);
  end if;

  return jsonb_build_object(
    'checked_at', checked_at,
    'healthy', pg_catalog.cardinality(problems) = 0,
    'problems', pg_catalog.to_jsonb(problems),
    'views', views,
    'log', log,
    'cron_jobs', jobs);
end
$$;

COMMENT ON TABLE private.refresh_runs IS 'Operational log: one row per call of public.refresh_stats_views() in the last 7 days (down scripts write to it too): requested_by is the caller''s application_name; status is refreshed, skipped, or failed with the reason per view.';

COMMENT ON FUNCTION private.prune_stats_cron_history(kept interval) IS 'Deletes from cron.job_run_details the runs of this project''s pg_cron jobs (private.stats_cron_jobs()) that ended more than `kept` ago (default 7 days), also those of job ids from before a reschedule (no job any more, the command, database and user of one of this project''s jobs); returns how many. Called daily by the job prune-stats-cron-history.';

DROP FUNCTION private.dirty_log_overdue_after();

DROP FUNCTION private.stats_stale_after();

DROP FUNCTION private.stats_history_kept();

DROP FUNCTION private.peer_mentor_days_rebuild_above();

DROP FUNCTION private.recorded_at_allowed_ahead();

DROP FUNCTION private.earliest_recorded_at();

DROP FUNCTION private.max_chapters_per_coordinator();

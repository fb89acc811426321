-- The health of the statistics layer, for `peerstats status` and for a monitor calling
-- public.stats_health() through PostgREST as service_role; and pg_cron's history of this
-- project's jobs kept for private.stats_history_kept() (private.prune_stats_cron_history, daily
-- in 90_cron_jobs.sql). The health check's thresholds are named here too (stats_stale_after,
-- dirty_log_overdue_after); those of the log are in 14_functions_dirty_key_log_and_exact_api.sql.

-- The bodies name tables of later files (00_private_schema.sql says why this is safe).
set check_function_bodies = off;

-- This project's pg_cron jobs, by name: what the history pruning keeps short and what the
-- health check expects to find.
CREATE FUNCTION private.stats_cron_jobs() RETURNS text[]
    LANGUAGE sql IMMUTABLE
    SET search_path TO ''
    AS $$ select array['refresh-stats-views', 'refresh-stats-views-if-dirty', 'prune-stats-cron-history'] $$;

COMMENT ON FUNCTION private.stats_cron_jobs() IS 'The names of the pg_cron jobs this project schedules.';

REVOKE ALL ON FUNCTION private.stats_cron_jobs() FROM PUBLIC;

-- How long the statistics layer's own history is kept: the refresh runs
-- (private.refresh_runs) and pg_cron's runs of this project's jobs.
CREATE FUNCTION private.stats_history_kept() RETURNS interval
    LANGUAGE sql IMMUTABLE
    SET search_path TO ''
    AS $$ select '7 days'::interval $$;

COMMENT ON FUNCTION private.stats_history_kept() IS 'How long the refresh runs (private.refresh_runs) and pg_cron''s runs of this project''s jobs are kept. The one definition the refresh and the pruning read.';

REVOKE ALL ON FUNCTION private.stats_history_kept() FROM PUBLIC;

GRANT ALL ON FUNCTION private.stats_history_kept() TO service_role;

-- Runs as the jobs' owner (pg_cron runs a job as the user who scheduled it). pg_cron grants
-- DELETE on cron.job_run_details to everyone, its row security limiting a role without
-- BYPASSRLS to the runs of its own jobs; hosted Supabase's postgres holds every privilege on
-- cron's tables. Either way the delete reaches only this project's jobs: those named in
-- private.stats_cron_jobs(), and the job ids they had before a reschedule. Unscheduled and
-- scheduled again (a down and up of a migration, an operator's fix), a job gets a new id and
-- its old id's runs stay with no job: they are this project's when their command, database and
-- user are those of one of this project's jobs now, which pg_cron records with every run.
CREATE FUNCTION private.prune_stats_cron_history(kept interval DEFAULT private.stats_history_kept()) RETURNS bigint
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

COMMENT ON FUNCTION private.prune_stats_cron_history(kept interval) IS 'Deletes from cron.job_run_details the runs of this project''s pg_cron jobs (private.stats_cron_jobs()) that ended more than `kept` ago (by default private.stats_history_kept()), also those of job ids from before a reschedule (no job any more, the command, database and user of one of this project''s jobs); returns how many. Called daily by the job prune-stats-cron-history.';

REVOKE ALL ON FUNCTION private.prune_stats_cron_history(kept interval) FROM PUBLIC;

-- Without a successful refresh for longer than this, a view is stale: the hourly job has
-- failed (or not run) twice.
CREATE FUNCTION private.stats_stale_after() RETURNS interval
    LANGUAGE sql IMMUTABLE
    SET search_path TO ''
    AS $$ select '02:00:00'::interval $$;

COMMENT ON FUNCTION private.stats_stale_after() IS 'A materialized view without a successful refresh for longer than this makes public.stats_health() unhealthy. The one definition the health check and the tests read.';

REVOKE ALL ON FUNCTION private.stats_stale_after() FROM PUBLIC;

GRANT ALL ON FUNCTION private.stats_stale_after() TO service_role;

-- Log entries older than this, past a threshold, are overdue: the every-minute job should
-- have refreshed them (a refresh takes seconds at a million activities; one minute for the
-- job to notice, one refresh it may have had to skip, its own refresh, and a wide margin).
CREATE FUNCTION private.dirty_log_overdue_after() RETURNS interval
    LANGUAGE sql IMMUTABLE
    SET search_path TO ''
    AS $$ select '00:15:00'::interval $$;

COMMENT ON FUNCTION private.dirty_log_overdue_after() IS 'Dirty-key log entries older than this, past private.dirty_keys_threshold() or private.dirty_days_threshold(), make public.stats_health() unhealthy. The one definition the health check and the tests read.';

REVOKE ALL ON FUNCTION private.dirty_log_overdue_after() FROM PUBLIC;

GRANT ALL ON FUNCTION private.dirty_log_overdue_after() TO service_role;

-- The verdict. Unhealthy when:
-- - a view has had no successful refresh for longer than private.stats_stale_after() (two
--   hours): the hourly job has failed (or not run) twice;
-- - one of this project's cron jobs is missing, inactive, or its last finished run failed;
-- - the log entries logged longer than private.dirty_log_overdue_after() ago exceed
--   private.dirty_keys_threshold(), or
--   name more days of one chapter than private.dirty_days_threshold() (the two conditions of
--   private.refresh_stats_views_if_dirty()): the every-minute job should have refreshed them
--   away by then (a refresh takes seconds at a million activities).
-- SECURITY DEFINER to read cron.job and cron.job_run_details as the jobs' owner, and only
-- service_role (and the owner) may call it: no API caller learns of it, and lints 0028/0029
-- have nothing to report.
CREATE FUNCTION public.stats_health() RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  stale_after constant interval := private.stats_stale_after();
  log_allowance constant interval := private.dirty_log_overdue_after();
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

COMMENT ON FUNCTION public.stats_health() IS 'Health of the statistics layer as jsonb: healthy (boolean), problems (text[]), per view the last successful refresh and the last failure, the log''s entries, chapter-days and oldest entry, and this project''s cron jobs with their last finished runs. Unhealthy when a view has had no successful refresh for over two hours, a cron job is missing, inactive or failing, or entries older than 15 minutes exceed the log''s thresholds (entries, or dirty days of one chapter). Executable by service_role and the owner only.';

-- Supabase's default privileges grant everything in public to the API roles: revoke, then grant.
REVOKE ALL ON FUNCTION public.stats_health() FROM anon, authenticated, service_role;

REVOKE ALL ON FUNCTION public.stats_health() FROM PUBLIC;

GRANT ALL ON FUNCTION public.stats_health() TO service_role;

-- The daily pruning of pg_cron's history reached the runs of this project's jobs through
-- cron.job, by name. A job unscheduled and scheduled again (every down and up of the migration
-- that schedules it, or an operator's fix) gets a new job id, and its old id's runs stay in
-- cron.job_run_details with no job: kept for ever. They are this project's runs when their
-- command, database and user are those of one of this project's jobs now, which pg_cron
-- records with every run; another user's or another job's history stays as it is.
create or replace function private.prune_stats_cron_history(kept interval default interval '7 days') returns bigint
language sql
set search_path = ''
as $$
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

comment on function private.prune_stats_cron_history(interval) is
  'Deletes from cron.job_run_details the runs of this project''s pg_cron jobs (private.stats_cron_jobs()) that ended more than `kept` ago (default 7 days), also those of job ids from before a reschedule (no job any more, the command, database and user of one of this project''s jobs); returns how many. Called daily by the job prune-stats-cron-history.';

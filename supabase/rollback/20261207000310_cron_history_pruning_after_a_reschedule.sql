-- The pruning as 20261202000300 made it: this project's jobs through cron.job, by name only.
create or replace function private.prune_stats_cron_history(kept interval default interval '7 days') returns bigint
language sql
set search_path = ''
as $$
  with pruned as (
    delete from cron.job_run_details run
    using cron.job job
    where run.jobid = job.jobid
      and job.jobname = any (private.stats_cron_jobs())
      and coalesce(run.end_time, run.start_time) < pg_catalog.now() - kept
    returning 1
  )
  select count(*) from pruned
$$;

comment on function private.prune_stats_cron_history(interval) is
  'Deletes from cron.job_run_details the runs of this project''s pg_cron jobs (private.stats_cron_jobs()) that ended more than `kept` ago (default 7 days); returns how many. Called daily by the job prune-stats-cron-history.';

-- Down: the health function, the history pruning and its job, the log's policy and logged_at.
-- The log's entries, the base tables and their rows are left alone; pg_cron's history stays
-- as it is.

-- The refresh's lock first, as the up script takes it.
select pg_catalog.pg_advisory_xact_lock(7351046002);

do $$
begin
  if to_regclass('cron.job') is not null then
    perform cron.unschedule(jobid) from cron.job where jobname = 'prune-stats-cron-history';
  end if;
end
$$;

drop function public.stats_health();
drop function private.prune_stats_cron_history(interval);
drop function private.stats_cron_jobs();
drop policy stats_dirty_keys_read_by_service_role on private.stats_dirty_keys;
alter table private.stats_dirty_keys drop column logged_at;

-- "The statistics are dirty": a notification on the channel peerstats_stats_dirty after
-- every statement that changes what the statistics count, for `peerstats worker`, which
-- listens and refreshes the materialized views within seconds.
--
-- The triggers are statement-level, so a statement costs one pg_notify call however many rows
-- it touches, and PostgreSQL folds identical notifications of one transaction into one. The
-- notification is queued at commit and never sent for a rolled-back transaction, so the
-- worker refreshes only for changes it can see. The payload names the table that changed.
-- Other tables need no signal: the views aggregate activities and the types' counts_in_stats
-- only; who may read which chapter is decided live at every request.

create function private.notify_stats_dirty() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  perform pg_catalog.pg_notify('peerstats_stats_dirty', tg_table_name);
  return null;
end
$$;
comment on function private.notify_stats_dirty() is
  'Statement-level trigger: notifies peerstats_stats_dirty (payload: the table) that the materialized statistics are stale.';
-- Only triggers call it; PostgreSQL checks no EXECUTE privilege when a trigger fires, so
-- writers through PostgREST still signal.
revoke all on function private.notify_stats_dirty() from public, anon, authenticated, service_role;

create trigger activities_stats_dirty
  after insert or update or delete or truncate on public.activities
  for each statement execute function private.notify_stats_dirty();

-- A type that starts or stops counting changes every statistic of its activities.
create trigger activity_types_stats_dirty
  after insert or update or delete or truncate on public.activity_types
  for each statement execute function private.notify_stats_dirty();

-- Down: the dirty-key log as migration 20261126000200 wrote it, one entry per key per writing
-- statement, every inserted row logged, and the threshold refresh counting entries only. The
-- log's entries stay (fewer of them mean the same keys). Base tables and their rows are left
-- alone.

-- The refresh's lock first, as the up script takes it.
select pg_catalog.pg_advisory_xact_lock(7351046002);

drop index private.stats_dirty_keys_chapter;
create index stats_dirty_keys_chapter on private.stats_dirty_keys (chapter_id, bucket_date, peer_mentor_id);
comment on table private.stats_dirty_keys is
  'Keys (chapter, mentor, UTC day) whose statistics changed since the last refresh, with the writing transaction. Written by triggers on activities and activity_types; emptied by public.refresh_stats_views() of the entries it folded into the materialized views.';

create or replace function private.log_inserted_activities() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  writer constant xid8 := pg_catalog.pg_current_xact_id();
begin
  insert into private.stats_dirty_keys (xid, chapter_id, peer_mentor_id, bucket_date)
  select distinct writer, n.chapter_id, n.peer_mentor_id, (n.recorded_at at time zone 'UTC')::date
  from new_rows n;
  perform
  from public.activities o
  where o.id in (select n.duplicate_of from new_rows n where n.duplicate_of is not null)
  for share of o;
  return null;
end
$$;

create or replace function private.log_updated_activities() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  writer constant xid8 := pg_catalog.pg_current_xact_id();
begin
  insert into private.stats_dirty_keys (xid, chapter_id, peer_mentor_id, bucket_date)
  select distinct writer, k.chapter_id, k.peer_mentor_id, (k.recorded_at at time zone 'UTC')::date
  from (
    select o.chapter_id, o.peer_mentor_id, o.recorded_at from old_rows o
    union all
    select n.chapter_id, n.peer_mentor_id, n.recorded_at from new_rows n
    union all
    select d.chapter_id, d.peer_mentor_id, d.recorded_at
    from public.activities d
    where d.duplicate_of in (select o.id from old_rows o)
  ) k;
  perform
  from public.activities o
  where o.id in (select n.duplicate_of from new_rows n where n.duplicate_of is not null)
  for share of o;
  return null;
end
$$;

create or replace function private.log_deleted_activities() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  writer constant xid8 := pg_catalog.pg_current_xact_id();
begin
  insert into private.stats_dirty_keys (xid, chapter_id, peer_mentor_id, bucket_date)
  select distinct writer, k.chapter_id, k.peer_mentor_id, (k.recorded_at at time zone 'UTC')::date
  from (
    select o.chapter_id, o.peer_mentor_id, o.recorded_at from old_rows o
    union all
    select d.chapter_id, d.peer_mentor_id, d.recorded_at
    from public.activities d
    where d.duplicate_of in (select o.id from old_rows o)
  ) k;
  return null;
end
$$;

-- The switch's own lock, as before.
create or replace function private.log_retyped_activities() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  writer constant xid8 := pg_catalog.pg_current_xact_id();
  changed_types text[];
begin
  select coalesce(pg_catalog.array_agg(n.code), '{}'::text[]) into changed_types
  from new_rows n
  where not exists (select from old_rows o where o.code = n.code and o.counts_in_stats = n.counts_in_stats);
  if pg_catalog.cardinality(changed_types) = 0 then
    return null;
  end if;
  lock table public.activities in share mode;
  insert into private.stats_dirty_keys (xid, chapter_id, peer_mentor_id, bucket_date)
  select distinct writer, a.chapter_id, a.peer_mentor_id, (a.recorded_at at time zone 'UTC')::date
  from public.activities a
  where a.activity_type = any (changed_types)
     or a.duplicate_of in (select t.id from public.activities t where t.activity_type = any (changed_types));
  return null;
end
$$;

comment on function private.log_inserted_activities() is
  'AFTER INSERT statement trigger on activities: logs the new rows'' keys in private.stats_dirty_keys.';
comment on function private.log_updated_activities() is
  'AFTER UPDATE statement trigger on activities: logs the old and new rows'' keys and those of their duplicates.';
comment on function private.log_deleted_activities() is
  'AFTER DELETE statement trigger on activities: logs the deleted rows'' keys and those of their duplicates.';
comment on function private.log_retyped_activities() is
  'AFTER UPDATE statement trigger on activity_types: logs the keys of every activity of a type whose counts_in_stats changed.';

create or replace function private.refresh_stats_views_if_dirty() returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  pending bigint;
begin
  -- count(*) of the log stops at the threshold: the check costs the same however large it grew.
  select count(*) into pending
  from (select from private.stats_dirty_keys limit private.dirty_keys_threshold() + 1) d;
  if pending <= private.dirty_keys_threshold() then
    return 'below the threshold: ' || pending::text || ' dirty keys';
  end if;
  -- Recorded as the requester in private.refresh_runs, so "the last threshold refresh" is known.
  perform pg_catalog.set_config('application_name', 'threshold refresh', true);
  perform public.refresh_stats_views(wait => false);
  return 'refreshed: more than ' || private.dirty_keys_threshold()::text || ' dirty keys';
end
$$;
comment on function private.refresh_stats_views_if_dirty() is
  'Called every minute by pg_cron (job refresh-stats-views-if-dirty): refreshes when private.stats_dirty_keys holds more than private.dirty_keys_threshold() entries.';
drop function private.most_dirty_days_of_a_chapter();
drop function private.dirty_days_threshold();

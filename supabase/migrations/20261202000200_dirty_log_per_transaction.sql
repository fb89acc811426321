-- The dirty-key log at one entry per key per transaction, no entry for a row that changes no
-- figure, and a threshold refresh that counts what makes reads slow (see docs/architecture.md,
-- "The dirty-key log").
--
-- Migration 20261126000200 logged one entry per key per writing *statement*: a transaction of
-- many statements (the seeder's 40 chunks, an import in batches) logged each key many times.
-- Here each trigger adds an entry only for a key its transaction has not logged yet, which a
-- unique index on (key, xid) states and enforces. The refresh is unchanged: it deletes the
-- entries whose transaction is visible in its snapshot, and a transaction's entries are still
-- all written under that transaction's xid, whichever of its statements wrote them.
--
-- An inserted row that does not count when it is written (soft-deleted, or of a type that does
-- not count) changes no figure, and adds no entry. Later correctness needs one only if its type
-- starts counting, and that switch logs every activity of the type itself, under locks that
-- leave no insert unseen at any isolation level (below).

-- The refresh's lock first, as the other migrations that replace what it uses take it.
select pg_catalog.pg_advisory_xact_lock(7351046002);

-- One entry per (key, transaction): existing repeats go, then the index that keeps it so. It
-- leads with the chapter and day as the index it replaces did, so reads still take a chapter's
-- keys from it alone.
delete from private.stats_dirty_keys d
using private.stats_dirty_keys e
where e.xid = d.xid and e.chapter_id = d.chapter_id and e.peer_mentor_id = d.peer_mentor_id
  and e.bucket_date = d.bucket_date and e.ctid < d.ctid;
drop index private.stats_dirty_keys_chapter;
create unique index stats_dirty_keys_chapter on private.stats_dirty_keys (chapter_id, bucket_date, peer_mentor_id, xid);
comment on table private.stats_dirty_keys is
  'Keys (chapter, mentor, UTC day) whose statistics changed since the last refresh, one entry per key and writing transaction. Written by triggers on activities and activity_types; emptied by public.refresh_stats_views() of the entries it folded into the materialized views.';

-- The inserted rows' keys, except those of rows that cannot count: soft-deleted ones, and those
-- of a type that does not count. A switch of that type to counting logs every activity of the
-- type (private.log_retyped_activities), and the write guards of migration 20261202000100 make
-- sure it sees this insert or this insert sees it: the switch first takes SHARE on activities
-- (private.lock_activities_for_type_changes), which waits for this transaction, so at READ
-- COMMITTED the counts_in_stats read here is the committed one; at REPEATABLE READ and
-- SERIALIZABLE the insert guard has locked the types FOR SHARE (private.share_lock_types, a
-- trigger that fires before this one), which fails when a switch committed after this
-- transaction's snapshot, and a switch whose snapshot predates a committed insert fails itself
-- (private.refuse_snapshot_older_than_committed_writers).
create or replace function private.log_inserted_activities() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  writer constant xid8 := pg_catalog.pg_current_xact_id();
  uncounted_types text[];
begin
  uncounted_types := array(
    select t.code
    from public.activity_types t
    where t.code in (select n.activity_type from new_rows n where n.deleted_at is null)
      and not t.counts_in_stats);
  insert into private.stats_dirty_keys (xid, chapter_id, peer_mentor_id, bucket_date)
  select distinct writer, n.chapter_id, n.peer_mentor_id, (n.recorded_at at time zone 'UTC')::date
  from new_rows n
  where n.deleted_at is null
    and n.activity_type <> all (uncounted_types)
  on conflict do nothing;
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
  ) k
  on conflict do nothing;
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
  ) k
  on conflict do nothing;
  return null;
end
$$;

-- The switch's log: unchanged but for one entry per key and transaction (its lock is the write
-- guards', private.lock_activities_for_type_changes).
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
  insert into private.stats_dirty_keys (xid, chapter_id, peer_mentor_id, bucket_date)
  select distinct writer, a.chapter_id, a.peer_mentor_id, (a.recorded_at at time zone 'UTC')::date
  from public.activities a
  where a.activity_type = any (changed_types)
     or a.duplicate_of in (select t.id from public.activities t where t.activity_type = any (changed_types))
  on conflict do nothing;
  return null;
end
$$;

comment on function private.log_inserted_activities() is
  'AFTER INSERT statement trigger on activities: logs the keys of the new rows that count (not soft-deleted, of a type that counts), once per transaction.';
comment on function private.log_updated_activities() is
  'AFTER UPDATE statement trigger on activities: logs the old and new rows'' keys and those of their duplicates, once per transaction.';
comment on function private.log_deleted_activities() is
  'AFTER DELETE statement trigger on activities: logs the deleted rows'' keys and those of their duplicates, once per transaction.';
comment on function private.log_retyped_activities() is
  'AFTER UPDATE statement trigger on activity_types: logs the keys of every activity of a type whose counts_in_stats changed, once per transaction.';
-- The threshold refresh counts what makes reads slow. A read of a chapter recomputes each of
-- its dirty days: on 100k seeded activities, a chapter's 12-month read (three endpoints) took
-- 3.9 ms with none, 14.9 ms with 100 and 98 ms with 500 (docs/architecture.md). So the job
-- also refreshes when one chapter has more dirty days than private.dirty_days_threshold(), a
-- month's worth, which the app's own traffic (this week's activities) stays under and a
-- backfill over months passes. The entry count stays the first bound: it follows the rows a
-- backlog of single-row writes adds to the dirty days, and while it is under its threshold the
-- per-chapter count reads at most that many entries.
create function private.dirty_days_threshold() returns integer
language sql immutable
set search_path = ''
as $$ select 31 $$;
comment on function private.dirty_days_threshold() is
  'Distinct dirty days of one chapter in private.stats_dirty_keys past which the every-minute job refreshes.';

create function private.most_dirty_days_of_a_chapter() returns bigint
language sql stable
set search_path = ''
as $$
  select coalesce(max(c.days), 0)
  from (select count(distinct d.bucket_date) as days from private.stats_dirty_keys d group by d.chapter_id) c
$$;
comment on function private.most_dirty_days_of_a_chapter() is
  'The most distinct UTC days any one chapter has in private.stats_dirty_keys.';

create or replace function private.refresh_stats_views_if_dirty() returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  entries bigint;
  days bigint;
begin
  -- count(*) of the log stops at the threshold: the check costs the same however large it grew.
  select count(*) into entries
  from (select from private.stats_dirty_keys limit private.dirty_keys_threshold() + 1) d;
  if entries <= private.dirty_keys_threshold() then
    days := private.most_dirty_days_of_a_chapter();
    if days <= private.dirty_days_threshold() then
      return 'below the thresholds: ' || entries::text || ' dirty keys, at most ' || days::text
             || ' dirty days in a chapter';
    end if;
  end if;
  -- Recorded as the requester in private.refresh_runs, so "the last threshold refresh" is known.
  perform pg_catalog.set_config('application_name', 'threshold refresh', true);
  perform public.refresh_stats_views(wait => false);
  return 'refreshed: more than ' || private.dirty_keys_threshold()::text || ' dirty keys or '
         || private.dirty_days_threshold()::text || ' dirty days in a chapter';
end
$$;
comment on function private.refresh_stats_views_if_dirty() is
  'Called every minute by pg_cron (job refresh-stats-views-if-dirty): refreshes when private.stats_dirty_keys holds more than private.dirty_keys_threshold() entries, or one chapter more than private.dirty_days_threshold() dirty days.';
revoke all on function private.dirty_days_threshold(), private.most_dirty_days_of_a_chapter()
  from public, anon, authenticated;
grant execute on function private.dirty_days_threshold(), private.most_dirty_days_of_a_chapter() to service_role;

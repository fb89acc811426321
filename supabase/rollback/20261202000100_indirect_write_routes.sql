-- Down: the write path of migration 20261126000100 as it was. Base tables and their rows are
-- left alone: activities.moderated_in_chapter stays (with no statistics, in
-- private.statistics_free_columns), unused until the up script runs again and brings it up to date.

-- The refresh's lock first, as the up script takes it.
select pg_catalog.pg_advisory_xact_lock(7351046002);

drop trigger activity_types_lock_activities on public.activity_types;
drop trigger activities_guard_related_rows_insert on public.activities;
drop trigger activities_guard_related_rows_update on public.activities;
drop trigger activities_guard_related_rows_delete on public.activities;
drop function private.lock_activities_for_type_changes();
drop function private.activities_inserted_guard_related_rows();
drop function private.activities_updated_guard_related_rows();
drop function private.activities_deleted_guard_related_rows();
drop function private.share_lock_types(text[]);
drop function private.record_original_writes(uuid[]);
drop table private.original_registration_writes;

-- Whether a type counts, or its code, decides the figures of every year it was used in.
create or replace function private.refuse_type_changes_in_closed_years() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'DELETE' or (new.counts_in_stats is distinct from old.counts_in_stats or new.code <> old.code) then
    perform private.refuse_writes_in_closed_years(array(
      select distinct extract(year from a.recorded_at at time zone 'UTC')::integer
      from public.activities a
      where a.activity_type = old.code));
  end if;
  return null;
end
$$;
drop function private.refuse_snapshot_older_than_committed_writers();
drop function private.refuse_overfull_mentor_days(uuid[], date[]);
drop table private.mentor_day_writes;

alter policy peer_mentor_chapters_insert on public.peer_mentor_chapters
  with check (chapter_id = any ((select private.coordinated_chapter_ids())::uuid[]));

create or replace function private.guard_activity_write() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  api_user boolean := pg_catalog.row_security_active('public.activities'::regclass);
begin
  if tg_op = 'INSERT' then
    new.updated_at := pg_catalog.now();
    if api_user then
      new.id := pg_catalog.gen_random_uuid();
      new.created_at := pg_catalog.now();
    end if;
  elsif api_user then
    new.id := old.id;
    new.created_at := old.created_at;
    if not (old.chapter_id = any (private.coordinated_chapter_ids())) then
      if old.deleted_at is not null and new.deleted_at is distinct from old.deleted_at then
        raise exception 'activity % is soft-deleted: only a coordinator of its chapter may restore it or change deleted_at', old.id
          using errcode = 'insufficient_privilege';
      end if;
      if old.duplicate_of is not null and new.duplicate_of is distinct from old.duplicate_of then
        raise exception 'activity % is marked a duplicate: only a coordinator of its chapter may clear or change duplicate_of', old.id
          using errcode = 'insufficient_privilege';
      end if;
    end if;
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

comment on column public.activities.duplicate_of is 'Set when this registration repeats that one; a duplicate never counts.';

-- Down: the write path of migration 20261126000100 as it was, activities without
-- moderated_in_chapter included. Rows are left alone, and so is the moderation state a fresh
-- `db up` could not rebuild from them: that of an activity moved, after its moderation, out of
-- the chapter it was moderated in. It stays in private.moderations_kept_by_down (the one
-- object this script adds), with the chapter, deleted_at and duplicate_of it holds for; the
-- up script takes it back where the activity is as it was, and drops the table.

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

create table private.moderations_kept_by_down (
  activity_id uuid primary key,
  moderated_in_chapter uuid not null,
  chapter_id uuid not null,
  deleted_at timestamptz,
  duplicate_of uuid
);
comment on table private.moderations_kept_by_down is
  'Kept by the down script of migration 20261202000100 so that no moderation is lost: where an activity was moderated (moderated_in_chapter) when it was in chapter_id with this deleted_at and duplicate_of. Its up script takes back each state whose activity is as it was, and drops the table.';
revoke all on private.moderations_kept_by_down from public, anon, authenticated, service_role;
insert into private.moderations_kept_by_down (activity_id, moderated_in_chapter, chapter_id, deleted_at, duplicate_of)
select id, moderated_in_chapter, chapter_id, deleted_at, duplicate_of
from public.activities
where moderated_in_chapter <> chapter_id;
-- Its foreign key and index go with it.
alter table public.activities drop column moderated_in_chapter;

create or replace function private.statistics_free_columns()
returns table (table_name regclass, column_name name)
language sql stable
set search_path = ''
as $$
  values ('public.activities'::regclass, 'id'::name), ('public.activities', 'peer_mentor_id'),
         ('public.activities', 'chapter_id'), ('public.activities', 'duplicate_of'),
         ('public.peer_mentors', 'id'), ('public.peer_mentors', 'user_id'),
         ('public.peer_mentors', 'chapter_id'), ('public.peer_mentors', 'full_name'),
         ('public.chapters', 'id'), ('public.chapters', 'name'),
         ('public.coordinator_chapters', 'user_id'), ('public.coordinator_chapters', 'chapter_id')
$$;

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

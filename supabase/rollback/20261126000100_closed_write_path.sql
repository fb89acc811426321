-- Down: back to the write path, counting rule and policies of the base migrations. The rows of
-- activities and the other base tables are untouched; memberships, the reporting years and
-- the stored Bufdir submissions go with their tables.
drop trigger if exists activities_closed_years_insert on public.activities;
drop trigger if exists activities_closed_years_update on public.activities;
drop trigger if exists activities_closed_years_delete on public.activities;
drop trigger if exists activity_types_closed_years on public.activity_types;
drop trigger if exists activities_closed_years_truncate on public.activities;
drop function if exists private.refuse_truncate_with_closed_years();
drop trigger if exists activities_guard_write on public.activities;
drop trigger if exists activities_validate_duplicate_insert on public.activities;
drop trigger if exists activities_validate_duplicate_update on public.activities;
drop function if exists private.close_reporting_year(integer, text);
drop function if exists private.reopen_reporting_year(integer, text, text);
drop function if exists private.activities_inserted_check_years();
drop function if exists private.activities_updated_check_years();
drop function if exists private.activities_deleted_check_years();
drop function if exists private.refuse_type_changes_in_closed_years();
drop function if exists private.refuse_writes_in_closed_years(integer[]);
drop function if exists private.requesting_role();
drop table if exists private.reporting_year_events, private.bufdir_submissions, private.reporting_years;
drop function if exists private.validate_duplicate_of();
drop function if exists private.guard_activity_write();
alter table public.activities drop constraint if exists recorded_at_finite_and_not_before_2000;
drop index if exists public.activities_activity_type;

-- The five-chapter limit as the base migration wrote it.
drop trigger if exists coordinator_chapter_counts_truncate on public.coordinator_chapters;
drop function if exists private.reset_coordinator_chapter_counts();
drop trigger if exists coordinator_chapter_limit on public.coordinator_chapters;
drop function if exists private.enforce_coordinator_chapter_limit();
drop table if exists private.coordinator_chapter_counts;
create function private.enforce_coordinator_chapter_limit() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  assigned integer;
begin
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended(new.user_id::text, 5));
  select count(*) into assigned
  from public.coordinator_chapters
  where user_id = new.user_id and chapter_id <> new.chapter_id
    -- An update moves the row it replaces: its old chapter is not one more.
    and (tg_op = 'INSERT' or (user_id, chapter_id) is distinct from (old.user_id, old.chapter_id));
  if assigned >= 5 then
    raise exception 'coordinator % already has 5 chapters; a coordinator may have at most 5', new.user_id
      using errcode = 'check_violation',
            hint = 'Remove one of their chapters from coordinator_chapters first.';
  end if;
  return new;
end
$$;
revoke all on function private.enforce_coordinator_chapter_limit() from public;
create trigger coordinator_chapter_limit
  before insert or update on public.coordinator_chapters
  for each row execute function private.enforce_coordinator_chapter_limit();

-- The policies of the base migration.
drop policy if exists coordinator_chapters_select on public.coordinator_chapters;
drop policy if exists chapters_select on public.chapters;
drop policy if exists peer_mentors_select on public.peer_mentors;
drop policy if exists activities_select on public.activities;
drop policy if exists activities_insert on public.activities;
drop policy if exists activities_update on public.activities;
drop table if exists public.peer_mentor_chapters;
drop function if exists private.stamp_membership_grant();
drop function if exists private.mentor_belongs_to(uuid, uuid);
drop function if exists private.own_chapter_ids();

create policy coordinator_chapters_own on public.coordinator_chapters
  for select to authenticated
  using (user_id = (select auth.uid()));
create policy chapters_coordinated on public.chapters
  for select to authenticated
  using (id = any ((select private.coordinated_chapter_ids())::uuid[]));
create policy peer_mentors_of_coordinated_chapters on public.peer_mentors
  for select to authenticated
  using (chapter_id = any ((select private.coordinated_chapter_ids())::uuid[]));
create policy peer_mentors_self on public.peer_mentors
  for select to authenticated
  using (user_id = (select auth.uid()));
create policy chapters_home_of_self on public.chapters
  for select to authenticated
  using (id in (select pm.chapter_id from public.peer_mentors pm where pm.user_id = (select auth.uid())));
create policy activities_of_coordinated_chapters on public.activities
  for select to authenticated
  using (chapter_id = any ((select private.coordinated_chapter_ids())::uuid[]));
create policy activities_own_select on public.activities
  for select to authenticated
  using (peer_mentor_id = any ((select private.own_peer_mentor_ids())::uuid[]));
create policy activities_own_insert on public.activities
  for insert to authenticated
  with check (peer_mentor_id = any ((select private.own_peer_mentor_ids())::uuid[]));
create policy activities_own_update on public.activities
  for update to authenticated
  using (peer_mentor_id = any ((select private.own_peer_mentor_ids())::uuid[]))
  with check (peer_mentor_id = any ((select private.own_peer_mentor_ids())::uuid[]));

-- Statistics are gathered again on every column (at the next ANALYZE, done here).
do $$
declare
  target record;
begin
  for target in select f.table_name, f.column_name from private.statistics_free_columns() f loop
    execute pg_catalog.format('alter table %s alter column %I set statistics -1', target.table_name, target.column_name);
  end loop;
end
$$;
drop function if exists private.statistics_free_columns();
analyze public.activities, public.peer_mentors, public.chapters, public.coordinator_chapters;

-- The counting rule of the base migration: a duplicate never counts.
create or replace view private.counted_activities
with (security_invoker = true) as
select a.id, a.peer_mentor_id, a.chapter_id, a.activity_type, a.recorded_at, a.duration_minutes
from public.activities a
join public.activity_types t on t.code = a.activity_type
where a.deleted_at is null        -- soft-deleted activities never count
  and a.duplicate_of is null      -- a registration that repeats another never counts
  and t.counts_in_stats;          -- only types marked as counting
comment on view private.counted_activities is
  'The counting rule: activities that are not soft-deleted, not a duplicate, and of a type with counts_in_stats. Every statistic and the Bufdir export read activities through this view only.';
drop index if exists public.activities_duplicate_flag;

select view_name, status from public.refresh_stats_views();

-- A closed write path: figures no client can corrupt.
--
--   1. membership: a mentor writes only in their home chapter and the chapters a coordinator
--      of that chapter (or service_role) made them a member of (public.peer_mentor_chapters);
--      a coordinator edits only in the chapters they coordinate;
--   2. moderation sticks: only a coordinator of the chapter (or service_role) clears or changes
--      a deleted_at or duplicate_of once set; id, created_at and updated_at are the database's;
--   3. sane values: recorded_at finite, from 2000-01-01 UTC, at most a day ahead; duplicate_of
--      names an original (not itself a duplicate) of the same mentor and chapter;
--   4. closed reporting years refuse every write of their activities (private.reporting_years);
--   5. no planner leak: the columns that tell chapters and mentors apart carry no statistics;
--   6. the five-chapter limit holds at every isolation level (a per-coordinator counter row);
--   7. a duplicate whose original does not count, counts;
--   and one permissive policy per role and action, an index under every foreign key.
--
-- Runs as hosted Supabase's `postgres` (owner of the tables, not a superuser): every statement
-- here is one a table owner may run.

-- First the lock of public.refresh_stats_views() (the same key), so a refresh by pg_cron
-- either finishes before this migration or waits for it: a refresh holding that lock
-- while it waits for the tables locked below, and this migration refreshing at its end, would
-- deadlock. Advisory locks are re-entrant, so the refresh at the end takes it again freely.
select pg_catalog.pg_advisory_xact_lock(7351046002);

-- --- 0. Existing rows must already obey the new rules -----------------------------------------
-- Nothing is deleted or changed to make them fit: the migration stops and names every row.
do $$
declare
  problems text[] := '{}'::text[];
  ids text;
begin
  select string_agg(a.id::text, ', ' order by a.id) into ids
  from public.activities a
  where not pg_catalog.isfinite(a.recorded_at) or a.recorded_at < '2000-01-01 00:00:00+00'::timestamptz;
  if ids is not null then
    problems := problems || ('recorded_at not finite or before 2000-01-01 UTC: ' || ids);
  end if;

  select string_agg(a.id::text, ', ' order by a.id) into ids
  from public.activities a
  where pg_catalog.isfinite(a.recorded_at) and a.recorded_at > pg_catalog.now() + interval '1 day';
  if ids is not null then
    problems := problems || ('recorded_at more than one day ahead: ' || ids);
  end if;

  select string_agg(d.id::text, ', ' order by d.id) into ids
  from public.activities d
  join public.activities o on o.id = d.duplicate_of
  where o.chapter_id <> d.chapter_id or o.peer_mentor_id <> d.peer_mentor_id;
  if ids is not null then
    problems := problems || ('duplicate_of names an activity of another chapter or mentor: ' || ids);
  end if;

  select string_agg(d.id::text, ', ' order by d.id) into ids
  from public.activities d
  join public.activities o on o.id = d.duplicate_of
  where o.duplicate_of is not null;
  if ids is not null then
    problems := problems || ('duplicate_of names an activity that is itself a duplicate: ' || ids);
  end if;

  select string_agg(c.user_id::text, ', ' order by c.user_id) into ids
  from (select cc.user_id from public.coordinator_chapters cc group by cc.user_id having count(*) > 5) c;
  if ids is not null then
    problems := problems || ('coordinators with more than 5 chapters (user_id): ' || ids);
  end if;

  if pg_catalog.cardinality(problems) > 0 then
    raise exception 'existing rows break the rules this migration enforces; nothing was changed: %',
      pg_catalog.array_to_string(problems, '; ')
      using errcode = 'check_violation',
            hint = 'Correct or remove these rows (by id), then apply the migration again.';
  end if;
end
$$;

-- --- 5. No planner leak ---------------------------------------------------------------------
-- EXPLAIN (and PostgREST's `Prefer: count=planned`) estimates rows from pg_statistic, and
-- PostgreSQL lets a caller under row security use those statistics whenever the operator is
-- leakproof, as uuid's and text's comparison operators are. A bisection over
-- `chapter_id < '<uuid>'` thus recovers every chapter id and its volume. The cure is for these
-- columns to have no statistics at all:
--   * SET STATISTICS 0 keeps ANALYZE (and autovacuum) from gathering new ones, but leaves the
--     rows already in pg_statistic in place;
--   * ALTER COLUMN ... TYPE deletes the column's pg_statistic rows (PostgreSQL does so
--     unconditionally in ALTER COLUMN TYPE), and to the same type it rewrites nothing and
--     keeps every index (the table and index files stay the same): measured 49 ms on 100k
--     activities. A table owner may run it, no superuser needed.
-- ALTER COLUMN TYPE refuses a column that a view or a policy uses, so the policies are dropped
-- first (they are rewritten below anyway) and the counting rule, the only view reading these
-- columns, briefly becomes a stand-in of the same columns; all of it in this one transaction.
drop policy activities_of_coordinated_chapters on public.activities;
drop policy activities_own_select on public.activities;
drop policy activities_own_insert on public.activities;
drop policy activities_own_update on public.activities;
drop policy chapters_coordinated on public.chapters;
drop policy chapters_home_of_self on public.chapters;
drop policy peer_mentors_of_coordinated_chapters on public.peer_mentors;
drop policy peer_mentors_self on public.peer_mentors;
drop policy coordinator_chapters_own on public.coordinator_chapters;

create or replace view private.counted_activities
with (security_invoker = true) as
select null::uuid as id, null::uuid as peer_mentor_id, null::uuid as chapter_id, null::text as activity_type,
       null::timestamptz as recorded_at, null::integer as duration_minutes
where false;

-- Every column that names or tells apart a chapter, a mentor, a user or an activity, in the
-- tables under row security that hold per-chapter rows. (recorded_at, activity_type,
-- duration_minutes and the timestamps keep their statistics: they describe all chapters
-- together, and the dashboard's date-range plans need them.)
create function private.statistics_free_columns()
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
comment on function private.statistics_free_columns() is
  'Columns kept free of planner statistics (statistics target 0, existing pg_statistic rows removed), so EXPLAIN estimates reveal no chapter or mentor. public.peer_mentor_chapters has none on any column.';
revoke all on function private.statistics_free_columns() from public;

do $$
declare
  target record;
begin
  for target in
    select f.table_name, f.column_name, pg_catalog.format_type(a.atttypid, a.atttypmod) as column_type
    from private.statistics_free_columns() f
    join pg_catalog.pg_attribute a on a.attrelid = f.table_name and a.attname = f.column_name
  loop
    execute pg_catalog.format('alter table %s alter column %I set statistics 0, alter column %I type %s',
                              target.table_name, target.column_name, target.column_name, target.column_type);
  end loop;
  -- Extended statistics would carry the same facts (none exist today; a future one on these
  -- tables would be removed by running this again).
  for target in
    select s.oid::regclass::text as statistics_name
    from pg_catalog.pg_statistic_ext s
    where s.stxrelid in (select distinct f.table_name from private.statistics_free_columns() f)
  loop
    execute pg_catalog.format('drop statistics %s', target.statistics_name);
  end loop;
end
$$;

-- --- 7. The counting rule -------------------------------------------------------------------
-- A duplicate counts when its original does not: one real activity is never lost because its
-- first registration was discarded. Originals are never duplicates themselves (rule 3), and
-- lie in the same mentor's and chapter's rows, so every caller who sees the duplicate sees its
-- original too and row security gives each the same answer.
-- Written as two branches rather than `duplicate_of is null or not exists (...)`: inside an OR
-- the planner costs the sub-query as if run once per row (about 9.6 per row, 960,000 for 100k
-- activities), which switches on JIT compilation and made a refresh of mv_chapter_stats 4×
-- slower (1.5 s against 0.35 s at 100k); as a branch of its own the NOT EXISTS is an anti join,
-- costed as what it is, on the 1% of rows that are duplicates.
-- The branches test `(duplicate_of is not null)::integer`, the expression of the index below,
-- because duplicate_of itself carries no statistics (rule 5): without them the planner takes
-- `duplicate_of is not null` for 99.5% of the rows and hashes every activity for the anti
-- join; the index's own statistics give it the true share (about 1%, a figure about all
-- chapters together), so it probes activities_pkey per duplicate instead.
create index activities_duplicate_flag on public.activities (((duplicate_of is not null)::integer));
analyze public.activities;

create or replace view private.counted_activities
with (security_invoker = true) as
select a.id, a.peer_mentor_id, a.chapter_id, a.activity_type, a.recorded_at, a.duration_minutes
from public.activities a
join public.activity_types t on t.code = a.activity_type
where a.deleted_at is null                          -- soft-deleted activities never count
  and t.counts_in_stats                             -- only types marked as counting
  and (a.duplicate_of is not null)::integer = 0     -- an original registration
union all
select a.id, a.peer_mentor_id, a.chapter_id, a.activity_type, a.recorded_at, a.duration_minutes
from public.activities a
join public.activity_types t on t.code = a.activity_type
where a.deleted_at is null
  and t.counts_in_stats
  and (a.duplicate_of is not null)::integer = 1     -- a repeat counts only when its original does not
  and not exists (select
                  from public.activities o
                  join public.activity_types ot on ot.code = o.activity_type
                  where o.id = a.duplicate_of and o.deleted_at is null and ot.counts_in_stats);
comment on view private.counted_activities is
  'The counting rule: activities that are not soft-deleted, of a type with counts_in_stats, and either not a duplicate or a duplicate whose original does not count (soft-deleted or of a non-counting type). Every statistic and the Bufdir export read activities through this view only.';

-- --- 1. Membership --------------------------------------------------------------------------
create table public.peer_mentor_chapters (
  peer_mentor_id uuid not null references public.peer_mentors (id) on delete cascade,
  chapter_id uuid not null references public.chapters (id) on delete cascade,
  granted_by uuid references auth.users (id) on delete set null,
  granted_at timestamptz not null default now(),
  primary key (peer_mentor_id, chapter_id)
);
comment on table public.peer_mentor_chapters is
  'Chapters a peer mentor may register activities in besides their home chapter, granted by a coordinator of that chapter or by service_role.';
create index peer_mentor_chapters_chapter_id on public.peer_mentor_chapters (chapter_id);
create index peer_mentor_chapters_granted_by on public.peer_mentor_chapters (granted_by);
alter table public.peer_mentor_chapters
  alter column peer_mentor_id set statistics 0,
  alter column chapter_id set statistics 0,
  alter column granted_by set statistics 0,
  alter column granted_at set statistics 0;

-- Activities already registered outside a mentor's home chapter were allowed until now, so
-- their mentors become members there (granted_by null: by this migration), and no existing
-- activity becomes uneditable. Coordinators can review them: granted_by is null.
do $$
declare
  granted integer;
begin
  insert into public.peer_mentor_chapters (peer_mentor_id, chapter_id, granted_at)
  select distinct a.peer_mentor_id, a.chapter_id, pg_catalog.now()
  from public.activities a
  join public.peer_mentors pm on pm.id = a.peer_mentor_id
  where a.chapter_id <> pm.chapter_id;
  get diagnostics granted = row_count;
  if granted > 0 then
    raise notice 'made % mentor(s) members of the chapters they already had activities in (granted_by null)', granted;
  end if;
end
$$;

-- The chapters auth.uid() may register activities in: their home chapter and memberships.
create function private.own_chapter_ids() returns uuid[]
language sql stable
set search_path = ''
as $$
  select coalesce(array_agg(distinct chapter_id), '{}')
  from (
    select pm.chapter_id from public.peer_mentors pm where pm.user_id = auth.uid()
    union all
    select m.chapter_id
    from public.peer_mentor_chapters m
    join public.peer_mentors pm on pm.id = m.peer_mentor_id
    where pm.user_id = auth.uid()
  ) own
$$;
comment on function private.own_chapter_ids() is
  'The chapters auth.uid() belongs to as a peer mentor: their home chapter and their memberships.';

-- Whether a mentor belongs to a chapter (home or member). The caller's rights suffice: it is
-- asked about a chapter the caller coordinates, whose mentors and memberships they may read.
create function private.mentor_belongs_to(mentor_id uuid, target_chapter_id uuid) returns boolean
language sql stable
set search_path = ''
as $$
  select exists (select from public.peer_mentors pm where pm.id = mentor_id and pm.chapter_id = target_chapter_id)
      or exists (select from public.peer_mentor_chapters m
                 where m.peer_mentor_id = mentor_id and m.chapter_id = target_chapter_id)
$$;

revoke all on function private.own_chapter_ids() from public;
revoke all on function private.mentor_belongs_to(uuid, uuid) from public;
grant execute on function private.own_chapter_ids() to authenticated, service_role;
grant execute on function private.mentor_belongs_to(uuid, uuid) to authenticated, service_role;

-- A membership records who granted it, whatever the client sends.
create function private.stamp_membership_grant() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if pg_catalog.row_security_active('public.peer_mentor_chapters'::regclass) then
    new.granted_by := auth.uid();
    new.granted_at := pg_catalog.now();
  end if;
  return new;
end
$$;
revoke all on function private.stamp_membership_grant() from public;
create trigger peer_mentor_chapters_stamp_grant
  before insert on public.peer_mentor_chapters
  for each row execute function private.stamp_membership_grant();

alter table public.peer_mentor_chapters enable row level security;
revoke all on public.peer_mentor_chapters from anon, authenticated;
grant select, insert, delete on public.peer_mentor_chapters to authenticated;
grant all on public.peer_mentor_chapters to service_role;

-- --- Policies: exactly one permissive policy per table, role and action ------------------------
create policy coordinator_chapters_select on public.coordinator_chapters
  for select to authenticated
  using (user_id = (select auth.uid()));

create policy chapters_select on public.chapters
  for select to authenticated
  using (id = any ((select private.coordinated_chapter_ids())::uuid[])
         or id = any ((select private.own_chapter_ids())::uuid[]));

create policy peer_mentors_select on public.peer_mentors
  for select to authenticated
  using (chapter_id = any ((select private.coordinated_chapter_ids())::uuid[])
         or user_id = (select auth.uid()));

create policy peer_mentor_chapters_select on public.peer_mentor_chapters
  for select to authenticated
  using (chapter_id = any ((select private.coordinated_chapter_ids())::uuid[])
         or peer_mentor_id = any ((select private.own_peer_mentor_ids())::uuid[]));

create policy peer_mentor_chapters_insert on public.peer_mentor_chapters
  for insert to authenticated
  with check (chapter_id = any ((select private.coordinated_chapter_ids())::uuid[]));

create policy peer_mentor_chapters_delete on public.peer_mentor_chapters
  for delete to authenticated
  using (chapter_id = any ((select private.coordinated_chapter_ids())::uuid[]));

create policy activities_select on public.activities
  for select to authenticated
  using (chapter_id = any ((select private.coordinated_chapter_ids())::uuid[])
         or peer_mentor_id = any ((select private.own_peer_mentor_ids())::uuid[]));

-- A mentor registers their own activities, in a chapter they belong to.
create policy activities_insert on public.activities
  for insert to authenticated
  with check (peer_mentor_id = any ((select private.own_peer_mentor_ids())::uuid[])
              and chapter_id = any ((select private.own_chapter_ids())::uuid[]));

-- A mentor edits their own activities in chapters they belong to (and may move one only to
-- another such chapter); a coordinator edits any activity of their chapters, and may move it
-- only to another of their chapters that its mentor belongs to.
create policy activities_update on public.activities
  for update to authenticated
  using ((peer_mentor_id = any ((select private.own_peer_mentor_ids())::uuid[])
          and chapter_id = any ((select private.own_chapter_ids())::uuid[]))
         or chapter_id = any ((select private.coordinated_chapter_ids())::uuid[]))
  with check ((peer_mentor_id = any ((select private.own_peer_mentor_ids())::uuid[])
               and chapter_id = any ((select private.own_chapter_ids())::uuid[]))
              or (chapter_id = any ((select private.coordinated_chapter_ids())::uuid[])
                  and private.mentor_belongs_to(peer_mentor_id, chapter_id)));

-- An index under every foreign key (activity_type had none).
create index activities_activity_type on public.activities (activity_type);

-- --- 3. Sane values -------------------------------------------------------------------------
alter table public.activities add constraint recorded_at_finite_and_not_before_2000
  check (recorded_at >= '2000-01-01 00:00:00+00'::timestamptz and recorded_at < 'infinity'::timestamptz);

-- --- 2. Moderation sticks; the database's own columns ------------------------------------------
-- Invoker's rights, so row_security_active() tells an API user (under row security) from
-- service_role and the owner, who may import rows with their own ids and times.
create function private.guard_activity_write() returns trigger
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
revoke all on function private.guard_activity_write() from public;
create trigger activities_guard_write
  before insert or update on public.activities
  for each row execute function private.guard_activity_write();

-- duplicate_of names an original of the same mentor and chapter. Definer's rights, to read
-- the original whatever row security shows the caller, and one message whether it is missing
-- or elsewhere, so the refusal never tells which ids exist. It runs before the foreign key's
-- own check for the same reason. The original is locked (FOR SHARE) so it cannot become a
-- duplicate itself before this transaction ends.
create function private.validate_duplicate_of() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  original_chapter_id uuid;
  original_mentor_id uuid;
  original_duplicate_of uuid;
  moved boolean := tg_op = 'UPDATE'
                   and (new.chapter_id <> old.chapter_id or new.peer_mentor_id <> old.peer_mentor_id);
begin
  if new.duplicate_of is not null
     and (tg_op = 'INSERT' or moved or new.duplicate_of is distinct from old.duplicate_of) then
    select o.chapter_id, o.peer_mentor_id, o.duplicate_of
      into original_chapter_id, original_mentor_id, original_duplicate_of
    from public.activities o
    where o.id = new.duplicate_of
    for share;
    if not found or original_chapter_id <> new.chapter_id or original_mentor_id <> new.peer_mentor_id then
      raise exception 'duplicate_of must name an activity of the same peer mentor and chapter'
        using errcode = 'check_violation';
    end if;
    if original_duplicate_of is not null then
      raise exception 'duplicate_of must name an original registration: activity % is itself a duplicate', new.duplicate_of
        using errcode = 'check_violation';
    end if;
  end if;
  if tg_op = 'UPDATE' and (moved or (new.duplicate_of is not null and old.duplicate_of is null))
     and exists (select from public.activities d where d.duplicate_of = old.id) then
    raise exception 'activity % has duplicates: it cannot become a duplicate or move to another mentor or chapter while they point at it', old.id
      using errcode = 'check_violation',
            hint = 'Clear or move its duplicates first.';
  end if;
  return new;
end
$$;
revoke all on function private.validate_duplicate_of() from public;
create trigger activities_validate_duplicate_insert
  before insert on public.activities
  for each row when (new.duplicate_of is not null) execute function private.validate_duplicate_of();
create trigger activities_validate_duplicate_update
  before update of duplicate_of, chapter_id, peer_mentor_id on public.activities
  for each row execute function private.validate_duplicate_of();

-- --- 6. At most five chapters per coordinator, at every isolation level ----------------------------
-- The old check counted rows on a snapshot taken before its advisory lock, so two REPEATABLE
-- READ transactions could each see four and both add a fifth. Now every assignment updates
-- one counter row per coordinator: at READ COMMITTED the second writer waits and then counts
-- on from the first one's committed value; at REPEATABLE READ and SERIALIZABLE it fails with a
-- serialization error (retry, and the count is right).
create table private.coordinator_chapter_counts (
  user_id uuid primary key,
  chapter_count integer not null
);
comment on table private.coordinator_chapter_counts is
  'How many chapters each user coordinates, kept by a trigger on coordinator_chapters; the row every assignment to that user updates, so concurrent assignments serialise on it.';
revoke all on private.coordinator_chapter_counts from public, anon, authenticated;
insert into private.coordinator_chapter_counts (user_id, chapter_count)
select cc.user_id, count(*)::integer from public.coordinator_chapters cc group by cc.user_id;

drop trigger coordinator_chapter_limit on public.coordinator_chapters;
drop function private.enforce_coordinator_chapter_limit();
create function private.enforce_coordinator_chapter_limit() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  assigned integer;
begin
  if tg_op in ('UPDATE', 'DELETE') then
    update private.coordinator_chapter_counts
    set chapter_count = chapter_count - 1
    where user_id = old.user_id;
  end if;
  if tg_op in ('INSERT', 'UPDATE') then
    insert into private.coordinator_chapter_counts as counts (user_id, chapter_count)
    values (new.user_id, 1)
    on conflict (user_id) do update set chapter_count = counts.chapter_count + 1
    returning counts.chapter_count into assigned;
    if assigned > 5 then
      raise exception 'coordinator % already has 5 chapters; a coordinator may have at most 5', new.user_id
        using errcode = 'check_violation',
              hint = 'Remove one of their chapters from coordinator_chapters first.';
    end if;
  end if;
  return null;
end
$$;
revoke all on function private.enforce_coordinator_chapter_limit() from public;
create trigger coordinator_chapter_limit
  after insert or update or delete on public.coordinator_chapters
  for each row execute function private.enforce_coordinator_chapter_limit();

-- TRUNCATE fires no row trigger: it empties the counters with the table.
create function private.reset_coordinator_chapter_counts() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  delete from private.coordinator_chapter_counts;
  return null;
end
$$;
revoke all on function private.reset_coordinator_chapter_counts() from public;
create trigger coordinator_chapter_counts_truncate
  after truncate on public.coordinator_chapters
  for each statement execute function private.reset_coordinator_chapter_counts();

-- --- 4. Closed reporting years ----------------------------------------------------------------
-- One row per UTC year that has been written to: 'open', 'closed' (submitted to Bufdir: no
-- write at all) or 'reopened' (service_role may correct it, nobody else). Every statement
-- writing activities first makes sure its years have a row here and locks them FOR SHARE;
-- closing updates the row. So a writer and a close never interleave: at READ COMMITTED the
-- later one waits and sees the other's outcome, at REPEATABLE READ and SERIALIZABLE it gets a
-- serialization error.
create table private.reporting_years (
  year integer primary key,
  status text not null default 'open' constraint reporting_year_status check (status in ('open', 'closed', 'reopened')),
  changed_at timestamptz,
  changed_by text
);
create table private.bufdir_submissions (
  id bigint generated always as identity primary key,
  year integer not null references private.reporting_years (year),
  submitted_at timestamptz not null default now(),
  submitted_by text not null,
  operator text,
  figures jsonb not null
);
create index bufdir_submissions_year on private.bufdir_submissions (year);
create table private.reporting_year_events (
  id bigint generated always as identity primary key,
  year integer not null references private.reporting_years (year),
  event text not null constraint reporting_year_event_kind check (event in ('closed', 'reopened')),
  happened_at timestamptz not null default now(),
  by_role text not null,
  operator text,
  reason text,
  submission_id bigint references private.bufdir_submissions (id),
  constraint reopening_needs_a_reason check (event <> 'reopened' or coalesce(btrim(reason), '') <> '')
);
create index reporting_year_events_year on private.reporting_year_events (year);
create index reporting_year_events_submission_id on private.reporting_year_events (submission_id);
comment on table private.reporting_years is
  'Reporting state per UTC year: open, closed (figures submitted to Bufdir; activities of the year refuse every write) or reopened (service_role only may write).';
comment on table private.bufdir_submissions is
  'The figures as submitted to Bufdir when a year was closed: the rows of private.bufdir_export(year) at that moment, with when, the database role and the operator named by the client.';
comment on table private.reporting_year_events is
  'Every close and reopen of a reporting year, with who, when and (for a reopen) why.';
revoke all on private.reporting_years, private.bufdir_submissions, private.reporting_year_events
  from public, anon, authenticated;
grant select on private.reporting_years, private.bufdir_submissions, private.reporting_year_events to service_role;

-- The role behind the request: the one PostgREST or SET ROLE switched to, else the login.
create function private.requesting_role() returns text
language sql stable
set search_path = ''
as $$
  select case pg_catalog.current_setting('role') when 'none' then session_user::text
              else pg_catalog.current_setting('role') end
$$;
revoke all on function private.requesting_role() from public;

create function private.refuse_writes_in_closed_years(touched_years integer[]) returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  closed_year integer;
  closed_status text;
begin
  insert into private.reporting_years (year)
  select distinct y from pg_catalog.unnest(touched_years) y where y is not null
  on conflict (year) do nothing;
  for closed_year, closed_status in
    select r.year, r.status from private.reporting_years r
    where r.year = any (touched_years)
    order by r.year
    for share
  loop
    if closed_status = 'closed' then
      raise exception 'reporting year % is closed: its figures were submitted to Bufdir, so its activities cannot be inserted, changed or deleted', closed_year
        using errcode = 'check_violation',
              hint = pg_catalog.format('The national office may reopen it: peerstats bufdir reopen --year %s --reason TEXT', closed_year);
    elsif closed_status = 'reopened' and not private.caller_sees_every_chapter() then
      raise exception 'reporting year % is reopened for corrections by the national office (service_role) only', closed_year
        using errcode = 'insufficient_privilege';
    end if;
  end loop;
end
$$;
revoke all on function private.refuse_writes_in_closed_years(integer[]) from public;

-- The years a statement touches: those of the rows it writes, old and new, and of the
-- duplicates of the rows it changes or deletes (whether a duplicate counts depends on its
-- original). Transition tables admit one event per trigger, hence three small functions.
create function private.activities_inserted_check_years() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform private.refuse_writes_in_closed_years(array(
    select distinct extract(year from n.recorded_at at time zone 'UTC')::integer from new_rows n));
  return null;
end
$$;

create function private.activities_updated_check_years() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform private.refuse_writes_in_closed_years(array(
    select extract(year from n.recorded_at at time zone 'UTC')::integer from new_rows n
    union
    select extract(year from o.recorded_at at time zone 'UTC')::integer from old_rows o
    union
    select extract(year from d.recorded_at at time zone 'UTC')::integer
    from public.activities d
    where d.duplicate_of in (select o.id from old_rows o)));
  return null;
end
$$;

create function private.activities_deleted_check_years() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform private.refuse_writes_in_closed_years(array(
    select extract(year from o.recorded_at at time zone 'UTC')::integer from old_rows o
    union
    select extract(year from d.recorded_at at time zone 'UTC')::integer
    from public.activities d
    where d.duplicate_of in (select o.id from old_rows o)));
  return null;
end
$$;
revoke all on function private.activities_inserted_check_years() from public;
revoke all on function private.activities_updated_check_years() from public;
revoke all on function private.activities_deleted_check_years() from public;

create trigger activities_closed_years_insert
  after insert on public.activities referencing new table as new_rows
  for each statement execute function private.activities_inserted_check_years();
create trigger activities_closed_years_update
  after update on public.activities referencing old table as old_rows new table as new_rows
  for each statement execute function private.activities_updated_check_years();
create trigger activities_closed_years_delete
  after delete on public.activities referencing old table as old_rows
  for each statement execute function private.activities_deleted_check_years();

-- TRUNCATE fires no row or transition-table trigger: refused while any year is closed or reopened.
create function private.refuse_truncate_with_closed_years() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  closed_years text;
begin
  select string_agg(r.year::text, ', ' order by r.year) into closed_years
  from private.reporting_years r where r.status <> 'open';
  if closed_years is not null then
    raise exception 'activities cannot be truncated: reporting year(s) % are closed or reopened', closed_years
      using errcode = 'check_violation';
  end if;
  return null;
end
$$;
revoke all on function private.refuse_truncate_with_closed_years() from public;
create trigger activities_closed_years_truncate
  before truncate on public.activities
  for each statement execute function private.refuse_truncate_with_closed_years();

-- Whether a type counts, or its code, decides the figures of every year it was used in.
create function private.refuse_type_changes_in_closed_years() returns trigger
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
revoke all on function private.refuse_type_changes_in_closed_years() from public;
create trigger activity_types_closed_years
  after update or delete on public.activity_types
  for each row execute function private.refuse_type_changes_in_closed_years();

-- Close a year: lock it against writers, store the export as submitted, log who and when.
create function private.close_reporting_year(report_year integer, operator text default null)
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  current_status text;
  submission_id bigint;
begin
  insert into private.reporting_years (year) values (report_year) on conflict (year) do nothing;
  select r.status into current_status from private.reporting_years r where r.year = report_year for update;
  if current_status = 'closed' then
    raise exception 'reporting year % is already closed', report_year
      using errcode = 'check_violation';
  end if;
  update private.reporting_years
  set status = 'closed', changed_at = pg_catalog.now(), changed_by = private.requesting_role()
  where year = report_year;
  insert into private.bufdir_submissions (year, submitted_by, operator, figures)
  select report_year, private.requesting_role(), operator,
         coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(e)), '[]'::jsonb)
  from private.bufdir_export(report_year) e
  returning id into submission_id;
  insert into private.reporting_year_events (year, event, by_role, operator, submission_id)
  values (report_year, 'closed', private.requesting_role(), operator, submission_id);
  return submission_id;
end
$$;

create function private.reopen_reporting_year(report_year integer, reason text, operator text default null)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  current_status text;
begin
  if coalesce(pg_catalog.btrim(reason), '') = '' then
    raise exception 'reopening reporting year % needs a reason', report_year
      using errcode = 'check_violation';
  end if;
  select r.status into current_status from private.reporting_years r where r.year = report_year for update;
  if current_status is distinct from 'closed' then
    raise exception 'reporting year % is not closed', report_year
      using errcode = 'check_violation';
  end if;
  update private.reporting_years
  set status = 'reopened', changed_at = pg_catalog.now(), changed_by = private.requesting_role()
  where year = report_year;
  insert into private.reporting_year_events (year, event, by_role, operator, reason)
  values (report_year, 'reopened', private.requesting_role(), operator, reason);
end
$$;
revoke all on function private.close_reporting_year(integer, text) from public, anon, authenticated;
revoke all on function private.reopen_reporting_year(integer, text, text) from public, anon, authenticated;
grant execute on function private.close_reporting_year(integer, text) to service_role;
grant execute on function private.reopen_reporting_year(integer, text, text) to service_role;

-- --- The views follow the new counting rule at once ------------------------------------------
select view_name, status from public.refresh_stats_views();

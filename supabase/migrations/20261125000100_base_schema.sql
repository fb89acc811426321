-- Base tables of the peer-mentor app, with row level security on every one.
--
-- Who reads what (PostgREST runs each request as `authenticated` with the user's JWT claims):
--   * a coordinator reads the chapters they coordinate, the mentors whose home chapter that is,
--     and every activity registered in those chapters;
--   * a peer mentor reads their own mentor row, their home chapter and their own activities,
--     and may register and correct their own activities;
--   * anon reads nothing; service_role bypasses row security.

create schema if not exists private;
comment on schema private is
  'peerstats internals: the counting rule, materialized views and helpers. Not exposed by PostgREST.';
revoke all on schema private from public;
grant usage on schema private to authenticated, service_role;

create table public.chapters (
  id uuid primary key default gen_random_uuid(),
  name text not null constraint chapter_name_not_blank check (btrim(name) <> '')
);

create table public.peer_mentors (
  id uuid primary key default gen_random_uuid(),
  user_id uuid unique references auth.users (id) on delete set null,
  chapter_id uuid not null references public.chapters (id),
  full_name text not null constraint peer_mentor_full_name_not_blank check (btrim(full_name) <> '')
);
create index peer_mentors_chapter_id on public.peer_mentors (chapter_id);

create table public.activity_types (
  code text primary key constraint activity_type_code_format check (code ~ '^[a-z][a-z0-9_]*$'),
  label text not null,
  counts_in_stats boolean not null,
  updated_at timestamptz not null default now()
);

create table public.activities (
  id uuid primary key default gen_random_uuid(),
  peer_mentor_id uuid not null references public.peer_mentors (id),
  chapter_id uuid not null references public.chapters (id),
  activity_type text not null references public.activity_types (code) on update cascade,
  recorded_at timestamptz not null,
  duration_minutes integer not null
    constraint duration_minutes_between_1_and_1440 check (duration_minutes between 1 and 1440),
  duplicate_of uuid references public.activities (id),
  deleted_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint activity_not_duplicate_of_itself check (duplicate_of <> id)
);
comment on column public.activities.recorded_at is 'When the activity took place. Statistics bucket it by its UTC date.';
comment on column public.activities.duplicate_of is 'Set when this registration repeats that one; a duplicate never counts.';
comment on column public.activities.deleted_at is 'Soft delete: a deleted activity never counts.';
-- Row security and the dashboard filter activities by chapter or mentor, and by time.
create index activities_chapter_id_recorded_at on public.activities (chapter_id, recorded_at);
create index activities_peer_mentor_id_recorded_at on public.activities (peer_mentor_id, recorded_at);
create index activities_duplicate_of on public.activities (duplicate_of) where duplicate_of is not null;
-- The latest change to what the statistics count, to tell stale views from divergent ones.
create index activities_updated_at on public.activities (updated_at);

-- updated_at follows every update, so "changed since the last refresh" needs no guessing.
create function private.touch_updated_at() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := pg_catalog.now();
  return new;
end
$$;
create trigger activities_touch_updated_at
  before update on public.activities
  for each row execute function private.touch_updated_at();
create trigger activity_types_touch_updated_at
  before update on public.activity_types
  for each row execute function private.touch_updated_at();

create table public.coordinator_chapters (
  user_id uuid not null references auth.users (id) on delete cascade,
  chapter_id uuid not null references public.chapters (id) on delete cascade,
  primary key (user_id, chapter_id)
);
create index coordinator_chapters_chapter_id on public.coordinator_chapters (chapter_id);

-- At most five chapters per coordinator (NHF's requirement). The advisory lock serialises
-- concurrent assignments to one user, so two sessions cannot both add a fifth chapter.
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

create trigger coordinator_chapter_limit
  before insert or update on public.coordinator_chapters
  for each row execute function private.enforce_coordinator_chapter_limit();

-- Row security helpers. They run with the caller's rights (row security of
-- coordinator_chapters and peer_mentors still applies to them), and policies call them
-- through a sub-select so PostgreSQL evaluates them once per query, not once per row.
create function private.coordinated_chapter_ids() returns uuid[]
language sql stable
set search_path = ''
as $$
  select coalesce(array_agg(chapter_id), '{}')
  from public.coordinator_chapters
  where user_id = auth.uid()
$$;
comment on function private.coordinated_chapter_ids() is
  'The chapters auth.uid() coordinates (at most five).';

create function private.own_peer_mentor_ids() returns uuid[]
language sql stable
set search_path = ''
as $$
  select coalesce(array_agg(id), '{}')
  from public.peer_mentors
  where user_id = auth.uid()
$$;
comment on function private.own_peer_mentor_ids() is
  'The peer mentor row of auth.uid(), as an array (empty for a user who is not a mentor).';

revoke all on function private.enforce_coordinator_chapter_limit() from public;
revoke all on function private.touch_updated_at() from public;
revoke all on function private.coordinated_chapter_ids() from public;
revoke all on function private.own_peer_mentor_ids() from public;
grant execute on function private.coordinated_chapter_ids() to authenticated, service_role;
grant execute on function private.own_peer_mentor_ids() to authenticated, service_role;

alter table public.chapters enable row level security;
alter table public.peer_mentors enable row level security;
alter table public.activity_types enable row level security;
alter table public.activities enable row level security;
alter table public.coordinator_chapters enable row level security;

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

create policy activity_types_readable on public.activity_types
  for select to authenticated
  using (true);

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

-- Supabase's default privileges grant everything in public to anon and authenticated;
-- grant back only what the policies above are for.
revoke all on public.chapters, public.peer_mentors, public.activity_types,
  public.activities, public.coordinator_chapters from anon, authenticated;
grant select on public.chapters, public.peer_mentors, public.activity_types,
  public.coordinator_chapters to authenticated;
grant select, insert, update on public.activities to authenticated;
grant all on public.chapters, public.peer_mentors, public.activity_types,
  public.activities, public.coordinator_chapters to service_role;

-- Which chapters the API (public.activity_time_series, chapter_stats, peer_mentor_stats)
-- shows each caller, over refreshed rows and rows written since: a coordinator of two chapters
-- and one of five see exactly their chapters, also through the per-chapter functions behind
-- the views and a filter on another chapter's id; a peer mentor sees their own mentor rows and
-- no chapter rows; anon is refused; service_role sees every chapter. (That each endpoint gives
-- exactly what its plain view gives: 03_api_isolation.sql.)
begin;
-- Supabase's CLI provides pgTAP (in schema extensions); elsewhere it is created here and rolled back.
create extension if not exists pgtap;
select plan(24);

insert into auth.users (id, email) values
  ('7e570000-0000-4000-8000-0000000014a1', 'visibility.two@pgtap.test'),
  ('7e570000-0000-4000-8000-0000000014a2', 'visibility.five@pgtap.test'),
  ('7e570000-0000-4000-8000-0000000014a3', 'visibility.anna@pgtap.test');
-- Chapters 1 to 6: the two-chapter coordinator has 1 and 2, the five-chapter one 1 to 5.
insert into public.chapters (id, name)
select ('7e570000-0000-4000-8000-00000000140' || n)::uuid, 'pgTAP visibility ' || n from generate_series(1, 6) n;
insert into public.coordinator_chapters (user_id, chapter_id)
select '7e570000-0000-4000-8000-0000000014a1'::uuid, ('7e570000-0000-4000-8000-00000000140' || n)::uuid from generate_series(1, 2) n
union all
select '7e570000-0000-4000-8000-0000000014a2'::uuid, ('7e570000-0000-4000-8000-00000000140' || n)::uuid from generate_series(1, 5) n;
-- A mentor at home in each chapter; Anna (in chapter 1) is a signed-in user.
insert into public.peer_mentors (id, user_id, chapter_id, full_name)
select ('7e570000-0000-4000-8000-0000000014b' || n)::uuid,
       case when n = 1 then '7e570000-0000-4000-8000-0000000014a3'::uuid end,
       ('7e570000-0000-4000-8000-00000000140' || n)::uuid, 'pgTAP visibility mentor ' || n
from generate_series(1, 6) n;
insert into public.activity_types (code, label, counts_in_stats) values ('pgtap_visibility_visit', 'pgTAP visit', true);
-- Two activities of each mentor in their chapter, in two months; Anna is also active in chapter 3.
insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes)
select ('7e570000-0000-4000-8000-0000000014b' || n)::uuid, ('7e570000-0000-4000-8000-00000000140' || n)::uuid,
       'pgtap_visibility_visit', timestamptz '2024-01-15 12:00+00' + (m * interval '1 month'), 30 + n
from generate_series(1, 6) n, generate_series(0, 1) m
union all
select '7e570000-0000-4000-8000-0000000014b1'::uuid, '7e570000-0000-4000-8000-000000001403'::uuid,
       'pgtap_visibility_visit', '2024-03-01 00:00:00+00', 1440;
select public.refresh_stats_views();
-- Written after the refresh, so every read below also merges the live figures of logged keys.
insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes)
select ('7e570000-0000-4000-8000-0000000014b' || n)::uuid, ('7e570000-0000-4000-8000-00000000140' || n)::uuid,
       'pgtap_visibility_visit', '2024-04-10 12:00+00', 60
from unnest(array[3, 6]) n;

-- The coordinator of chapters 1 and 2.
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "7e570000-0000-4000-8000-0000000014a1", "role": "authenticated"}', true);
select set_eq('select chapter_id from public.activity_time_series',
  array['7e570000-0000-4000-8000-000000001401', '7e570000-0000-4000-8000-000000001402']::uuid[],
  'two-chapter coordinator: activity_time_series shows exactly their chapters');
select set_eq('select chapter_id from public.chapter_stats',
  array['7e570000-0000-4000-8000-000000001401', '7e570000-0000-4000-8000-000000001402']::uuid[],
  'two-chapter coordinator: chapter_stats shows exactly their chapters');
select set_eq('select chapter_id from public.peer_mentor_stats',
  array['7e570000-0000-4000-8000-000000001401', '7e570000-0000-4000-8000-000000001402']::uuid[],
  'two-chapter coordinator: peer_mentor_stats shows exactly their chapters (not Anna''s rows in chapter 3)');
-- The per-chapter functions behind the views, called directly for a chapter not theirs.
select is_empty($$select * from private.chapter_stats_of('7e570000-0000-4000-8000-000000001403', '{}', '{}')$$,
  'two-chapter coordinator: chapter_stats_of another chapter returns nothing');
select is_empty($$select * from private.activity_time_series_of('7e570000-0000-4000-8000-000000001403', '{}')$$,
  'two-chapter coordinator: activity_time_series_of another chapter returns nothing');
select is_empty($$select * from private.peer_mentor_stats_of('7e570000-0000-4000-8000-000000001403', '{}', '{}')$$,
  'two-chapter coordinator: peer_mentor_stats_of another chapter returns nothing');
-- A filter on another chapter's id, as PostgREST sends ?chapter_id=eq.
select is_empty($$select * from public.chapter_stats where chapter_id = '7e570000-0000-4000-8000-000000001403'$$,
  'two-chapter coordinator: chapter_stats filtered on another chapter returns nothing');
select is_empty($$select * from public.activity_time_series where chapter_id = '7e570000-0000-4000-8000-000000001403'$$,
  'two-chapter coordinator: activity_time_series filtered on another chapter returns nothing');
select is_empty($$select * from public.peer_mentor_stats where chapter_id = '7e570000-0000-4000-8000-000000001403'$$,
  'two-chapter coordinator: peer_mentor_stats filtered on another chapter returns nothing');
reset role;

-- The coordinator of chapters 1 to 5.
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "7e570000-0000-4000-8000-0000000014a2", "role": "authenticated"}', true);
select set_eq('select chapter_id from public.activity_time_series',
  'select (''7e570000-0000-4000-8000-00000000140'' || n)::uuid from generate_series(1, 5) n',
  'five-chapter coordinator: activity_time_series shows exactly those five');
select set_eq('select chapter_id from public.chapter_stats',
  'select (''7e570000-0000-4000-8000-00000000140'' || n)::uuid from generate_series(1, 5) n',
  'five-chapter coordinator: chapter_stats shows exactly those five');
select set_eq('select chapter_id from public.peer_mentor_stats',
  'select (''7e570000-0000-4000-8000-00000000140'' || n)::uuid from generate_series(1, 5) n',
  'five-chapter coordinator: peer_mentor_stats shows exactly those five');
reset role;

-- Anna, a peer mentor who coordinates nothing.
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "7e570000-0000-4000-8000-0000000014a3", "role": "authenticated"}', true);
select set_eq('select peer_mentor_id from public.peer_mentor_stats', array['7e570000-0000-4000-8000-0000000014b1']::uuid[],
  'a peer mentor sees their own mentor rows only');
select set_eq('select chapter_id from public.peer_mentor_stats',
  array['7e570000-0000-4000-8000-000000001401', '7e570000-0000-4000-8000-000000001403']::uuid[],
  'a peer mentor sees their rows in every chapter they were active in');
select is_empty('select * from public.chapter_stats', 'a peer mentor sees no chapter_stats rows');
select is_empty('select * from public.activity_time_series', 'a peer mentor sees no activity_time_series rows');
select set_eq($$select distinct s.peer_mentor_id from generate_series(1, 6) n,
        private.peer_mentor_stats_of(('7e570000-0000-4000-8000-00000000140' || n)::uuid, '{}', '{}') s$$,
  array['7e570000-0000-4000-8000-0000000014b1']::uuid[],
  'a peer mentor calling peer_mentor_stats_of for every chapter gets their own rows only');
reset role;

set local role anon;
select set_config('request.jwt.claims', '{"role": "anon"}', true);
select throws_ok('select * from public.activity_time_series', '42501', null, 'anon is refused activity_time_series');
select throws_ok('select * from public.chapter_stats', '42501', null, 'anon is refused chapter_stats');
select throws_ok('select * from public.peer_mentor_stats', '42501', null, 'anon is refused peer_mentor_stats');
select throws_ok('select * from public.stats_freshness', '42501', null, 'anon is refused stats_freshness');
reset role;

set local role service_role;
select set_config('request.jwt.claims', '{"role": "service_role"}', true);
select set_eq($$select chapter_id from public.activity_time_series where chapter_id::text like '7e570000-0000-4000-8000-00000000140%'$$,
  'select (''7e570000-0000-4000-8000-00000000140'' || n)::uuid from generate_series(1, 6) n',
  'service_role sees every chapter in activity_time_series');
select set_eq($$select chapter_id from public.chapter_stats where chapter_id::text like '7e570000-0000-4000-8000-00000000140%'$$,
  'select (''7e570000-0000-4000-8000-00000000140'' || n)::uuid from generate_series(1, 6) n',
  'service_role sees every chapter in chapter_stats');
select set_eq($$select chapter_id from public.peer_mentor_stats where chapter_id::text like '7e570000-0000-4000-8000-00000000140%'$$,
  'select (''7e570000-0000-4000-8000-00000000140'' || n)::uuid from generate_series(1, 6) n',
  'service_role sees every chapter in peer_mentor_stats');
reset role;

select * from finish();
rollback;

-- Each endpoint of the API (public.activity_time_series, chapter_stats, peer_mentor_stats)
-- gives every caller exactly what the matching plain view gives them, after a refresh: a
-- coordinator of two chapters, one of five, and a peer mentor. (Which chapters each caller
-- sees, anon and service_role included: 14_api_chapter_visibility.sql.)
begin;
-- Supabase's CLI provides pgTAP (in schema extensions); elsewhere it is created here and rolled back.
create extension if not exists pgtap;
select plan(9);

insert into auth.users (id, email) values
  ('7e570000-0000-4000-8000-0000000003a1', 'api.two@pgtap.test'),
  ('7e570000-0000-4000-8000-0000000003a2', 'api.five@pgtap.test'),
  ('7e570000-0000-4000-8000-0000000003a3', 'api.anna@pgtap.test');
-- Chapters 1 to 6: the two-chapter coordinator has 1 and 2, the five-chapter one 1 to 5.
insert into public.chapters (id, name)
select ('7e570000-0000-4000-8000-00000000030' || n)::uuid, 'pgTAP api ' || n from generate_series(1, 6) n;
insert into public.coordinator_chapters (user_id, chapter_id)
select '7e570000-0000-4000-8000-0000000003a1'::uuid, ('7e570000-0000-4000-8000-00000000030' || n)::uuid from generate_series(1, 2) n
union all
select '7e570000-0000-4000-8000-0000000003a2'::uuid, ('7e570000-0000-4000-8000-00000000030' || n)::uuid from generate_series(1, 5) n;
-- A mentor at home in each chapter; Anna (in chapter 1) is a signed-in user.
insert into public.peer_mentors (id, user_id, chapter_id, full_name)
select ('7e570000-0000-4000-8000-000000000b3' || n)::uuid,
       case when n = 1 then '7e570000-0000-4000-8000-0000000003a3'::uuid end,
       ('7e570000-0000-4000-8000-00000000030' || n)::uuid, 'pgTAP mentor ' || n
from generate_series(1, 6) n;
insert into public.activity_types (code, label, counts_in_stats) values ('pgtap_api_visit', 'pgTAP visit', true);
-- Two activities of each mentor in their chapter, in two months; Anna is also active in chapter 3.
insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes)
select ('7e570000-0000-4000-8000-000000000b3' || n)::uuid, ('7e570000-0000-4000-8000-00000000030' || n)::uuid,
       'pgtap_api_visit', timestamptz '2024-01-15 12:00+00' + (m * interval '1 month'), 30 + n
from generate_series(1, 6) n, generate_series(0, 1) m
union all
select '7e570000-0000-4000-8000-000000000b31'::uuid, '7e570000-0000-4000-8000-000000000303'::uuid,
       'pgtap_api_visit', '2024-03-01 00:00:00+00', 1440;
select public.refresh_stats_views();

-- The coordinator of chapters 1 and 2.
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "7e570000-0000-4000-8000-0000000003a1", "role": "authenticated"}', true);
select bag_eq('select * from public.activity_time_series', 'select * from public.v_activity_time_series',
  'two-chapter coordinator: activity_time_series equals v_activity_time_series');
select bag_eq('select * from public.chapter_stats', 'select * from public.v_chapter_stats',
  'two-chapter coordinator: chapter_stats equals v_chapter_stats');
select bag_eq('select * from public.peer_mentor_stats', 'select * from public.v_peer_mentor_stats',
  'two-chapter coordinator: peer_mentor_stats equals v_peer_mentor_stats');
reset role;

-- The coordinator of chapters 1 to 5.
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "7e570000-0000-4000-8000-0000000003a2", "role": "authenticated"}', true);
select bag_eq('select * from public.activity_time_series', 'select * from public.v_activity_time_series',
  'five-chapter coordinator: activity_time_series equals v_activity_time_series');
select bag_eq('select * from public.chapter_stats', 'select * from public.v_chapter_stats',
  'five-chapter coordinator: chapter_stats equals v_chapter_stats');
select bag_eq('select * from public.peer_mentor_stats', 'select * from public.v_peer_mentor_stats',
  'five-chapter coordinator: peer_mentor_stats equals v_peer_mentor_stats');
reset role;

-- Anna, a peer mentor who coordinates nothing.
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "7e570000-0000-4000-8000-0000000003a3", "role": "authenticated"}', true);
select bag_eq('select * from public.activity_time_series', 'select * from public.v_activity_time_series',
  'peer mentor: activity_time_series equals v_activity_time_series');
select bag_eq('select * from public.chapter_stats', 'select * from public.v_chapter_stats',
  'peer mentor: chapter_stats equals v_chapter_stats');
select bag_eq('select * from public.peer_mentor_stats', 'select * from public.v_peer_mentor_stats',
  'peer mentor: peer_mentor_stats equals v_peer_mentor_stats');
reset role;

select * from finish();
rollback;

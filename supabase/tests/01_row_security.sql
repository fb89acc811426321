-- Row security of the base tables, per role, with requests made as PostgREST makes them:
-- the role and request.jwt.claims set transaction-locally. Fixture rows live and die with
-- this transaction. Runs with `supabase test db` and with pg_prove.
begin;
-- Supabase's CLI provides pgTAP (in schema extensions); elsewhere it is created here and rolled back.
create extension if not exists pgtap;
select plan(16);

insert into auth.users (id, email) values
  ('7e570000-0000-4000-8000-0000000001a1', 'rls.coordinator@pgtap.test'),
  ('7e570000-0000-4000-8000-0000000001a2', 'rls.anna@pgtap.test'),
  ('7e570000-0000-4000-8000-0000000001a3', 'rls.bo@pgtap.test'),
  ('7e570000-0000-4000-8000-0000000001a4', 'rls.outsider@pgtap.test');
insert into public.chapters (id, name) values
  ('7e570000-0000-4000-8000-00000000010a', 'pgTAP rls A'),
  ('7e570000-0000-4000-8000-00000000010b', 'pgTAP rls B'),
  ('7e570000-0000-4000-8000-00000000010c', 'pgTAP rls C');
insert into public.coordinator_chapters (user_id, chapter_id) values
  ('7e570000-0000-4000-8000-0000000001a1', '7e570000-0000-4000-8000-00000000010a'),
  ('7e570000-0000-4000-8000-0000000001a1', '7e570000-0000-4000-8000-00000000010b');
insert into public.peer_mentors (id, user_id, chapter_id, full_name) values
  ('7e570000-0000-4000-8000-000000000b11', '7e570000-0000-4000-8000-0000000001a2', '7e570000-0000-4000-8000-00000000010a', 'pgTAP Anna'),
  ('7e570000-0000-4000-8000-000000000b12', '7e570000-0000-4000-8000-0000000001a3', '7e570000-0000-4000-8000-00000000010b', 'pgTAP Bo'),
  ('7e570000-0000-4000-8000-000000000b13', null, '7e570000-0000-4000-8000-00000000010c', 'pgTAP Cid');
insert into public.activity_types (code, label, counts_in_stats) values ('pgtap_rls_visit', 'pgTAP visit', true);
insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes) values
  ('7e570000-0000-4000-8000-000000000b11', '7e570000-0000-4000-8000-00000000010a', 'pgtap_rls_visit', '2024-01-10 10:00+00', 60),
  ('7e570000-0000-4000-8000-000000000b11', '7e570000-0000-4000-8000-00000000010a', 'pgtap_rls_visit', '2024-01-11 10:00+00', 30),
  -- Anna is active in C too, a chapter the coordinator does not have.
  ('7e570000-0000-4000-8000-000000000b11', '7e570000-0000-4000-8000-00000000010c', 'pgtap_rls_visit', '2024-01-12 10:00+00', 45),
  ('7e570000-0000-4000-8000-000000000b12', '7e570000-0000-4000-8000-00000000010b', 'pgtap_rls_visit', '2024-01-10 11:00+00', 20),
  ('7e570000-0000-4000-8000-000000000b12', '7e570000-0000-4000-8000-00000000010b', 'pgtap_rls_visit', '2024-01-13 11:00+00', 25),
  ('7e570000-0000-4000-8000-000000000b13', '7e570000-0000-4000-8000-00000000010c', 'pgtap_rls_visit', '2024-01-14 12:00+00', 90);

-- A coordinator of A and B.
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "7e570000-0000-4000-8000-0000000001a1", "role": "authenticated"}', true);
select set_eq('select name from public.chapters', array['pgTAP rls A', 'pgTAP rls B'],
  'a coordinator reads the chapters they coordinate');
select set_eq('select full_name from public.peer_mentors', array['pgTAP Anna', 'pgTAP Bo'],
  'a coordinator reads the mentors of their chapters');
select set_eq('select chapter_id from public.activities',
  array['7e570000-0000-4000-8000-00000000010a', '7e570000-0000-4000-8000-00000000010b']::uuid[],
  'a coordinator reads the activities of their chapters only');
select is((select count(*) from public.activities), 4::bigint, 'a coordinator reads every activity of their chapters');
reset role;

-- Anna, a peer mentor.
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "7e570000-0000-4000-8000-0000000001a2", "role": "authenticated"}', true);
select set_eq('select peer_mentor_id from public.activities', array['7e570000-0000-4000-8000-000000000b11']::uuid[],
  'a peer mentor reads their own activities only');
select is((select count(*) from public.activities), 3::bigint, 'a peer mentor reads all their own activities, in every chapter');
select set_eq('select full_name from public.peer_mentors', array['pgTAP Anna'], 'a peer mentor reads their own mentor row');
select lives_ok($$insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes)
  values ('7e570000-0000-4000-8000-000000000b11', '7e570000-0000-4000-8000-00000000010a', 'pgtap_rls_visit', now(), 15)$$,
  'a peer mentor registers an activity of their own');
select throws_ok($$insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes)
  values ('7e570000-0000-4000-8000-000000000b12', '7e570000-0000-4000-8000-00000000010b', 'pgtap_rls_visit', now(), 15)$$,
  '42501', null, 'a peer mentor cannot register an activity for another mentor');
reset role;

-- A signed-in user who is neither.
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "7e570000-0000-4000-8000-0000000001a4", "role": "authenticated"}', true);
select is_empty('select * from public.activities', 'a user with no chapter and no mentor row reads no activity');
reset role;

-- anon: no grant on any base table.
set local role anon;
select set_config('request.jwt.claims', '{"role": "anon"}', true);
select throws_ok('select * from public.chapters', '42501', null, 'anon cannot read chapters');
select throws_ok('select * from public.peer_mentors', '42501', null, 'anon cannot read peer_mentors');
select throws_ok('select * from public.activity_types', '42501', null, 'anon cannot read activity_types');
select throws_ok('select * from public.activities', '42501', null, 'anon cannot read activities');
select throws_ok('select * from public.coordinator_chapters', '42501', null, 'anon cannot read coordinator_chapters');
reset role;

set local role service_role;
select set_config('request.jwt.claims', '{"role": "service_role"}', true);
select is((select count(*) from public.activities where activity_type = 'pgtap_rls_visit'), 7::bigint,
  'service_role reads every activity');
reset role;

select * from finish();
rollback;

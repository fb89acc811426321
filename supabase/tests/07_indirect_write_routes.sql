-- The indirect write routes of issue 16, as PostgREST's requests meet them: moderation that
-- sticks across chapters, only mentors the caller can read, and a type switch that would change
-- a closed year through a duplicate. The daily bound has its own file (10_daily_bound.sql).
-- Fixture rows live and die with this transaction. Runs with `supabase test db` and pg_prove.
begin;
-- Supabase's CLI provides pgTAP (in schema extensions); elsewhere it is created here and rolled back.
create extension if not exists pgtap;
select plan(10);

insert into auth.users (id, email) values
  ('7e570000-0000-4000-8000-0000000007a1', 'routes.coordinator@pgtap.test'),
  ('7e570000-0000-4000-8000-0000000007a2', 'routes.cato@pgtap.test');
insert into public.chapters (id, name) values
  ('7e570000-0000-4000-8000-00000000070a', 'pgTAP routes A'),
  ('7e570000-0000-4000-8000-00000000070c', 'pgTAP routes C'),
  ('7e570000-0000-4000-8000-00000000070f', 'pgTAP routes F');
-- The coordinator of A; Cato, a mentor of C who coordinates C and is a member of A; Finn of F.
insert into public.coordinator_chapters (user_id, chapter_id) values
  ('7e570000-0000-4000-8000-0000000007a1', '7e570000-0000-4000-8000-00000000070a'),
  ('7e570000-0000-4000-8000-0000000007a2', '7e570000-0000-4000-8000-00000000070c');
insert into public.peer_mentors (id, user_id, chapter_id, full_name) values
  ('7e570000-0000-4000-8000-000000000b71', '7e570000-0000-4000-8000-0000000007a2', '7e570000-0000-4000-8000-00000000070c', 'pgTAP routes Cato'),
  ('7e570000-0000-4000-8000-000000000b72', null, '7e570000-0000-4000-8000-00000000070f', 'pgTAP routes Finn'),
  ('7e570000-0000-4000-8000-000000000b73', null, '7e570000-0000-4000-8000-00000000070a', 'pgTAP routes Ada');
insert into public.peer_mentor_chapters (peer_mentor_id, chapter_id) values
  ('7e570000-0000-4000-8000-000000000b71', '7e570000-0000-4000-8000-00000000070a'),
  ('7e570000-0000-4000-8000-000000000b72', '7e570000-0000-4000-8000-00000000070a');
insert into public.activity_types (code, label, counts_in_stats) values
  ('pgtap_routes_visit', 'pgTAP visit', true),
  ('pgtap_routes_workshop', 'pgTAP workshop', true);
insert into public.activities (id, peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes) values
  ('7e570000-0000-4000-8000-000000000c71', '7e570000-0000-4000-8000-000000000b71', '7e570000-0000-4000-8000-00000000070a', 'pgtap_routes_visit', '2003-05-02 10:00+00', 30),
  -- An original in 2004 and its duplicate in 2003, the year closed below.
  ('7e570000-0000-4000-8000-000000000c72', '7e570000-0000-4000-8000-000000000b73', '7e570000-0000-4000-8000-00000000070a', 'pgtap_routes_workshop', '2004-01-10 10:00+00', 60);
insert into public.activities (id, peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes, duplicate_of) values
  ('7e570000-0000-4000-8000-000000000c73', '7e570000-0000-4000-8000-000000000b73', '7e570000-0000-4000-8000-00000000070a', 'pgtap_routes_visit', '2003-12-31 10:00+00', 60, '7e570000-0000-4000-8000-000000000c72');

-- The coordinator of A soft-deletes Cato's activity in A.
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "7e570000-0000-4000-8000-0000000007a1", "role": "authenticated"}', true);
select lives_ok($$update public.activities set deleted_at = now() where id = '7e570000-0000-4000-8000-000000000c71'$$,
  'a coordinator soft-deletes an activity of their chapter');
select throws_ok($$insert into public.peer_mentor_chapters (peer_mentor_id, chapter_id)
  values ('7e570000-0000-4000-8000-000000000b72', '7e570000-0000-4000-8000-00000000070a')$$,
  '42501', null, 'a coordinator cannot grant a membership to a mentor they cannot read');
select throws_ok($$insert into public.peer_mentor_chapters (peer_mentor_id, chapter_id)
  values ('7e570000-0000-4000-8000-000000000bff', '7e570000-0000-4000-8000-00000000070a')$$,
  '42501', null, 'nor to an id that exists nowhere, with the same refusal');
select throws_like($$update public.activities set peer_mentor_id = '7e570000-0000-4000-8000-000000000b72'
  where id = '7e570000-0000-4000-8000-000000000c72'$$,
  '%is not one you can see%', 'a coordinator cannot reassign an activity to a member they cannot read');

-- Cato, who coordinates C, cannot take it to C, nor restore it.
select set_config('request.jwt.claims', '{"sub": "7e570000-0000-4000-8000-0000000007a2", "role": "authenticated"}', true);
select throws_like($$update public.activities set chapter_id = '7e570000-0000-4000-8000-00000000070c'
  where id = '7e570000-0000-4000-8000-000000000c71'$$,
  '%only a coordinator of the chapter it was moderated in may move it%', 'a moderated activity cannot be moved out of its chapter');
select throws_like($$update public.activities set deleted_at = null where id = '7e570000-0000-4000-8000-000000000c71'$$,
  '%only a coordinator of the chapter it was deleted in may restore it%', 'nor restored by a coordinator of another chapter');

-- The coordinator of A restores it.
select set_config('request.jwt.claims', '{"sub": "7e570000-0000-4000-8000-0000000007a1", "role": "authenticated"}', true);
select lives_ok($$update public.activities set deleted_at = null where id = '7e570000-0000-4000-8000-000000000c71'$$,
  'the coordinator of the chapter it was deleted in restores it');
select is((select moderated_in_chapter from public.activities where id = '7e570000-0000-4000-8000-000000000c71'),
  null::uuid, 'a restored activity is moderated nowhere');

-- A closed year refuses a type switch that changes its duplicate's counting.
reset role;
select private.close_reporting_year(2003, 'pgTAP');
set local role service_role;
select set_config('request.jwt.claims', '{"role": "service_role"}', true);
select throws_like($$update public.activity_types set counts_in_stats = false where code = 'pgtap_routes_workshop'$$,
  '%reporting year 2003 is closed%', 'a type switch that would count a closed year''s duplicate is refused');
select throws_like($$update public.activities set deleted_at = now() where id = '7e570000-0000-4000-8000-000000000c72'$$,
  '%reporting year 2003 is closed%', 'so is a soft delete of the original whose duplicate sits in the closed year');

select * from finish();
rollback;

-- The indirect write routes of issue 16, as PostgREST's requests meet them: only mentors the
-- caller can read. (Moderation that sticks across chapters: 13_moderation.sql; a type switch
-- that would change a closed year through a duplicate: 12_closed_years.sql; the daily bound:
-- 11_daily_bound.sql.) Fixture rows live and die with this transaction.
-- Runs with `supabase test db` and pg_prove.
begin;
-- Supabase's CLI provides pgTAP (in schema extensions); elsewhere it is created here and rolled back.
create extension if not exists pgtap;
select plan(3);

insert into auth.users (id, email) values
  ('7e570000-0000-4000-8000-0000000007a1', 'routes.coordinator@pgtap.test'),
  ('7e570000-0000-4000-8000-0000000007a2', 'routes.cato@pgtap.test');
insert into public.chapters (id, name) values
  ('7e570000-0000-4000-8000-00000000070a', 'pgTAP routes A'),
  ('7e570000-0000-4000-8000-00000000070c', 'pgTAP routes C'),
  ('7e570000-0000-4000-8000-00000000070f', 'pgTAP routes F');
-- The coordinator of A; Cato, a mentor of C who coordinates C and is a member of A; Finn of F,
-- no member of A.
insert into public.coordinator_chapters (user_id, chapter_id) values
  ('7e570000-0000-4000-8000-0000000007a1', '7e570000-0000-4000-8000-00000000070a'),
  ('7e570000-0000-4000-8000-0000000007a2', '7e570000-0000-4000-8000-00000000070c');
insert into public.peer_mentors (id, user_id, chapter_id, full_name) values
  ('7e570000-0000-4000-8000-000000000b71', '7e570000-0000-4000-8000-0000000007a2', '7e570000-0000-4000-8000-00000000070c', 'pgTAP routes Cato'),
  ('7e570000-0000-4000-8000-000000000b72', null, '7e570000-0000-4000-8000-00000000070f', 'pgTAP routes Finn'),
  ('7e570000-0000-4000-8000-000000000b73', null, '7e570000-0000-4000-8000-00000000070a', 'pgTAP routes Ada');
insert into public.peer_mentor_chapters (peer_mentor_id, chapter_id) values
  ('7e570000-0000-4000-8000-000000000b71', '7e570000-0000-4000-8000-00000000070a');
insert into public.activity_types (code, label, counts_in_stats) values
  ('pgtap_routes_visit', 'pgTAP visit', true),
  ('pgtap_routes_workshop', 'pgTAP workshop', true);
insert into public.activities (id, peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes) values
  ('7e570000-0000-4000-8000-000000000c72', '7e570000-0000-4000-8000-000000000b73', '7e570000-0000-4000-8000-00000000070a', 'pgtap_routes_workshop', '2004-01-10 10:00+00', 60);

-- The coordinator of A.
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "7e570000-0000-4000-8000-0000000007a1", "role": "authenticated"}', true);
select throws_ok($$insert into public.peer_mentor_chapters (peer_mentor_id, chapter_id)
  values ('7e570000-0000-4000-8000-000000000b72', '7e570000-0000-4000-8000-00000000070a')$$,
  '42501', null, 'a coordinator cannot grant a membership to a mentor they cannot read');
select throws_ok($$insert into public.peer_mentor_chapters (peer_mentor_id, chapter_id)
  values ('7e570000-0000-4000-8000-000000000bff', '7e570000-0000-4000-8000-00000000070a')$$,
  '42501', null, 'nor to an id that exists nowhere, with the same refusal');
select throws_like($$update public.activities set peer_mentor_id = '7e570000-0000-4000-8000-000000000b72'
  where id = '7e570000-0000-4000-8000-000000000c72'$$,
  '%is not one you can see%', 'a coordinator cannot reassign an activity to a mentor they cannot read');

reset role;

select * from finish();
rollback;

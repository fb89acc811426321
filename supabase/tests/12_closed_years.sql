-- Closed reporting years: once a year's figures are submitted to Bufdir (closed), no write
-- changes them, whoever sends it and by whatever route (its activities, an activity moved
-- into it, a type switch or an original whose duplicate sits in it); only the owner or
-- service_role closes and reopens, a reopen needs a reason, and a reopened year takes
-- corrections from service_role only. Fixture rows live and die with this transaction. Runs
-- with `supabase test db` and pg_prove.
begin;
-- Supabase's CLI provides pgTAP (in schema extensions); elsewhere it is created here and rolled back.
create extension if not exists pgtap;
select plan(13);

insert into auth.users (id, email) values
  ('7e570000-0000-4000-8000-0000000012a1', 'years.coordinator@pgtap.test'),
  ('7e570000-0000-4000-8000-0000000012a2', 'years.anna@pgtap.test');
insert into public.chapters (id, name) values ('7e570000-0000-4000-8000-00000000120a', 'pgTAP years A');
insert into public.coordinator_chapters (user_id, chapter_id) values
  ('7e570000-0000-4000-8000-0000000012a1', '7e570000-0000-4000-8000-00000000120a');
insert into public.peer_mentors (id, user_id, chapter_id, full_name) values
  ('7e570000-0000-4000-8000-000000012b01', '7e570000-0000-4000-8000-0000000012a2', '7e570000-0000-4000-8000-00000000120a', 'pgTAP years Anna');
insert into public.activity_types (code, label, counts_in_stats) values
  ('pgtap_years_visit', 'pgTAP visit', true),
  ('pgtap_years_workshop', 'pgTAP workshop', true);
insert into public.activities (id, peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes) values
  ('7e570000-0000-4000-8000-000000012c01', '7e570000-0000-4000-8000-000000012b01', '7e570000-0000-4000-8000-00000000120a', 'pgtap_years_visit', '2003-06-01 10:00+00', 20),
  ('7e570000-0000-4000-8000-000000012c04', '7e570000-0000-4000-8000-000000012b01', '7e570000-0000-4000-8000-00000000120a', 'pgtap_years_visit', '2004-06-01 10:00+00', 25),
  -- An original in 2004 and, below, its duplicate in 2003, the year closed here.
  ('7e570000-0000-4000-8000-000000012c02', '7e570000-0000-4000-8000-000000012b01', '7e570000-0000-4000-8000-00000000120a', 'pgtap_years_workshop', '2004-01-10 10:00+00', 60);
insert into public.activities (id, peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes, duplicate_of) values
  ('7e570000-0000-4000-8000-000000012c03', '7e570000-0000-4000-8000-000000012b01', '7e570000-0000-4000-8000-00000000120a', 'pgtap_years_visit', '2003-12-31 10:00+00', 60, '7e570000-0000-4000-8000-000000012c02');

-- Closing is not the API's.
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "7e570000-0000-4000-8000-0000000012a1", "role": "authenticated"}', true);
select throws_ok($$select private.close_reporting_year(2003, 'pgTAP')$$, '42501', null,
  'a signed-in user cannot close a year');
reset role;

select ok(private.close_reporting_year(2003, 'pgTAP') is not null, 'the owner closes 2003, storing its figures');
select throws_like($$select private.close_reporting_year(2003, 'pgTAP')$$, '%reporting year 2003 is already closed%',
  'a closed year cannot be closed again');

-- A closed reporting year refuses every write, even the owner's and service_role's.
select throws_like($$update public.activities set duration_minutes = 21 where id = '7e570000-0000-4000-8000-000000012c01'$$,
  '%reporting year 2003 is closed%', 'an activity of a closed year cannot be changed');
select throws_like($$update public.activities set recorded_at = '2003-07-01 10:00+00' where id = '7e570000-0000-4000-8000-000000012c04'$$,
  '%reporting year 2003 is closed%', 'nor can an activity of an open year be moved into it');
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "7e570000-0000-4000-8000-0000000012a2", "role": "authenticated"}', true);
select throws_like($$insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes)
  values ('7e570000-0000-4000-8000-000000012b01', '7e570000-0000-4000-8000-00000000120a', 'pgtap_years_visit', '2003-06-02 10:00+00', 15)$$,
  '%reporting year 2003 is closed%', 'a mentor cannot register an activity in a closed year');
reset role;
set local role service_role;
select set_config('request.jwt.claims', '{"role": "service_role"}', true);
select throws_like($$delete from public.activities where id = '7e570000-0000-4000-8000-000000012c01'$$,
  '%reporting year 2003 is closed%', 'nor deleted, even by the service role');
-- Through a duplicate: its counting follows its original's.
select throws_like($$update public.activity_types set counts_in_stats = false where code = 'pgtap_years_workshop'$$,
  '%reporting year 2003 is closed%', 'a type switch that would count a closed year''s duplicate is refused');
select throws_like($$update public.activities set deleted_at = now() where id = '7e570000-0000-4000-8000-000000012c02'$$,
  '%reporting year 2003 is closed%', 'so is a soft delete of the original whose duplicate sits in the closed year');
reset role;

-- Reopened for corrections: by service_role only.
select throws_like($$select private.reopen_reporting_year(2003, ' ')$$, '%needs a reason%',
  'a year is reopened only with a reason');
select lives_ok($$select private.reopen_reporting_year(2003, 'pgTAP correction')$$, 'the owner reopens 2003 with a reason');
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "7e570000-0000-4000-8000-0000000012a1", "role": "authenticated"}', true);
select throws_like($$update public.activities set duration_minutes = 21 where id = '7e570000-0000-4000-8000-000000012c01'$$,
  '%reopened for corrections by the national office (service_role) only%',
  'a coordinator cannot write into a reopened year');
reset role;
set local role service_role;
select set_config('request.jwt.claims', '{"role": "service_role"}', true);
select lives_ok($$update public.activities set duration_minutes = 21 where id = '7e570000-0000-4000-8000-000000012c01'$$,
  'service_role corrects an activity of a reopened year');
reset role;

select * from finish();
rollback;

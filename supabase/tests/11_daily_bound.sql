-- The daily bound: its one named definition (private.daily_bound_minutes()), which the guard
-- reads; the per-row check named for what it checks; and its refusals, which give the day's
-- total only to a caller who reads every counted activity of that day, and name the duplicate
-- that stops a moderation. Fixture rows live and die with this transaction.
begin;
-- Supabase's CLI provides pgTAP (in schema extensions); elsewhere it is created here and rolled back.
create extension if not exists pgtap;
select plan(13);

-- What a refusal tells the caller (message and hint), run under the caller's role; the write
-- is undone with the refusal.
create function pg_temp.refusal(statement text) returns text
language plpgsql
as $$
declare
  message text;
  hint text;
begin
  execute statement;
  return null;
exception when check_violation then
  get stacked diagnostics message = message_text, hint = pg_exception_hint;
  return message || ' ' || coalesce(hint, '');
end
$$;
-- The bound as the database defines it, readable under any role for the expectations below.
select set_config('pgtap.bound', private.daily_bound_minutes()::text, true);

select has_function('private', 'daily_bound_minutes', '{}'::name[], 'the daily bound is a named definition');
select volatility_is('private', 'daily_bound_minutes', '{}'::name[], 'immutable',
  'it is immutable, so a statement using it is planned with a constant');
select is(private.daily_bound_minutes(), 24 * 60, 'the bound is a day of minutes (the contract''s 24 hours)');
select ok(pg_catalog.pg_get_functiondef('private.refuse_overfull_mentor_days(uuid[], date[], uuid[])'::regprocedure)
            ~ 'private\.daily_bound_minutes\(\)'
          and pg_catalog.pg_get_functiondef('private.refuse_overfull_mentor_days(uuid[], date[], uuid[])'::regprocedure)
            !~ current_setting('pgtap.bound'),
  'the guard reads the named bound, not a number of its own');
select ok(exists (select from pg_catalog.pg_constraint
                  where conrelid = 'public.activities'::regclass and conname = 'duration_minutes_within_a_day'),
  'the per-row check is named for what it checks');
select is_empty($$select conname from pg_catalog.pg_constraint
                  where connamespace in ('public'::regnamespace, 'private'::regnamespace)
                    and conname ~ current_setting('pgtap.bound')$$,
  'no constraint name carries the bound''s number');

insert into auth.users (id, email) values
  ('7e570000-0000-4000-8000-0000000010a1', 'bound.coordinator.a@pgtap.test'),
  ('7e570000-0000-4000-8000-0000000010a2', 'bound.coordinator.ac@pgtap.test'),
  ('7e570000-0000-4000-8000-0000000010a3', 'bound.mia@pgtap.test');
insert into public.chapters (id, name) values
  ('7e570000-0000-4000-8000-00000000100a', 'pgTAP bound A'),
  ('7e570000-0000-4000-8000-00000000100c', 'pgTAP bound C');
insert into public.coordinator_chapters (user_id, chapter_id) values
  ('7e570000-0000-4000-8000-0000000010a1', '7e570000-0000-4000-8000-00000000100a'),
  ('7e570000-0000-4000-8000-0000000010a2', '7e570000-0000-4000-8000-00000000100a'),
  ('7e570000-0000-4000-8000-0000000010a2', '7e570000-0000-4000-8000-00000000100c');
-- Mia: home chapter A, member of C.
insert into public.peer_mentors (id, user_id, chapter_id, full_name) values
  ('7e570000-0000-4000-8000-000000001b01', '7e570000-0000-4000-8000-0000000010a3', '7e570000-0000-4000-8000-00000000100a', 'pgTAP bound Mia');
insert into public.peer_mentor_chapters (peer_mentor_id, chapter_id) values
  ('7e570000-0000-4000-8000-000000001b01', '7e570000-0000-4000-8000-00000000100c');
insert into public.activity_types (code, label, counts_in_stats) values ('pgtap_bound_visit', 'pgTAP visit', true);

-- As the owner, with ids to name: 137 minutes in C and 30 in A on 2003-05-04; an original O
-- on 2003-05-05 and its duplicate on 2003-05-03, which does not count while O does.
insert into public.activities (id, peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes) values
  ('7e570000-0000-4000-8000-000000001c03', '7e570000-0000-4000-8000-000000001b01', '7e570000-0000-4000-8000-00000000100c', 'pgtap_bound_visit', '2003-05-04 08:00+00', 137),
  ('7e570000-0000-4000-8000-000000001c04', '7e570000-0000-4000-8000-000000001b01', '7e570000-0000-4000-8000-00000000100a', 'pgtap_bound_visit', '2003-05-04 12:00+00', 30),
  ('7e570000-0000-4000-8000-000000001c05', '7e570000-0000-4000-8000-000000001b01', '7e570000-0000-4000-8000-00000000100a', 'pgtap_bound_visit', '2003-05-05 10:00+00', 60);
insert into public.activities (id, peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes, duplicate_of) values
  ('7e570000-0000-4000-8000-000000001c06', '7e570000-0000-4000-8000-000000001b01', '7e570000-0000-4000-8000-00000000100a', 'pgtap_bound_visit', '2003-05-03 10:00+00', 60, '7e570000-0000-4000-8000-000000001c05');

set local role authenticated;
-- Mia fills 2003-05-03 in two halves.
select set_config('request.jwt.claims', '{"sub": "7e570000-0000-4000-8000-0000000010a3", "role": "authenticated"}', true);
select lives_ok(format($$insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes)
  values ('7e570000-0000-4000-8000-000000001b01', '7e570000-0000-4000-8000-00000000100a', 'pgtap_bound_visit', '2003-05-03 00:00+00', %1$s),
         ('7e570000-0000-4000-8000-000000001b01', '7e570000-0000-4000-8000-00000000100c', 'pgtap_bound_visit', '2003-05-03 23:00+00', %2$s)$$,
  current_setting('pgtap.bound')::integer / 2, current_setting('pgtap.bound')::integer - current_setting('pgtap.bound')::integer / 2),
  'a mentor registers a full day');
select alike(pg_temp.refusal($$insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes)
  values ('7e570000-0000-4000-8000-000000001b01', '7e570000-0000-4000-8000-00000000100a', 'pgtap_bound_visit', '2003-05-03 12:00+00', 1)$$),
  format('%%would have %s counted minutes on 2003-05-03 (UTC)%%', current_setting('pgtap.bound')::integer + 1),
  'one minute more is refused, and the mentor, who reads every row of the day, is told its total');

-- The coordinator of A alone raises the 30 minutes in A to a full day.
select set_config('request.jwt.claims', '{"sub": "7e570000-0000-4000-8000-0000000010a1", "role": "authenticated"}', true);
select set_config('pgtap.told', pg_temp.refusal(format(
  $$update public.activities set duration_minutes = %s where id = '7e570000-0000-4000-8000-000000001c04'$$,
  current_setting('pgtap.bound'))), true);
select alike(current_setting('pgtap.told'),
  format('%%would have more than %s counted minutes on 2003-05-04 (UTC)%%',
         to_char(current_setting('pgtap.bound')::integer, 'FM999,999')),
  'a coordinator who cannot read every row of the day is refused with the day and the bound');
select ok(position((current_setting('pgtap.bound')::integer + 137)::text in current_setting('pgtap.told')) = 0
          and position('137' in current_setting('pgtap.told')) = 0
          and position('7e570000-0000-4000-8000-00000000100c' in current_setting('pgtap.told')) = 0,
  'and told no total, no minutes and no chapter of the rows they cannot read');

-- The coordinator of A and C reads both rows.
select set_config('request.jwt.claims', '{"sub": "7e570000-0000-4000-8000-0000000010a2", "role": "authenticated"}', true);
select alike(pg_temp.refusal(format(
  $$update public.activities set duration_minutes = %s where id = '7e570000-0000-4000-8000-000000001c04'$$,
  current_setting('pgtap.bound'))),
  format('%%would have %s counted minutes on 2003-05-04 (UTC)%%', current_setting('pgtap.bound')::integer + 137),
  'a coordinator who reads every row of the day is told its total');

-- The coordinator of A soft-deletes O.
select set_config('request.jwt.claims', '{"sub": "7e570000-0000-4000-8000-0000000010a1", "role": "authenticated"}', true);
select alike(pg_temp.refusal($$update public.activities set deleted_at = now() where id = '7e570000-0000-4000-8000-000000001c05'$$),
  '%activity 7e570000-0000-4000-8000-000000001c06 there is a duplicate of activity 7e570000-0000-4000-8000-000000001c05%in the same request%',
  'a soft delete refused because its duplicate would count on a full day names the duplicate and the way through');
select lives_ok($$update public.activities set deleted_at = now()
  where id in ('7e570000-0000-4000-8000-000000001c05', '7e570000-0000-4000-8000-000000001c06')$$,
  'deleting both in one request goes through');

select * from finish();
rollback;

-- The log of dirty keys behind the exact API: the API roles can neither read nor change it,
-- yet a mentor's write through the API logs its key (the triggers run as their owner), and
-- only service_role may run the threshold refresh. A transaction logs each key once, and a row that
-- cannot count when written (a type that does not count) logs nothing.
begin;
-- Supabase's CLI provides pgTAP (in schema extensions); elsewhere it is created here and rolled back.
create extension if not exists pgtap;
select plan(11);

select table_privs_are('private', 'stats_dirty_keys', 'anon', array[]::text[], 'anon has no privilege on the log');
select table_privs_are('private', 'stats_dirty_keys', 'authenticated', array[]::text[],
  'authenticated has no privilege on the log');
select table_privs_are('private', 'stats_dirty_keys', 'service_role', array['SELECT'],
  'service_role may read the log');
select function_privs_are('private', 'refresh_stats_views_if_dirty', array[]::text[], 'authenticated', array[]::text[],
  'authenticated may not run the threshold refresh');
select is_definer('private', 'log_inserted_activities', array[]::text[],
  'the insert trigger runs with its owner''s rights, so writers need no privilege on the log');

insert into auth.users (id, email) values ('7e570000-0000-4000-8000-0000000009a1', 'log.mentor@peerstats.test');
insert into public.chapters (id, name) values ('7e570000-0000-4000-8000-0000000009c1', 'Log test chapter');
insert into public.peer_mentors (id, user_id, chapter_id, full_name)
values ('7e570000-0000-4000-8000-0000000009b1', '7e570000-0000-4000-8000-0000000009a1',
        '7e570000-0000-4000-8000-0000000009c1', 'Log Mentor');
insert into public.activity_types (code, label, counts_in_stats)
values ('log_test_visit', 'Log test visit', true), ('log_test_admin', 'Log test admin', false);

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "7e570000-0000-4000-8000-0000000009a1", "role": "authenticated"}', true);
select lives_ok($$insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes)
                  values ('7e570000-0000-4000-8000-0000000009b1', '7e570000-0000-4000-8000-0000000009c1',
                          'log_test_visit', now(), 45)$$,
  'a mentor registers an activity through the API');
select throws_ok('delete from private.stats_dirty_keys', '42501', null, 'a mentor cannot empty the log');
select results_eq($$select activity_count, total_hours from public.peer_mentor_stats
                    where peer_mentor_id = '7e570000-0000-4000-8000-0000000009b1'$$,
  $$values (1::bigint, 0.75::numeric)$$, 'the mentor sees it at once through the API, without a refresh');
reset role;

select results_eq($$select count(*)::integer from private.stats_dirty_keys
                    where peer_mentor_id = '7e570000-0000-4000-8000-0000000009b1'
                      and bucket_date = (now() at time zone 'UTC')::date and xid = pg_current_xact_id()$$,
  array[1], 'the write logged its key, with the writing transaction');

insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes)
values ('7e570000-0000-4000-8000-0000000009b1', '7e570000-0000-4000-8000-0000000009c1', 'log_test_visit', now(), 30);
select results_eq($$select count(*)::integer from private.stats_dirty_keys
                    where peer_mentor_id = '7e570000-0000-4000-8000-0000000009b1'$$,
  array[1], 'a second write of the same key in the same transaction adds no entry');

insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes)
select '7e570000-0000-4000-8000-0000000009b1', '7e570000-0000-4000-8000-0000000009c1', 'log_test_admin',
       now() - g * interval '1 day', 30
from generate_series(1, 400) g;
select results_eq($$select count(*)::integer from private.stats_dirty_keys
                    where peer_mentor_id = '7e570000-0000-4000-8000-0000000009b1'$$,
  array[1], 'rows of a type that does not count add no entry');

select * from finish();
rollback;

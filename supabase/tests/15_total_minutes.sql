-- total_minutes: every statistics view (plain, materialized, API) has it, exact, beside
-- total_hours = total_minutes / 60.0; rows added up by their minutes give a total at a half
-- that rounds up, where their total_hours (rounded quotients) give one that rounds down.
begin;
-- Supabase's CLI provides pgTAP (in schema extensions); elsewhere it is created here and rolled back.
create extension if not exists pgtap;
select plan(14);

select col_type_is(s, v, 'total_minutes', 'bigint', s || '.' || v || '.total_minutes is bigint')
from (values ('public', 'v_activity_time_series'), ('public', 'v_chapter_stats'), ('public', 'v_peer_mentor_stats'),
             ('private', 'mv_activity_time_series'), ('private', 'mv_chapter_stats'),
             ('private', 'mv_peer_mentor_stats'), ('public', 'activity_time_series'), ('public', 'chapter_stats'),
             ('public', 'peer_mentor_stats')) as views (s, v);

-- One mentor, 5 minutes in each of three months: 5 / 60.0 is a quotient rounded down, 15
-- minutes is 0.25 h, a half at one decimal.
insert into auth.users (id, email) values ('7e570000-0000-4000-8000-0000000010a1', 'minutes.coordinator@peerstats.test');
insert into public.chapters (id, name) values ('7e570000-0000-4000-8000-0000000010c1', 'Minutes test chapter');
insert into public.coordinator_chapters (user_id, chapter_id)
values ('7e570000-0000-4000-8000-0000000010a1', '7e570000-0000-4000-8000-0000000010c1');
insert into public.peer_mentors (id, chapter_id, full_name)
values ('7e570000-0000-4000-8000-0000000010b1', '7e570000-0000-4000-8000-0000000010c1', 'Minutes Mentor');
insert into public.activity_types (code, label, counts_in_stats) values ('minutes_test_visit', 'Minutes test visit', true);
insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes)
select '7e570000-0000-4000-8000-0000000010b1', '7e570000-0000-4000-8000-0000000010c1', 'minutes_test_visit',
       date_trunc('month', now()) - n * interval '1 month' + interval '9 days', 5
from generate_series(1, 3) n;

-- Through the API as the chapter's coordinator, with the changes not yet refreshed.
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "7e570000-0000-4000-8000-0000000010a1", "role": "authenticated"}', true);
select results_eq($$select sum(total_minutes)::bigint, round(sum(total_minutes) / 60.0, 1) from public.chapter_stats
                    where chapter_id = '7e570000-0000-4000-8000-0000000010c1'$$,
  $$values (15::bigint, 0.3::numeric)$$, 'three months of 5 minutes add up to 15 minutes, 0.25 h, shown 0.3');
select is((select round(sum(total_hours), 1) from public.chapter_stats
           where chapter_id = '7e570000-0000-4000-8000-0000000010c1'), 0.2::numeric,
  'their total_hours add up to just under 0.25 and round down: rows are added up by their minutes');
select is_empty(pg_catalog.format('select * from public.%I where total_hours is distinct from total_minutes / 60.0', v),
  v || ': total_hours is total_minutes / 60.0 on every row')
from (values ('activity_time_series'), ('chapter_stats'), ('peer_mentor_stats')) as views (v);
reset role;

select * from finish();
rollback;

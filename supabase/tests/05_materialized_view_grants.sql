-- Grants: the materialized views (the contract's three) and the exact API's mentor-day grain grant nothing to anon, authenticated or service_role (a
-- materialized view has no row security); the API views have exactly the plain views' grants.
begin;
-- Supabase's CLI provides pgTAP (in schema extensions); elsewhere it is created here and rolled back.
create extension if not exists pgtap;
select plan(36);

-- Nothing at all on the materialized views, for any API role.
select table_privs_are('private', view_name, role_name, array[]::text[])
from unnest(array['mv_activity_time_series', 'mv_chapter_stats', 'mv_peer_mentor_stats', 'peer_mentor_days']) as view_name,
     unnest(array['anon', 'authenticated', 'service_role']) as role_name;

-- The plain views and the API views alike: SELECT for authenticated and service_role, nothing for anon.
select table_privs_are('public', view_name, role_name,
                       case role_name when 'anon' then array[]::text[] else array['SELECT'] end)
from unnest(array['v_activity_time_series', 'v_chapter_stats', 'v_peer_mentor_stats',
                  'activity_time_series', 'chapter_stats', 'peer_mentor_stats']) as view_name,
     unnest(array['anon', 'authenticated', 'service_role']) as role_name;

select table_privs_are('public', 'stats_freshness', 'anon', array[]::text[]);
select table_privs_are('public', 'stats_freshness', 'authenticated', array['SELECT']);

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "7e570000-0000-4000-8000-0000000005a1", "role": "authenticated"}', true);
select throws_ok(format('select * from private.%I', view_name), '42501', null,
                 format('authenticated cannot select %s', view_name))
from unnest(array['mv_activity_time_series', 'mv_chapter_stats', 'mv_peer_mentor_stats', 'peer_mentor_days']) as view_name;
reset role;

select * from finish();
rollback;

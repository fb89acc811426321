-- Grants: the materialized views grant nothing to anon, authenticated or service_role (a
-- materialized view has no row security); the API views have exactly the plain views' grants.
begin;
-- Supabase's CLI provides pgTAP (in schema extensions); elsewhere it is created here and rolled back.
create extension if not exists pgtap;
select plan(32);

select table_privs_are('private', 'mv_activity_time_series', 'anon', array[]::text[]);
select table_privs_are('private', 'mv_activity_time_series', 'authenticated', array[]::text[]);
select table_privs_are('private', 'mv_activity_time_series', 'service_role', array[]::text[]);
select table_privs_are('private', 'mv_chapter_stats', 'anon', array[]::text[]);
select table_privs_are('private', 'mv_chapter_stats', 'authenticated', array[]::text[]);
select table_privs_are('private', 'mv_chapter_stats', 'service_role', array[]::text[]);
select table_privs_are('private', 'mv_peer_mentor_stats', 'anon', array[]::text[]);
select table_privs_are('private', 'mv_peer_mentor_stats', 'authenticated', array[]::text[]);
select table_privs_are('private', 'mv_peer_mentor_stats', 'service_role', array[]::text[]);

select table_privs_are('public', 'v_activity_time_series', 'anon', array[]::text[]);
select table_privs_are('public', 'v_activity_time_series', 'authenticated', array['SELECT']);
select table_privs_are('public', 'v_activity_time_series', 'service_role', array['SELECT']);
select table_privs_are('public', 'v_chapter_stats', 'anon', array[]::text[]);
select table_privs_are('public', 'v_chapter_stats', 'authenticated', array['SELECT']);
select table_privs_are('public', 'v_chapter_stats', 'service_role', array['SELECT']);
select table_privs_are('public', 'v_peer_mentor_stats', 'anon', array[]::text[]);
select table_privs_are('public', 'v_peer_mentor_stats', 'authenticated', array['SELECT']);
select table_privs_are('public', 'v_peer_mentor_stats', 'service_role', array['SELECT']);

select table_privs_are('public', 'activity_time_series', 'anon', array[]::text[]);
select table_privs_are('public', 'activity_time_series', 'authenticated', array['SELECT']);
select table_privs_are('public', 'activity_time_series', 'service_role', array['SELECT']);
select table_privs_are('public', 'chapter_stats', 'anon', array[]::text[]);
select table_privs_are('public', 'chapter_stats', 'authenticated', array['SELECT']);
select table_privs_are('public', 'chapter_stats', 'service_role', array['SELECT']);
select table_privs_are('public', 'peer_mentor_stats', 'anon', array[]::text[]);
select table_privs_are('public', 'peer_mentor_stats', 'authenticated', array['SELECT']);
select table_privs_are('public', 'peer_mentor_stats', 'service_role', array['SELECT']);

select table_privs_are('public', 'stats_freshness', 'anon', array[]::text[]);
select table_privs_are('public', 'stats_freshness', 'authenticated', array['SELECT']);

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "7e570000-0000-4000-8000-0000000005a1", "role": "authenticated"}', true);
select throws_ok('select * from private.mv_activity_time_series', '42501', null,
  'authenticated cannot select mv_activity_time_series');
select throws_ok('select * from private.mv_chapter_stats', '42501', null, 'authenticated cannot select mv_chapter_stats');
select throws_ok('select * from private.mv_peer_mentor_stats', '42501', null,
  'authenticated cannot select mv_peer_mentor_stats');
reset role;

select * from finish();
rollback;

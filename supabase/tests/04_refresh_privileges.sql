-- Only service_role and the owner may refresh: anon and authenticated get "permission denied"
-- on public.refresh_stats_views() and cannot REFRESH a materialized view themselves either.
begin;
-- Supabase's CLI provides pgTAP (in schema extensions); elsewhere it is created here and rolled back.
create extension if not exists pgtap;
select plan(10);

select function_privs_are('public', 'refresh_stats_views', array['boolean'], 'anon', array[]::text[],
  'anon may not execute refresh_stats_views');
select function_privs_are('public', 'refresh_stats_views', array['boolean'], 'authenticated', array[]::text[],
  'authenticated may not execute refresh_stats_views');
select function_privs_are('public', 'refresh_stats_views', array['boolean'], 'service_role', array['EXECUTE'],
  'service_role may execute refresh_stats_views');
select is_definer('public', 'refresh_stats_views', array['boolean'],
  'refresh_stats_views runs with its owner''s rights, so service_role needs no privilege on the views');

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "7e570000-0000-4000-8000-0000000004a1", "role": "authenticated"}', true);
select throws_ok('select public.refresh_stats_views()', '42501', 'permission denied for function refresh_stats_views',
  'authenticated gets permission denied on the refresh');
select throws_ok('refresh materialized view concurrently private.mv_chapter_stats', '42501', null,
  'authenticated cannot refresh a view concurrently itself');
select throws_ok('refresh materialized view private.mv_activity_time_series', '42501', null,
  'authenticated cannot refresh a view itself');
reset role;

set local role anon;
select set_config('request.jwt.claims', '{"role": "anon"}', true);
select throws_ok('select public.refresh_stats_views(wait => false)', '42501',
  'permission denied for function refresh_stats_views', 'anon gets permission denied on the refresh');
reset role;

set local role service_role;
select set_config('request.jwt.claims', '{"role": "service_role"}', true);
select lives_ok('select public.refresh_stats_views()', 'service_role may refresh');
select set_eq('select status from public.refresh_stats_views()', array['refreshed'],
  'a refresh by service_role refreshes every view');
reset role;

select * from finish();
rollback;

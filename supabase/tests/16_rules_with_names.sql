-- Rules with names: every number a rule or a threshold uses is one immutable function in
-- private, which the definitions that apply the rule call instead of a number of their own;
-- and constraint names say what they check, not how much. (The daily bound: 11_daily_bound.sql.)
begin;
-- Supabase's CLI provides pgTAP (in schema extensions); elsewhere it is created here and rolled back.
create extension if not exists pgtap;
select plan(23);

-- Whether a function's definition (with its argument defaults) calls the named rule.
create function pg_temp.calls(reader regprocedure, rule text) returns boolean
language sql
as $$ select pg_catalog.strpos(pg_catalog.pg_get_functiondef(reader), 'private.' || rule || '()') > 0 $$;

select has_function('private', 'max_chapters_per_coordinator', '{}'::name[], 'the chapters per coordinator are named');
select volatility_is('private', 'max_chapters_per_coordinator', '{}'::name[], 'immutable', 'and immutable');
select has_function('private', 'earliest_recorded_at', '{}'::name[], 'the earliest recorded_at is named');
select volatility_is('private', 'earliest_recorded_at', '{}'::name[], 'immutable', 'and immutable, as its check needs');
select has_function('private', 'recorded_at_allowed_ahead', '{}'::name[], 'how far ahead a recorded_at may be is named');
select volatility_is('private', 'recorded_at_allowed_ahead', '{}'::name[], 'immutable', 'and immutable');
select has_function('private', 'peer_mentor_days_rebuild_above', '{}'::name[], 'the refresh''s rebuild threshold is named');
select volatility_is('private', 'peer_mentor_days_rebuild_above', '{}'::name[], 'immutable', 'and immutable');
select has_function('private', 'stats_history_kept', '{}'::name[], 'how long the history is kept is named');
select volatility_is('private', 'stats_history_kept', '{}'::name[], 'immutable', 'and immutable');
select has_function('private', 'stats_stale_after', '{}'::name[], 'when a view is stale is named');
select volatility_is('private', 'stats_stale_after', '{}'::name[], 'immutable', 'and immutable');
select has_function('private', 'dirty_log_overdue_after', '{}'::name[], 'when log entries are overdue is named');
select volatility_is('private', 'dirty_log_overdue_after', '{}'::name[], 'immutable', 'and immutable');

select ok(pg_temp.calls('private.enforce_coordinator_chapter_limit()', 'max_chapters_per_coordinator'),
  'the coordinator limit''s trigger reads the named limit');
select ok(exists (select from pg_catalog.pg_constraint
                  where conrelid = 'public.activities'::regclass
                    and conname = 'recorded_at_finite_and_not_before_earliest_recorded_at'
                    and pg_catalog.pg_get_constraintdef(oid) like '%private.earliest_recorded_at()%'),
  'the check of recorded_at calls the named earliest date, and is named for it');
select ok(pg_temp.calls('private.guard_activity_write()', 'recorded_at_allowed_ahead'),
  'the write guard reads how far ahead a recorded_at may be');
select ok(pg_temp.calls('private.fold_into_peer_mentor_days(pg_snapshot)', 'peer_mentor_days_rebuild_above'),
  'the refresh reads its rebuild threshold');
select ok(pg_temp.calls('public.refresh_stats_views(boolean)', 'stats_history_kept'),
  'the refresh keeps its runs as long as the named history');
select ok(pg_temp.calls('private.prune_stats_cron_history(interval)', 'stats_history_kept'),
  'the pruning of pg_cron''s runs keeps by default the named history');
select ok(pg_temp.calls('public.stats_health()', 'stats_stale_after'),
  'the health check reads when a view is stale');
select ok(pg_temp.calls('public.stats_health()', 'dirty_log_overdue_after'),
  'the health check reads when log entries are overdue');
select is(array(select c.conrelid::regclass || '.' || c.conname
                from pg_catalog.pg_constraint c
                where c.connamespace in ('public'::regnamespace, 'private'::regnamespace)
                  and c.contype = 'c' and c.conname ~ '[0-9]'
                order by 1),
  '{}'::text[], 'no check constraint carries a number in its name');

select * from finish();
rollback;

-- The schema private: the project's internals (helpers, the counting rule, materialized views,
-- logs), never exposed by PostgREST.
--
-- Layout of supabase/schemas, applied in the order of the file names: 00 this schema; 10-17
-- the functions, by concern; 20-25 the base tables of public, one file each; 30-39 the
-- internal tables, one file each (and public.stats_freshness); 40 the counting rule and the
-- plain views; 50-52 the materialized views, one file each with its indexes; 60 the exact API
-- views; 70 the project's policies on Realtime's table realtime.messages; 90 the pg_cron jobs. A table's file holds everything of it: columns, constraints,
-- indexes, statistics, comments, grants, row security, policies and triggers (in firing
-- order per event); its head names the files of the functions they call. The functions come
-- first because a policy, a trigger or a view needs its functions to exist; a function's body
-- may name tables of later files, so the function files apply with check_function_bodies off
-- (as pg_dump's output does): a body is checked when it first runs, and the migrations,
-- applied with the check on, build the same database (tests/test_declarative_schema.py).

CREATE SCHEMA private;

COMMENT ON SCHEMA private IS 'peerstats internals: the counting rule, materialized views and helpers. Not exposed by PostgREST.';

GRANT USAGE ON SCHEMA private TO authenticated;

GRANT USAGE ON SCHEMA private TO service_role;

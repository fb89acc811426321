-- The lints of Supabase's database linter (splinter, github.com/supabase/splinter, lints/*.sql)
-- that the contract names (0010, 0013, 0016, 0028, 0029), the ones a hosted deploy reported
-- (0001, 0006, 0014) and 0008 (an INFO finding on the change log, fixed), restated as one query: each row is (lint, offending object); no row means
-- the database passes them. The exposed schemas are PostgREST's, read from the setting
-- pgrst.db_schemas as the linter reads them; schemas Supabase manages itself are never reported.
with managed_schema(nspname) as (
  values ('_timescaledb_cache'), ('_timescaledb_catalog'), ('_timescaledb_config'), ('_timescaledb_internal'),
         ('auth'), ('cron'), ('extensions'), ('graphql'), ('graphql_public'), ('information_schema'), ('net'),
         ('pgmq'), ('pgroonga'), ('pgsodium'), ('pgsodium_masks'), ('pgtle'), ('pgbouncer'), ('pg_catalog'),
         ('realtime'), ('repack'), ('storage'), ('supabase_functions'), ('supabase_migrations'), ('tiger'),
         ('topology'), ('vault')
),
user_table as (
  -- Tables of schemas Supabase does not manage, not owned by an extension.
  select c.oid, n.nspname || '.' || c.relname as name
  from pg_catalog.pg_class c
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace
  where c.relkind = 'r'
    and n.nspname not in (select nspname from managed_schema)
    and not exists (select from pg_catalog.pg_depend d
                    where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e')
),
exposed_schema as (
  select n.oid, n.nspname
  from pg_catalog.pg_namespace n
  where n.nspname in (select btrim(s) from unnest(string_to_array(current_setting('pgrst.db_schemas', true), ',')) s)
    and n.nspname not in (select nspname from managed_schema)
),
api_relation as (
  -- Relations of an exposed schema that anon or authenticated may select, not owned by an extension.
  select c.oid, c.relkind, c.reloptions, s.nspname || '.' || c.relname as name
  from pg_catalog.pg_class c
  join exposed_schema s on s.oid = c.relnamespace
  where (pg_catalog.has_table_privilege('anon', c.oid, 'SELECT')
         or pg_catalog.has_table_privilege('authenticated', c.oid, 'SELECT'))
    and not exists (select from pg_catalog.pg_depend d
                    where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e')
),
definer_function as (
  select p.oid, s.nspname || '.' || p.proname || '(' || pg_catalog.pg_get_function_identity_arguments(p.oid) || ')' as name
  from pg_catalog.pg_proc p
  join exposed_schema s on s.oid = p.pronamespace
  where p.prosecdef
)
select '0001_unindexed_foreign_keys' as lint, t.name || ' ' || fk.conname as object
from user_table t
join pg_catalog.pg_constraint fk on fk.conrelid = t.oid and fk.contype = 'f'
-- Covered: a valid index whose leading columns are the key's columns, in the key's order.
where not exists (select from pg_catalog.pg_index i
                  where i.indrelid = t.oid and i.indisvalid
                    and (string_to_array(i.indkey::text, ' ')::smallint[])[1:pg_catalog.array_length(fk.conkey, 1)]
                        = fk.conkey)
union all
select '0006_multiple_permissive_policies', t.name || ' ' || r.rolname || ' ' || action.cmd
from user_table t
join pg_catalog.pg_policy p on p.polrelid = t.oid and p.polpermissive
-- A policy for PUBLIC (role oid 0) applies to every role.
join pg_catalog.pg_roles r on p.polroles @> array[r.oid] or p.polroles = array[0::oid]
cross join lateral unnest(case p.polcmd when 'r' then array['SELECT'] when 'a' then array['INSERT']
                                        when 'w' then array['UPDATE'] when 'd' then array['DELETE']
                                        when '*' then array['SELECT', 'INSERT', 'UPDATE', 'DELETE'] end) action(cmd)
where r.rolname not like 'pg_%' and r.rolname not like 'supabase%admin' and not r.rolbypassrls
group by t.name, r.rolname, action.cmd
having count(*) > 1
union all
select '0008_rls_enabled_no_policy', t.name
from user_table t
join pg_catalog.pg_class c on c.oid = t.oid
where c.relrowsecurity and not exists (select from pg_catalog.pg_policy p where p.polrelid = t.oid)
union all
select '0010_security_definer_view', r.name
from api_relation r
where r.relkind = 'v'
  and not (pg_catalog.lower(coalesce(r.reloptions::text, '{}'))::text[]
           && array['security_invoker=1', 'security_invoker=true', 'security_invoker=yes', 'security_invoker=on'])
union all
select '0013_rls_disabled_in_public', 'public.' || c.relname
from pg_catalog.pg_class c
where c.relnamespace = 'public'::regnamespace and c.relkind = 'r' and not c.relrowsecurity
union all
select '0016_materialized_view_in_api', r.name
from api_relation r
where r.relkind = 'm'
union all
select '0028_anon_security_definer_function_executable', f.name
from definer_function f
where pg_catalog.has_function_privilege('anon', f.oid, 'EXECUTE')
union all
select '0029_authenticated_security_definer_function_executable', f.name
from definer_function f
where pg_catalog.has_function_privilege('authenticated', f.oid, 'EXECUTE')
union all
-- plpgsql comes in public with PostgreSQL itself.
select '0014_extension_in_public', e.extname
from pg_catalog.pg_extension e
where e.extnamespace = 'public'::regnamespace and e.extname <> 'plpgsql'
order by 1, 2;

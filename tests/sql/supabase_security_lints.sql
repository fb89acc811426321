-- The security lints of Supabase's database linter (splinter) that the contract names, restated
-- as one query: each row is (lint, offending object); no row means the database passes them.
-- The exposed schemas are PostgREST's, read from the setting pgrst.db_schemas as the linter
-- reads them; schemas Supabase manages itself are never reported.
with exposed_schema as (
  select n.oid, n.nspname
  from pg_catalog.pg_namespace n
  where n.nspname in (select btrim(s) from unnest(string_to_array(current_setting('pgrst.db_schemas', true), ',')) s)
    and n.nspname not in ('auth', 'cron', 'extensions', 'graphql', 'graphql_public', 'information_schema',
                          'net', 'pgmq', 'pgsodium', 'pgsodium_masks', 'pgbouncer', 'pg_catalog', 'pgtle',
                          'realtime', 'repack', 'storage', 'supabase_functions', 'supabase_migrations', 'vault')
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
select '0010_security_definer_view' as lint, r.name as object
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
order by 1, 2;

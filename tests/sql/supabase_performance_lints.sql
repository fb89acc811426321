-- Two performance lints of Supabase's database linter (splinter), restated as one query:
-- 0006 multiple_permissive_policies (more than one permissive policy for a role and action on
-- a table) and 0001 unindexed_foreign_keys (a foreign key whose columns lead no valid index).
-- One row per finding: (lint, object); nothing means clean.
with policy_actions as (
  select n.nspname, c.relname, r.rolname, act.cmd, p.polname
  from pg_catalog.pg_policy p
  join pg_catalog.pg_class c on c.oid = p.polrelid
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace
  join pg_catalog.pg_roles r on p.polroles @> array[r.oid] or p.polroles = array[0::oid]
  cross join lateral unnest(case p.polcmd when 'r' then array['SELECT'] when 'a' then array['INSERT']
                                          when 'w' then array['UPDATE'] when 'd' then array['DELETE']
                                          else array['SELECT', 'INSERT', 'UPDATE', 'DELETE'] end) act(cmd)
  where c.relkind = 'r'
    and p.polpermissive
    and n.nspname not in ('pg_catalog', 'information_schema', 'auth', 'storage', 'vault', 'pgsodium')
    and r.rolname not like 'pg\_%' and r.rolname not like 'supabase%admin' and not r.rolbypassrls
),
foreign_keys as (
  select ct.conrelid, ct.conname, ct.conkey
  from pg_catalog.pg_constraint ct
  join pg_catalog.pg_class cl on cl.oid = ct.conrelid
  where ct.contype = 'f'
    and cl.relnamespace::regnamespace::text not in ('pg_catalog', 'information_schema', 'auth', 'storage',
                                                    'vault', 'extensions', 'cron', 'supabase_migrations')
)
select '0006_multiple_permissive_policies' as lint,
       format('%s.%s %s %s: %s', nspname, relname, rolname, cmd, string_agg(polname, ', ' order by polname)) as object
from policy_actions
group by nspname, relname, rolname, cmd
having count(*) > 1
union all
select '0001_unindexed_foreign_keys', format('%s %s', fk.conrelid::regclass, fk.conname)
from foreign_keys fk
where not exists (
  select from pg_catalog.pg_index i
  where i.indrelid = fk.conrelid and i.indisvalid
    and (string_to_array(i.indkey::text, ' ')::smallint[])[1:array_length(fk.conkey, 1)] = fk.conkey)
order by 1, 2;

-- Everything the migrations or the schema files create, dropped whatever state it is in (a
-- build that failed halfway included), leaving what Supabase provides: the roles, auth, the
-- schema public with its default privileges, pg_cron, the schema realtime (without the
-- project's policies on realtime.messages). The migration history is emptied.
do $drop$
declare
  statements text[];
  statement text;
begin
  select array_agg(format('drop policy %I on realtime.messages', p.policyname))
    into statements
    from pg_policies p where p.schemaname = 'realtime' and p.tablename = 'messages';
  foreach statement in array coalesce(statements, '{}') loop
    execute statement;
  end loop;
  -- Named before the first drop: a cascade may remove an object listed later.
  select array_agg(format('drop %s if exists %s cascade',
                          case c.relkind when 'v' then 'view' when 'm' then 'materialized view' else 'table' end,
                          c.oid::regclass))
    into statements
    from pg_class c
    where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p', 'v', 'm');
  foreach statement in array coalesce(statements, '{}') loop
    execute statement;
  end loop;
  select array_agg(format('drop function if exists %s cascade', p.oid::regprocedure))
    into statements
    from pg_proc p where p.pronamespace = 'public'::regnamespace;
  foreach statement in array coalesce(statements, '{}') loop
    execute statement;
  end loop;
end
$drop$;
drop schema if exists private cascade;
select cron.unschedule(jobid) from cron.job;
delete from supabase_migrations.schema_migrations;

-- Hosted Supabase lets postgres create, alter and drop the policies of some tables it does not
-- own, realtime.messages among them: supautils' policy_grants (postgresql.conf,
-- supautils.policy_grants = '{"postgres": [..., "realtime.messages", ...]}'), whose hook runs
-- those commands with higher rights. supautils cannot be had here; this models it with event
-- triggers, run by supabase_admin: for the length of one CREATE/ALTER/DROP POLICY by a role
-- the setting names, that role is made a member of the owners of its tables, and at the end of
-- the command no longer. A failed command takes the membership back with its transaction.
-- Broader than supautils in one way only: the lent ownership covers every table of those
-- owners (realtime.messages' daily partitions too).
alter database postgres set supautils.policy_grants = '{"postgres": ["realtime.messages"]}';

create schema supautils_model;
revoke all on schema supautils_model from public;

create function supautils_model.lend_table_owners() returns event_trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  acting_role constant text := case pg_catalog.current_setting('role')
                                 when 'none' then session_user::text
                                 else pg_catalog.current_setting('role') end;
  owner_role text;
begin
  for owner_role in
    select distinct pg_catalog.pg_get_userbyid(c.relowner)
    from pg_catalog.jsonb_array_elements_text(coalesce(
           nullif(pg_catalog.current_setting('supautils.policy_grants', true), '')::jsonb -> acting_role,
           '[]'::jsonb)) as granted (table_name)
    join pg_catalog.pg_class c on c.oid = pg_catalog.to_regclass(granted.table_name)
    where not pg_catalog.pg_has_role(acting_role, c.relowner, 'MEMBER')
  loop
    execute pg_catalog.format('grant %I to %I', owner_role, acting_role);
    perform pg_catalog.set_config('supautils_model.lent',
                                  pg_catalog.concat(pg_catalog.current_setting('supautils_model.lent', true),
                                                    owner_role, ' ', acting_role, ';'), true);
  end loop;
end
$$;

create function supautils_model.take_back_table_owners() returns event_trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  lent text;
begin
  foreach lent in array pg_catalog.string_to_array(
      pg_catalog.rtrim(coalesce(pg_catalog.current_setting('supautils_model.lent', true), ''), ';'), ';') loop
    execute pg_catalog.format('revoke %I from %I', pg_catalog.split_part(lent, ' ', 1), pg_catalog.split_part(lent, ' ', 2));
  end loop;
  perform pg_catalog.set_config('supautils_model.lent', '', true);
end
$$;

create event trigger supautils_model_policy_grants_start on ddl_command_start
  when tag in ('CREATE POLICY', 'ALTER POLICY', 'DROP POLICY')
  execute function supautils_model.lend_table_owners();
create event trigger supautils_model_policy_grants_end on ddl_command_end
  when tag in ('CREATE POLICY', 'ALTER POLICY', 'DROP POLICY')
  execute function supautils_model.take_back_table_owners();

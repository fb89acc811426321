-- What the Realtime server's Janitor runs (supabase/realtime, lib/realtime/messages.ex,
-- delete_old_messages/1): every partition of realtime.messages named for a UTC day before the
-- day of 72 hours ago is dropped, with its messages.
do $retention$
declare
  oldest_kept constant date := ((pg_catalog.now() - interval '72 hours') at time zone 'UTC')::date;
  partition_name text;
begin
  for partition_name in
    select child.relname
    from pg_catalog.pg_inherits i
    join pg_catalog.pg_class parent on parent.oid = i.inhparent
    join pg_catalog.pg_class child on child.oid = i.inhrelid
    where parent.oid = 'realtime.messages'::regclass
      and child.relname ~ '^messages_\d{4}_\d{2}_\d{2}$'
      and pg_catalog.to_date(substr(child.relname, 10), 'YYYY_MM_DD') < oldest_kept
  loop
    execute format('drop table if exists realtime.%I', partition_name);
  end loop;
end
$retention$;

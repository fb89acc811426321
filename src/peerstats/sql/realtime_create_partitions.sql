-- What the Realtime server runs when a tenant connects and on every Janitor run
-- (supabase/realtime, lib/realtime/tenants.ex, create_messages_partitions/1): one partition of
-- realtime.messages per UTC day from yesterday to three days ahead, owned by
-- supabase_realtime_admin. Without today's partition realtime.send finds no partition for its
-- row and only warns. Run by whoever models the server, as a role that may create tables in
-- realtime and give them to supabase_realtime_admin.
do $partitions$
declare
  today constant date := (pg_catalog.now() at time zone 'UTC')::date;
  day date;
  partition_name text;
begin
  for day in select d::date from pg_catalog.generate_series(today - 1, today + 3, interval '1 day') as d loop
    partition_name := 'messages_' || pg_catalog.to_char(day, 'YYYY_MM_DD');
    execute format('create table if not exists realtime.%I partition of realtime.messages '
                   'for values from (%L) to (%L)', partition_name, day::text, (day + 1)::text);
    execute format('alter table realtime.%I owner to supabase_realtime_admin', partition_name);
  end loop;
end
$partitions$;

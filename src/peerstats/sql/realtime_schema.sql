-- The broadcast part of Supabase Realtime's tenant schema, as the Realtime server's
-- declarative export defines it today (supabase/realtime, priv/repo/tenant_schema/realtime:
-- schema.sql, tables/messages.sql, functions/{send,send_binary,topic,broadcast_changes}.sql),
-- with the grants its tenant migrations give postgres. Run by the migration runner only where
-- the schema realtime is missing (a plain PostgreSQL, the embedded cluster); on Supabase the
-- Realtime server has made it and nothing here runs. The Postgres Changes objects
-- (realtime.subscription and its functions) are left out: peerstats does not use them.
--
-- What the server does at run time is not here: it creates the daily partitions of
-- realtime.messages (realtime_create_partitions.sql), drops those older than 72 hours
-- (realtime_drop_old_partitions.sql) and creates the publication
-- supabase_realtime_messages_publication when it starts replicating.

create schema realtime;
grant usage on schema realtime to anon, authenticated, service_role;
grant create, usage on schema realtime to supabase_realtime_admin with grant option;
-- 20260707120000_restrict_realtime_schema: postgres may use the schema, not create in it.
grant usage on schema realtime to postgres with grant option;

create table realtime.messages (
  topic text not null,
  extension text not null,
  payload jsonb,
  event text,
  private boolean,
  updated_at timestamp without time zone not null,
  inserted_at timestamp without time zone not null,
  id uuid not null,
  binary_payload bytea
) partition by range (inserted_at);
alter table realtime.messages enable row level security;
alter table realtime.messages owner to supabase_realtime_admin;
alter table realtime.messages alter column id set default gen_random_uuid();
alter table realtime.messages alter column inserted_at set default now();
alter table realtime.messages alter column private set default false;
alter table realtime.messages alter column updated_at set default now();
alter table realtime.messages
  add constraint messages_payload_exclusive check (((payload is null) or (binary_payload is null))) not valid;
alter table realtime.messages add constraint messages_pkey primary key (id, inserted_at);
create index messages_inserted_at_topic_index on only realtime.messages using btree (inserted_at desc, topic)
  where ((extension = 'broadcast'::text) and (private is true));
-- The export lists the API roles; the tenant migrations (20241030150047) grant postgres the same.
grant insert, select, update on table realtime.messages to anon, authenticated, service_role, postgres;

create function realtime.send(payload jsonb, event text, topic text, private boolean default true)
  returns void
  language plpgsql
as $function$
DECLARE
  generated_id uuid;
  final_payload jsonb;
BEGIN
  BEGIN
    generated_id := gen_random_uuid();

    -- Check if payload has an 'id' key, if not, add the generated UUID
    IF payload ? 'id' THEN
      final_payload := payload;
    ELSE
      final_payload := jsonb_set(payload, '{id}', to_jsonb(generated_id));
    END IF;

    -- Set the topic configuration
    EXECUTE format('SET LOCAL realtime.topic TO %L', topic);

    INSERT INTO realtime.messages (id, payload, event, topic, private, extension)
    VALUES (generated_id, final_payload, event, topic, private, 'broadcast');
  EXCEPTION
    WHEN OTHERS THEN
      RAISE WARNING 'WarnSendingBroadcastMessage: %', SQLERRM;
  END;
END;
$function$;
alter function realtime.send(jsonb, text, text, boolean) owner to supabase_realtime_admin;

create function realtime.send_binary(payload bytea, event text, topic text, private boolean default true)
  returns void
  language plpgsql
as $function$
DECLARE
  generated_id uuid;
BEGIN
  BEGIN
    generated_id := gen_random_uuid();

    EXECUTE format('SET LOCAL realtime.topic TO %L', topic);

    INSERT INTO realtime.messages (id, binary_payload, event, topic, private, extension)
    VALUES (generated_id, payload, event, topic, private, 'broadcast');
  EXCEPTION
    WHEN OTHERS THEN
      RAISE WARNING 'WarnSendingBroadcastMessage: %', SQLERRM;
  END;
END;
$function$;
alter function realtime.send_binary(bytea, text, text, boolean) owner to supabase_realtime_admin;

create function realtime.topic()
  returns text
  language sql
  stable
as $function$
select nullif(current_setting('realtime.topic', true), '')::text;
$function$;
alter function realtime.topic() owner to supabase_realtime_admin;

create function realtime.broadcast_changes(topic_name text, event_name text, operation text, table_name text,
                                           table_schema text, new record, old record, level text default 'ROW'::text)
  returns void
  language plpgsql
as $function$
DECLARE
    -- Declare a variable to hold the JSONB representation of the row
    row_data jsonb := '{}'::jsonb;
BEGIN
    IF level = 'STATEMENT' THEN
        RAISE EXCEPTION 'function can only be triggered for each row, not for each statement';
    END IF;
    -- Check the operation type and handle accordingly
    IF operation = 'INSERT' OR operation = 'UPDATE' OR operation = 'DELETE' THEN
        row_data := jsonb_build_object('old_record', OLD, 'record', NEW, 'operation', operation, 'table', table_name, 'schema', table_schema);
        PERFORM realtime.send (row_data, event_name, topic_name);
    ELSE
        RAISE EXCEPTION 'Unexpected operation type: %', operation;
    END IF;
EXCEPTION
    WHEN OTHERS THEN
        RAISE EXCEPTION 'Failed to process the row: %', SQLERRM;
END;

$function$;
alter function realtime.broadcast_changes(text, text, text, text, text, record, record, text)
  owner to supabase_realtime_admin;

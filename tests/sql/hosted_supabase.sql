-- A database shaped like hosted Supabase's, as far as peerstats meets it: what the init scripts
-- and migrations of Supabase's image (github.com/supabase/postgres, migrations/db) create, run
-- by supabase_admin, the cluster's superuser, on an empty cluster. Everything peerstats's shim
-- would create exists beforehand, and postgres, the role migrations run as, is no superuser.

-- migrate.sh: postgres owns the database (and so, on PostgreSQL 15 and later, schema public).
create role postgres login;
alter database postgres owner to postgres;

-- 00000000000000-initial-schema.sql
create schema extensions;
create extension "uuid-ossp" with schema extensions;
create extension pgcrypto with schema extensions;
create role anon nologin noinherit;
create role authenticated nologin noinherit;
create role service_role nologin noinherit bypassrls;
create role authenticator login noinherit;
grant anon, authenticated, service_role to authenticator;
grant usage on schema public to postgres, anon, authenticated, service_role;
grant usage on schema extensions to postgres, anon, authenticated, service_role;
-- Set there by postgres while it was still a superuser, so they apply to what postgres creates.
alter default privileges for role postgres in schema public grant all on tables to postgres, anon, authenticated, service_role;
alter default privileges for role postgres in schema public grant all on functions to postgres, anon, authenticated, service_role;
alter default privileges for role postgres in schema public grant all on sequences to postgres, anon, authenticated, service_role;
alter default privileges for role supabase_admin in schema public grant all on tables to postgres, anon, authenticated, service_role;
alter default privileges for role supabase_admin in schema public grant all on functions to postgres, anon, authenticated, service_role;
alter default privileges for role supabase_admin in schema public grant all on sequences to postgres, anon, authenticated, service_role;

-- 00000000000001-auth-schema.sql, with auth.uid() and auth.role() as Supabase Auth defines them
-- today (they read the claims PostgREST sets per request), owned by supabase_auth_admin.
create role supabase_auth_admin noinherit createrole login noreplication;
create schema auth authorization supabase_admin;
create table auth.users (
  instance_id uuid null,
  id uuid not null unique,
  aud varchar(255) null,
  "role" varchar(255) null,
  email varchar(255) null unique,
  encrypted_password varchar(255) null,
  confirmed_at timestamptz null,
  raw_app_meta_data jsonb null,
  raw_user_meta_data jsonb null,
  is_super_admin bool null,
  created_at timestamptz null,
  updated_at timestamptz null,
  constraint users_pkey primary key (id)
);
create function auth.uid() returns uuid language sql stable as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
  )::uuid
$$;
create function auth.role() returns text language sql stable as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.role', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
  )::text
$$;
grant usage on schema auth to anon, authenticated, service_role;
grant all privileges on schema auth to supabase_auth_admin;
grant all privileges on all tables in schema auth to supabase_auth_admin;
alter table auth.users owner to supabase_auth_admin;
alter function auth.uid() owner to supabase_auth_admin;
alter function auth.role() owner to supabase_auth_admin;

-- Realtime's tenant migration 20240401105812 (the schema realtime itself, as the Realtime
-- server makes it, is peerstats's src/peerstats/sql/realtime_schema.sql, run after this file).
create role supabase_realtime_admin nologin noinherit noreplication;

-- 00000000000003-post-setup.sql
alter role postgres set search_path to "$user", public, extensions;

-- 10000000000000_demote-postgres.sql
grant all on database postgres to postgres;
grant all on schema auth to postgres;
grant all on schema extensions to postgres;
grant all on all tables in schema auth to postgres;
grant all on all sequences in schema auth to postgres;
grant all on all routines in schema auth to postgres;
grant all on all tables in schema extensions to postgres;
grant all on all sequences in schema extensions to postgres;
grant all on all routines in schema extensions to postgres;
alter role postgres nosuperuser createdb createrole login replication bypassrls;

-- Later migrations of the image: 20220609081115, 20230201083204, 20230306081037,
-- 20240606060239 (roles granted to postgres) and 20230529180330 (API roles inherit).
grant supabase_auth_admin to postgres;
grant anon, authenticated, service_role to postgres;
grant pg_monitor, pg_read_all_data, pg_signal_backend to postgres;
alter role anon inherit;
alter role authenticated inherit;
alter role service_role inherit;

-- The role timeouts Supabase sets (its "Timeouts" guide): PostgREST applies the impersonated
-- role's, so an API read as authenticated is cancelled after 8 s; authenticator's is for its own
-- session.
alter role anon set statement_timeout = '3s';
alter role authenticated set statement_timeout = '8s';
alter role authenticator set statement_timeout = '8s';

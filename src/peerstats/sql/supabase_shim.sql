-- What a Supabase database provides and a plain PostgreSQL lacks, created only where missing:
-- the API roles as Supabase has them today (anon, authenticated and service_role INHERIT, since
-- its migration 20230529180330) with their statement timeouts (3 s for anon, 8 s for
-- authenticated, which PostgREST applies to every request), the auth schema with auth.users and
-- auth.uid(), and Supabase's default privileges (which grant every new table, view and function
-- in public to the API roles, so the migrations must revoke explicitly what the API may not
-- have). On a real Supabase database every object and setting below already exists and nothing
-- is touched.

do $shim$
declare
  api_timeout record;
  api_role text;
  default_privilege record;
begin
  if not exists (select from pg_roles where rolname = 'anon') then
    create role anon nologin inherit;
  end if;
  if not exists (select from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin inherit;
  end if;
  if not exists (select from pg_roles where rolname = 'service_role') then
    create role service_role nologin inherit bypassrls;
  end if;
  -- PostgREST logs in as authenticator and switches to the request's role.
  if not exists (select from pg_roles where rolname = 'authenticator') then
    create role authenticator login noinherit;
    grant anon, authenticated, service_role to authenticator;
    -- As on Supabase, the owner may act as every API role (pgTAP files rely on it).
    grant anon, authenticated, service_role to postgres;
  end if;

  -- Roles are the cluster's, but grants on schema public and default privileges belong to each
  -- database: given in every database this runs in, where that database has none of its own.
  for api_role in select unnest(array['anon', 'authenticated', 'service_role']) loop
    if not exists (select from pg_namespace, aclexplode(nspacl) as acl
                   where nspname = 'public' and acl.grantee = api_role::regrole and acl.privilege_type = 'USAGE') then
      execute format('grant usage on schema public to %I', api_role);
    end if;
  end loop;
  for default_privilege in select * from (values ('r', 'tables'), ('f', 'functions'), ('S', 'sequences'))
                                           as t(objtype, objects) loop
    if not exists (select from pg_default_acl where defaclrole = 'postgres'::regrole
                   and defaclnamespace = 'public'::regnamespace and defaclobjtype = default_privilege.objtype) then
      execute format('alter default privileges for role postgres in schema public '
                     'grant all on %s to anon, authenticated, service_role', default_privilege.objects);
    end if;
  end loop;

  -- Realtime's tenant migration 20240401105812 creates it to own the schema realtime's objects.
  if not exists (select from pg_roles where rolname = 'supabase_realtime_admin') then
    create role supabase_realtime_admin nologin noinherit noreplication;
  end if;

  -- PostgREST applies a role's settings for every database (pg_roles.rolconfig) to each request
  -- made as that role; Supabase sets these two.
  for api_timeout in select * from (values ('anon', '3s'), ('authenticated', '8s')) as t(role_name, timeout) loop
    if not exists (select from pg_roles, unnest(rolconfig) as setting
                   where rolname = api_timeout.role_name and setting like 'statement\_timeout=%') then
      execute format('alter role %I set statement_timeout = %L', api_timeout.role_name, api_timeout.timeout);
    end if;
  end loop;

  if not exists (select from pg_namespace where nspname = 'auth') then
    create schema auth;
    grant usage on schema auth to anon, authenticated, service_role;
  end if;

  if to_regclass('auth.users') is null then
    create table auth.users (
      id uuid primary key,
      email text,
      created_at timestamptz not null default now()
    );
    grant select on auth.users to service_role;
  end if;

  -- Supabase's definition: the JWT's subject, from the claims PostgREST sets per request.
  if to_regprocedure('auth.uid()') is null then
    create function auth.uid() returns uuid
    language sql stable
    as $fn$
      select coalesce(
        nullif(current_setting('request.jwt.claim.sub', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
      )::uuid
    $fn$;
    grant execute on function auth.uid() to anon, authenticated, service_role;
  end if;

  if to_regprocedure('auth.role()') is null then
    create function auth.role() returns text
    language sql stable
    as $fn$
      select coalesce(
        nullif(current_setting('request.jwt.claim.role', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
      )::text
    $fn$;
    grant execute on function auth.role() to anon, authenticated, service_role;
  end if;
end
$shim$;

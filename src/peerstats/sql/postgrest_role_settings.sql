-- The start of every request, in one statement as PostgREST 12 sends it: first the impersonated
-- role's own settings, then the role and the JWT's claims, each with set_config(name, value,
-- true). The role's settings are those for every database (pg_roles.rolconfig: one made with
-- ALTER ROLE ... IN DATABASE is not read), only those a user may set or the connecting role holds
-- SET on (asked while the connecting role is still current_user), the value lower-cased;
-- default_transaction_isolation is left out (PostgREST makes it the request's isolation level
-- instead). The uncorrelated sub-query runs before the rest of the select list.
with role_setting as (
  select substr(setting, 1, strpos(setting, '=') - 1) as name,
         lower(substr(setting, strpos(setting, '=') + 1)) as value
  from pg_catalog.pg_roles, unnest(rolconfig) as setting
  where rolname = %(role)s
), applied as (
  select set_config(role_setting.name, role_setting.value, true)
  from role_setting
  join pg_catalog.pg_settings on pg_settings.name = role_setting.name
   and (pg_settings.context = 'user' or has_parameter_privilege(current_user, pg_settings.name, 'set'))
  where role_setting.name <> 'default_transaction_isolation'
)
select (select count(*) from applied) as role_settings,
       set_config('role', %(role)s, true),
       set_config('request.jwt.claims', %(claims)s, true)

-- Applies the impersonated role's settings to the request's transaction, as PostgREST 12 does:
-- the role's settings for every database (pg_roles.rolconfig: one made with ALTER ROLE ... IN
-- DATABASE is not read), only those a user may set or the connecting role holds SET on, the
-- value lower-cased, each with set_config(name, value, true); default_transaction_isolation is
-- left out (PostgREST makes it the request's isolation level instead).
with role_setting as (
  select substr(setting, 1, strpos(setting, '=') - 1) as name,
         lower(substr(setting, strpos(setting, '=') + 1)) as value
  from pg_catalog.pg_roles, unnest(rolconfig) as setting
  where rolname = %(role)s
)
select set_config(role_setting.name, role_setting.value, true)
from role_setting
join pg_catalog.pg_settings on pg_settings.name = role_setting.name
 and (pg_settings.context = 'user' or has_parameter_privilege(current_user, pg_settings.name, 'set'))
where role_setting.name <> 'default_transaction_isolation'

"""Rights: the API roles cannot read the materialized views (S1), the API views grant exactly
what the plain views grant (S1), and only the owner and service_role can refresh (S2), from
the catalog and from attempts made as the API roles (rolled back); PostgREST serves no executed
plans to the API roles (S3), as far as the database says."""

from __future__ import annotations

import psycopg
from psycopg import sql

from peerstats import postgrest
from peerstats.verify.common import API_ROLES, VIEWS, Check, Context, Criterion

REFRESH_FUNCTION = "public.refresh_stats_views(boolean)"
# PostgREST reads its in-database configuration from the settings of the role it logs in as.
AUTHENTICATOR = "authenticator"
PLAN_SETTING = "pgrst.db_plan_enabled"
# PostgREST's false values; any other value may turn plan output on.
PLAN_OFF_VALUES = frozenset({"false", "off", "no", "0"})


def api_roles_cannot_read(context: Context) -> list[Criterion]:
    rows = context.conn.execute(
        "select v, r, has_table_privilege(r, v::regclass, 'SELECT') from unnest(%s::text[]) v,"
        " unnest(%s::text[]) r", ([f"private.{v.name}" for v in VIEWS], list(API_ROLES))).fetchall()
    readable = [f"{role} on {view}" for view, role, can in rows if can]
    return [Criterion("S1", "anon and authenticated cannot SELECT from the materialized views",
                      "SELECT granted: " + (", ".join(readable) if readable else "none"),
                      "no SELECT for anon or authenticated", not readable,
                      {"privileges": [{"view": v, "role": r, "select": c} for v, r, c in rows]})]


def api_grants_match_plain(context: Context) -> list[Criterion]:
    roles = [*API_ROLES, "service_role"]
    rows = context.conn.execute(
        "select p.api, r, has_table_privilege(r, ('public.' || p.api)::regclass, 'SELECT'),"
        " has_table_privilege(r, ('public.' || p.plain)::regclass, 'SELECT')"
        " from unnest(%s::text[], %s::text[]) p(api, plain), unnest(%s::text[]) r",
        ([v.api for v in VIEWS], [v.plain for v in VIEWS], roles)).fetchall()
    differing = [f"{role} on {api}: API {api_can}, plain {plain_can}"
                 for api, role, api_can, plain_can in rows if api_can != plain_can]
    granted = sorted({role for _, role, api_can, _ in rows if api_can})
    return [Criterion("S1", "the API views grant SELECT exactly as the plain views do",
                      f"SELECT to {', '.join(granted) or 'nobody'} on both; differences: "
                      + ("; ".join(differing) if differing else "none"),
                      "same grants for anon, authenticated, service_role", not differing,
                      {"privileges": [{"api_view": a, "role": r, "api": x, "plain": y} for a, r, x, y in rows]})]


def refresh_only_by_service_role(context: Context) -> list[Criterion]:
    privileges = context.conn.execute(
        "select r, has_function_privilege(r, %s, 'EXECUTE'),"
        " bool_or(pg_has_role(r, c.relowner, 'MEMBER')) from unnest(%s::text[]) r,"
        " pg_class c where c.oid = any (%s::regclass[]) group by r order by r",
        (REFRESH_FUNCTION, [*API_ROLES, "service_role"], [f"private.{v.name}" for v in VIEWS])).fetchall()
    attempts = {}
    with context.conn.transaction(force_rollback=True):
        for role in API_ROLES:
            statements = [sql.SQL("select * from public.refresh_stats_views()")] + [
                sql.SQL("refresh materialized view {}").format(v.materialized_id) for v in VIEWS]
            for statement in statements:
                label = f"{role}: {statement.as_string(context.conn)}"
                try:
                    postgrest.request(context.conn, role, statement, read_only=False)
                    attempts[label] = "ALLOWED"
                except psycopg.errors.InsufficientPrivilege as refused:
                    attempts[label] = refused.diag.message_primary
    can = {role: (execute, owner) for role, execute, owner in privileges}
    api_can = [role for role in API_ROLES if any(can[role])]
    allowed = [label for label, outcome in attempts.items() if outcome == "ALLOWED"]
    ok = not api_can and not allowed and can["service_role"][0]
    measured = (f"anon, authenticated: EXECUTE or ownership: {', '.join(api_can) or 'none'}; "
                f"{len(attempts) - len(allowed)} of {len(attempts)} attempts refused"
                f" ({'; '.join(sorted(set(o for o in attempts.values() if o != 'ALLOWED')))});"
                f" service_role EXECUTE: {'yes' if can['service_role'][0] else 'NO'}")
    return [Criterion("S2", "only the owner and service_role can refresh", measured,
                      "anon, authenticated: no EXECUTE on refresh_stats_views, not owners, refused",
                      ok, {"privileges": {r: {"execute": e, "owner": o} for r, (e, o) in can.items()},
                           "attempts": attempts})]


def plan_output_off(context: Context) -> list[Criterion]:
    """EXPLAIN (ANALYZE) served by PostgREST would tell any signed-in user a chapter's exact row counts
    (see docs/security.md): the setting that turns it on must be absent or false on the role PostgREST
    logs in as, for every database and this one. A setting in PostgREST's own configuration file or
    environment is not visible from the database."""
    rows = context.conn.execute(
        "select coalesce(d.datname, 'every database'), substr(c, length(%s) + 2)"
        " from pg_catalog.pg_db_role_setting s cross join unnest(s.setconfig) c"
        " left join pg_catalog.pg_database d on d.oid = s.setdatabase"
        " where s.setrole = (select oid from pg_catalog.pg_roles where rolname = %s)"
        " and (s.setdatabase = 0 or d.datname = current_database()) and c like %s || '=%%'"
        " order by 1", (PLAN_SETTING, AUTHENTICATOR, PLAN_SETTING)).fetchall()
    on = [(where, value) for where, value in rows if value.strip().lower() not in PLAN_OFF_VALUES]
    measured = "; ".join(f"{value} ({where})" for where, value in rows) or f"not set on {AUTHENTICATOR}"
    return [Criterion("S3", f"PostgREST plan output off for the API roles ({PLAN_SETTING})", measured,
                      "absent or false", not on,
                      {"role": AUTHENTICATOR, "settings": [{"database": w, "value": v} for w, v in rows]})]


CHECKS = [
    Check("S1", "materialized views unreadable by the API roles", "no SELECT", api_roles_cannot_read),
    Check("S1", "API grants equal the plain views'", "equal", api_grants_match_plain),
    Check("S2", "refresh only by the service role", "refused", refresh_only_by_service_role),
    Check("S3", "PostgREST plan output", "off", plan_output_off),
]

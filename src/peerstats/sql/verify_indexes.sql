-- Every index of the statistics views named by the parameter `views` (in schema private),
-- with what REFRESH MATERIALIZED VIEW CONCURRENTLY asks of a unique index (PostgreSQL's
-- matview.c): unique, immediate, valid, B-tree, without predicate, on plain columns only.
-- A view without any index still gets one row, with null index columns.
select c.relname::text as view_name,
       c.relkind::text as relkind,
       i.relname::text as index_name,
       am.amname::text as access_method,
       x.indisunique as is_unique,
       x.indimmediate and x.indisvalid and x.indpred is null
         and not (0 = any (x.indkey::int2[])) as plain_and_whole,
       array(select a.attname::text
             from unnest(x.indkey::int2[]) with ordinality as k (attnum, position)
             left join pg_attribute a on a.attrelid = c.oid and a.attnum = k.attnum
             where k.position <= x.indnkeyatts
             order by k.position) as key_columns
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
left join pg_index x on x.indrelid = c.oid
left join pg_class i on i.oid = x.indexrelid
left join pg_am am on am.oid = i.relam
where n.nspname = 'private' and c.relname = any (%(views)s)
order by c.relname, i.relname;

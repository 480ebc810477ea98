-- Queries of the Supabase-compatible surface (/rest/v1/export_logs). They run
-- inside a read transaction under row-level security, as the API's do. {columns},
-- {where} and {order} are composed with psycopg.sql from the 14 seed columns
-- (identifiers from a fixed list) and named parameters (every value).

-- name: select_rows
-- A page of rows matching a PostgREST filter, in its order (ties broken by id).
SELECT {columns}
FROM export_logs
WHERE {where}
ORDER BY {order}
LIMIT %(limit)s OFFSET %(offset)s;

-- name: count_rows
-- How many rows match a PostgREST filter.
SELECT count(*) AS total
FROM export_logs
WHERE {where};

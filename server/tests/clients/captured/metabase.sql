-- metabase: what Metabase's PostgreSQL driver sends when a database is added, synced
-- and charted, written by hand because Metabase cannot run here. Metabase talks
-- through pgjdbc, which sends every statement with the extended protocol. Sources
-- (metabase/metabase):
--   src/metabase/driver/sql_jdbc/connection.clj: can-connect? is `SELECT 1`;
--   src/metabase/driver/sql_jdbc/execute.clj: do-with-connection-with-options prepares
--     each connection with setTransactionIsolation(READ_UNCOMMITTED), setReadOnly(true)
--     and setAutoCommit(false); pgjdbc turns these into SHOW/SET SESSION
--     CHARACTERISTICS and BEGIN READ ONLY (the exact forms are in pgjdbc.sql, captured
--     from a program that does the same); with a report time zone set it also sends
--     set-timezone-sql from postgres.clj;
--   src/metabase/driver/sql_jdbc/sync/describe_database.clj: schemas come from
--     DatabaseMetaData.getSchemas() (pgjdbc's query, here as pgjdbc 42.5.5 sends it);
--   src/metabase/driver/postgres.clj: db-default-timezone (`show timezone;`),
--     current-user-table-privileges (the privileges CTE), get-tables-sql,
--     enum-types, describe-fields-sql and describe-fks-sql, rendered the way HoneySQL
--     renders them (quoted identifiers, literals bound as $n parameters);
--   the last queries are what the query processor generates for questions on mv and
--     t (a table preview, a sum by group, a per-minute time series) and a native query,
--     each after the remark Metabase prepends (query hashes zeroed here).
-- The schema statements come first (tests/clients/schema.sql), as in every capture.
-- Checked on PostgreSQL by scripts/client-tests.sh --against-postgres.

-- replay: simple
CREATE TABLE t (id integer PRIMARY KEY, g text NOT NULL, v integer, ts timestamptz NOT NULL)

-- replay: simple
INSERT INTO t VALUES
    (1, 'a', 10, '2025-01-01 00:00:00+00'),
    (2, 'a', 5, '2025-01-01 00:04:00+00'),
    (3, 'b', 7, '2025-01-01 00:07:00+00')

-- replay: simple
CREATE VIEW t_big AS SELECT id, g, v, ts FROM t WHERE v > 6

-- replay: simple
CREATE MATERIALIZED VIEW mv AS SELECT g, count(*) AS n, sum(v) AS total FROM t GROUP BY g

-- replay: extended
SET extra_float_digits = 3

-- replay: extended
SET application_name = 'PostgreSQL JDBC Driver'

-- replay: extended
SELECT 1

-- replay: extended
SHOW TRANSACTION ISOLATION LEVEL

-- replay: extended
SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ UNCOMMITTED

-- replay: extended
SET SESSION TIMEZONE TO 'UTC';

-- replay: extended
BEGIN READ ONLY

-- replay: extended
show timezone;

-- replay: extended
SELECT nspname AS TABLE_SCHEM, NULL AS TABLE_CATALOG FROM pg_catalog.pg_namespace  WHERE nspname <> 'pg_toast' AND (nspname !~ '^pg_temp_'  OR nspname = (pg_catalog.current_schemas(true))[1]) AND (nspname !~ '^pg_toast_temp_'  OR nspname = replace((pg_catalog.current_schemas(true))[1], 'pg_temp_', 'pg_toast_temp_'))  ORDER BY TABLE_SCHEM

-- replay: extended
with table_privileges as (
 select
   NULL as role,
   t.schemaname as schema,
   t.objectname as table,
   pg_catalog.has_any_column_privilege(current_user, '"' || replace(t.schemaname, '"', '""') || '"' || '.' || '"' || replace(t.objectname, '"', '""') || '"',  'update') as update,
   pg_catalog.has_any_column_privilege(current_user, '"' || replace(t.schemaname, '"', '""') || '"' || '.' || '"' || replace(t.objectname, '"', '""') || '"',  'select') as select,
   pg_catalog.has_any_column_privilege(current_user, '"' || replace(t.schemaname, '"', '""') || '"' || '.' || '"' || replace(t.objectname, '"', '""') || '"',  'insert') as insert,
   pg_catalog.has_table_privilege(     current_user, '"' || replace(t.schemaname, '"', '""') || '"' || '.' || '"' || replace(t.objectname, '"', '""') || '"',  'delete') as delete
 from (
   select schemaname, tablename as objectname from pg_catalog.pg_tables
   union
   select schemaname, viewname as objectname from pg_catalog.pg_views
   union
   select schemaname, matviewname as objectname from pg_catalog.pg_matviews
 ) t
 where t.schemaname !~ '^pg_'
   and t.schemaname <> 'information_schema'
   and pg_catalog.has_schema_privilege(current_user, t.schemaname, 'usage')
)
select t.*
from table_privileges t

-- replay: extended
-- params: ["0", "^pg_", "information_schema", "public"]
SELECT "n"."nspname" AS "schema", "c"."relname" AS "name", CASE "c"."relkind" WHEN 'r' THEN 'TABLE' WHEN 'p' THEN 'PARTITIONED TABLE' WHEN 'v' THEN 'VIEW' WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE NULL END AS "type", "d"."description" AS "description", "stat"."n_live_tup" AS "estimated_row_count" FROM "pg_catalog"."pg_class" AS "c" INNER JOIN "pg_catalog"."pg_namespace" AS "n" ON "c"."relnamespace" = "n"."oid" LEFT JOIN "pg_catalog"."pg_description" AS "d" ON ("c"."oid" = "d"."objoid") AND ("d"."objsubid" = $1) AND ("d"."classoid" = 'pg_class'::regclass) LEFT JOIN "pg_stat_user_tables" AS "stat" ON ("n"."nspname" = "stat"."schemaname") AND ("c"."relname" = "stat"."relname") WHERE ("c"."relnamespace" = "n"."oid") AND ("n"."nspname" !~ $2) AND ("n"."nspname" <> $3) AND c.relkind in ('r', 'p', 'v', 'f', 'm') AND ("n"."nspname" IN ($4)) ORDER BY "type" ASC, "schema" ASC, "name" ASC

-- replay: extended
SELECT nspname, typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.oid IN (SELECT DISTINCT enumtypid FROM pg_enum e)

-- replay: extended
-- params: ["public", "public"]
SELECT "c"."column_name" AS "name", CASE WHEN "c"."udt_schema" IN ('public', 'pg_catalog') THEN FORMAT('%s', "c"."udt_name") ELSE FORMAT('"%s"."%s"', "c"."udt_schema", "c"."udt_name") END AS "database-type", "c"."ordinal_position" - 1 AS "database-position", "c"."table_schema" AS "table-schema", "c"."table_name" AS "table-name", "pk"."column_name" IS NOT NULL AS "pk?", COL_DESCRIPTION(CAST(CAST(FORMAT('%I.%I', CAST("c"."table_schema" AS TEXT), CAST("c"."table_name" AS TEXT)) AS REGCLASS) AS OID), "c"."ordinal_position") AS "field-comment", (("column_default" IS NULL) OR (LOWER("column_default") = 'null')) AND ("is_nullable" = 'NO') AND NOT ((("column_default" IS NOT NULL) AND ("column_default" LIKE '%nextval(%')) OR ("is_identity" <> 'NO')) AS "database-required", (("column_default" IS NOT NULL) AND ("column_default" LIKE '%nextval(%')) OR ("is_identity" <> 'NO') AS "database-is-auto-increment" FROM "information_schema"."columns" AS "c" LEFT JOIN (SELECT "tc"."table_schema", "tc"."table_name", "kc"."column_name" FROM "information_schema"."table_constraints" AS "tc" INNER JOIN "information_schema"."key_column_usage" AS "kc" ON ("tc"."constraint_name" = "kc"."constraint_name") AND ("tc"."table_schema" = "kc"."table_schema") AND ("tc"."table_name" = "kc"."table_name") WHERE "tc"."constraint_type" = 'PRIMARY KEY') AS "pk" ON ("c"."table_schema" = "pk"."table_schema") AND ("c"."table_name" = "pk"."table_name") AND ("c"."column_name" = "pk"."column_name") WHERE c.table_schema !~ '^information_schema|catalog_history|pg_' AND ("c"."table_schema" IN ($1)) UNION ALL SELECT "pa"."attname" AS "name", CASE WHEN "ptn"."nspname" IN ('public', 'pg_catalog') THEN FORMAT('%s', "pt"."typname") ELSE FORMAT('"%s"."%s"', "ptn"."nspname", "pt"."typname") END AS "database-type", "pa"."attnum" - 1 AS "database-position", "pn"."nspname" AS "table-schema", "pc"."relname" AS "table-name", FALSE AS "pk?", NULL AS "field-comment", FALSE AS "database-required", FALSE AS "database-is-auto-increment" FROM "pg_catalog"."pg_class" AS "pc" INNER JOIN "pg_catalog"."pg_namespace" AS "pn" ON "pn"."oid" = "pc"."relnamespace" INNER JOIN "pg_catalog"."pg_attribute" AS "pa" ON "pa"."attrelid" = "pc"."oid" INNER JOIN "pg_catalog"."pg_type" AS "pt" ON "pt"."oid" = "pa"."atttypid" INNER JOIN "pg_catalog"."pg_namespace" AS "ptn" ON "ptn"."oid" = "pt"."typnamespace" WHERE ("pc"."relkind" = 'm') AND ("pa"."attnum" >= 1) AND ("pn"."nspname" IN ($2)) ORDER BY "table-schema" ASC, "table-name" ASC, "database-position" ASC

-- replay: extended
-- params: ["public"]
SELECT "fk_ns"."nspname" AS "fk-table-schema", "fk_table"."relname" AS "fk-table-name", "fk_column"."attname" AS "fk-column-name", "pk_ns"."nspname" AS "pk-table-schema", "pk_table"."relname" AS "pk-table-name", "pk_column"."attname" AS "pk-column-name" FROM "pg_constraint" AS "c" INNER JOIN "pg_class" AS "fk_table" ON "c"."conrelid" = "fk_table"."oid" INNER JOIN "pg_namespace" AS "fk_ns" ON "c"."connamespace" = "fk_ns"."oid" INNER JOIN "pg_attribute" AS "fk_column" ON "c"."conrelid" = "fk_column"."attrelid" INNER JOIN "pg_class" AS "pk_table" ON "c"."confrelid" = "pk_table"."oid" INNER JOIN "pg_namespace" AS "pk_ns" ON "pk_table"."relnamespace" = "pk_ns"."oid" INNER JOIN "pg_attribute" AS "pk_column" ON "c"."confrelid" = "pk_column"."attrelid" WHERE fk_ns.nspname !~ '^information_schema|catalog_history|pg_' AND ("c"."contype" = 'f'::char) AND ("fk_column"."attnum" = ANY(c.conkey)) AND ("pk_column"."attnum" = ANY(c.confkey)) AND ("fk_ns"."nspname" IN ($1)) ORDER BY "fk-table-schema" ASC, "fk-table-name" ASC

-- replay: extended
COMMIT

-- replay: extended
BEGIN READ ONLY

-- replay: extended
-- Metabase:: userID: 1 queryType: MBQL queryHash: 0000000000000000000000000000000000000000000000000000000000000000
SELECT "public"."mv"."g" AS "g", "public"."mv"."n" AS "n", "public"."mv"."total" AS "total" FROM "public"."mv" LIMIT 2000

-- replay: extended
-- Metabase:: userID: 1 queryType: MBQL queryHash: 0000000000000000000000000000000000000000000000000000000000000000
SELECT "public"."mv"."g" AS "g", SUM("public"."mv"."total") AS "sum" FROM "public"."mv" GROUP BY "public"."mv"."g" ORDER BY "public"."mv"."g" ASC

-- replay: extended
-- Metabase:: userID: 1 queryType: MBQL queryHash: 0000000000000000000000000000000000000000000000000000000000000000
SELECT DATE_TRUNC('minute', "public"."t"."ts") AS "ts", SUM("public"."t"."v") AS "sum" FROM "public"."t" GROUP BY DATE_TRUNC('minute', "public"."t"."ts") ORDER BY DATE_TRUNC('minute', "public"."t"."ts") ASC

-- replay: extended
-- Metabase:: userID: 1 queryType: native queryHash: 0000000000000000000000000000000000000000000000000000000000000000
SELECT g, n, total FROM mv ORDER BY g

-- replay: extended
COMMIT

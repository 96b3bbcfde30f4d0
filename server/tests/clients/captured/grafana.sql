-- grafana: what Grafana's PostgreSQL data source sends, written by hand because
-- Grafana cannot run here. Sources (grafana/grafana):
--   pkg/tsdb/grafana-postgresql-datasource/pgx/sql_engine.go: every query, the meta
--     queries of the frontend included, goes through PgConn().Exec, one simple-protocol
--     Query message; "Save & test" is pool.Ping, which pgx sends as `-- ping`;
--   public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts:
--     getVersion, getTimescaleDBVersion (both from configuration/useAutoDetectFeatures.ts
--     when a data source is created), showSchemas, showTables() without a schema
--     (datasource.ts fetchTables, the query builder's table list) and getSchema('t_big')
--     (fetchFields, its column list);
--   pkg/tsdb/grafana-postgresql-datasource/macros.go: $__timeFilter(ts) becomes
--     `ts BETWEEN '<from RFC3339Nano>' AND '<to>'`, $__timeGroupAlias(ts,'5m') becomes
--     `floor(extract(epoch from ts)/300)*300 AS "time"`, $__time(ts) `ts AS "time"`,
--     $__timeEpoch(ts) `extract(epoch from ts) as "time"`; the panel queries below are
--     the expansions for the range 2025-01-01T00:00:00Z to 2025-01-01T01:00:00Z.
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

-- replay: simple
-- ping

-- replay: simple
SELECT current_setting('server_version_num')::int/100 as version

-- replay: simple
SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'

-- replay: simple
SELECT schema_name AS "name"
    FROM information_schema.schemata
    WHERE schema_name NOT IN ('information_schema',
                              'pg_catalog',
                              'pg_toast',
                              '_timescaledb_cache',
                              '_timescaledb_catalog',
                              '_timescaledb_internal',
                              '_timescaledb_config',
                              'timescaledb_information',
                              'timescaledb_experimental')
    ORDER BY schema_name

-- replay: simple
SELECT
    CASE WHEN 
          quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          )
      THEN quote_ident(table_name)
      ELSE quote_ident(table_schema) || '.' || quote_ident(table_name)
    END AS "table"
    FROM information_schema.tables
    WHERE quote_ident(table_schema) NOT IN ('information_schema',
                             'pg_catalog',
                             '_timescaledb_cache',
                             '_timescaledb_catalog',
                             '_timescaledb_internal',
                             '_timescaledb_config',
                             'timescaledb_information',
                             'timescaledb_experimental')
    ORDER BY CASE WHEN 
          quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          ) THEN 0 ELSE 1 END, 1

-- replay: simple
SELECT quote_ident(column_name) AS "column", data_type AS "type"
    FROM information_schema.columns
    WHERE
      CASE WHEN array_length(parse_ident('t_big'),1) = 2
        THEN quote_ident(table_schema) = (parse_ident('t_big'))[1]
          AND quote_ident(table_name) = (parse_ident('t_big'))[2]
        ELSE quote_ident(table_name) = 't_big'
          AND 
          quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          )
      END

-- replay: simple
SELECT
  floor(extract(epoch from ts)/300)*300 AS "time",
  sum(v) AS "total"
FROM t_big
WHERE
  ts BETWEEN '2025-01-01T00:00:00Z' AND '2025-01-01T01:00:00Z'
GROUP BY 1
ORDER BY 1

-- replay: simple
SELECT
  ts AS "time",
  g AS metric,
  v
FROM t
WHERE
  ts BETWEEN '2025-01-01T00:00:00Z' AND '2025-01-01T01:00:00Z'
ORDER BY 1

-- replay: simple
SELECT
  extract(epoch from ts) as "time",
  v
FROM t_big
WHERE
  ts BETWEEN '2025-01-01T00:00:00Z' AND '2025-01-01T01:00:00Z'
ORDER BY 1

-- replay: simple
SELECT g AS "group", n, total FROM mv ORDER BY g

-- replay: simple
SELECT DISTINCT g FROM mv ORDER BY 1

-- The objects every client test works on: a table with a primary key, a plain view
-- and a materialized view. The driver programs and psql send these statements
-- themselves, so each capture in captured/ starts with them and replays on an empty
-- server; metabase.sql and grafana.sql copy them by hand.
CREATE TABLE t (id integer PRIMARY KEY, g text NOT NULL, v integer, ts timestamptz NOT NULL);
INSERT INTO t VALUES
    (1, 'a', 10, '2025-01-01 00:00:00+00'),
    (2, 'a', 5, '2025-01-01 00:04:00+00'),
    (3, 'b', 7, '2025-01-01 00:07:00+00');
CREATE VIEW t_big AS SELECT id, g, v, ts FROM t WHERE v > 6;
CREATE MATERIALIZED VIEW mv AS SELECT g, count(*) AS n, sum(v) AS total FROM t GROUP BY g;

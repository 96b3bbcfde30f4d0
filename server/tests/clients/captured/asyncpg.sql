-- asyncpg: the statements asyncpg 0.32.0 sent to postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1),
-- in order, as its log_statement=all log recorded them (client program in server/tests/clients/).
-- Written by scripts/client-tests.sh --against-postgres --capture; replayed by
-- server/tests/client_replay.rs. Regenerate rather than edit by hand.

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
-- params: ["1"]
SELECT g, n, total FROM mv WHERE n >= $1 ORDER BY g

-- replay: extended
SELECT 'mv'::regclass

-- replay: extended
SELECT count(*) FROM pg_catalog.pg_class c WHERE c.oid = 'mv'::regclass

-- replay: extended
-- params: ["{\"g\": \"b\", \"n\": 1}"]
SELECT $1::json

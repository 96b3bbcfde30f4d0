"""psycopg 3 as applications use it: server-side parameter binding (the extended
protocol), a transaction around the reads, text and binary result formats, and
cursor.description for column names and type OIDs."""

import psycopg

from common import EXPECTED_MV_ROWS, EXPECTED_MV_TYPE_OIDS, expect, main, schema_statements

CLIENT = "psycopg"
QUERY = "SELECT g, n, total FROM mv WHERE n >= %s ORDER BY g"


def run(url):
    with psycopg.connect(url, autocommit=True) as conn:
        version = conn.execute("SELECT version()").fetchone()[0]
        expect(CLIENT, "version() mentions PostgreSQL", "PostgreSQL" in version, True)
        for statement in schema_statements():
            conn.execute(statement)

        with conn.transaction():
            cur = conn.execute(QUERY, [1])
            expect(CLIENT, "rows of mv", cur.fetchall(), EXPECTED_MV_ROWS)
            described = [(c.name, c.type_code) for c in cur.description]
            expect(CLIENT, "cursor.description", described, EXPECTED_MV_TYPE_OIDS)

        with conn.cursor(binary=True) as cur:
            cur.execute(QUERY, [1])
            expect(CLIENT, "rows of mv in binary format", cur.fetchall(), EXPECTED_MV_ROWS)

        # prepare=True makes psycopg use a named server-side prepared statement.
        row = conn.execute("SELECT total FROM mv WHERE g = %s", ["b"], prepare=True).fetchone()
        expect(CLIENT, "prepared read of mv", row, (7,))


if __name__ == "__main__":
    main(CLIENT, run)

"""asyncpg: extended protocol only, binary results, a prepared statement's column
types, a regclass column, and a json codec as applications register one. asyncpg runs its recursive
pg_type introspection query for any result or parameter OID it has no codec for:
against PostgreSQL every type here is built in, so it never runs; a server that
reports an unknown OID gets that query here."""

import asyncio
import json

import asyncpg

from common import EXPECTED_MV_ROWS, expect, main, schema_statements

CLIENT = "asyncpg"
QUERY = "SELECT g, n, total FROM mv WHERE n >= $1 ORDER BY g"


async def run_async(url):
    conn = await asyncpg.connect(url)
    try:
        for statement in schema_statements():
            await conn.execute(statement)

        rows = await conn.fetch(QUERY, 1)
        expect(CLIENT, "rows of mv", [tuple(r) for r in rows], EXPECTED_MV_ROWS)
        expect(CLIENT, "record keys", list(rows[0].keys()), ["g", "n", "total"])

        stmt = await conn.prepare(QUERY)
        types = [(a.name, a.type.name) for a in stmt.get_attributes()]
        expect(CLIENT, "prepared statement attributes", types,
               [("g", "text"), ("n", "int8"), ("total", "int8")])

        # A regclass prints as the relation's name (psql shows the same); compared
        # with pg_class.oid, as psql's \d does, it is the oid.
        name = await conn.fetchval("SELECT 'mv'::regclass")
        expect(CLIENT, "a regclass column", name, "mv")
        count = await conn.fetchval(
            "SELECT count(*) FROM pg_catalog.pg_class c WHERE c.oid = 'mv'::regclass"
        )
        expect(CLIENT, "pg_class rows of a regclass", count, 1)

        # asyncpg picks a codec by the OID the server describes: this one runs only
        # where a ::json cast is described as json (114), not jsonb (3802).
        await conn.set_type_codec(
            "json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )
        value = await conn.fetchval("SELECT $1::json", {"g": "b", "n": 1})
        expect(CLIENT, "json round trip through the codec", value, {"g": "b", "n": 1})
    finally:
        await conn.close()


def run(url):
    asyncio.run(run_async(url))


if __name__ == "__main__":
    main(CLIENT, run)

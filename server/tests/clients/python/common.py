"""What every Python client program shares: the schema, the expected rows, and a
failure that names the client and what differed."""

import sys
from pathlib import Path

SCHEMA_SQL = Path(__file__).resolve().parent.parent / "schema.sql"

# `SELECT g, n, total FROM mv ORDER BY g` over the rows schema.sql inserts.
EXPECTED_MV_ROWS = [("a", 2, 15), ("b", 1, 7)]

# PostgreSQL type OIDs of mv's columns: text, int8, int8.
EXPECTED_MV_TYPE_OIDS = [("g", 25), ("n", 20), ("total", 20)]


def schema_statements():
    """The statements of schema.sql, one string each, without comments."""
    lines = [
        line for line in SCHEMA_SQL.read_text().splitlines() if not line.startswith("--")
    ]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


class Mismatch(Exception):
    pass


def expect(client, what, got, want):
    """Raise Mismatch unless got == want."""
    if got != want:
        raise Mismatch(f"{client}: {what}: got {got!r}, want {want!r}")


def main(client, run):
    """Run `run(url)` with the URL from argv; exit 1 with a message on any failure."""
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} postgresql://USER@HOST:PORT/DBNAME")
    try:
        run(sys.argv[1])
    except Mismatch as e:
        sys.exit(f"FAIL {e}")
    except Exception as e:  # a driver error: show its type, SQLSTATE and message
        code = getattr(e, "sqlstate", None) or getattr(e, "pgcode", None)
        sys.exit(f"FAIL {client}: {type(e).__name__} (SQLSTATE {code}): {e}")
    print(f"ok {client}")

#!/usr/bin/env python3
"""Turns a PostgreSQL server log written with `log_statement=all` into a replay file
(captured/<client>.sql) for server/tests/client_replay.rs.

The server must log with `log_line_prefix = '@%d@%a@ '` (database and application
name), so that one client's statements can be told from another's and from the
script's own bookkeeping queries (application name `vigil-capture`). The log says
how each statement arrived:

    @db@app@ LOG:  statement: SELECT 1                  simple query protocol
    @db@app@ LOG:  execute <unnamed>: SELECT $1         extended protocol
    @db@app@ DETAIL:  parameters: $1 = 'a', $2 = NULL   its bound parameters

and continues a multi-line message on lines that start with a tab. The replay file
keeps that protocol:

    -- replay: simple
    SELECT 1

    -- replay: extended
    -- params: ["a", null]
    SELECT $1

Relation OIDs differ between servers, so each OID of a relation in schema public
(listed with --oid NAME=OID) becomes `{{oid:NAME}}`, which the replay resolves
against the server it replays on. Any ERROR logged for the client's database fails
the conversion: a capture must replay cleanly on PostgreSQL.

Usage: capture_log.py --log FILE --database DB --header TEXT [--oid NAME=OID ...]
"""

import argparse
import json
import re
import sys

PREFIX = re.compile(r"^@([^@]*)@(.*?)@ ([A-Z]+):  (.*)$")
PARAMETER = re.compile(r"\$(\d+) = ")
BOOKKEEPING_APPLICATION = "vigil-capture"


def log_messages(path):
    """(database, application, level, text) for each message, continuation lines joined."""
    current = None
    with open(path, encoding="utf-8", errors="replace") as log:
        for line in log:
            line = line.rstrip("\n")
            match = PREFIX.match(line)
            if match:
                if current:
                    yield current
                current = [match[1], match[2], match[3], match[4]]
            elif line.startswith("\t") and current:
                current[3] += "\n" + line[1:]
            elif current:
                # Not ours (another process's stderr): ends the current message.
                yield current
                current = None
    if current:
        yield current


def parse_parameters(text):
    """`$1 = 'a', $2 = NULL` as ["a", None], in order of the $n."""
    values = {}
    pos = 0
    while pos < len(text):
        match = PARAMETER.match(text, pos)
        if not match:
            raise ValueError(f"cannot parse parameters at {text[pos:]!r}")
        number, pos = int(match[1]), match.end()
        if text.startswith("NULL", pos):
            values[number], pos = None, pos + 4
        elif text.startswith("'", pos):
            chars, pos = [], pos + 1
            while True:
                end = text.index("'", pos)
                chars.append(text[pos:end])
                if text.startswith("''", end):
                    chars.append("'")
                    pos = end + 2
                else:
                    pos = end + 1
                    break
            values[number] = "".join(chars)
        else:
            raise ValueError(f"cannot parse parameter value at {text[pos:]!r}")
        if text.startswith(", ", pos):
            pos += 2
    return [values[n] for n in sorted(values)]


def records(messages, database):
    """Replay records [protocol, sql, params] of one database, in the order sent."""
    out = []
    for db, application, level, text in messages:
        if db != database or application == BOOKKEEPING_APPLICATION:
            continue
        if level == "ERROR":
            raise SystemExit(f"capture_log: the client got an error, not capturing: {text}")
        if level == "LOG" and text.startswith("statement: "):
            out.append(["simple", text[len("statement: "):], None])
        elif level == "LOG" and text.startswith("execute fetch from "):
            continue  # more rows from a portal that is already recorded
        elif level == "LOG" and text.startswith("execute "):
            _, _, sql = text.partition(": ")
            out.append(["extended", sql, []])
        elif level == "DETAIL" and text.startswith("parameters: "):
            if not out or out[-1][0] != "extended":
                raise SystemExit(f"capture_log: parameters without a statement: {text}")
            out[-1][2] = parse_parameters(text[len("parameters: "):])
    return out


def with_oid_placeholders(text, oids):
    for name, oid in oids.items():
        text = re.sub(rf"(?<![0-9]){oid}(?![0-9])", "{{oid:%s}}" % name, text)
    return text


def render(header, recs, oids):
    lines = [f"-- {line}" if line else "--" for line in header.splitlines()]
    for protocol, sql, params in recs:
        lines += ["", f"-- replay: {protocol}"]
        if protocol == "extended" and params:
            params = [None if p is None else with_oid_placeholders(p, oids) for p in params]
            lines.append("-- params: " + json.dumps(params, ensure_ascii=False))
        lines.append(with_oid_placeholders(sql.strip("\n"), oids))
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--header", required=True)
    parser.add_argument("--oid", action="append", default=[], metavar="NAME=OID")
    args = parser.parse_args()
    oids = dict(pair.split("=", 1) for pair in args.oid)
    recs = records(log_messages(args.log), args.database)
    if not recs:
        raise SystemExit(f"capture_log: no statements logged for database {args.database}")
    sys.stdout.write(render(args.header, recs, oids))


if __name__ == "__main__":
    main()

"""SQLAlchemy 2 with psycopg 3: engine connect (the dialect's own startup queries),
then the Inspector reflection a notebook or BI tool runs, then a Core query over a
reflected Table."""

from sqlalchemy import MetaData, Table, create_engine, inspect, select, text

from common import EXPECTED_MV_ROWS, expect, main, schema_statements

CLIENT = "sqlalchemy"


def run(url):
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for statement in schema_statements():
            conn.exec_driver_sql(statement)

    insp = inspect(engine)
    expect(CLIENT, "get_table_names()", insp.get_table_names(), ["t"])
    expect(CLIENT, "get_view_names()", insp.get_view_names(), ["t_big"])
    expect(CLIENT, "get_materialized_view_names()", insp.get_materialized_view_names(), ["mv"])

    def columns(name):
        return [
            (c["name"], c["type"].compile(dialect=engine.dialect), c["nullable"])
            for c in insp.get_columns(name)
        ]

    expect(
        CLIENT,
        "get_columns('t')",
        columns("t"),
        [
            ("id", "INTEGER", False),
            ("g", "TEXT", False),
            ("v", "INTEGER", True),
            ("ts", "TIMESTAMP WITH TIME ZONE", False),
        ],
    )
    expect(
        CLIENT,
        "get_columns('mv')",
        columns("mv"),
        [("g", "TEXT", True), ("n", "BIGINT", True), ("total", "BIGINT", True)],
    )
    expect(
        CLIENT,
        "get_pk_constraint('t')",
        insp.get_pk_constraint("t")["constrained_columns"],
        ["id"],
    )

    mv = Table("mv", MetaData(), autoload_with=engine)
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(select(mv).order_by(mv.c.g))]
        expect(CLIENT, "rows of reflected mv", rows, EXPECTED_MV_ROWS)
        total = conn.execute(text("SELECT total FROM mv WHERE g = :g"), {"g": "a"}).scalar_one()
        expect(CLIENT, "bound read of mv", total, 15)


if __name__ == "__main__":
    main(CLIENT, run)

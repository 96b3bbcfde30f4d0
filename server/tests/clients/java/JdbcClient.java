// pgjdbc as Metabase and other JVM tools use it: DatabaseMetaData for schemas,
// tables, columns and primary keys (each one catalog query), then a
// PreparedStatement and its ResultSetMetaData on a connection set up the way
// Metabase sets up its pooled connections.
//
// Usage: java -cp postgresql.jar:CLASSES JdbcClient postgresql://USER@HOST:PORT/DBNAME
// Exits 1 with a message on the first difference from what PostgreSQL answers.

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Properties;

public class JdbcClient {
    static final String CLIENT = "pgjdbc";

    static final class Mismatch extends Exception {
        Mismatch(String message) {
            super(message);
        }
    }

    static void expect(String what, Object got, Object want) throws Mismatch {
        if (!Objects.equals(got, want)) {
            throw new Mismatch(CLIENT + ": " + what + ": got " + got + ", want " + want);
        }
    }

    /** The statements of schema.sql, without comments. */
    static List<String> schemaStatements(Path schema) throws Exception {
        StringBuilder text = new StringBuilder();
        for (String line : Files.readAllLines(schema)) {
            if (!line.startsWith("--")) {
                text.append(line).append('\n');
            }
        }
        List<String> statements = new ArrayList<>();
        for (String s : text.toString().split(";")) {
            if (!s.isBlank()) {
                statements.add(s.strip());
            }
        }
        return statements;
    }

    /** Each row of a result set as a list of the named columns' string values. */
    static List<List<String>> rows(ResultSet rs, String... columns) throws SQLException {
        List<List<String>> rows = new ArrayList<>();
        try (rs) {
            while (rs.next()) {
                List<String> row = new ArrayList<>();
                for (String column : columns) {
                    row.add(rs.getString(column));
                }
                rows.add(row);
            }
        }
        return rows;
    }

    static void run(String url, Path schema) throws Exception {
        URI uri = URI.create(url);
        Properties props = new Properties();
        props.setProperty("user", uri.getUserInfo());
        String jdbcUrl = "jdbc:postgresql://" + uri.getHost() + ":" + uri.getPort() + uri.getPath();
        try (Connection conn = DriverManager.getConnection(jdbcUrl, props)) {
            try (Statement st = conn.createStatement()) {
                for (String statement : schemaStatements(schema)) {
                    st.execute(statement);
                }
            }

            DatabaseMetaData md = conn.getMetaData();
            List<String> schemas = new ArrayList<>();
            for (List<String> row : rows(md.getSchemas(), "TABLE_SCHEM")) {
                schemas.add(row.get(0));
            }
            expect("getSchemas() contains public", schemas.contains("public"), true);

            expect(
                    "getTables(public)",
                    rows(
                            md.getTables(null, "public", "%", new String[] {"TABLE", "VIEW", "MATERIALIZED VIEW"}),
                            "TABLE_NAME",
                            "TABLE_TYPE"),
                    List.of(
                            List.of("mv", "MATERIALIZED VIEW"),
                            List.of("t", "TABLE"),
                            List.of("t_big", "VIEW")));
            expect(
                    "getColumns(t)",
                    rows(md.getColumns(null, "public", "t", null), "COLUMN_NAME", "TYPE_NAME", "DATA_TYPE", "IS_NULLABLE"),
                    List.of(
                            List.of("id", "int4", String.valueOf(Types.INTEGER), "NO"),
                            List.of("g", "text", String.valueOf(Types.VARCHAR), "NO"),
                            List.of("v", "int4", String.valueOf(Types.INTEGER), "YES"),
                            List.of("ts", "timestamptz", String.valueOf(Types.TIMESTAMP), "NO")));
            expect(
                    "getColumns(mv)",
                    rows(md.getColumns(null, "public", "mv", null), "COLUMN_NAME", "TYPE_NAME", "DATA_TYPE"),
                    List.of(
                            List.of("g", "text", String.valueOf(Types.VARCHAR)),
                            List.of("n", "int8", String.valueOf(Types.BIGINT)),
                            List.of("total", "int8", String.valueOf(Types.BIGINT))));
            expect(
                    "getPrimaryKeys(t)",
                    rows(md.getPrimaryKeys(null, "public", "t"), "COLUMN_NAME"),
                    List.of(List.of("id")));

            // What Metabase does to each pooled connection before a query (its
            // sql-jdbc execute.clj): the least-locking isolation level, read-only,
            // no autocommit; pgjdbc turns these into SET SESSION and BEGIN statements.
            // PostgreSQL says read committed; a server may run stricter, but it must
            // name a level pgjdbc knows (SHOW TRANSACTION ISOLATION LEVEL).
            int isolation = conn.getTransactionIsolation();
            expect(
                    "getTransactionIsolation() is a JDBC level",
                    List.of(
                                    Connection.TRANSACTION_READ_UNCOMMITTED,
                                    Connection.TRANSACTION_READ_COMMITTED,
                                    Connection.TRANSACTION_REPEATABLE_READ,
                                    Connection.TRANSACTION_SERIALIZABLE)
                            .contains(isolation),
                    true);
            conn.setTransactionIsolation(Connection.TRANSACTION_READ_UNCOMMITTED);
            conn.setReadOnly(true);
            conn.setAutoCommit(false);
            try (PreparedStatement ps = conn.prepareStatement("SELECT g, n, total FROM mv WHERE n >= ? ORDER BY g")) {
                ps.setLong(1, 1);
                try (ResultSet rs = ps.executeQuery()) {
                    ResultSetMetaData rsmd = rs.getMetaData();
                    List<String> described = new ArrayList<>();
                    for (int i = 1; i <= rsmd.getColumnCount(); i++) {
                        described.add(rsmd.getColumnName(i) + " " + rsmd.getColumnTypeName(i));
                    }
                    expect("ResultSetMetaData", described, List.of("g text", "n int8", "total int8"));
                    // Metabase asks this of every result column; pgjdbc answers it
                    // with a pg_attribute query for columns that name their table.
                    rsmd.isNullable(1);
                    List<String> got = new ArrayList<>();
                    while (rs.next()) {
                        got.add(rs.getString(1) + " " + rs.getLong(2) + " " + rs.getLong(3));
                    }
                    expect("rows of mv", got, List.of("a 2 15", "b 1 7"));
                }
            }
            conn.commit();
        }
    }

    public static void main(String[] args) {
        if (args.length != 1) {
            System.err.println("usage: JdbcClient postgresql://USER@HOST:PORT/DBNAME");
            System.exit(2);
        }
        // scripts/client-tests.sh passes the path; the default works from the repository root.
        Path schema = Path.of(System.getProperty("vigil.schema", "server/tests/clients/schema.sql"));
        try {
            run(args[0], schema);
        } catch (Mismatch e) {
            System.err.println("FAIL " + e.getMessage());
            System.exit(1);
        } catch (SQLException e) {
            System.err.println("FAIL " + CLIENT + ": SQLException (SQLSTATE " + e.getSQLState() + "): " + e.getMessage());
            System.exit(1);
        } catch (Exception e) {
            System.err.println("FAIL " + CLIENT + ": " + e);
            System.exit(1);
        }
        System.out.println("ok " + CLIENT);
    }
}

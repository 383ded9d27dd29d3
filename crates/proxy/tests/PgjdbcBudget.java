// pgjdbc through the proxy with live budgets in reject mode (crates/proxy/tests/pgjdbc.rs
// compiles and runs it). Budget: 3 statements per /orders* request. Prints one line per
// outcome; the test reads them.
//
//   java -cp DIR:postgresql.jar PgjdbcBudget JDBC_URL USER PASSWORD

import java.sql.BatchUpdateException;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

public class PgjdbcBudget {
    public static void main(String[] args) throws Exception {
        try (Connection conn = DriverManager.getConnection(args[0], args[1], args[2])) {
            autocommit(conn);
            transaction(conn);
            batch(conn);
        }
    }

    static String route(String name) {
        return " /*route='%2Forders%2F" + name + "'*/";
    }

    /** Five lookups of one request, extended protocol (server-prepared after the fifth use). */
    static void autocommit(Connection conn) throws SQLException {
        conn.setAutoCommit(true);
        try (PreparedStatement ps = conn.prepareStatement("SELECT ?::int" + route("auto"))) {
            for (int i = 1; i <= 5; i++) {
                ps.setInt(1, i);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    System.out.println("auto ok " + rs.getInt(1));
                } catch (SQLException e) {
                    String firstLine = e.getMessage().split("\n")[0];
                    System.out.println("auto rejected " + i + " " + e.getClass().getName() + " "
                        + e.getSQLState() + " " + firstLine);
                }
            }
        }
        System.out.println("auto after " + scalar(conn, "SELECT 7" + " /*route='%2Fother%2F1'*/"));
    }

    /** Over budget inside a transaction: aborted until rollback, then usable again. */
    static void transaction(Connection conn) throws SQLException {
        conn.setAutoCommit(false);
        try (Statement st = conn.createStatement()) {
            st.execute("CREATE TEMP TABLE IF NOT EXISTS jdbc_t (n int)");
        }
        conn.commit();
        try (PreparedStatement ps = conn.prepareStatement("INSERT INTO jdbc_t VALUES (?)" + route("tx"))) {
            for (int i = 1; i <= 4; i++) {
                ps.setInt(1, i);
                try {
                    ps.executeUpdate();
                    System.out.println("tx ok " + i);
                } catch (SQLException e) {
                    System.out.println("tx rejected " + i + " " + e.getSQLState());
                    break;
                }
            }
        }
        try {
            scalar(conn, "SELECT 1" + " /*route='%2Fother%2F2'*/");
            System.out.println("tx not aborted");
        } catch (SQLException e) {
            System.out.println("tx aborted " + e.getSQLState());
        }
        conn.rollback();
        System.out.println("tx after rollback rows " + scalar(conn, "SELECT count(*) FROM jdbc_t /*route='%2Fother%2F3'*/"));
        conn.commit();
    }

    /** A batch: pgjdbc pipelines the executions before one Sync. */
    static void batch(Connection conn) throws SQLException {
        conn.setAutoCommit(false);
        try (PreparedStatement ps = conn.prepareStatement("INSERT INTO jdbc_t VALUES (?)" + route("batch"))) {
            for (int i = 1; i <= 5; i++) {
                ps.setInt(1, i);
                ps.addBatch();
            }
            try {
                ps.executeBatch();
                System.out.println("batch not rejected");
            } catch (BatchUpdateException e) {
                SQLException cause = e.getNextException() != null ? e.getNextException() : e;
                System.out.println("batch rejected " + cause.getSQLState());
            }
        }
        conn.rollback();
        System.out.println("batch after rollback rows " + scalar(conn, "SELECT count(*) FROM jdbc_t /*route='%2Fother%2F4'*/"));
        conn.commit();
        conn.setAutoCommit(true);
        System.out.println("done " + scalar(conn, "SELECT 42 /*route='%2Fother%2F5'*/"));
    }

    static long scalar(Connection conn, String sql) throws SQLException {
        try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }
}

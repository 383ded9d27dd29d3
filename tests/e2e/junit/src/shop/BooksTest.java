// The bookshop of querycomb's JUnit 5 end-to-end test (crates/cli/tests/run_junit.rs): plain
// JDBC with PostgreSQL's driver, run by the JUnit Platform console launcher. Nothing is
// tagged: querycomb's listener names each test with no change here. The schema (authors,
// books 1–8 each by its own author) is made by the test before the run.
package shop;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class BooksTest {
    private static Connection conn;

    @BeforeAll
    static void connect() throws SQLException {
        // libpq's variables, which `querycomb run` points at its proxy (PGHOST, PGPORT).
        String url = "jdbc:postgresql://" + System.getenv("PGHOST") + ":" + System.getenv("PGPORT")
                + "/" + System.getenv("PGDATABASE");
        conn = DriverManager.getConnection(url, System.getenv("PGUSER"), System.getenv("PGPASSWORD"));
        // Fixture work: reported as the class's setup.
        try (ResultSet rs = conn.createStatement().executeQuery("SELECT count(*) FROM books")) {
            rs.next();
        }
    }

    @AfterAll
    static void close() throws SQLException {
        conn.close();
    }

    @Test
    void nPlusOne() throws SQLException {
        List<String> lines = new ArrayList<>();
        try (ResultSet books = conn.createStatement()
                .executeQuery("SELECT id, title, author_id FROM books ORDER BY id")) {
            while (books.next()) {
                // One query per book for its author: the N+1.
                PreparedStatement author = conn.prepareStatement("SELECT name FROM authors WHERE id = ?");
                author.setInt(1, books.getInt("author_id"));
                try (ResultSet a = author.executeQuery()) {
                    a.next();
                    lines.add(books.getString("title") + " by " + a.getString("name"));
                }
            }
        }
        assertEquals("book 8 by author 8", lines.get(7));
    }

    @Test
    void clean() throws SQLException {
        List<String> lines = new ArrayList<>();
        try (ResultSet rs = conn.createStatement().executeQuery(
                "SELECT b.title, a.name FROM books b JOIN authors a ON a.id = b.author_id ORDER BY b.id")) {
            while (rs.next()) lines.add(rs.getString(1) + " by " + rs.getString(2));
        }
        assertEquals("book 8 by author 8", lines.get(7));
    }
}

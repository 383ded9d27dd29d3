import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.hibernate.Session;
import org.hibernate.SessionFactory;
import org.hibernate.Transaction;
import org.hibernate.cfg.Configuration;

/**
 * A bookshop on Hibernate 3.6 (Debian's libhibernate3-java), run against PostgreSQL by
 * crates/cli/tests/advice_hibernate.rs, through `querycomb proxy` and from the server's log.
 * Each page runs in a transaction of its own (one unit of work) and has a fixed twin that
 * must return the same answer:
 *
 * <ul>
 *   <li>to-one: each book's lazy author (N+1) / {@code join fetch b.author};
 *   <li>to-many: each author's lazy books (N+1) / batch fetching
 *       ({@code hibernate.default_batch_fetch_size});
 *   <li>many-to-many: each book's lazy tags (N+1) / batch fetching;
 *   <li>count per parent: an HQL count per author (N+1) / one grouped count;
 *   <li>write per row: a review saved per book, one INSERT each (N+1) / JDBC batching
 *       ({@code hibernate.jdbc.batch_size}) with pgjdbc's {@code reWriteBatchedInserts}.
 * </ul>
 *
 * <p>Usage: java HibernateShop JDBC_URL USER PASSWORD (QUERYCOMB_SCALE authors, default 20).
 */
public class HibernateShop {
    public static void main(String[] args) {
        String url = args[0];
        int n = Integer.parseInt(System.getenv().getOrDefault("QUERYCOMB_SCALE", "20"));
        SessionFactory lazy = factory(url, args[1], args[2], false);
        SessionFactory tuned = factory(url, args[1], args[2], true);
        seed(tuned, n);

        check("to-one", page(lazy, HibernateShop::authorsOfBooks),
                page(lazy, HibernateShop::authorsOfBooksJoinFetch));
        check("to-many", page(lazy, HibernateShop::bookCounts), page(tuned, HibernateShop::bookCounts));
        check("many-to-many", page(lazy, HibernateShop::tagsOfBooks), page(tuned, HibernateShop::tagsOfBooks));
        check("count", page(lazy, HibernateShop::countPerAuthor), page(lazy, HibernateShop::countGrouped));
        check("write", page(lazy, HibernateShop::reviewEachBook), page(tuned, HibernateShop::reviewEachBook));

        lazy.close();
        tuned.close();
        System.out.println("hibernate app done");
    }

    /**
     * A session factory on pgjdbc. The tuned one batch-fetches lazy associations 16 keys at a
     * time and batches inserts through JDBC, which pgjdbc rewrites into multi-row INSERTs.
     */
    static SessionFactory factory(String url, String user, String password, boolean tuned) {
        Properties p = new Properties();
        p.setProperty("hibernate.dialect", "org.hibernate.dialect.PostgreSQLDialect");
        p.setProperty("hibernate.connection.driver_class", "org.postgresql.Driver");
        p.setProperty("hibernate.connection.url", tuned ? url + "&reWriteBatchedInserts=true" : url);
        p.setProperty("hibernate.connection.username", user);
        p.setProperty("hibernate.connection.password", password);
        p.setProperty("hibernate.connection.pool_size", "1");
        if (tuned) {
            p.setProperty("hibernate.default_batch_fetch_size", "16");
            p.setProperty("hibernate.jdbc.batch_size", "50");
            p.setProperty("hibernate.order_inserts", "true");
        } else {
            p.setProperty("hibernate.hbm2ddl.auto", "create");
        }
        return new Configuration()
                .addProperties(p)
                .addAnnotatedClass(Author.class)
                .addAnnotatedClass(Book.class)
                .addAnnotatedClass(Tag.class)
                .addAnnotatedClass(Review.class)
                .buildSessionFactory();
    }

    /** N authors, a book each, five tags, two tags a book (batched inserts). */
    static void seed(SessionFactory factory, int n) {
        page(factory, s -> {
            List<Tag> tags = new ArrayList<Tag>();
            for (int t = 1; t <= 5; t++) {
                Tag tag = new Tag(t, "tag " + t);
                s.save(tag);
                tags.add(tag);
            }
            for (int i = 1; i <= n; i++) {
                Author author = new Author(i, "author " + i);
                s.save(author);
                Book book = new Book(i, "book " + i, author);
                book.getTags().add(tags.get(i % 5));
                book.getTags().add(tags.get((i + 1) % 5));
                s.save(book);
            }
            return null;
        });
    }

    interface Work<T> {
        T run(Session session);
    }

    /** One page: one session and one transaction. */
    static <T> T page(SessionFactory factory, Work<T> work) {
        Session session = factory.openSession();
        Transaction tx = session.beginTransaction();
        try {
            T result = work.run(session);
            tx.commit();
            return result;
        } finally {
            if (tx.isActive()) {
                tx.rollback();
            }
            session.close();
        }
    }

    static void check(String what, Object loop, Object fixed) {
        if (!loop.equals(fixed)) {
            throw new IllegalStateException(what + ": the fixed page disagrees: " + loop + " / " + fixed);
        }
    }

    @SuppressWarnings("unchecked")
    static List<Book> books(Session s, String hql) {
        return (List<Book>) s.createQuery(hql).list();
    }

    @SuppressWarnings("unchecked")
    static List<Author> authors(Session s) {
        return (List<Author>) s.createQuery("from Author a order by a.id").list();
    }

    static List<String> authorsOfBooks(Session s) {
        List<String> out = new ArrayList<String>();
        for (Book b : books(s, "from Book b order by b.id")) {
            out.add(b.getTitle() + " by " + b.getAuthor().getName());
        }
        return out;
    }

    static List<String> authorsOfBooksJoinFetch(Session s) {
        List<String> out = new ArrayList<String>();
        for (Book b : books(s, "select b from Book b join fetch b.author order by b.id")) {
            out.add(b.getTitle() + " by " + b.getAuthor().getName());
        }
        return out;
    }

    static List<Integer> bookCounts(Session s) {
        List<Integer> out = new ArrayList<Integer>();
        for (Author a : authors(s)) {
            out.add(a.getBooks().size());
        }
        return out;
    }

    static List<Integer> tagsOfBooks(Session s) {
        List<Integer> out = new ArrayList<Integer>();
        for (Book b : books(s, "from Book b order by b.id")) {
            out.add(b.getTags().size());
        }
        return out;
    }

    static Map<Long, Long> countPerAuthor(Session s) {
        Map<Long, Long> out = new HashMap<Long, Long>();
        for (Author a : authors(s)) {
            Long count = (Long) s.createQuery("select count(b) from Book b where b.author = :author")
                    .setParameter("author", a)
                    .uniqueResult();
            out.put(a.getId(), count);
        }
        return out;
    }

    static Map<Long, Long> countGrouped(Session s) {
        Map<Long, Long> out = new HashMap<Long, Long>();
        for (Author a : authors(s)) {
            out.put(a.getId(), 0L);
        }
        for (Object row : s.createQuery("select b.author.id, count(b) from Book b group by b.author.id").list()) {
            Object[] cols = (Object[]) row;
            out.put((Long) cols[0], (Long) cols[1]);
        }
        return out;
    }

    static Integer reviewEachBook(Session s) {
        List<Book> books = books(s, "from Book b order by b.id");
        for (Book b : books) {
            s.save(new Review(b, 5));
        }
        return books.size();
    }
}

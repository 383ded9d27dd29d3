import java.io.FileWriter;
import java.io.PrintWriter;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.Random;
import javax.persistence.Column;
import javax.persistence.Entity;
import javax.persistence.FetchType;
import javax.persistence.GeneratedValue;
import javax.persistence.GenerationType;
import javax.persistence.Id;
import javax.persistence.JoinColumn;
import javax.persistence.ManyToOne;
import javax.persistence.Table;
import org.hibernate.EmptyInterceptor;
import org.hibernate.Session;
import org.hibernate.SessionFactory;
import org.hibernate.Transaction;
import org.hibernate.cfg.Configuration;

/**
 * The accuracy corpus's Java stack: Hibernate 3.6 (Debian's libhibernate3-java) on pgjdbc,
 * against the throwaway PostgreSQL of crates/cli/tests/accuracy.rs.
 *
 * <pre>java Corpus hibernate JDBC_URL USER PASSWORD untagged|tagged LABELS</pre>
 *
 * <p>Two request streams on two threads (a servlet container's workers) share Hibernate's
 * pool of three connections. Each request is what a Spring or Java EE handler with a
 * transaction around it does: a {@code Session}, a transaction (pgjdbc turns autocommit off
 * and sends {@code BEGIN} with the first statement), the work, {@code COMMIT}. pgjdbc
 * prepares a statement on the server, named, from its fifth execution on a connection, so a
 * loop switches from unnamed to named statements in its middle; an entity with an identity
 * column is inserted at once on {@code save}, with the key read back.
 *
 * <p>Ground truth as in ../python/corpus.py: every statement of a request carries
 * {@code /*qc_req='<id>'*\/} (ignored by querycomb's grouping), plus a sqlcommenter
 * traceparent in tagged mode, appended where Hibernate prepares each statement (an
 * {@code Interceptor}); one JSON line per request says which finding it must produce.
 */
public class Corpus {
    @Entity(name = "Customer")
    @Table(name = "customers")
    public static class Customer {
        @Id Integer id;
        @Column(name = "name") String name;

        public String getName() {
            return name;
        }
    }

    @Entity(name = "ShopOrder")
    @Table(name = "orders")
    public static class ShopOrder {
        @Id Integer id;
        @Column(name = "status") String status;

        @ManyToOne(fetch = FetchType.LAZY)
        @JoinColumn(name = "customer_id")
        Customer customer;

        public Integer getId() {
            return id;
        }

        public Customer getCustomer() {
            return customer;
        }
    }

    @Entity(name = "Post")
    @Table(name = "posts")
    public static class Post {
        @Id Integer id;
        @Column(name = "title") String title;
    }

    @Entity(name = "PostComment")
    @Table(name = "comments")
    public static class PostComment {
        @Id Integer id;
        @Column(name = "body") String body;

        @ManyToOne(fetch = FetchType.LAZY)
        @JoinColumn(name = "post_id")
        Post post;
    }

    @Entity(name = "Event")
    @Table(name = "events")
    public static class Event {
        @Id
        @GeneratedValue(strategy = GenerationType.IDENTITY)
        Integer id;

        @Column(name = "kind") String kind;

        public Event() {}

        Event(String kind) {
            this.kind = kind;
        }
    }

    /** The label of the request a thread is serving. */
    static final ThreadLocal<String[]> LABEL = new ThreadLocal<String[]>();
    static String mode;
    static PrintWriter labels;
    static int serial;
    static Random random;

    /** Appends the request's ground-truth comment to every statement Hibernate prepares. */
    public static class TagSql extends EmptyInterceptor {
        @Override
        public String onPrepareStatement(String sql) {
            String[] label = LABEL.get();
            if (label == null) {
                return sql;
            }
            String tags = "qc_req='" + label[0] + "'";
            if (mode.equals("tagged")) {
                tags += ",traceparent='00-" + label[1] + "-" + label[2] + "-01'";
            }
            return sql + " /*" + tags + "*/";
        }
    }

    static synchronized String[] start(String scenario, String expect, int n) {
        serial += 1;
        String id = "hibernate-" + mode.charAt(0) + "-" + serial;
        String trace = String.format("%032x", new BigInteger(128, random));
        String span = String.format("%016x", new BigInteger(64, random));
        labels.println("{\"id\":\"" + id + "\",\"stack\":\"hibernate\",\"mode\":\"" + mode
                + "\",\"scenario\":\"" + scenario + "\",\"expect\":"
                + (expect == null ? "null" : "\"" + expect + "\"") + ",\"n\":" + n
                + ",\"trace\":\"" + trace + "\",\"span\":\"" + span + "\"}");
        labels.flush();
        return new String[] {id, trace, span};
    }

    static synchronized long pause() {
        return 10 + random.nextInt(191);
    }

    interface Work {
        void run(Session session);
    }

    static SessionFactory factory;

    /** One request: a Session and a transaction around the handler's work. */
    static void request(String scenario, String expect, int n, Work work) throws InterruptedException {
        LABEL.set(start(scenario, expect, n));
        Session session = factory.openSession();
        Transaction tx = session.beginTransaction();
        try {
            work.run(session);
            tx.commit();
        } catch (RuntimeException e) {
            tx.rollback();
            throw e;
        } finally {
            session.close();
            LABEL.remove();
        }
        Thread.sleep(pause());
    }

    @SuppressWarnings("unchecked")
    static List<ShopOrder> ordersPage(Session s, int k, int offset) {
        return s.createQuery("from ShopOrder o where o.status = :status order by o.id")
                .setParameter("status", "open")
                .setFirstResult(offset)
                .setMaxResults(k)
                .list();
    }

    @SuppressWarnings("unchecked")
    static void stream(int[] ks, int offsetBase) throws InterruptedException {
        for (int i = 0; i < ks.length; i++) {
            final int k = ks[i];
            final int offset = (offsetBase + i * 37) % 250;
            request("lazy-many-to-one", "n_plus_one", k, s -> {
                for (ShopOrder o : ordersPage(s, k, offset)) {
                    o.getCustomer().getName();
                }
            });
            request("join-fetch", null, 0, s -> {
                List<ShopOrder> orders = s.createQuery(
                                "from ShopOrder o join fetch o.customer where o.status = :status order by o.id")
                        .setParameter("status", "open")
                        .setFirstResult(offset)
                        .setMaxResults(k)
                        .list();
                for (ShopOrder o : orders) {
                    o.getCustomer().getName();
                }
            });
            request("count-per-row", "count_in_loop", k, s -> {
                List<Post> posts = s.createQuery("from Post p order by p.id").setMaxResults(k).list();
                for (Post p : posts) {
                    s.createQuery("select count(c) from PostComment c where c.post.id = :post")
                            .setParameter("post", p.id)
                            .uniqueResult();
                }
            });
            request("group-count", null, 0, s -> {
                List<Integer> ids = s.createQuery("select p.id from Post p order by p.id").setMaxResults(k).list();
                s.createQuery("select c.post.id, count(c) from PostComment c where c.post.id in (:ids) group by c.post.id")
                        .setParameterList("ids", ids)
                        .list();
            });
            for (int h = 0; h < 2; h++) {
                request("health-check", null, 0, s -> s.createSQLQuery("SELECT 1").uniqueResult());
            }
            request("keyset-pagination", null, 0, s -> {
                int last = 0;
                for (int page = 0; page < 5; page++) {
                    List<ShopOrder> rows = s.createQuery(
                                    "from ShopOrder o where o.status = :status and o.id > :last order by o.id")
                            .setParameter("status", "open")
                            .setParameter("last", last)
                            .setMaxResults(50)
                            .list();
                    last = rows.get(rows.size() - 1).getId();
                }
            });
            request("chunked-in", null, 0, s -> {
                List<Integer> ids = s.createQuery("select o.customer.id from ShopOrder o order by o.id")
                        .setMaxResults(300)
                        .list();
                for (int start = 0; start < ids.size(); start += 100) {
                    s.createQuery("select c.name from Customer c where c.id in (:ids)")
                            .setParameterList("ids", ids.subList(start, Math.min(start + 100, ids.size())))
                            .list();
                }
            });
            request("save-per-row", "n_plus_one_write", k, s -> {
                for (int j = 0; j < k; j++) {
                    s.save(new Event("order " + j));
                }
            });
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 6 || !args[0].equals("hibernate")) {
            throw new IllegalArgumentException(
                    "usage: java Corpus hibernate JDBC_URL USER PASSWORD untagged|tagged LABELS");
        }
        mode = args[4];
        labels = new PrintWriter(new FileWriter(args[5], true));
        random = new Random(mode.equals("tagged") ? 307 : 7);
        Properties p = new Properties();
        p.setProperty("hibernate.dialect", "org.hibernate.dialect.PostgreSQLDialect");
        p.setProperty("hibernate.connection.driver_class", "org.postgresql.Driver");
        p.setProperty("hibernate.connection.url", args[1]);
        p.setProperty("hibernate.connection.username", args[2]);
        p.setProperty("hibernate.connection.password", args[3]);
        p.setProperty("hibernate.connection.pool_size", "3");
        factory = new Configuration()
                .addProperties(p)
                .setInterceptor(new TagSql())
                .addAnnotatedClass(Customer.class)
                .addAnnotatedClass(ShopOrder.class)
                .addAnnotatedClass(Post.class)
                .addAnnotatedClass(PostComment.class)
                .addAnnotatedClass(Event.class)
                .buildSessionFactory();
        final List<Throwable> errors = new ArrayList<Throwable>();
        Thread[] threads = {
            new Thread(() -> runStream(errors, new int[] {6, 9, 12}, 0)),
            new Thread(() -> runStream(errors, new int[] {8, 10, 7}, 120)),
        };
        for (Thread t : threads) {
            t.start();
        }
        for (Thread t : threads) {
            t.join();
        }
        factory.close();
        labels.close();
        if (!errors.isEmpty()) {
            throw new RuntimeException(errors.get(0));
        }
    }

    static void runStream(List<Throwable> errors, int[] ks, int offsetBase) {
        try {
            stream(ks, offsetBase);
        } catch (Throwable e) {
            synchronized (errors) {
                errors.add(e);
            }
        }
    }
}

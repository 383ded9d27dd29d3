-- The accuracy corpus's database (crates/cli/tests/accuracy.rs): a shop, a blog, settings and
-- a job queue. Every stack in tests/accuracy/ runs against it.
CREATE TABLE customers (id integer PRIMARY KEY, name text NOT NULL);
CREATE TABLE orders (id integer PRIMARY KEY, customer_id integer NOT NULL REFERENCES customers, status text NOT NULL);
CREATE TABLE items (id serial PRIMARY KEY, order_id integer NOT NULL REFERENCES orders, sku text NOT NULL);
CREATE TABLE posts (id integer PRIMARY KEY, title text NOT NULL);
CREATE TABLE comments (id serial PRIMARY KEY, post_id integer NOT NULL REFERENCES posts, body text NOT NULL);
CREATE TABLE settings (name text PRIMARY KEY, value text NOT NULL);
CREATE TABLE events (id serial PRIMARY KEY, kind text NOT NULL, at timestamptz NOT NULL DEFAULT now());
CREATE TABLE payloads (id integer PRIMARY KEY, data text NOT NULL);
CREATE TABLE jobs (id serial PRIMARY KEY, state text NOT NULL, payload_id integer NOT NULL REFERENCES payloads, kind text NOT NULL);

INSERT INTO customers SELECT i, 'customer ' || i FROM generate_series(1, 400) i;
INSERT INTO orders SELECT i, i, CASE WHEN i % 3 = 0 THEN 'closed' ELSE 'open' END FROM generate_series(1, 400) i;
INSERT INTO items (order_id, sku) SELECT 1 + (i % 400), 'sku-' || i FROM generate_series(1, 1200) i;
INSERT INTO posts SELECT i, 'post ' || i FROM generate_series(1, 40) i;
INSERT INTO comments (post_id, body) SELECT 1 + (i % 40), 'comment ' || i FROM generate_series(1, 200) i;
INSERT INTO settings VALUES ('currency', 'EUR'), ('maintenance', 'off'), ('theme', 'light');
INSERT INTO payloads SELECT i, 'payload ' || i FROM generate_series(1, 100) i;

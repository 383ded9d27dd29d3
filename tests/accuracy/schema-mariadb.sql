-- The accuracy corpus's database on MariaDB (crates/cli/tests/accuracy_mariadb.rs): the same
-- shop, blog, settings, events and job queue as schema.sql, in MariaDB's types (rows from its SEQUENCE
-- engine's seq_1_to_N tables).
CREATE DATABASE shop;
USE shop;
CREATE TABLE customers (id integer PRIMARY KEY, name text NOT NULL);
CREATE TABLE orders (id integer PRIMARY KEY, customer_id integer NOT NULL REFERENCES customers (id), status varchar(16) NOT NULL);
CREATE TABLE items (id integer AUTO_INCREMENT PRIMARY KEY, order_id integer NOT NULL REFERENCES orders (id), sku text NOT NULL);
CREATE TABLE posts (id integer PRIMARY KEY, title text NOT NULL);
CREATE TABLE comments (id integer AUTO_INCREMENT PRIMARY KEY, post_id integer NOT NULL REFERENCES posts (id), body text NOT NULL);
CREATE TABLE settings (name varchar(64) PRIMARY KEY, value text NOT NULL);
CREATE TABLE events (id integer AUTO_INCREMENT PRIMARY KEY, kind text NOT NULL, at datetime(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6));
CREATE TABLE payloads (id integer PRIMARY KEY, data text NOT NULL);
CREATE TABLE jobs (id integer AUTO_INCREMENT PRIMARY KEY, state varchar(16) NOT NULL, payload_id integer NOT NULL REFERENCES payloads (id), kind varchar(16) NOT NULL, KEY (state, id));

INSERT INTO customers SELECT seq, CONCAT('customer ', seq) FROM seq_1_to_400;
INSERT INTO orders SELECT seq, seq, CASE WHEN seq % 3 = 0 THEN 'closed' ELSE 'open' END FROM seq_1_to_400;
INSERT INTO items (order_id, sku) SELECT 1 + (seq % 400), CONCAT('sku-', seq) FROM seq_1_to_1200;
INSERT INTO posts SELECT seq, CONCAT('post ', seq) FROM seq_1_to_40;
INSERT INTO comments (post_id, body) SELECT 1 + (seq % 40), CONCAT('comment ', seq) FROM seq_1_to_200;
INSERT INTO payloads SELECT seq, CONCAT('payload ', seq) FROM seq_1_to_100;
INSERT INTO settings VALUES ('currency', 'EUR'), ('maintenance', 'off'), ('theme', 'light');

CREATE USER app@'%' IDENTIFIED BY 'app-secret';
GRANT ALL ON shop.* TO app@'%';

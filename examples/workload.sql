-- Workload for querycomb's sample logs (examples/generate.sh runs it with psql).
-- A small shop: the wasteful patterns querycomb reports, and clean twins of each that it
-- must not report. Statements are written out one by one on purpose: each must reach the
-- server (and its log) as its own statement, as an ORM loop would send it.

CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, email text NOT NULL);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES customers,
                     total numeric(10,2) NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE order_items (id serial PRIMARY KEY, order_id int NOT NULL REFERENCES orders,
                          sku text NOT NULL, qty int NOT NULL);
CREATE TABLE posts (id int PRIMARY KEY, title text NOT NULL);
CREATE TABLE comments (id serial PRIMARY KEY, post_id int NOT NULL REFERENCES posts, body text NOT NULL);

INSERT INTO customers SELECT g, 'customer ' || g, 'c' || g || '@example.com' FROM generate_series(1, 40) g;
INSERT INTO orders (id, customer_id, total) SELECT g, 1 + (g * 7) % 40, g * 3.5 FROM generate_series(1, 60) g;
INSERT INTO order_items (order_id, sku, qty) SELECT 1 + g % 60, 'SKU-' || g, 1 + g % 3 FROM generate_series(1, 120) g;
INSERT INTO posts SELECT g, 'post ' || g FROM generate_series(1, 10) g;
INSERT INTO comments (post_id, body) SELECT 1 + g % 10, 'comment ' || g FROM generate_series(1, 50) g;


-- 1. N+1: list orders, then one customer lookup per order (route /orders).
SELECT id, customer_id, total FROM orders ORDER BY id LIMIT 25 /*route='%2Forders',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4701-00f067aa0ba90201-01'*/;
SELECT * FROM customers WHERE id = 8 /*route='%2Forders',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4701-00f067aa0ba90201-01'*/;
SELECT * FROM customers WHERE id = 15 /*route='%2Forders',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4701-00f067aa0ba90201-01'*/;
SELECT * FROM customers WHERE id = 22 /*route='%2Forders',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4701-00f067aa0ba90201-01'*/;
SELECT * FROM customers WHERE id = 29 /*route='%2Forders',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4701-00f067aa0ba90201-01'*/;
SELECT * FROM customers WHERE id = 36 /*route='%2Forders',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4701-00f067aa0ba90201-01'*/;
SELECT * FROM customers WHERE id = 3 /*route='%2Forders',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4701-00f067aa0ba90201-01'*/;
SELECT * FROM customers WHERE id = 10 /*route='%2Forders',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4701-00f067aa0ba90201-01'*/;
SELECT * FROM customers WHERE id = 17 /*route='%2Forders',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4701-00f067aa0ba90201-01'*/;
SELECT * FROM customers WHERE id = 24 /*route='%2Forders',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4701-00f067aa0ba90201-01'*/;
SELECT * FROM customers WHERE id = 31 /*route='%2Forders',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4701-00f067aa0ba90201-01'*/;
SELECT * FROM customers WHERE id = 38 /*route='%2Forders',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4701-00f067aa0ba90201-01'*/;
SELECT * FROM customers WHERE id = 5 /*route='%2Forders',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4701-00f067aa0ba90201-01'*/;
SELECT * FROM customers WHERE id = 12 /*route='%2Forders',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4701-00f067aa0ba90201-01'*/;
SELECT * FROM customers WHERE id = 19 /*route='%2Forders',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4701-00f067aa0ba90201-01'*/;
SELECT * FROM customers WHERE id = 26 /*route='%2Forders',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4701-00f067aa0ba90201-01'*/;
SELECT * FROM customers WHERE id = 33 /*route='%2Forders',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4701-00f067aa0ba90201-01'*/;
SELECT * FROM customers WHERE id = 40 /*route='%2Forders',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4701-00f067aa0ba90201-01'*/;
SELECT * FROM customers WHERE id = 7 /*route='%2Forders',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4701-00f067aa0ba90201-01'*/;
SELECT * FROM customers WHERE id = 14 /*route='%2Forders',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4701-00f067aa0ba90201-01'*/;
SELECT * FROM customers WHERE id = 21 /*route='%2Forders',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4701-00f067aa0ba90201-01'*/;
SELECT * FROM customers WHERE id = 28 /*route='%2Forders',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4701-00f067aa0ba90201-01'*/;
SELECT * FROM customers WHERE id = 35 /*route='%2Forders',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4701-00f067aa0ba90201-01'*/;
SELECT * FROM customers WHERE id = 2 /*route='%2Forders',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4701-00f067aa0ba90201-01'*/;
SELECT * FROM customers WHERE id = 9 /*route='%2Forders',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4701-00f067aa0ba90201-01'*/;
SELECT * FROM customers WHERE id = 16 /*route='%2Forders',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4701-00f067aa0ba90201-01'*/;

-- 1'. Clean twin: the same page with a JOIN, and with one IN-list lookup.
SELECT o.id, o.total, c.name
  FROM orders o
  JOIN customers c ON c.id = o.customer_id
 ORDER BY o.id
 LIMIT 25 /*route='%2Forders',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4702-00f067aa0ba90202-01'*/;
SELECT id, customer_id, total FROM orders ORDER BY id LIMIT 25 /*route='%2Forders',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4703-00f067aa0ba90203-01'*/;
SELECT * FROM customers WHERE id IN (2, 3, 5, 7, 8, 9, 10, 12, 14, 15, 16, 17, 19, 21, 22, 24, 26, 28, 29, 31, 33, 35, 36, 38, 40) /*route='%2Forders',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4703-00f067aa0ba90203-01'*/;

-- 2. Count in a loop: one COUNT(*) per post (inside a transaction, no tags).
BEGIN;
SELECT id, title FROM posts ORDER BY id LIMIT 10;
SELECT COUNT(*) FROM comments WHERE post_id = 1;
SELECT COUNT(*) FROM comments WHERE post_id = 2;
SELECT COUNT(*) FROM comments WHERE post_id = 3;
SELECT COUNT(*) FROM comments WHERE post_id = 4;
SELECT COUNT(*) FROM comments WHERE post_id = 5;
SELECT COUNT(*) FROM comments WHERE post_id = 6;
SELECT COUNT(*) FROM comments WHERE post_id = 7;
SELECT COUNT(*) FROM comments WHERE post_id = 8;
SELECT COUNT(*) FROM comments WHERE post_id = 9;
SELECT COUNT(*) FROM comments WHERE post_id = 10;
COMMIT;

-- 2'. Clean twin: one GROUP BY.
BEGIN;
SELECT id, title FROM posts ORDER BY id LIMIT 10;
SELECT post_id, COUNT(*) FROM comments WHERE post_id IN (1, 2, 3, 4, 5, 6, 7, 8, 9, 10) GROUP BY post_id;
COMMIT;

-- 3. N+1 write: 20 single-row INSERTs (route /checkout).
INSERT INTO order_items (order_id, sku, qty) VALUES (50, 'SKU-1000', 1) /*route='%2Fcheckout',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4704-00f067aa0ba90204-01'*/;
INSERT INTO order_items (order_id, sku, qty) VALUES (51, 'SKU-1001', 2) /*route='%2Fcheckout',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4704-00f067aa0ba90204-01'*/;
INSERT INTO order_items (order_id, sku, qty) VALUES (52, 'SKU-1002', 3) /*route='%2Fcheckout',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4704-00f067aa0ba90204-01'*/;
INSERT INTO order_items (order_id, sku, qty) VALUES (53, 'SKU-1003', 4) /*route='%2Fcheckout',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4704-00f067aa0ba90204-01'*/;
INSERT INTO order_items (order_id, sku, qty) VALUES (54, 'SKU-1004', 1) /*route='%2Fcheckout',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4704-00f067aa0ba90204-01'*/;
INSERT INTO order_items (order_id, sku, qty) VALUES (50, 'SKU-1005', 2) /*route='%2Fcheckout',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4704-00f067aa0ba90204-01'*/;
INSERT INTO order_items (order_id, sku, qty) VALUES (51, 'SKU-1006', 3) /*route='%2Fcheckout',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4704-00f067aa0ba90204-01'*/;
INSERT INTO order_items (order_id, sku, qty) VALUES (52, 'SKU-1007', 4) /*route='%2Fcheckout',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4704-00f067aa0ba90204-01'*/;
INSERT INTO order_items (order_id, sku, qty) VALUES (53, 'SKU-1008', 1) /*route='%2Fcheckout',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4704-00f067aa0ba90204-01'*/;
INSERT INTO order_items (order_id, sku, qty) VALUES (54, 'SKU-1009', 2) /*route='%2Fcheckout',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4704-00f067aa0ba90204-01'*/;
INSERT INTO order_items (order_id, sku, qty) VALUES (50, 'SKU-1010', 3) /*route='%2Fcheckout',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4704-00f067aa0ba90204-01'*/;
INSERT INTO order_items (order_id, sku, qty) VALUES (51, 'SKU-1011', 4) /*route='%2Fcheckout',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4704-00f067aa0ba90204-01'*/;
INSERT INTO order_items (order_id, sku, qty) VALUES (52, 'SKU-1012', 1) /*route='%2Fcheckout',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4704-00f067aa0ba90204-01'*/;
INSERT INTO order_items (order_id, sku, qty) VALUES (53, 'SKU-1013', 2) /*route='%2Fcheckout',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4704-00f067aa0ba90204-01'*/;
INSERT INTO order_items (order_id, sku, qty) VALUES (54, 'SKU-1014', 3) /*route='%2Fcheckout',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4704-00f067aa0ba90204-01'*/;
INSERT INTO order_items (order_id, sku, qty) VALUES (50, 'SKU-1015', 4) /*route='%2Fcheckout',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4704-00f067aa0ba90204-01'*/;
INSERT INTO order_items (order_id, sku, qty) VALUES (51, 'SKU-1016', 1) /*route='%2Fcheckout',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4704-00f067aa0ba90204-01'*/;
INSERT INTO order_items (order_id, sku, qty) VALUES (52, 'SKU-1017', 2) /*route='%2Fcheckout',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4704-00f067aa0ba90204-01'*/;
INSERT INTO order_items (order_id, sku, qty) VALUES (53, 'SKU-1018', 3) /*route='%2Fcheckout',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4704-00f067aa0ba90204-01'*/;
INSERT INTO order_items (order_id, sku, qty) VALUES (54, 'SKU-1019', 4) /*route='%2Fcheckout',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4704-00f067aa0ba90204-01'*/;

-- 3'. Clean twin: one multi-row INSERT.
INSERT INTO order_items (order_id, sku, qty) VALUES (50, 'SKU-2000', 1), (51, 'SKU-2001', 2), (52, 'SKU-2002', 3), (53, 'SKU-2003', 4), (54, 'SKU-2004', 1), (50, 'SKU-2005', 2), (51, 'SKU-2006', 3), (52, 'SKU-2007', 4), (53, 'SKU-2008', 1), (54, 'SKU-2009', 2), (50, 'SKU-2010', 3), (51, 'SKU-2011', 4), (52, 'SKU-2012', 1), (53, 'SKU-2013', 2), (54, 'SKU-2014', 3), (50, 'SKU-2015', 4), (51, 'SKU-2016', 1), (52, 'SKU-2017', 2), (53, 'SKU-2018', 3), (54, 'SKU-2019', 4) /*route='%2Fcheckout',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4705-00f067aa0ba90205-01'*/;

-- 4. Repeated identical lookup: the same row, twelve times (route /profile).
SELECT id, name, email FROM customers WHERE id = 7 /*route='%2Fprofile',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4706-00f067aa0ba90206-01'*/;
SELECT id, name, email FROM customers WHERE id = 7 /*route='%2Fprofile',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4706-00f067aa0ba90206-01'*/;
SELECT id, name, email FROM customers WHERE id = 7 /*route='%2Fprofile',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4706-00f067aa0ba90206-01'*/;
SELECT id, name, email FROM customers WHERE id = 7 /*route='%2Fprofile',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4706-00f067aa0ba90206-01'*/;
SELECT id, name, email FROM customers WHERE id = 7 /*route='%2Fprofile',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4706-00f067aa0ba90206-01'*/;
SELECT id, name, email FROM customers WHERE id = 7 /*route='%2Fprofile',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4706-00f067aa0ba90206-01'*/;
SELECT id, name, email FROM customers WHERE id = 7 /*route='%2Fprofile',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4706-00f067aa0ba90206-01'*/;
SELECT id, name, email FROM customers WHERE id = 7 /*route='%2Fprofile',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4706-00f067aa0ba90206-01'*/;
SELECT id, name, email FROM customers WHERE id = 7 /*route='%2Fprofile',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4706-00f067aa0ba90206-01'*/;
SELECT id, name, email FROM customers WHERE id = 7 /*route='%2Fprofile',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4706-00f067aa0ba90206-01'*/;
SELECT id, name, email FROM customers WHERE id = 7 /*route='%2Fprofile',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4706-00f067aa0ba90206-01'*/;
SELECT id, name, email FROM customers WHERE id = 7 /*route='%2Fprofile',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4706-00f067aa0ba90206-01'*/;

-- 5. M×N+1: items and customer per order, interleaved (in a transaction).
BEGIN;
SELECT id, customer_id FROM orders WHERE total > 100 ORDER BY id LIMIT 8;
SELECT sku, qty FROM order_items WHERE order_id = 29;
SELECT name FROM customers WHERE id = 4;
SELECT sku, qty FROM order_items WHERE order_id = 30;
SELECT name FROM customers WHERE id = 11;
SELECT sku, qty FROM order_items WHERE order_id = 31;
SELECT name FROM customers WHERE id = 18;
SELECT sku, qty FROM order_items WHERE order_id = 32;
SELECT name FROM customers WHERE id = 25;
SELECT sku, qty FROM order_items WHERE order_id = 33;
SELECT name FROM customers WHERE id = 32;
SELECT sku, qty FROM order_items WHERE order_id = 34;
SELECT name FROM customers WHERE id = 39;
SELECT sku, qty FROM order_items WHERE order_id = 35;
SELECT name FROM customers WHERE id = 6;
SELECT sku, qty FROM order_items WHERE order_id = 36;
SELECT name FROM customers WHERE id = 13;
COMMIT;

-- 6. Clean: a dashboard of different queries (route /dashboard).
SELECT count(*) FROM customers /*route='%2Fdashboard',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4707-00f067aa0ba90207-01'*/;
SELECT count(*) FROM orders /*route='%2Fdashboard',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4707-00f067aa0ba90207-01'*/;
SELECT sum(total) FROM orders /*route='%2Fdashboard',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4707-00f067aa0ba90207-01'*/;
SELECT id, title FROM posts ORDER BY id DESC LIMIT 5 /*route='%2Fdashboard',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4707-00f067aa0ba90207-01'*/;
SELECT customer_id, sum(total) FROM orders GROUP BY customer_id ORDER BY 2 DESC LIMIT 5 /*route='%2Fdashboard',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4707-00f067aa0ba90207-01'*/;
SELECT sku, sum(qty) FROM order_items GROUP BY sku ORDER BY 2 DESC LIMIT 5 /*route='%2Fdashboard',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4707-00f067aa0ba90207-01'*/;

-- 7. Clean: cursor paging.
BEGIN;
DECLARE order_page CURSOR FOR SELECT * FROM orders ORDER BY id;
FETCH 10 FROM order_page;
FETCH 10 FROM order_page;
FETCH 10 FROM order_page;
FETCH 10 FROM order_page;
FETCH 10 FROM order_page;
FETCH 10 FROM order_page;
CLOSE order_page;
COMMIT;

-- 8. A failing statement (the log shows ERROR + STATEMENT).
SELECT * FROM no_such_table WHERE id = 1;

-- 9. A multi-statement simple-protocol string (one log record).
SELECT 1 AS one \; SELECT 2 AS two;

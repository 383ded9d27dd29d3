-- Workload for querycomb's sample MariaDB logs (examples/generate-mariadb.sh runs it with the
-- mariadb client, --comments on so sqlcommenter tags reach the server). The wasteful
-- patterns querycomb reports, each followed by a clean twin that it must not report.
-- Statements are written out one by one: each reaches the server as its own statement, as an
-- ORM loop would send it.

-- 1. N+1: a page of orders, then one customer lookup per order (route /orders).
SELECT id, customer_id, total FROM orders ORDER BY id LIMIT 8 /*route='%2Forders'*/;
SELECT * FROM customers WHERE id = 8 /*route='%2Forders'*/;
SELECT * FROM customers WHERE id = 15 /*route='%2Forders'*/;
SELECT * FROM customers WHERE id = 22 /*route='%2Forders'*/;
SELECT * FROM customers WHERE id = 29 /*route='%2Forders'*/;
SELECT * FROM customers WHERE id = 36 /*route='%2Forders'*/;
SELECT * FROM customers WHERE id = 3 /*route='%2Forders'*/;
SELECT * FROM customers WHERE id = 10 /*route='%2Forders'*/;
SELECT * FROM customers WHERE id = 17 /*route='%2Forders'*/;

-- 1'. Clean twin: the same page with one IN-list lookup (route /orders-eager).
SELECT id, customer_id, total FROM orders ORDER BY id LIMIT 8 /*route='%2Forders-eager'*/;
SELECT * FROM customers WHERE id IN (3, 8, 10, 15, 17, 22, 29, 36) /*route='%2Forders-eager'*/;

-- 2. Count in a loop, inside a transaction, then its GROUP BY twin.
BEGIN;
SELECT id, title FROM posts ORDER BY id LIMIT 6;
SELECT COUNT(*) FROM comments WHERE post_id = 1;
SELECT COUNT(*) FROM comments WHERE post_id = 2;
SELECT COUNT(*) FROM comments WHERE post_id = 3;
SELECT COUNT(*) FROM comments WHERE post_id = 4;
SELECT COUNT(*) FROM comments WHERE post_id = 5;
SELECT COUNT(*) FROM comments WHERE post_id = 6;
COMMIT;
BEGIN;
SELECT id, title FROM posts ORDER BY id LIMIT 6;
SELECT post_id,
       COUNT(*)
  FROM comments
 WHERE post_id IN (1, 2, 3, 4, 5, 6)
 GROUP BY post_id;
COMMIT;

-- 3. N+1 through a server-side prepared statement: the log shows each EXECUTE with its
--    value (route /invoices).
SELECT id FROM orders WHERE customer_id = 1 /*route='%2Finvoices'*/;
PREPARE items_of_order FROM 'SELECT sku, qty FROM order_items WHERE order_id = ?';
SET @order_id = 6;
EXECUTE items_of_order USING @order_id;
SET @order_id = 12;
EXECUTE items_of_order USING @order_id;
SET @order_id = 18;
EXECUTE items_of_order USING @order_id;
SET @order_id = 24;
EXECUTE items_of_order USING @order_id;
SET @order_id = 30;
EXECUTE items_of_order USING @order_id;
SET @order_id = 36;
EXECUTE items_of_order USING @order_id;
DEALLOCATE PREPARE items_of_order;

-- 4. N+1 write: single-row INSERTs (route /checkout), then the multi-row twin.
INSERT INTO order_items (order_id, sku, qty) VALUES (50, 'SKU-1000', 1) /*route='%2Fcheckout'*/;
INSERT INTO order_items (order_id, sku, qty) VALUES (51, 'SKU-1001', 2) /*route='%2Fcheckout'*/;
INSERT INTO order_items (order_id, sku, qty) VALUES (52, 'SKU-1002', 3) /*route='%2Fcheckout'*/;
INSERT INTO order_items (order_id, sku, qty) VALUES (53, 'SKU-1003', 4) /*route='%2Fcheckout'*/;
INSERT INTO order_items (order_id, sku, qty) VALUES (54, 'SKU-1004', 1) /*route='%2Fcheckout'*/;
INSERT INTO order_items (order_id, sku, qty) VALUES (55, 'SKU-1005', 2) /*route='%2Fcheckout'*/;
INSERT INTO order_items (order_id, sku, qty) VALUES (50, 'SKU-2000', 1), (51, 'SKU-2001', 2), (52, 'SKU-2002', 3), (53, 'SKU-2003', 4), (54, 'SKU-2004', 1), (55, 'SKU-2005', 2) /*route='%2Fcheckout-batched'*/;

-- 5. Clean: a dashboard of different queries (route /dashboard).
SELECT COUNT(*) FROM customers /*route='%2Fdashboard'*/;
SELECT SUM(total) FROM orders /*route='%2Fdashboard'*/;
SELECT id, title FROM posts ORDER BY id DESC LIMIT 5 /*route='%2Fdashboard'*/;
SELECT customer_id, SUM(total) FROM orders GROUP BY customer_id ORDER BY 2 DESC LIMIT 5 /*route='%2Fdashboard'*/;

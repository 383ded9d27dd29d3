-- Schema and data for examples/mariadb-workload.sql (run as root by generate-mariadb.sh).
CREATE DATABASE shop;
CREATE USER app@'%' IDENTIFIED BY 'app-secret';
GRANT ALL ON shop.* TO app@'%';
USE shop;
CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(40) NOT NULL, email VARCHAR(60) NOT NULL);
CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT NOT NULL, total DECIMAL(10,2) NOT NULL);
CREATE TABLE order_items (id INT AUTO_INCREMENT PRIMARY KEY, order_id INT NOT NULL, sku VARCHAR(20) NOT NULL, qty INT NOT NULL);
CREATE TABLE posts (id INT PRIMARY KEY, title VARCHAR(40) NOT NULL);
CREATE TABLE comments (id INT AUTO_INCREMENT PRIMARY KEY, post_id INT NOT NULL, body VARCHAR(40) NOT NULL);
INSERT INTO customers SELECT seq, CONCAT('customer ', seq), CONCAT('c', seq, '@example.com') FROM seq_1_to_40;
INSERT INTO orders SELECT seq, 1 + (seq * 7) % 40, seq * 3.5 FROM seq_1_to_60;
INSERT INTO order_items (order_id, sku, qty) SELECT 1 + seq % 60, CONCAT('SKU-', seq), 1 + seq % 3 FROM seq_1_to_120;
INSERT INTO posts SELECT seq, CONCAT('post ', seq) FROM seq_1_to_10;
INSERT INTO comments (post_id, body) SELECT 1 + seq % 10, CONCAT('comment ', seq) FROM seq_1_to_50;

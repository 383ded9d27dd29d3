-- A page of five accounts, then a lookup per row: the shape of an N+1 in pgbench's own
-- tables, for bench/proxy-instructions.sh (SCRIPT=bench/pgbench-lookups.sql). In simple
-- mode pgbench writes the values into the text, as a client without bind values does.
\set aid random(1, 99990)
SELECT aid, abalance FROM pgbench_accounts WHERE aid BETWEEN :aid AND :aid + 4;
SELECT abalance FROM pgbench_accounts WHERE aid = :aid;
\set a1 :aid + 1
SELECT abalance FROM pgbench_accounts WHERE aid = :a1;
\set a2 :aid + 2
SELECT abalance FROM pgbench_accounts WHERE aid = :a2;
\set a3 :aid + 3
SELECT abalance FROM pgbench_accounts WHERE aid = :a3;
\set a4 :aid + 4
SELECT abalance FROM pgbench_accounts WHERE aid = :a4;

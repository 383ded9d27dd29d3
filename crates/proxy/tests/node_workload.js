// A node-postgres workload for the proxy tests: parameterized and named prepared
// statements, a multi-statement simple query, an error, and Promise.all over a pool (the
// concurrent N+1). Prints every result as JSON so that runs through the proxy and direct
// compare.
const { Client, Pool } = require('pg');

async function main() {
  const url = process.argv[2];
  const out = {};
  const client = new Client({ connectionString: url });
  await client.connect();
  out.loop = [];
  for (let i = 1; i <= 10; i++) {
    const r = await client.query('SELECT name FROM customers WHERE id = $1', [i]);
    out.loop.push(r.rows[0].name);
  }
  out.prepared = [];
  for (let i = 1; i <= 5; i++) {
    const r = await client.query({
      name: 'by-id',
      text: 'SELECT id, name FROM customers WHERE id = $1',
      values: [i],
    });
    out.prepared.push(r.rows[0]);
  }
  const multi = await client.query('SELECT 1 AS a; SELECT 2 AS b');
  out.multi = multi.map((r) => r.rows);
  try {
    await client.query('SELECT 1/$1::int', [0]);
  } catch (e) {
    out.error = e.code;
  }
  out.after_error = (await client.query('SELECT 42 AS v')).rows;
  await client.end();

  const pool = new Pool({ connectionString: url, max: 4 });
  const orders = await pool.query('SELECT id, customer_id FROM orders WHERE id <= 12 ORDER BY id');
  const names = await Promise.all(
    orders.rows.map((o) =>
      pool.query("SELECT name FROM customers WHERE id = $1 /*route='%2Fpool'*/", [o.customer_id]),
    ),
  );
  out.pool = names.map((r) => r.rows[0].name);
  await pool.end();
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

// node-postgres against a proxy enforcing `/orders*: max_statements = 3` (reject): prints
// what the client saw as JSON, each query's result or its error's SQLSTATE.
const { Client } = require('pg');

const tagged = (route) => `SELECT $1::int AS n /*route='${route}'*/`;

async function attempt(client, query) {
  try {
    const res = await client.query(query);
    return res.rows.length ? res.rows[0].n ?? res.rows[0]['?column?'] : res.command;
  } catch (e) {
    return e.code;
  }
}

async function main() {
  const client = new Client({ connectionString: process.argv[2] });
  await client.connect();
  const out = {};
  out.autocommit = [];
  for (let i = 0; i < 5; i++) {
    out.autocommit.push(await attempt(client, { text: tagged('/orders/a'), values: [i] }));
  }
  out.named = [];
  for (let i = 0; i < 5; i++) {
    out.named.push(await attempt(client, { name: 'by-n', text: tagged('/orders/n'), values: [i] }));
  }
  // Simple protocol (no parameters).
  out.simple = [];
  for (let i = 0; i < 5; i++) {
    out.simple.push(await attempt(client, `SELECT ${i} AS n /*route='/orders/s'*/`));
  }
  await client.query('BEGIN');
  out.transaction = [];
  for (let i = 0; i < 4; i++) {
    out.transaction.push(await attempt(client, { text: tagged('/orders/tx'), values: [i] }));
  }
  out.after_rejection = await attempt(client, "SELECT 1 AS n /*route='/other'*/");
  out.rollback = await attempt(client, 'ROLLBACK');
  out.after_rollback = await attempt(client, 'SELECT 2 AS n');
  await client.end();
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

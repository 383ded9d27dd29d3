// node-postgres through the proxy, one table per protocol flow: unnamed extended, named
// prepared statements, a multi-statement simple query.
const { Client } = require('pg');

async function main() {
  const client = new Client({ connectionString: process.argv[2] });
  await client.connect();
  for (let i = 0; i < 4; i++) {
    await client.query('SELECT n FROM flow_node_unnamed WHERE n = $1', [i]);
  }
  for (let i = 0; i < 3; i++) {
    await client.query({ name: 'p', text: 'SELECT n FROM flow_node_named WHERE n = $1', values: [i] });
  }
  await client.query('SELECT count(*) FROM flow_node_simple; SELECT max(n) FROM flow_node_simple');
  await client.end();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

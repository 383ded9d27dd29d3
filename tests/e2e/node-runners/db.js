// The bookshop client of the runner suites (crates/cli/tests/run_node_runners.rs): the
// schema (authors, books 1–8 each by its own author) is made by the test before the run.
// No statement is tagged: querycomb's runner hooks name each test with no change here.
'use strict';

const { Client } = require('pg');

async function connect() {
  const client = new Client({ connectionString: process.env.DATABASE_URL });
  await client.connect();
  return client;
}

// One query per book for its author: the N+1.
async function pageOneByOne(client) {
  const { rows } = await client.query('SELECT id, title, author_id FROM books ORDER BY id');
  const lines = [];
  for (const book of rows) {
    const author = await client.query('SELECT name FROM authors WHERE id = $1', [book.author_id]);
    lines.push(`${book.title} by ${author.rows[0].name}`);
  }
  return lines;
}

// The same page in one join.
async function pageJoined(client) {
  const { rows } = await client.query(
    'SELECT b.title, a.name FROM books b JOIN authors a ON a.id = b.author_id ORDER BY b.id',
  );
  return rows.map((r) => `${r.title} by ${r.name}`);
}

module.exports = { connect, pageOneByOne, pageJoined };

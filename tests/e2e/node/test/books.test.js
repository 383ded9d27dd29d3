// The bookshop of querycomb's Node end-to-end test (crates/cli/tests/run_node.rs): Sequelize
// over node-postgres, run with node's built-in test runner under `querycomb run`.
//
// Every statement a test runs is tagged with the test's name as a sqlcommenter route
// (`/*route='books%20page%20n%2B1'*/`) by wrapping pg's Client#query: the recipe from
// docs/ci.md. The comment goes before any trailing `;` so that it stays on its statement.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert');
const pg = require('pg');
const { Sequelize, DataTypes } = require('sequelize');

let route = null;

function tag(sql) {
  if (!route) return sql;
  return `${sql.replace(/;\s*$/, '')} /*route='${encodeURIComponent(route)}'*/`;
}

const originalQuery = pg.Client.prototype.query;
pg.Client.prototype.query = function query(config, values, callback) {
  if (typeof config === 'string') {
    config = tag(config);
  } else if (config && typeof config.text === 'string') {
    config.text = tag(config.text);
  }
  return originalQuery.call(this, config, values, callback);
};

// One connection: querycomb groups a route's statements per connection (use a
// `traceparent` tag to follow a request across pooled connections).
const sequelize = new Sequelize(process.env.DATABASE_URL, {
  dialect: 'postgres',
  logging: false,
  pool: { max: 1 },
});
const Author = sequelize.define('author', { name: DataTypes.TEXT }, { timestamps: false });
const Book = sequelize.define('book', { title: DataTypes.TEXT }, { timestamps: false });
Book.belongsTo(Author);

before(async () => {
  await sequelize.sync({ force: true });
  const authors = await Author.bulkCreate(
    Array.from({ length: 8 }, (_, i) => ({ name: `author ${i + 1}` })),
  );
  await Book.bulkCreate(authors.map((a, i) => ({ title: `book ${i + 1}`, authorId: a.id })));
});

after(async () => {
  await sequelize.close();
});

test('books page n+1', async (t) => {
  route = t.name;
  const books = await Book.findAll({ order: [['id', 'ASC']] });
  const lines = [];
  for (const book of books) {
    const author = await book.getAuthor(); // one query per book: the N+1
    lines.push(`${book.title} by ${author.name}`);
  }
  route = null;
  assert.strictEqual(lines[7], 'book 8 by author 8');
});

test('books page clean', async (t) => {
  route = t.name;
  const books = await Book.findAll({ include: Author, order: [['id', 'ASC']] });
  route = null;
  assert.strictEqual(`${books[7].title} by ${books[7].author.name}`, 'book 8 by author 8');
});

// Defined only when querycomb's pass-through test asks (QC_E2E_FAIL=1), so that it always
// runs and fails when it exists and an ordinary run has nothing skipped.
if (process.env.QC_E2E_FAIL) {
  test('fails when asked', async (t) => {
    route = t.name;
    const count = await Book.count();
    route = null;
    assert.strictEqual(count, 42, 'failing on purpose (QC_E2E_FAIL)');
  });
}

'use strict';

const assert = require('node:assert');
const { connect } = require('../db.js');

// A second file, so that the runner's workers share the files.
describe('authors', () => {
  it('count', async () => {
    const client = await connect();
    try {
      const { rows } = await client.query('SELECT count(*)::int AS n FROM authors');
      assert.strictEqual(rows[0].n, 8);
    } finally {
      await client.end();
    }
  });
});

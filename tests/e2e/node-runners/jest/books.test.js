'use strict';

const assert = require('node:assert');
const { connect, pageOneByOne, pageJoined } = require('../db.js');

describe('books page', () => {
  let client;

  beforeAll(async () => {
    client = await connect();
    // Fixture work: reported as this suite's setup.
    await client.query('SELECT count(*) FROM books');
  });

  afterAll(async () => {
    await client.end();
  });

  it('n+1', async () => {
    const lines = await pageOneByOne(client);
    assert.strictEqual(lines[7], 'book 8 by author 8');
  });

  it('clean', async () => {
    const lines = await pageJoined(client);
    assert.strictEqual(lines[7], 'book 8 by author 8');
  });
});

import { describe, it, beforeAll, afterAll, expect } from 'vitest';
import { createRequire } from 'node:module';

// db.js is CommonJS, shared with the Jest and Mocha suites.
const { connect, pageOneByOne, pageJoined } = createRequire(import.meta.url)('../db.js');

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
    expect(lines[7]).toBe('book 8 by author 8');
  });

  it('clean', async () => {
    const lines = await pageJoined(client);
    expect(lines[7]).toBe('book 8 by author 8');
  });
});

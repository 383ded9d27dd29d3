import { describe, it, expect } from 'vitest';
import { createRequire } from 'node:module';

// db.js is CommonJS, shared with the Jest and Mocha suites.
const { connect } = createRequire(import.meta.url)('../db.js');

// A second file, so that the runner's workers share the files.
describe('authors', () => {
  it('count', async () => {
    const client = await connect();
    try {
      const { rows } = await client.query('SELECT count(*)::int AS n FROM authors');
      expect(rows[0].n).toBe(8);
    } finally {
      await client.end();
    }
  });
});
